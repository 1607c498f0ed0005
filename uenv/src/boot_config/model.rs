//! The boot configuration as data.

/// The only format version this code reads and writes (`atomboot_format=`).
pub const FORMAT_VERSION: u32 = 1;
/// Paths of the two loader copies, relative to the boot partition's root.
pub const LOADER_PATHS: [&str; 2] = ["loader.0/uEnv.txt", "loader.1/uEnv.txt"];
/// The fixed size the deployer gives each loader copy (padding included), so that rewriting one never
/// changes the FAT's allocation tables or the file's size.
pub const LOADER_FILE_SIZE: usize = 4096;
/// Larger inputs are refused without being read.
pub const MAX_LOADER_FILE_SIZE: usize = 64 * 1024;
/// Linux on ARM takes at most 1024 bytes of command line, NUL included.
pub const MAX_BOOTARGS_LEN: usize = 1023;
/// Longest path of a boot file.
pub const MAX_PATH_LEN: usize = 255;

/// One boot file: where it is on the boot partition, and what it must hash to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFile<'a> {
    /// Absolute path on the FAT partition, for example `/ostree/debian-<bootcsum>/vmlinuz`.
    pub path: &'a str,
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// Size of the file in bytes.
    pub size: u32,
}

/// One bootable entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The kernel (zImage).
    pub kernel: BootFile<'a>,
    /// The initramfs, if the entry has one.
    pub ramdisk: Option<BootFile<'a>>,
    /// The device tree, if the entry has one (else the board's own is used).
    pub fdt: Option<BootFile<'a>>,
    /// The kernel command line.
    pub bootargs: &'a str,
    /// The boot proof (`atomboot_proof`): path of the file proving the entry's files against its signed
    /// commit, when the deployer wrote one (the agent's signed mode requires it; unsigned mode ignores it).
    pub proof: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// The entry's file for `role`.
    pub fn file(&self, role: FileRole) -> Option<&BootFile<'a>> {
        match role {
            FileRole::Kernel => Some(&self.kernel),
            FileRole::Ramdisk => self.ramdisk.as_ref(),
            FileRole::Fdt => self.fdt.as_ref(),
        }
    }
}

/// One loader copy's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootConfig<'a> {
    /// Grows by one with every write of a loader copy.
    pub generation: u64,
    /// The default entry.
    pub primary: Entry<'a>,
    /// The previous default, booted when the primary fails.
    pub fallback: Option<Entry<'a>>,
}

impl<'a> BootConfig<'a> {
    /// The entry in `slot`, if present.
    pub fn entry(&self, slot: Slot) -> Option<&Entry<'a>> {
        match slot {
            Slot::Primary => Some(&self.primary),
            Slot::Fallback => self.fallback.as_ref(),
        }
    }
}

/// What a boot file is for; names its keys in uEnv.txt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// `kernel_image`
    Kernel,
    /// `ramdisk_image`
    Ramdisk,
    /// `fdt_file`
    Fdt,
}

impl FileRole {
    /// All roles, in the order they are written.
    pub const ALL: [FileRole; 3] = [FileRole::Kernel, FileRole::Ramdisk, FileRole::Fdt];

    /// The uEnv.txt key naming the file's path (without slot suffix).
    pub fn key(self) -> &'static str {
        match self {
            FileRole::Kernel => "kernel_image",
            FileRole::Ramdisk => "ramdisk_image",
            FileRole::Fdt => "fdt_file",
        }
    }

    /// A short human name.
    pub fn name(self) -> &'static str {
        match self {
            FileRole::Kernel => "kernel",
            FileRole::Ramdisk => "ramdisk",
            FileRole::Fdt => "fdt",
        }
    }
}

/// Which entry of a loader copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The default entry (keys without suffix).
    Primary,
    /// The fallback entry (keys with suffix `2`).
    Fallback,
}

impl Slot {
    /// The key suffix of the slot: `""` or `"2"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Slot::Primary => "",
            Slot::Fallback => "2",
        }
    }

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::Primary => Slot::Fallback,
            Slot::Fallback => Slot::Primary,
        }
    }

    /// `primary` or `fallback`.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Primary => "primary",
            Slot::Fallback => "fallback",
        }
    }
}
