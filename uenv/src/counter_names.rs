//! The names both halves use for the boot counters and where they live: the variables of the U-Boot
//! environment (the same names as U-Boot's bootcount feature, Mender and meta-updater) and the redundant pair of
//! env files on the boot partition. Defined once here; docs/FORMATS.md, section "Boot counters", describes them.

/// Boots tried since the last deploy or mark-good (incremented by the agent while an upgrade is on trial).
pub const BOOTCOUNT: &str = "bootcount";
/// How many trial boots the default gets before the agent falls back.
pub const BOOTLIMIT: &str = "bootlimit";
/// `1` while a newly deployed default is on trial, `0` once userland marked it good.
pub const UPGRADE_AVAILABLE: &str = "upgrade_available";
/// `1` after the agent fell back because the default failed.
pub const ROLLBACK: &str = "atomboot_rollback";
/// Why the agent last chose the entry it booted (human-readable).
pub const REASON: &str = "atomboot_reason";
/// `bootlimit` when the variable is missing or malformed.
pub const DEFAULT_BOOTLIMIT: u32 = 3;

/// The two env files in the boot partition's root, first then second (U-Boot's order for a redundant env).
pub const ENV_FILES: [&str; 2] = ["uboot.env", "uboot-redund.env"];
