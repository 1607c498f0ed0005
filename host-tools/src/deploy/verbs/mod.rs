//! The admin verbs. Each one orders its writes so that a cut after any single write leaves the boot
//! partition bootable into the old or the new state (docs/FORMATS.md lists the order per verb).

mod cleanup;
mod deploy;
mod init;
mod mark_good;
mod rollback;
mod set_default;
mod undeploy;
mod unlock;
mod upgrade;

pub use init::{init_boot, init_fs, os_init};

use super::board::BoardInfo;
use super::bootfiles;
use super::bootfs::BootFs;
use super::counters;
use super::layout::{DeploymentId, Sysroot};
use super::loader::{self, Config, OwnedEntry};
use super::source::CommitSource;
use anyhow::{anyhow, bail, Result};
use uenv::counter_names as names;

/// A sysroot and its boot partition, ready for admin verbs.
pub struct Admin<'a> {
    /// The root file system holding `/ostree`.
    pub sysroot: Sysroot,
    /// The FAT boot partition.
    pub boot: Box<dyn BootFs>,
    /// The repository deployments come from (needed by deploy and upgrade only).
    pub source: Option<&'a dyn CommitSource>,
    /// The running kernel's command line (`/proc/cmdline`), `None` offline.
    pub cmdline: Option<String>,
    /// The board profile (for the device tree check), if known.
    pub board: Option<BoardInfo>,
}

/// Options of `admin deploy`.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Stateroot; default: the only one, or the booted one.
    pub os: Option<String>,
    /// `REF` or `REMOTE:REF` or a commit checksum.
    pub refspec: String,
    /// `K=V` kernel arguments to add (replacing the same key).
    pub kargs: Vec<String>,
    /// Start from the running kernel's arguments instead of the previous deployment's.
    pub karg_proc_cmdline: bool,
    /// Deploy a commit recorded as failed, or one whose device tree does not match the board.
    pub force: bool,
    /// Re-hash every object checked out (`--verify`); by default objects are trusted as verified when
    /// they entered the repository, as ostree does (`fsck` re-checks them).
    pub verify: bool,
}

impl<'a> Admin<'a> {
    /// The deployment named by the running kernel's `ostree=`.
    pub fn booted(&self) -> Option<DeploymentId> {
        self.cmdline.as_deref().and_then(DeploymentId::from_cmdline)
    }

    /// Reads the selected loader copy.
    pub fn config(&mut self) -> Result<Option<Config>> {
        loader::read(self.boot.as_mut())
    }

    fn named_dirs(config: &Option<Config>) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(c) = config {
            v.extend(c.primary.dirs());
            if let Some(f) = &c.fallback {
                v.extend(f.dirs());
            }
            if let Some((p, f)) = &c.other {
                v.extend(p.dirs());
                if let Some(f) = f {
                    v.extend(f.dirs());
                }
            }
        }
        v
    }

    fn pick_os(&self, os: Option<&str>) -> Result<String> {
        if let Some(os) = os {
            if !self.sysroot.stateroot(os).is_dir() {
                bail!(
                    "no stateroot {os:?} in {}: run `atomboot admin os-init {os}`",
                    self.sysroot.root.display()
                );
            }
            return Ok(os.to_string());
        }
        if let Some(b) = self.booted() {
            return Ok(b.os);
        }
        let oses = self.sysroot.oses()?;
        match oses.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!(
                "no stateroot in {}: run `atomboot admin os-init OS`",
                self.sysroot.root.display()
            ),
            _ => bail!("several stateroots ({oses:?}): pass --os"),
        }
    }

    /// Records the default as failed when the agent reported a rollback. Returns true when rolled back.
    fn note_rollback(&mut self, config: &Option<Config>, c: &counters::Counters) -> Result<bool> {
        if !c.rolled_back() {
            return Ok(false);
        }
        if let Some(dep) = config.as_ref().and_then(|c| c.primary.deployment()) {
            let reason = c.get(names::REASON).unwrap_or("automatic rollback");
            self.sysroot.record_failed(&dep.commit, reason)?;
        }
        Ok(true)
    }

    /// Deployments in status order: default, fallback, then the others on disk.
    pub fn ordered(&mut self) -> Result<(Option<Config>, Vec<DeploymentId>)> {
        let config = self.config()?;
        let mut v: Vec<DeploymentId> = Vec::new();
        if let Some(c) = &config {
            v.extend(c.primary.deployment());
            if let Some(f) = c.fallback.as_ref().and_then(|f| f.deployment()) {
                if !v.contains(&f) {
                    v.push(f);
                }
            }
        }
        // Offline on a boot image alone there may be no sysroot: list what the boot config names.
        for d in self.sysroot.deployments().unwrap_or_default() {
            if !v.contains(&d) {
                v.push(d);
            }
        }
        Ok((config, v))
    }

    fn entry_for(&mut self, id: &DeploymentId, config: &Option<Config>) -> Result<OwnedEntry> {
        if let Some(c) = config {
            for e in [Some(&c.primary), c.fallback.as_ref()]
                .into_iter()
                .flatten()
            {
                if e.deployment().as_ref() == Some(id) {
                    return Ok(e.clone());
                }
            }
        }
        // Not in the configuration: rebuild its entry from its tree, kernel arguments from the default.
        let tree = self.sysroot.deployment_dir(id);
        let files = bootfiles::find(&tree, &id.short(), self.board.as_ref())?;
        let mut bootargs = format!("ostree={}", id.path());
        if let Some(c) = config {
            for k in c.primary.kargs() {
                bootargs.push(' ');
                bootargs.push_str(&k);
            }
        }
        let named = Self::named_dirs(config);
        let proof = self.source.and_then(|s| self.proof_for(s, &id.commit));
        bootfiles::install(
            self.boot.as_mut(),
            &id.os,
            &files,
            bootargs,
            proof.as_ref(),
            &named,
        )
    }

    /// The boot proof stored beside a deployment's boot files: for a commit with an ed25519 signature
    /// (docs/FORMATS.md, "Boot proof"). A signed commit whose proof cannot be built (no kargs file, say)
    /// is still deployed, with a warning: an agent built in signed mode will refuse that entry.
    fn proof_for(
        &self,
        source: &dyn CommitSource,
        commit: &atomboot_repo::Checksum,
    ) -> Option<bootfiles::ProofFile> {
        let dtb = self.board.as_ref().and_then(|b| b.dtb_name);
        match source.boot_proof(commit, dtb) {
            Ok(Some(bytes)) => Some(bootfiles::ProofFile {
                name: format!("proof-{commit}"),
                bytes,
            }),
            Ok(None) => None,
            Err(e) => {
                eprintln!(
                    "warning: {e:#}; the deployment has no boot proof, so an agent built in signed mode will refuse it"
                );
                None
            }
        }
    }

    fn nth(&mut self, n: usize) -> Result<(Option<Config>, Vec<DeploymentId>, DeploymentId)> {
        let (config, list) = self.ordered()?;
        let id = list.get(n).cloned().ok_or_else(|| {
            anyhow!(
                "no deployment {n}: `atomboot admin status` lists {} deployment(s), numbered from 0",
                list.len()
            )
        })?;
        Ok((config, list, id))
    }
}
