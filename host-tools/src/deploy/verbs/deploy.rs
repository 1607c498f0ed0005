//! `admin deploy`.

use super::{Admin, DeployOptions};
use crate::deploy::bootfiles;
use crate::deploy::counters;
use crate::deploy::etc_merge;
use crate::deploy::fdtcheck;
use crate::deploy::layout::{write_atomic, DeploymentId};
use crate::deploy::loader::{self, OwnedEntry};
use anyhow::{anyhow, bail, Context, Result};
use uenv::counter_names as names;

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
                    let reason = counters.get(names::REASON).unwrap_or("automatic rollback");
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
        // A stateroot made by `ostree admin os-init` has no deploy/ yet.
        std::fs::create_dir_all(&deploy_dir)
            .with_context(|| format!("cannot create {}", deploy_dir.display()))?;
        let staging = deploy_dir.join(format!(".staging-{commit}"));
        let _ = std::fs::remove_dir_all(&staging);
        let merge_from = self.merge_deployment(&os, &config);
        phase(format_args!("checking out {commit} ({})", opts.refspec));
        let prepared = (|| -> Result<bootfiles::BootFiles> {
            source.checkout(&commit, &staging, opts.verify)?;
            self.prepare_etc(&staging, merge_from.as_ref())?;
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
            commit,
            serial,
        };
        let dest = self.sysroot.deployment_dir(&id);
        std::fs::rename(&staging, &dest)
            .with_context(|| format!("cannot move the checkout to {}", dest.display()))?;
        // The deployment (its links, directories and copied /etc) is on disk before anything names it.
        std::fs::File::open(&dest)
            .and_then(|d| rustix::fs::syncfs(&d).map_err(std::io::Error::from))
            .with_context(|| format!("cannot sync the file system of {}", dest.display()))?;
        write_atomic(
            &self.sysroot.origin_file(&id),
            format!("[origin]\nrefspec={}\n", opts.refspec).as_bytes(),
        )?;
        phase(format_args!("deployment {} written and synced", id.path()));

        let mut bootargs = format!("ostree={}", id.path());
        for k in &kargs {
            bootargs.push(' ');
            bootargs.push_str(k);
        }
        let named = Self::named_dirs(&config);
        let proof = self.proof_for(source, &commit);
        let entry = match bootfiles::install(
            self.boot.as_mut(),
            &os,
            &files,
            bootargs,
            proof.as_ref(),
            &named,
        ) {
            Ok(e) => e,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dest);
                let _ = std::fs::remove_file(self.sysroot.origin_file(&id));
                return Err(e);
            }
        };
        phase(format_args!(
            "boot files /{} ready and synced ({} bytes)",
            entry.dirs().first().map_or("?", String::as_str),
            entry
                .files
                .iter()
                .flatten()
                .map(|f| u64::from(f.size))
                .sum::<u64>()
        ));

        let arm: [(&str, Option<&str>); 3] = [
            (names::BOOTCOUNT, Some("0")),
            (names::UPGRADE_AVAILABLE, Some("1")),
            (names::ROLLBACK, None),
        ];
        if rolled_back {
            // The env still forces the (good) fallback: name the new default with that fallback first.
            self.write_loader(&entry, fallback.as_ref())?;
            self.arm_counters(&arm)?;
        } else {
            // Arm the counters first: a cut before the loader write leaves the old default on trial.
            self.arm_counters(&arm)?;
            self.write_loader(&entry, fallback.as_ref())?;
        }
        self.write_loader(&entry, fallback.as_ref())?;
        self.drop_development_unlocks()?;
        phase(format_args!("cleanup"));
        self.cleanup()?;
        Ok(id)
    }

    /// An env write of `vars` (the copy not in use), then its progress line.
    fn arm_counters(&mut self, vars: &[(&str, Option<&str>)]) -> Result<()> {
        counters::write(self.boot.as_mut(), vars)?;
        let set: Vec<String> = vars
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => format!("{k} deleted"),
            })
            .collect();
        phase(format_args!("boot counters written ({})", set.join(", ")));
        Ok(())
    }

    /// A loader write (the copy not selected), then its progress line naming the copy now selected.
    fn write_loader(&mut self, primary: &OwnedEntry, fallback: Option<&OwnedEntry>) -> Result<()> {
        loader::write(self.boot.as_mut(), primary, fallback)?;
        let name = |e: Option<&OwnedEntry>| {
            e.and_then(OwnedEntry::deployment)
                .map_or("none".to_string(), |d| d.short())
        };
        let copy = self.config()?.map_or(String::new(), |c| {
            format!(" {} (generation {})", c.copy, c.generation)
        });
        phase(format_args!(
            "loader copy{copy} written: default {}, fallback {}",
            name(Some(primary)),
            name(fallback)
        ));
        Ok(())
    }

    /// ostree's merge deployment: the booted one when it belongs to `os`, else the default, else the
    /// fallback of `os` (what the boot configuration names).
    fn merge_deployment(&self, os: &str, config: &Option<loader::Config>) -> Option<DeploymentId> {
        let exists = |d: &DeploymentId| d.os == os && self.sysroot.deployment_dir(d).is_dir();
        if let Some(b) = self.booted().filter(exists) {
            return Some(b);
        }
        let c = config.as_ref()?;
        [Some(&c.primary), c.fallback.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|e| e.deployment())
            .find(exists)
    }

    /// The new deployment's /etc (etc_merge): /usr/etc copied, then the merge deployment's local
    /// changes applied; ostree's "Copying /etc changes" line is printed. Made durable before the
    /// checkout is renamed into place.
    fn prepare_etc(
        &self,
        staging: &std::path::Path,
        merge_from: Option<&DeploymentId>,
    ) -> Result<()> {
        etc_merge::prepare(staging)?;
        if let Some(m) = merge_from {
            let dir = self.sysroot.deployment_dir(m);
            if let Some(changes) = etc_merge::merge(&dir, staging)
                .with_context(|| format!("merging /etc of {} into the new deployment", m.short()))?
            {
                println!("{}", changes.message());
            }
        }
        let f = std::fs::File::open(staging)
            .with_context(|| format!("cannot open {}", staging.display()))?;
        rustix::fs::syncfs(&f).with_context(|| format!("syncfs {}", staging.display()))?;
        Ok(())
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

/// One progress line per phase of a deploy, on stderr (`deploy: ...`, plain text: a serial console or a log
/// reads it as it comes, and shows where a deploy stopped).
fn phase(what: std::fmt::Arguments<'_>) {
    eprintln!("deploy: {what}");
}
