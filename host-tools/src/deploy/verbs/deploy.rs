//! `admin deploy`.

use super::{Admin, DeployOptions};
use crate::deploy::bootfiles;
use crate::deploy::counters;
use crate::deploy::fdtcheck;
use crate::deploy::layout::{write_atomic, DeploymentId};
use crate::deploy::loader::{self, OwnedEntry};
use anyhow::{anyhow, bail, Context, Result};

impl Admin<'_> {
    /// `admin deploy`.
    pub fn deploy(&mut self, opts: &DeployOptions) -> Result<DeploymentId> {
        self.sysroot.check()?;
        let source = self
            .source
            .ok_or_else(|| anyhow!("no repository to deploy from"))?;
        let os = self.pick_os(opts.os.as_deref())?;
        let commit = source.resolve(&opts.refspec)?;
        // Signatures are checked whatever --force says.
        source.verify(&opts.refspec, &commit)?;
        let counters = counters::read(self.boot.as_mut())?;
        let config = self.config()?;
        let rolled_back = counters.rolled_back();
        if !opts.force {
            // Failed before: recorded, or the default the agent has just rolled back from.
            let mut failed = self.sysroot.failed();
            if rolled_back {
                if let Some(d) = config.as_ref().and_then(|c| c.primary.deployment()) {
                    let reason = counters
                        .get("atomboot_reason")
                        .unwrap_or("automatic rollback");
                    failed.push((d.commit, reason.to_string()));
                }
            }
            if let Some((_, reason)) = failed.into_iter().find(|(c, _)| *c == commit) {
                bail!(
                    "commit {commit} ({}) failed before and was rolled back ({reason}); deploy it again with --force (for example when only its boot files were damaged)",
                    opts.refspec
                );
            }
        }

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
}
