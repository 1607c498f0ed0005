//! `admin init-fs` (sysroot skeleton and its repository), `admin os-init`, and preparing a boot partition.

use crate::deploy::board;
use crate::deploy::bootfs::BootFs;
use crate::deploy::counters;
use crate::deploy::layout::{write_atomic, Sysroot};
use crate::deploy::loader;
use anyhow::{anyhow, bail, Context, Result};

/// `admin init-fs DIR`: the sysroot skeleton.
pub fn init_fs(root: &std::path::Path, board_name: Option<&str>) -> Result<()> {
    for d in [
        "ostree/repo",
        "ostree/deploy",
        "ostree/atomboot",
        "boot",
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(d))
            .with_context(|| format!("cannot create {}", root.join(d).display()))?;
    }
    // The sysroot's repository, as `ostree admin init-fs` makes it: bare as root (real owners), bare-user
    // otherwise. An existing repository is kept.
    let repo = root.join("ostree/repo");
    if !repo.join("config").exists() {
        let mode = if atomboot_repo::store::is_root() {
            atomboot_repo::store::Mode::Bare
        } else {
            atomboot_repo::store::Mode::BareUser
        };
        atomboot_repo::Repo::init(&repo, mode)
            .with_context(|| format!("cannot create the sysroot repository {}", repo.display()))?;
    }
    if let Some(b) = board_name {
        board::lookup(b).ok_or_else(|| {
            anyhow!(
                "unknown board {b:?} (known: {:?})",
                board::BOARDS.iter().map(|b| b.name).collect::<Vec<_>>()
            )
        })?;
        write_atomic(
            &root.join("ostree/atomboot/board"),
            format!("{b}\n").as_bytes(),
        )?;
    }
    Ok(())
}

/// Prepares a boot partition: `/ostree`, both loader copies and both env copies at their fixed sizes.
pub fn init_boot(fs: &mut dyn BootFs) -> Result<()> {
    fs.create_dir_all("ostree")?;
    loader::create(fs)?;
    counters::create(fs)
}

/// `admin os-init OS`: a stateroot.
pub fn os_init(root: &std::path::Path, os: &str) -> Result<()> {
    if os.is_empty() || os.contains('/') || os.starts_with('.') {
        bail!("stateroot name {os:?} must be a plain directory name");
    }
    let s = Sysroot::new(root);
    s.check()?;
    for d in ["deploy", "var/tmp", "var/log", "var/lib"] {
        std::fs::create_dir_all(s.stateroot(os).join(d))?;
    }
    Ok(())
}
