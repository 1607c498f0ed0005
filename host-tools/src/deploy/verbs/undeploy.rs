//! `admin undeploy N`.

use super::Admin;
use crate::deploy::loader::{self, OwnedEntry};
use anyhow::{anyhow, bail, Context, Result};

impl Admin<'_> {
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
}
