//! `admin unlock [--hotfix]`.

use super::Admin;
use crate::deploy::layout::{write_atomic, DeploymentId};
use anyhow::{anyhow, bail, Context, Result};

impl Admin<'_> {
    /// `admin unlock [--hotfix]`: marks the booted deployment for a writable
    /// overlay on /usr (the initramfs mounts it; see docs/FORMATS.md) and, on a running system, mounts it
    /// now. Returns the deployment and the upper directory.
    pub fn unlock(
        &mut self,
        hotfix: bool,
        mount_now: bool,
    ) -> Result<(DeploymentId, std::path::PathBuf)> {
        // As ostree: only the booted deployment can be unlocked (never the host's own /usr).
        let id = self.booted().ok_or_else(|| {
            anyhow!(
                "not currently booted into an OSTree system (no ostree= deployment on the kernel command line); \
                 on a device run it there, or pass --cmdline FILE naming the deployment"
            )
        })?;
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
}
