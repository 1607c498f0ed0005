//! The deployer behind `atomboot admin`: deployments in an OSTree-style sysroot, boot files and the A/B
//! loader copies on a FAT boot partition, and the boot counters in the U-Boot env pair beside them.
//! Formats and the order of writes: docs/FORMATS.md, "Deployments and the boot partition".

pub mod board;
pub mod bootfiles;
pub mod bootfs;
pub mod counters;
pub mod etc_merge;
pub mod fdtcheck;
pub mod image;
pub mod layout;
pub mod loader;
pub mod proof;
pub mod source;
pub mod status;
pub mod verbs;

pub use layout::{DeploymentId, Sysroot};
pub use verbs::{Admin, DeployOptions};
