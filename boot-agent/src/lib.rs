//! The boot agent's logic, `no_std` and host-testable. The boot script `fatload`s the few files the
//! decision needs (loader copies, env pair) and calls the agent twice: [`decide`] picks the entry from the
//! valid newest loader copy and the boot counters and names its files (each declared size checked against
//! its load region before anything is loaded); the script `fatload`s them, bounded; [`verify`] hashes them
//! where they lie and sets the boot variables, or names the other entry's files once, or gives up.
//! Unverified bytes never yield a boot. The agent reads no file system: U-Boot's own `fatload` does.
//!
//! The U-Boot standalone application (`uboot-app/`) is a thin shell over [`decide`] and [`verify`]; the
//! variables between script and agent are in [`vars`]. Formats: docs/FORMATS.md.
#![no_std]
// Nothing read from disk or env may make the agent panic: enforced mechanically outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(feature = "map-env")]
extern crate alloc;

pub mod counters;
#[cfg(feature = "map-env")]
pub mod map_env;
pub mod plan;
pub mod policy;
pub mod report;
pub mod script;
pub mod steps;
pub mod vars;
pub mod verify;

pub use plan::{Failure, Plan, Reason, SmallFiles, ENV_FILES};
pub use policy::{Policy, Signed, Unsigned, VerifiedFiles};
pub use report::{Clock, Console};
pub use steps::{decide, decide_with, verify, verify_with, BootPlan, Memory, Region, Verified};
pub use uenv::boot_config::Slot;
pub use vars::{Env, Step};
