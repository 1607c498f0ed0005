//! Formats shared by the deployer (`host-tools`) and the boot agent (`boot-agent`).
//!
//! * [`boot_config`]: the A/B `uEnv.txt` loader copies (primary and fallback entries, SHA-256 and size of every
//!   boot file, generation, checksum trailer) and the pure selection of the valid newest copy.
//! * [`env_block`]: U-Boot environment blocks, single and redundant layouts, byte-compatible with U-Boot and
//!   libubootenv.
//! * [`fw_env_config`]: the `fw_env.config` file that tells userland where the environment lives.
//! * [`counter_names`]: the boot counters' variable names and env files, shared by both halves.
//!
//! Everything here is `no_std`, allocation-free and total: no input makes it panic. The formats are specified
//! in `docs/FORMATS.md`.
#![no_std]
// Nothing read from disk or env may make this crate panic: enforced mechanically outside tests.
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

pub mod boot_config;
pub mod counter_names;
mod crc32;
pub mod env_block;
pub mod fw_env_config;
mod hex;
mod writer;

pub use crc32::crc32;
pub use writer::{BufWriter, Overflow};
