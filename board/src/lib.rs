//! Board profiles: where the agent is linked, where the small files (loader copies, env pair) and the boot
//! files go in RAM, and the files each board's boot partition carries (`board/<name>/boot.cmd`, `fw_env.config`). `no_std` so the
//! U-Boot application and its build script take their addresses from here: one source of truth.
#![no_std]

/// A stretch of the board's address space: `len` bytes from `addr` (both in bytes, as U-Boot's `fatload`
/// takes them). Regions relative to another (the scratch layout) hold an offset in `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region {
    /// First byte.
    pub addr: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Region {
    /// `len` bytes from `addr`.
    pub const fn new(addr: u32, len: u32) -> Self {
        Region { addr, len }
    }

    /// One past the last byte, widened so that a region ending at 4 GiB has an end.
    pub const fn end(&self) -> u64 {
        self.addr as u64 + self.len as u64
    }

    /// `inner` lies wholly inside `self`.
    pub const fn contains(&self, inner: &Region) -> bool {
        inner.addr >= self.addr && inner.end() <= self.end()
    }

    /// `self` and `other` share at least one byte.
    pub const fn overlaps(&self, other: &Region) -> bool {
        (self.addr as u64) < other.end() && (other.addr as u64) < self.end()
    }

    /// This region, an offset and room, placed from `base` (profile constants only: the layout tests
    /// check every sum fits).
    pub const fn from_base(&self, base: u32) -> Region {
        Region {
            addr: base + self.addr,
            len: self.len,
        }
    }
}

/// One board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `qemu-virt` or `am335x`.
    pub name: &'static str,
    /// DDR.
    pub ram: Region,
    /// Link and load address of atomboot-agent.bin, and the most bytes the agent may occupy (text, data,
    /// bss).
    pub agent: Region,
    /// Scratch area for the loader copies, the env pair and the env block to save ([`SCRATCH_LAYOUT`]).
    pub scratch: Region,
    /// Where the kernel is loaded, and its room.
    pub kernel: Region,
    /// Where the ramdisk is loaded, and its room.
    pub ramdisk: Region,
    /// Where the device tree is loaded, and its room.
    pub fdt: Region,
    /// U-Boot's name of the boot device and partition, for fatload/fatwrite (`virtio 0:1`, `mmc 0:1`).
    pub boot_dev: &'static str,
    /// Kernel console.
    pub console: &'static str,
    /// The root `compatible` strings a device tree for this board must list.
    pub compatible: &'static [&'static str],
}

/// QEMU `-M virt` with Debian's u-boot-qemu (RAM 0x40000000 + 512 MiB; U-Boot keeps the top from about
/// 0x5ddf3000; the kernel's own device tree is QEMU's, at `${fdtcontroladdr}`).
pub const QEMU_VIRT: Profile = Profile {
    name: "qemu-virt",
    ram: Region::new(0x4000_0000, 0x2000_0000),
    agent: Region::new(0x4800_0000, 0x0010_0000),
    scratch: Region::new(0x4810_0000, 0x0008_0000),
    kernel: Region::new(0x4040_0000, 0x03b0_0000),
    ramdisk: Region::new(0x4400_0000, 0x0300_0000),
    fdt: Region::new(0x43f0_0000, 0x0010_0000),
    boot_dev: "virtio 0:1",
    console: "ttyAMA0",
    compatible: &["linux,dummy-virt"],
};

/// TI am335x (BeagleBone Black, am335x_evm U-Boot): DDR at 0x80000000, 512 MiB; U-Boot's defaults
/// `loadaddr=0x82000000`, `fdtaddr=0x88000000`, `rdaddr=0x88080000` are used as the load addresses.
pub const AM335X: Profile = Profile {
    name: "am335x",
    ram: Region::new(0x8000_0000, 0x2000_0000),
    agent: Region::new(0x8c00_0000, 0x0010_0000),
    scratch: Region::new(0x8c10_0000, 0x0008_0000),
    kernel: Region::new(0x8200_0000, 0x0600_0000),
    ramdisk: Region::new(0x8808_0000, 0x03f8_0000),
    fdt: Region::new(0x8800_0000, 0x0008_0000),
    boot_dev: "mmc 0:1",
    console: "ttyS0,115200",
    compatible: &["ti,am33xx"],
};

/// The most bytes the boot script's `fatload` of atomboot-agent.bin reads: the signed agent's limit
/// (public keys, ed25519 and the proof walk). The unsigned agent stays within [`AGENT_UNSIGNED_MAX`].
pub const AGENT_BIN_MAX: u32 = 0x2_0000;
/// The unsigned agent's limit (development boards).
pub const AGENT_UNSIGNED_MAX: u32 = 0x1_0000;

/// The small files the boot script loads into the scratch area before the agent's first call: the file on
/// the boot partition and its place in the scratch area (offset from the area's start, and room = the most
/// bytes `fatload` reads). The env block to save is prepared at [`ENV_OUT`].
pub const SCRATCH_LAYOUT: [(&str, Region); 4] = [
    ("loader.0/uEnv.txt", Region::new(0x0, 0x2000)),
    ("loader.1/uEnv.txt", Region::new(0x2000, 0x2000)),
    ("uboot.env", Region::new(0x1_0000, 0x1_0000)),
    ("uboot-redund.env", Region::new(0x2_0000, 0x1_0000)),
];
/// Offset (in the scratch area) and room of the env block the agent prepares for the script's `fatwrite`.
pub const ENV_OUT: Region = Region::new(0x3_0000, 0x1_0000);
/// Offset (in the scratch area) and room of the chosen entry's boot proof (signed mode): the script's
/// `fatload` of the proof reads at most this many bytes.
pub const PROOF_AREA: Region = Region::new(0x4_0000, 0x4_0000);

/// Kernel arguments a signed agent lets the loader copy add unsigned on qemu-virt: the console, and
/// atomboot's own root and boot partition arguments read by the initramfs (docs/FORMATS.md, "Signed mode").
pub const QEMU_VIRT_SIGNED_KARGS: &[&str] = &["console=", "atomboot.root=", "atomboot.bootpart="];
/// The same for am335x.
pub const AM335X_SIGNED_KARGS: &[&str] = &["console=", "atomboot.root=", "atomboot.bootpart="];

// The agent's bounded fatload fits each profile's agent region.
const _: () = assert!(AGENT_BIN_MAX <= QEMU_VIRT.agent.len && AGENT_BIN_MAX <= AM335X.agent.len);

/// Every profile.
pub const ALL: [Profile; 2] = [QEMU_VIRT, AM335X];

/// The profile named `name`.
pub fn by_name(name: &str) -> Option<Profile> {
    ALL.into_iter().find(|p| p.name == name)
}

impl Profile {
    /// Where each small file goes in RAM, and its room, as [`SCRATCH_LAYOUT`].
    pub fn small_files(&self) -> [(&'static str, Region); 4] {
        SCRATCH_LAYOUT.map(|(name, at)| (name, at.from_base(self.scratch.addr)))
    }

    /// Where the env block to save is prepared, and its room.
    pub fn env_out(&self) -> Region {
        ENV_OUT.from_base(self.scratch.addr)
    }

    /// Where the boot proof is loaded, and its room ([`PROOF_AREA`]).
    pub fn proof_area(&self) -> Region {
        PROOF_AREA.from_base(self.scratch.addr)
    }

    /// The kernel arguments a signed agent allows unsigned on this board (an entry ending in `=` allows
    /// every word starting with it).
    pub fn signed_kargs_allow(&self) -> &'static [&'static str] {
        match self.name {
            "am335x" => AM335X_SIGNED_KARGS,
            _ => QEMU_VIRT_SIGNED_KARGS,
        }
    }

    /// The RAM regions the agent uses, named, for overlap checks.
    pub fn regions(&self) -> [(&'static str, Region); 5] {
        [
            ("agent", self.agent),
            ("scratch", self.scratch),
            ("kernel", self.kernel),
            ("ramdisk", self.ramdisk),
            ("fdt", self.fdt),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_inside_ram_and_disjoint() {
        for p in ALL {
            let regions = p.regions();
            for (name, r) in regions {
                assert!(p.ram.contains(&r), "{} {name}", p.name);
            }
            for (i, (a, ra)) in regions.iter().enumerate() {
                for (b, rb) in &regions[i + 1..] {
                    assert!(!ra.overlaps(rb), "{}: {a} overlaps {b}", p.name);
                }
            }
        }
    }

    #[test]
    fn am335x_keeps_u_boots_default_addresses_clear() {
        // loadaddr, fdtaddr and rdaddr are where the kernel, fdt and ramdisk go; the agent and its scratch
        // must not overlap any of them (checked above) nor U-Boot's relocated copy at the top of the DDR.
        assert_eq!(AM335X.kernel.addr, 0x8200_0000);
        assert_eq!(AM335X.fdt.addr, 0x8800_0000);
        assert_eq!(AM335X.ramdisk.addr, 0x8808_0000);
        for (p, top) in [(AM335X, 0x9c00_0000u64), (QEMU_VIRT, 0x5d00_0000)] {
            for (name, r) in p.regions() {
                assert!(r.end() <= top, "{} {name}", p.name);
            }
        }
    }

    #[test]
    fn small_files_fit_the_scratch_area_without_overlap() {
        let [a, b, c, d] = SCRATCH_LAYOUT.map(|(_, at)| at);
        let mut areas = [a, b, c, d, ENV_OUT, PROOF_AREA];
        areas.sort();
        for p in ALL {
            let whole = Region::new(0, p.scratch.len);
            assert!(areas.iter().all(|r| whole.contains(r)), "{}", p.name);
            let placed = p.small_files().map(|(_, r)| r);
            assert!(
                placed
                    .iter()
                    .chain([p.env_out()].iter())
                    .all(|r| p.scratch.contains(r)),
                "{}",
                p.name
            );
        }
        for w in areas.windows(2) {
            assert!(!w[0].overlaps(&w[1]), "{w:?}");
        }
    }

    #[test]
    fn region_arithmetic() {
        let r = Region::new(0x1000, 0x100);
        assert_eq!(r.end(), 0x1100);
        assert!(r.contains(&Region::new(0x10ff, 1)));
        assert!(!r.contains(&Region::new(0x10ff, 2)));
        assert!(!r.contains(&Region::new(0xfff, 1)));
        assert!(r.overlaps(&Region::new(0x10ff, 1)));
        assert!(!r.overlaps(&Region::new(0x1100, 1)));
        assert!(!r.overlaps(&Region::new(0xf00, 0x100)));
        assert!(!r.overlaps(&Region::new(0x1000, 0)));
        assert_eq!(Region::new(u32::MAX, 1).end(), 1 << 32);
        assert_eq!(
            Region::new(0x10, 4).from_base(0x1000),
            Region::new(0x1010, 4)
        );
    }
}
