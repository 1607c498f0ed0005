//! The boot counters: a redundant pair of U-Boot env files in the boot partition's root, `uboot.env` and
//! `uboot-redund.env` (incrementing flags, fixed size, preallocated), read and written with
//! `uenv::env_block`. A write goes to the copy not in use, with flags + 1, so a cut leaves the old values.

use super::bootfs::BootFs;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use uenv::env_block::{self, FlagScheme, Header, Which};

pub use uenv::counter_names::ENV_FILES;
use uenv::counter_names::{BOOTCOUNT, BOOTLIMIT, ROLLBACK, UPGRADE_AVAILABLE};
/// The env size atomboot creates (U-Boot's CONFIG_ENV_SIZE on the boards we support).
pub const ENV_SIZE: usize = 0x4000;
/// The values a fresh boot partition starts with.
pub const INITIAL: [(&str, &str); 3] =
    [(BOOTCOUNT, "0"), (BOOTLIMIT, "3"), (UPGRADE_AVAILABLE, "0")];

/// The env copy in use.
#[derive(Debug, Clone)]
pub struct Counters {
    /// Its variables, byte for byte as stored (values that are not UTF-8 are kept as they are).
    pub vars: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Which file is in use.
    pub current: Which,
    /// Its flags byte.
    pub flags: u8,
    /// The block size (the files' size).
    pub size: usize,
}

impl Counters {
    /// A variable, when it is set and UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name.as_bytes())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// True after the agent fell back because the default failed (`atomboot_rollback=1`).
    pub fn rolled_back(&self) -> bool {
        self.get(ROLLBACK) == Some("1")
    }
}

/// Reads the pair.
pub fn read(fs: &mut dyn BootFs) -> Result<Counters> {
    let a = fs.read(ENV_FILES[0])?;
    let b = fs.read(ENV_FILES[1])?;
    let chosen = env_block::read_redundant(a.as_deref(), b.as_deref(), FlagScheme::Incrementing)
        .map_err(|e| {
            anyhow!(
                "{}: boot counters unreadable: {e} ({} / {}); recreate them with `atomboot admin init-fs --boot`",
                fs.describe(),
                ENV_FILES[0],
                ENV_FILES[1]
            )
        })?;
    let size = match chosen.which {
        Which::First => a.as_ref().map(|x| x.len()),
        Which::Second => b.as_ref().map(|x| x.len()),
    }
    .unwrap_or(ENV_SIZE);
    let vars = chosen
        .block
        .vars()
        .map(|v| (v.name.to_vec(), v.value.to_vec()))
        .collect();
    Ok(Counters {
        vars,
        current: chosen.which,
        flags: chosen.flags,
        size,
    })
}

/// Applies `changes` (`None` deletes) in ONE write of the copy not in use.
pub fn write(fs: &mut dyn BootFs, changes: &[(&str, Option<&str>)]) -> Result<Counters> {
    let cur = read(fs)?;
    let mut vars = cur.vars.clone();
    for (k, v) in changes {
        match v {
            Some(v) => vars.insert(k.as_bytes().to_vec(), v.as_bytes().to_vec()),
            None => vars.remove(k.as_bytes()),
        };
    }
    let target = cur.current.other();
    let flags = FlagScheme::Incrementing.next(cur.flags);
    let block = render(&vars, flags, cur.size)?;
    fs.overwrite(ENV_FILES[target.index()], &block)?;
    read(fs)
}

/// Renders a redundant block.
pub fn render(vars: &BTreeMap<Vec<u8>, Vec<u8>>, flags: u8, size: usize) -> Result<Vec<u8>> {
    let mut block = vec![0u8; size];
    env_block::write(
        &mut block,
        Header::Redundant { flags },
        vars.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
    )
    .map_err(|e| anyhow!("boot counters: {e}"))?;
    Ok(block)
}

/// Creates the pair on a fresh partition (both valid, the first newer). Refuses to replace valid files.
pub fn create(fs: &mut dyn BootFs) -> Result<()> {
    if read(fs).is_ok() {
        return Ok(());
    }
    for f in ENV_FILES {
        if fs.read(f)?.is_some() {
            bail!(
                "{}: {f} exists but the pair is invalid; remove both env files to recreate them",
                fs.describe()
            );
        }
    }
    let vars: BTreeMap<Vec<u8>, Vec<u8>> = INITIAL
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    fs.create(ENV_FILES[0], &render(&vars, 1, ENV_SIZE)?)?;
    fs.create(ENV_FILES[1], &render(&vars, 0, ENV_SIZE)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::bootfs::DirBootFs;

    #[test]
    fn a_counter_write_keeps_other_variables_that_are_not_utf8_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let mut fs = DirBootFs::new(tmp.path());
        let mut vars = BTreeMap::new();
        vars.insert(b"bootcount".to_vec(), b"0".to_vec());
        vars.insert(b"vendor_blob".to_vec(), vec![0xff, 0xfe, b'x', 0x80]);
        fs.create(ENV_FILES[0], &render(&vars, 1, ENV_SIZE).unwrap())
            .unwrap();
        fs.create(ENV_FILES[1], &render(&vars, 0, ENV_SIZE).unwrap())
            .unwrap();
        let after = write(&mut fs, &[("bootcount", Some("1"))]).unwrap();
        assert_eq!(after.get("bootcount"), Some("1"));
        assert_eq!(
            after.vars.get(b"vendor_blob".as_slice()),
            Some(&vec![0xff, 0xfe, b'x', 0x80])
        );
        assert_eq!(after.get("vendor_blob"), None);
    }
}
