#![no_std]
//! Formats shared by the deployer and the boot agent.
