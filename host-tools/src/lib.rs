//! atomboot host tools: the OSTree-compatible repository, the deployer, and the userland half of the boot
//! counters (the U-Boot environment as described by `fw_env.config`).

pub mod cli;
pub mod deploy;
pub mod fwenv;
