//! `admin upgrade`.

use super::{Admin, DeployOptions};
use crate::deploy::layout::DeploymentId;
use anyhow::{anyhow, Context, Result};

impl Admin<'_> {
    /// `admin upgrade`: pull the default's origin refspec, deploy it when it resolves to a new commit.
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
        source.pull(&refspec)?;
        if source.resolve(&refspec)? == current.commit {
            return Ok(None);
        }
        let mut o = opts.clone();
        o.refspec = refspec;
        o.os = Some(current.os);
        self.deploy(&o).map(Some)
    }
}
