//! Board profiles: where the agent is linked, where the small files (loader copies, env pair) and the boot
//! files go in RAM, and the files each board's boot partition carries (`board/<name>/boot.cmd`, `fw_env.config`). `no_std` so the
//! U-Boot application and its build script take their addresses from here: one source of truth.
#![no_std]

/// One board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `qemu-virt` or `am335x`.
    pub name: &'static str,
    /// Start and size of DDR.
    pub ram: (u32, u32),
    /// Link and load address of atomboot-agent.bin.
    pub agent_addr: u32,
    /// Most bytes the agent may occupy (text, data, bss).
    pub agent_max: u32,
    /// Scratch area for the loader copies, the env pair and the env block to save ([`SCRATCH_LAYOUT`]).
    pub scratch: (u32, u32),
    /// Kernel load address and room.
    pub kernel: (u32, u32),
    /// Ramdisk load address and room.
    pub ramdisk: (u32, u32),
    /// Device-tree load address and room.
    pub fdt: (u32, u32),
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
    ram: (0x4000_0000, 0x2000_0000),
    agent_addr: 0x4800_0000,
    agent_max: 0x0010_0000,
    scratch: (0x4810_0000, 0x0008_0000),
    kernel: (0x4040_0000, 0x03b0_0000),
    ramdisk: (0x4400_0000, 0x0300_0000),
    fdt: (0x43f0_0000, 0x0010_0000),
    boot_dev: "virtio 0:1",
    console: "ttyAMA0",
    compatible: &["linux,dummy-virt"],
};

/// TI am335x (BeagleBone Black, am335x_evm U-Boot): DDR at 0x80000000, 512 MiB; U-Boot's defaults
/// `loadaddr=0x82000000`, `fdtaddr=0x88000000`, `rdaddr=0x88080000` are used as the load addresses.
pub const AM335X: Profile = Profile {
    name: "am335x",
    ram: (0x8000_0000, 0x2000_0000),
    agent_addr: 0x8c00_0000,
    agent_max: 0x0010_0000,
    scratch: (0x8c10_0000, 0x0008_0000),
    kernel: (0x8200_0000, 0x0600_0000),
    ramdisk: (0x8808_0000, 0x03f8_0000),
    fdt: (0x8800_0000, 0x0008_0000),
    boot_dev: "mmc 0:1",
    console: "ttyS0,115200",
    compatible: &["ti,am33xx"],
};

/// The most bytes the boot script's `fatload` of atomboot-agent.bin reads: the signed agent's limit
/// (public keys, ed25519 and the proof walk). The unsigned agent stays within [`AGENT_UNSIGNED_MAX`].
pub const AGENT_BIN_MAX: u32 = 0x2_0000;
/// The unsigned agent's limit (development boards).
pub const AGENT_UNSIGNED_MAX: u32 = 0x1_0000;

/// The small files the boot script loads into the scratch area before the agent's first call: (file on
/// the boot partition, offset in the scratch area, room = the most bytes `fatload` reads). The env block
/// to save is prepared at [`ENV_OUT`].
pub const SCRATCH_LAYOUT: [(&str, u32, u32); 4] = [
    ("loader.0/uEnv.txt", 0x0, 0x2000),
    ("loader.1/uEnv.txt", 0x2000, 0x2000),
    ("uboot.env", 0x1_0000, 0x1_0000),
    ("uboot-redund.env", 0x2_0000, 0x1_0000),
];
/// Offset and room of the env block the agent prepares for the script's `fatwrite`.
pub const ENV_OUT: (u32, u32) = (0x3_0000, 0x1_0000);
/// Offset and room of the chosen entry's boot proof in the scratch area (signed mode): the script's
/// `fatload` of the proof reads at most this many bytes.
pub const PROOF_AREA: (u32, u32) = (0x4_0000, 0x4_0000);

/// Kernel arguments a signed agent lets the loader copy add unsigned on qemu-virt: the console, and
/// atomboot's own root and boot partition arguments read by the initramfs (docs/FORMATS.md, "Signed mode").
pub const QEMU_VIRT_SIGNED_KARGS: &[&str] = &["console=", "atomboot.root=", "atomboot.bootpart="];
/// The same for am335x.
pub const AM335X_SIGNED_KARGS: &[&str] = &["console=", "atomboot.root=", "atomboot.bootpart="];

// The agent's bounded fatload fits each profile's agent region.
const _: () = assert!(AGENT_BIN_MAX <= QEMU_VIRT.agent_max && AGENT_BIN_MAX <= AM335X.agent_max);

/// Every profile.
pub const ALL: [Profile; 2] = [QEMU_VIRT, AM335X];

/// The profile named `name`.
pub fn by_name(name: &str) -> Option<Profile> {
    ALL.into_iter().find(|p| p.name == name)
}

impl Profile {
    /// Address and room of each small file in the scratch area, as [`SCRATCH_LAYOUT`].
    pub fn small_files(&self) -> [(&'static str, u32, u32); 4] {
        SCRATCH_LAYOUT.map(|(name, off, room)| (name, self.scratch.0 + off, room))
    }

    /// Address and room of the env block to save.
    pub fn env_out(&self) -> (u32, u32) {
        (self.scratch.0 + ENV_OUT.0, ENV_OUT.1)
    }

    /// Address and room of the boot proof ([`PROOF_AREA`]).
    pub fn proof_area(&self) -> (u32, u32) {
        (self.scratch.0 + PROOF_AREA.0, PROOF_AREA.1)
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
    pub fn regions(&self) -> [(&'static str, u32, u32); 5] {
        [
            ("agent", self.agent_addr, self.agent_max),
            ("scratch", self.scratch.0, self.scratch.1),
            ("kernel", self.kernel.0, self.kernel.1),
            ("ramdisk", self.ramdisk.0, self.ramdisk.1),
            ("fdt", self.fdt.0, self.fdt.1),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_inside_ram_and_disjoint() {
        for p in ALL {
            let (ram, ram_len) = p.ram;
            let regions = p.regions();
            for (name, start, len) in regions {
                let end = u64::from(start) + u64::from(len);
                assert!(
                    start >= ram && end <= u64::from(ram) + u64::from(ram_len),
                    "{} {name}",
                    p.name
                );
            }
            for (i, a) in regions.iter().enumerate() {
                for b in &regions[i + 1..] {
                    let disjoint = u64::from(a.1) + u64::from(a.2) <= u64::from(b.1)
                        || u64::from(b.1) + u64::from(b.2) <= u64::from(a.1);
                    assert!(disjoint, "{}: {} overlaps {}", p.name, a.0, b.0);
                }
            }
        }
    }

    #[test]
    fn am335x_keeps_u_boots_default_addresses_clear() {
        // loadaddr, fdtaddr and rdaddr are where the kernel, fdt and ramdisk go; the agent and its scratch
        // must not overlap any of them (checked above) nor U-Boot's relocated copy at the top of the DDR.
        assert_eq!(AM335X.kernel.0, 0x8200_0000);
        assert_eq!(AM335X.fdt.0, 0x8800_0000);
        assert_eq!(AM335X.ramdisk.0, 0x8808_0000);
        for (p, top) in [(AM335X, 0x9c00_0000u64), (QEMU_VIRT, 0x5d00_0000)] {
            for (name, start, len) in p.regions() {
                assert!(
                    u64::from(start) + u64::from(len) <= top,
                    "{} {name}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn small_files_fit_the_scratch_area_without_overlap() {
        let [a, b, c, d] = SCRATCH_LAYOUT.map(|(_, o, r)| (o, r));
        let mut areas = [a, b, c, d, ENV_OUT, PROOF_AREA];
        areas.sort();
        for p in ALL {
            assert!(
                areas.iter().all(|&(o, r)| o + r <= p.scratch.1),
                "{}",
                p.name
            );
        }
        for w in areas.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{w:?}");
        }
    }
}
