//! The boot agent's logic, `no_std` and host-testable: read the boot partition held in RAM, pick the loader
//! copy and the entry (primary or fallback) from the boot counters, copy each boot file to its load address
//! while hashing it, and fall back when anything does not verify. Unverified bytes never yield a plan.
//!
//! The U-Boot standalone application (`uboot-app/`) is a thin shell over [`run`]. Formats: docs/FORMATS.md.
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

mod agent;
pub mod bootfs;
pub mod counters;
pub mod report;
pub mod verify;

pub use agent::{run, BootPlan, EnvWrite, Failure, Reason, Targets, SCRATCH_MIN};
pub use report::{Clock, Console};
pub use uenv::boot_config::Slot;
