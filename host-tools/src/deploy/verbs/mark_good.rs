//! `admin mark-good`, and making the running fallback the default after an automatic rollback.

use super::Admin;
use crate::deploy::counters;
use crate::deploy::loader::{self, OwnedEntry};
use anyhow::{anyhow, Result};
use uenv::counter_names as names;

impl Admin<'_> {
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
        if c.get(names::BOOTCOUNT) == Some("0") && c.get(names::UPGRADE_AVAILABLE) == Some("0") {
            return Ok("already marked good (nothing written)".into());
        }
        counters::write(
            self.boot.as_mut(),
            &[
                (names::BOOTCOUNT, Some("0")),
                (names::UPGRADE_AVAILABLE, Some("0")),
            ],
        )?;
        Ok("marked good: bootcount=0 upgrade_available=0".into())
    }

    /// After a rollback: the running fallback `good` becomes the default, `failed` the fallback. First both
    /// slots name `good` (whatever the counters say, `good` boots), then the counters are reset, then the
    /// final configuration.
    pub(super) fn make_default_after_rollback(
        &mut self,
        good: &OwnedEntry,
        failed: &OwnedEntry,
    ) -> Result<()> {
        loader::write(self.boot.as_mut(), good, Some(good))?;
        counters::write(
            self.boot.as_mut(),
            &[
                (names::BOOTCOUNT, Some("0")),
                (names::UPGRADE_AVAILABLE, Some("0")),
                (names::ROLLBACK, None),
            ],
        )?;
        loader::write_both(self.boot.as_mut(), good, Some(failed))
    }
}
