//! The U-Boot environment variables between the boot script and the agent's two `go` calls, and their
//! parsers. Every value read here came through the environment and is treated as hostile: it is parsed
//! strictly, and anything unexpected is refused, never guessed (docs/FORMATS.md, "Boot agent and boot
//! script").

use crate::verify::VerifyError;
use uenv::boot_config::{FileRole, Slot};

/// Where the agent's variables come from and go to: U-Boot's environment, or a map in host tests.
pub trait Env {
    /// The value of `name` copied into `buf`, or `None` when unset, longer than `buf` or not UTF-8.
    fn get<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str>;
    /// Sets `name` to the formatted value; an empty value deletes the variable (as U-Boot's `setenv`).
    fn set(&mut self, name: &str, value: core::fmt::Arguments<'_>);
}

/// What the script does next, set by the agent at the end of each call (`atomboot_step`).
pub const STEP: &str = "atomboot_step";
/// The entry whose files the script loads for the next `go ... verify` (`primary` or `fallback`).
pub const TRY: &str = "atomboot_try";
/// Why the entry tried first failed after its files were loaded (see [`FailedRecord`]); empty otherwise.
pub const FAILED: &str = "atomboot_failed";
/// Bytes the script read for each small file (U-Boot's `filesize`, hex), unset when `fatload` failed.
pub const SMALL_BYTES: [&str; 4] = [
    "atomboot_loader0_bytes",
    "atomboot_loader1_bytes",
    "atomboot_env0_bytes",
    "atomboot_env1_bytes",
];

/// The boot proof's variables (signed mode; the unsigned agent clears the file and its size): the path to
/// `fatload` (unset: nothing to load), where (hex), the most bytes (hex: the proof area's size), and what
/// `fatload` read (`${filesize}`).
pub const PROOF_VARS: FileVars = FileVars {
    file: "atomboot_proof_file",
    addr: "atomboot_proof_addr",
    max: "atomboot_proof_max",
    bytes: "atomboot_proof_bytes",
};

/// The per-file variables of one boot file role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileVars {
    /// The path to `fatload` (unset: the entry has no such file).
    pub file: &'static str,
    /// Where to load it (hex).
    pub addr: &'static str,
    /// The most bytes `fatload` may read (hex): the declared size + 1, at most the region.
    pub max: &'static str,
    /// What `fatload` read (`${filesize}`, hex), set by the script; unset when the load failed.
    pub bytes: &'static str,
}

/// The variables of `role`.
pub fn file_vars(role: FileRole) -> FileVars {
    match role {
        FileRole::Kernel => FileVars {
            file: "atomboot_kernel_file",
            addr: "atomboot_kernel_addr",
            max: "atomboot_kernel_max",
            bytes: "atomboot_kernel_bytes",
        },
        FileRole::Ramdisk => FileVars {
            file: "atomboot_ramdisk_file",
            addr: "atomboot_ramdisk_addr",
            max: "atomboot_ramdisk_max",
            bytes: "atomboot_ramdisk_bytes",
        },
        FileRole::Fdt => FileVars {
            file: "atomboot_fdt_file",
            addr: "atomboot_fdt_load_addr",
            max: "atomboot_fdt_max",
            bytes: "atomboot_fdt_bytes",
        },
    }
}

/// The next step for the script (`atomboot_step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Load the files named by the file variables, then `go AGENT verify`.
    Load,
    /// Everything verified: save the env if asked, then `bootz`.
    Boot,
    /// Nothing verified: do not boot (the reason is in `atomboot_reason`).
    Fail,
}

impl Step {
    /// The variable's value.
    pub fn name(self) -> &'static str {
        match self {
            Step::Load => "load",
            Step::Boot => "boot",
            Step::Fail => "fail",
        }
    }
}

/// Parses a byte count as U-Boot prints `filesize` (hex, no `0x`; `0x` accepted too): at most 8 hex
/// digits, nothing else.
pub fn parse_hex_u32(text: &str) -> Option<u32> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Parses `primary` or `fallback`.
pub fn parse_slot(text: &str) -> Option<Slot> {
    match text {
        "primary" => Some(Slot::Primary),
        "fallback" => Some(Slot::Fallback),
        _ => None,
    }
}

fn parse_role(text: &str) -> Option<FileRole> {
    FileRole::ALL.into_iter().find(|r| r.name() == text)
}

/// How the entry tried first failed once its files were loaded: `ROLE missing`, `ROLE checksum` or
/// `ROLE size DECLARED ACTUAL` (decimal), the value of [`FAILED`]. Failures found before loading (a
/// declared size over the region) are not recorded: the next call finds them again in the loader copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedRecord {
    /// Which file.
    pub role: FileRole,
    /// What was wrong ([`VerifyError::NotLoaded`], [`VerifyError::Size`] or [`VerifyError::Checksum`]).
    pub error: VerifyError,
}

impl core::fmt::Display for FailedRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let role = self.role.name();
        match self.error {
            VerifyError::NotLoaded => write!(f, "{role} missing"),
            VerifyError::Checksum => write!(f, "{role} checksum"),
            VerifyError::Size { declared, actual } => {
                write!(f, "{role} size {declared} {actual}")
            }
            VerifyError::TooLarge { size, room } => write!(f, "{role} too-large {size} {room}"),
            VerifyError::NoProof
            | VerifyError::Proof(_)
            | VerifyError::Unproven
            | VerifyError::Cmdline => write!(f, "{role} {}", self.error.token()),
        }
    }
}

impl FailedRecord {
    /// Parses the value of [`FAILED`]; `None` for anything but the exact forms [`Display`] writes.
    ///
    /// [`Display`]: core::fmt::Display
    pub fn parse(text: &str) -> Option<FailedRecord> {
        let mut words = text.split(' ');
        let role = parse_role(words.next()?)?;
        let kind = words.next()?;
        let mut number = || -> Option<u32> {
            let w = words.next()?;
            if w.is_empty() || w.len() > 10 || !w.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            w.parse().ok()
        };
        let error = match kind {
            "missing" => VerifyError::NotLoaded,
            "checksum" => VerifyError::Checksum,
            "size" => VerifyError::Size {
                declared: number()?,
                actual: number()?,
            },
            "too-large" => VerifyError::TooLarge {
                size: number()?,
                room: number()?,
            },
            "no-proof" => VerifyError::NoProof,
            "unproven" => VerifyError::Unproven,
            "cmdline" => VerifyError::Cmdline,
            _ => return None,
        };
        if words.next().is_some() {
            return None;
        }
        Some(FailedRecord { role, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_sizes() {
        assert_eq!(parse_hex_u32("4e20"), Some(0x4e20));
        assert_eq!(parse_hex_u32("0x10"), Some(16));
        assert_eq!(parse_hex_u32("ffffffff"), Some(u32::MAX));
        for bad in ["", "0x", "100000000", "12g", " 1", "-1", "+1"] {
            assert_eq!(parse_hex_u32(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn failed_records_round_trip_and_refuse_the_rest() {
        for error in [
            VerifyError::NotLoaded,
            VerifyError::Checksum,
            VerifyError::Size {
                declared: 20000,
                actual: 100,
            },
            VerifyError::TooLarge {
                size: u32::MAX,
                room: 0,
            },
            VerifyError::NoProof,
            VerifyError::Unproven,
            VerifyError::Cmdline,
        ] {
            for role in FileRole::ALL {
                let r = FailedRecord { role, error };
                let mut s = heapless::String::<64>::new();
                core::fmt::write(&mut s, format_args!("{r}")).unwrap();
                assert_eq!(FailedRecord::parse(&s), Some(r), "{s}");
            }
        }
        for bad in [
            "",
            "kernel",
            "kernel checksum ",
            "kernel size 1",
            "kernel size 1 2 3",
            "kernel size -1 2",
            "kernel size 99999999999 2",
            "initrd missing",
            "kernel  missing",
            "kernel unproven x",
            "kernel proof",
        ] {
            assert_eq!(FailedRecord::parse(bad), None, "{bad:?}");
        }
    }
}
