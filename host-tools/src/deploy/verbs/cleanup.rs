//! `admin cleanup`.

use super::Admin;
use crate::deploy::bootfiles;
use crate::deploy::layout::DeploymentId;
use crate::deploy::loader;
use anyhow::{Context, Result};

impl Admin<'_> {
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
}
