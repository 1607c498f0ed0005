//! `admin rollback`.

use super::Admin;
use crate::deploy::counters;
use crate::deploy::loader;
use anyhow::{anyhow, Result};
use uenv::counter_names as names;

impl Admin<'_> {
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
                &[
                    (names::BOOTCOUNT, Some("0")),
                    (names::UPGRADE_AVAILABLE, Some("1")),
                ],
            )?;
            loader::write_both(self.boot.as_mut(), &fallback, Some(&config.primary))?;
        }
        Ok(format!("{name} is now the default"))
    }
}
