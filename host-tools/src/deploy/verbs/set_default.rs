//! `admin set-default N`.

use super::Admin;
use crate::deploy::counters;
use crate::deploy::loader;
use anyhow::{bail, Result};
use uenv::counter_names as names;

impl Admin<'_> {
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
            &[
                (names::BOOTCOUNT, Some("0")),
                (names::UPGRADE_AVAILABLE, Some("1")),
            ],
        )?;
        loader::write_both(self.boot.as_mut(), &entry, current.as_ref())?;
        self.cleanup()?;
        Ok(format!("{} is now the default", id.short()))
    }
}
