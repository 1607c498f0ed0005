//! The admin verbs. Each one orders its writes so that a cut after any single write leaves the boot
//! partition bootable into the old or the new state (docs/FORMATS.md lists the order per verb).

use super::board::{self, BoardInfo};
use super::bootfiles;
use super::bootfs::BootFs;
use super::counters;
use super::fdtcheck;
use super::layout::{write_atomic, DeploymentId, Sysroot};
use super::loader::{self, Config, OwnedEntry};
use super::source::CommitSource;
use anyhow::{anyhow, bail, Context, Result};

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
            if !self.sysroot.stateroot(os).join("deploy").is_dir() {
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
            let reason = c.get("atomboot_reason").unwrap_or("automatic rollback");
            self.sysroot.record_failed(&dep.commit, reason)?;
        }
        Ok(true)
    }

    /// `admin deploy`.
    pub fn deploy(&mut self, opts: &DeployOptions) -> Result<DeploymentId> {
        self.sysroot.check()?;
        let source = self
            .source
            .ok_or_else(|| anyhow!("no repository to deploy from"))?;
        let os = self.pick_os(opts.os.as_deref())?;
        let commit = source.resolve(&opts.refspec)?;
        if !opts.force {
            if let Some((_, reason)) = self
                .sysroot
                .failed()
                .into_iter()
                .find(|(c, _)| *c == commit)
            {
                bail!(
                    "commit {commit} ({}) failed before and was rolled back ({reason}); deploy it again with --force",
                    opts.refspec
                );
            }
        }
        let counters = counters::read(self.boot.as_mut())?;
        let config = self.config()?;
        let rolled_back = counters.rolled_back();

        // Check the commit out beside the deployments, find and check its boot files.
        let deploy_dir = self.sysroot.stateroot(&os).join("deploy");
        let staging = deploy_dir.join(format!(".staging-{commit}"));
        let _ = std::fs::remove_dir_all(&staging);
        let prepared = (|| -> Result<bootfiles::BootFiles> {
            source.checkout(&commit, &staging)?;
            let files = bootfiles::find(&staging, &opts.refspec, self.board.as_ref())?;
            if let Some((dtb, from)) = &files.fdt {
                if !opts.force {
                    fdtcheck::check(
                        dtb,
                        &format!("{from} of {}", opts.refspec),
                        self.board.as_ref(),
                    )?;
                }
            }
            Ok(files)
        })();
        let files = match prepared {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };

        // The fallback: the booted deployment if it is in the configuration, else the running fallback
        // after a rollback, else the current default.
        let booted = self.booted();
        let fallback: Option<OwnedEntry> = config.as_ref().map(|c| {
            let entries = [Some(&c.primary), c.fallback.as_ref()];
            entries
                .into_iter()
                .flatten()
                .find(|e| booted.is_some() && e.deployment() == booted)
                .or(if rolled_back {
                    c.fallback.as_ref()
                } else {
                    None
                })
                .unwrap_or(&c.primary)
                .clone()
        });

        let mut kargs: Vec<String> = if opts.karg_proc_cmdline {
            self.cmdline
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .filter(|a| {
                    !a.starts_with("ostree=")
                        && !a.starts_with("BOOT_IMAGE=")
                        && !a.starts_with("initrd=")
                })
                .map(str::to_string)
                .collect()
        } else {
            fallback.as_ref().map(|f| f.kargs()).unwrap_or_default()
        };
        for k in &opts.kargs {
            let key = k.split_once('=').map(|(a, _)| a).unwrap_or(k);
            kargs.retain(|a| a.split_once('=').map(|(x, _)| x).unwrap_or(a) != key);
            kargs.push(k.clone());
        }

        // The commit is good to go: only now record the failed default (bad input changes nothing).
        self.note_rollback(&config, &counters)?;
        let serial = self
            .sysroot
            .deployments()?
            .iter()
            .filter(|d| d.commit == commit && d.os == os)
            .map(|d| d.serial + 1)
            .max()
            .unwrap_or(0);
        let id = DeploymentId {
            os: os.clone(),
            commit: commit.clone(),
            serial,
        };
        let dest = self.sysroot.deployment_dir(&id);
        std::fs::rename(&staging, &dest)
            .with_context(|| format!("cannot move the checkout to {}", dest.display()))?;
        write_atomic(
            &self.sysroot.origin_file(&id),
            format!("[origin]\nrefspec={}\n", opts.refspec).as_bytes(),
        )?;

        let mut bootargs = format!("ostree={}", id.path());
        for k in &kargs {
            bootargs.push(' ');
            bootargs.push_str(k);
        }
        let named = Self::named_dirs(&config);
        let entry = match bootfiles::install(self.boot.as_mut(), &os, &files, bootargs, &named) {
            Ok(e) => e,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dest);
                let _ = std::fs::remove_file(self.sysroot.origin_file(&id));
                return Err(e);
            }
        };

        let arm: [(&str, Option<&str>); 3] = [
            ("bootcount", Some("0")),
            ("upgrade_available", Some("1")),
            ("atomboot_rollback", None),
        ];
        if rolled_back {
            // The env still forces the (good) fallback: name the new default with that fallback first.
            loader::write(self.boot.as_mut(), &entry, fallback.as_ref())?;
            counters::write(self.boot.as_mut(), &arm)?;
        } else {
            // Arm the counters first: a cut before the loader write leaves the old default on trial.
            counters::write(self.boot.as_mut(), &arm)?;
            loader::write(self.boot.as_mut(), &entry, fallback.as_ref())?;
        }
        loader::write(self.boot.as_mut(), &entry, fallback.as_ref())?;
        self.drop_development_unlocks()?;
        self.cleanup()?;
        Ok(id)
    }

    /// A deploy ends every `unlock` without `--hotfix`.
    fn drop_development_unlocks(&mut self) -> Result<()> {
        for d in self.sysroot.deployments()? {
            let marker = self.sysroot.unlock_file(&d);
            if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == "development") {
                std::fs::remove_file(&marker)
                    .with_context(|| format!("cannot remove {}", marker.display()))?;
            }
        }
        Ok(())
    }

    /// `admin unlock [--hotfix]`: marks the booted (or, offline, the default) deployment for a writable
    /// overlay on /usr (the initramfs mounts it; see docs/FORMATS.md) and, on a running system, mounts it
    /// now. Returns the deployment and the upper directory.
    pub fn unlock(
        &mut self,
        hotfix: bool,
        mount_now: bool,
    ) -> Result<(DeploymentId, std::path::PathBuf)> {
        let id = match self.booted() {
            Some(b) => b,
            None => self
                .config()?
                .and_then(|c| c.primary.deployment())
                .ok_or_else(|| anyhow!("no booted or default deployment to unlock"))?,
        };
        let marker = self.sysroot.unlock_file(&id);
        let mode = if hotfix { "hotfix" } else { "development" };
        if let Ok(cur) = std::fs::read_to_string(&marker) {
            if cur.trim() == "hotfix" || cur.trim() == mode {
                bail!(
                    "deployment {} is already unlocked ({})",
                    id.short(),
                    cur.trim()
                );
            }
        }
        let (upper, work) = self.sysroot.overlay_dirs(&id);
        for d in [&upper, &work] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        write_atomic(&marker, format!("{mode}\n").as_bytes())?;
        if mount_now {
            let status = std::process::Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(format!(
                    "lowerdir=/usr,upperdir={},workdir={}",
                    upper.display(),
                    work.display()
                ))
                .arg("/usr")
                .status()
                .context("cannot run mount")?;
            if !status.success() {
                bail!("mount -t overlay on /usr failed ({status}); the unlock takes effect at the next boot");
            }
        }
        Ok((id, upper))
    }

    /// `admin mark-good`: the running system is healthy.
    pub fn mark_good(&mut self) -> Result<String> {
        let c = counters::read(self.boot.as_mut())?;
        let config = self.config()?;
        if self.note_rollback(&config, &c)? {
            let config =
                config.ok_or_else(|| anyhow!("{}: no valid loader copy", self.boot.describe()))?;
            let good = config
                .fallback
                .clone()
                .ok_or_else(|| anyhow!("rolled back but the configuration has no fallback"))?;
            self.make_default_after_rollback(&good, &config.primary)?;
            return Ok(format!(
                "rolled back: {} is now the default; the failed default is remembered",
                good.deployment().map(|d| d.short()).unwrap_or_default()
            ));
        }
        if c.get("bootcount") == Some("0") && c.get("upgrade_available") == Some("0") {
            return Ok("already marked good (nothing written)".into());
        }
        counters::write(
            self.boot.as_mut(),
            &[("bootcount", Some("0")), ("upgrade_available", Some("0"))],
        )?;
        Ok("marked good: bootcount=0 upgrade_available=0".into())
    }

    /// After a rollback: the running fallback `good` becomes the default, `failed` the fallback. First both
    /// slots name `good` (whatever the counters say, `good` boots), then the counters are reset, then the
    /// final configuration.
    fn make_default_after_rollback(
        &mut self,
        good: &OwnedEntry,
        failed: &OwnedEntry,
    ) -> Result<()> {
        loader::write(self.boot.as_mut(), good, Some(good))?;
        counters::write(
            self.boot.as_mut(),
            &[
                ("bootcount", Some("0")),
                ("upgrade_available", Some("0")),
                ("atomboot_rollback", None),
            ],
        )?;
        loader::write_both(self.boot.as_mut(), good, Some(failed))
    }

    /// `admin rollback`: the fallback becomes the default (the default becomes the fallback).
    pub fn rollback(&mut self) -> Result<String> {
        let c = counters::read(self.boot.as_mut())?;
        let config = self.config()?.ok_or_else(|| {
            anyhow!(
                "{}: no valid loader copy, nothing to roll back",
                self.boot.describe()
            )
        })?;
        let fallback = config.fallback.clone().ok_or_else(|| {
            anyhow!("no fallback deployment in the boot configuration: nothing to roll back to")
        })?;
        let name = fallback.deployment().map(|d| d.short()).unwrap_or_default();
        if self.note_rollback(&Some(config.clone()), &c)? {
            self.make_default_after_rollback(&fallback, &config.primary)?;
        } else {
            counters::write(
                self.boot.as_mut(),
                &[("bootcount", Some("0")), ("upgrade_available", Some("1"))],
            )?;
            loader::write_both(self.boot.as_mut(), &fallback, Some(&config.primary))?;
        }
        Ok(format!("{name} is now the default"))
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

    /// `admin cleanup`: both loader copies name the same entries; boot files and deployments that no
    /// entry names (and that are not booted) are removed.
    pub fn cleanup(&mut self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let config = self.config()?;
        if let Some(c) = &config {
            if c.other.as_ref() != Some(&(c.primary.clone(), c.fallback.clone())) {
                loader::write(self.boot.as_mut(), &c.primary, c.fallback.as_ref())?;
            }
        }
        let config = self.config()?;
        let keep = Self::named_dirs(&config);
        if config.is_some() {
            removed.extend(
                bootfiles::gc(self.boot.as_mut(), &keep)?
                    .into_iter()
                    .map(|d| format!("boot:/{d}")),
            );
        }
        let mut keep_deps: Vec<DeploymentId> = Vec::new();
        if let Some(c) = &config {
            keep_deps.extend(c.primary.deployment());
            keep_deps.extend(c.fallback.as_ref().and_then(|f| f.deployment()));
        }
        keep_deps.extend(self.booted());
        if config.is_some() {
            for d in self.sysroot.deployments()? {
                if !keep_deps.contains(&d) {
                    let dir = self.sysroot.deployment_dir(&d);
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("cannot remove {}", dir.display()))?;
                    let _ = std::fs::remove_file(self.sysroot.origin_file(&d));
                    let _ = std::fs::remove_file(self.sysroot.unlock_file(&d));
                    let (upper, work) = self.sysroot.overlay_dirs(&d);
                    let _ = std::fs::remove_dir_all(upper);
                    let _ = std::fs::remove_dir_all(work);
                    removed.push(d.path());
                }
            }
        }
        for os in self.sysroot.oses()? {
            let dir = self.sysroot.stateroot(&os).join("deploy");
            for e in std::fs::read_dir(&dir)?.flatten() {
                if e.file_name().to_string_lossy().starts_with(".staging-") {
                    std::fs::remove_dir_all(e.path())?;
                    removed.push(e.path().display().to_string());
                }
            }
        }
        Ok(removed)
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
        bootfiles::install(self.boot.as_mut(), &id.os, &files, bootargs, &named)
    }

    fn nth(&mut self, n: usize) -> Result<(Option<Config>, Vec<DeploymentId>, DeploymentId)> {
        let (config, list) = self.ordered()?;
        let id = list.get(n).cloned().ok_or_else(|| {
            anyhow!(
                "no deployment {n}: `atomboot admin status` lists {} (0-based)",
                list.len()
            )
        })?;
        Ok((config, list, id))
    }

    /// `admin set-default N` (a deployment whose commit failed needs `force`).
    pub fn set_default(&mut self, n: usize, force: bool) -> Result<String> {
        let (config, _, id) = self.nth(n)?;
        if !force {
            if let Some((_, reason)) = self
                .sysroot
                .failed()
                .into_iter()
                .find(|(c, _)| *c == id.commit)
            {
                bail!(
                    "deployment {n} ({}) failed before and was rolled back ({reason}); use --force",
                    id.short()
                );
            }
        }
        let current = config.as_ref().map(|c| c.primary.clone());
        if current.as_ref().and_then(|c| c.deployment()).as_ref() == Some(&id) {
            return Ok(format!("{} is already the default", id.short()));
        }
        let entry = self.entry_for(&id, &config)?;
        counters::write(
            self.boot.as_mut(),
            &[("bootcount", Some("0")), ("upgrade_available", Some("1"))],
        )?;
        loader::write_both(self.boot.as_mut(), &entry, current.as_ref())?;
        self.cleanup()?;
        Ok(format!("{} is now the default", id.short()))
    }

    /// `admin undeploy N`.
    pub fn undeploy(&mut self, n: usize) -> Result<String> {
        let (config, _, id) = self.nth(n)?;
        if self.booted().as_ref() == Some(&id) {
            bail!(
                "deployment {n} ({}) is the booted one; it cannot be undeployed",
                id.short()
            );
        }
        if let Some(c) = &config {
            let is = |e: &OwnedEntry| e.deployment().as_ref() == Some(&id);
            if is(&c.primary) {
                let fb = c.fallback.clone().ok_or_else(|| {
                    anyhow!("deployment {n} is the only bootable one; deploy another first")
                })?;
                loader::write_both(self.boot.as_mut(), &fb, None)?;
            } else if c.fallback.as_ref().is_some_and(is) {
                loader::write_both(self.boot.as_mut(), &c.primary, None)?;
            }
        }
        let dir = self.sysroot.deployment_dir(&id);
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
        let _ = std::fs::remove_file(self.sysroot.origin_file(&id));
        self.cleanup()?;
        Ok(format!("undeployed {}", id.short()))
    }

    /// `admin upgrade`: deploy the default's origin refspec when it resolves to a new commit.
    pub fn upgrade(&mut self, opts: &DeployOptions) -> Result<Option<DeploymentId>> {
        let config = self.config()?;
        let current = config
            .as_ref()
            .and_then(|c| c.primary.deployment())
            .or_else(|| self.booted())
            .ok_or_else(|| anyhow!("no default deployment to upgrade"))?;
        let origin = std::fs::read_to_string(self.sysroot.origin_file(&current))
            .with_context(|| format!("cannot read the origin of {}", current.short()))?;
        let refspec = origin
            .lines()
            .find_map(|l| l.strip_prefix("refspec="))
            .ok_or_else(|| anyhow!("origin of {} has no refspec=", current.short()))?
            .trim()
            .to_string();
        let source = self.source.ok_or_else(|| anyhow!("no repository"))?;
        if source.resolve(&refspec)? == current.commit {
            return Ok(None);
        }
        let mut o = opts.clone();
        o.refspec = refspec;
        o.os = Some(current.os);
        self.deploy(&o).map(Some)
    }
}

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
