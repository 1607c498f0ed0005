//! The U-Boot environment as userland sees it: the copies named by `fw_env.config`, read and written with
//! the same rules as U-Boot and libubootenv (formats in `docs/FORMATS.md`).
//!
//! Power-cut safety: with two copies, a write only ever touches the copy that is **not** in use, and syncs it;
//! the copy in use stays valid until the new one is complete. With one copy, a write overwrites the only copy:
//! a cut in the middle leaves a block whose CRC fails, and U-Boot then boots with its built-in default
//! environment (every saved variable, the boot counters included, is lost until the next save).

mod copy_io;

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use uenv::env_block::{self, EnvError, FlagScheme, Header, Layout, Which};

pub use copy_io::CopyLocation;

/// Where fw_printenv looks when no `-c` is given.
pub const DEFAULT_CONFIG: &str = "/etc/fw_env.config";
/// The lock file libubootenv uses, so that atomboot and fw_setenv never write at the same time.
pub const LOCK_FILE: &str = "/var/lock/fw_printenv.lock";

/// An environment described by a `fw_env.config`.
#[derive(Debug, Clone)]
pub struct FwEnv {
    config: PathBuf,
    copies: Vec<CopyLocation>,
}

/// The variables of the copy in use.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Variables by name (a name stored twice keeps its last value).
    pub vars: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Which copy is in use (redundant layout only).
    pub current: Option<Which>,
    /// Its flags byte (redundant layout only).
    pub flags: Option<u8>,
    /// Problems worth telling the user that did not stop the read (for example a torn second copy).
    pub warnings: Vec<String>,
}

/// One change: set `name` to `value`, or delete it when `value` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The variable name.
    pub name: Vec<u8>,
    /// The new value, `None` to delete.
    pub value: Option<Vec<u8>>,
}

impl Change {
    /// Parses `NAME=VALUE`; an empty VALUE means delete.
    pub fn parse(text: &str) -> Result<Change> {
        let (name, value) = text
            .split_once('=')
            .with_context(|| format!("{text:?} has no '='"))?;
        env_block::check_name(name.as_bytes())
            .map_err(|e| anyhow::anyhow!("variable name {name:?}: {e}"))?;
        Ok(Change {
            name: name.as_bytes().to_vec(),
            value: (!value.is_empty()).then(|| value.as_bytes().to_vec()),
        })
    }

    /// A change that sets `name` to `value`.
    pub fn set(name: &str, value: &str) -> Change {
        Change {
            name: name.as_bytes().to_vec(),
            value: (!value.is_empty()).then(|| value.as_bytes().to_vec()),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone)]
pub struct WriteReport {
    /// The copy written.
    pub written: CopyLocation,
    /// Its new flags byte (redundant layout only).
    pub flags: Option<u8>,
    /// Problems worth telling the user.
    pub warnings: Vec<String>,
}

impl FwEnv {
    /// Reads and checks `fw_env.config`.
    pub fn open(config: &Path) -> Result<FwEnv> {
        let text = std::fs::read_to_string(config).with_context(|| {
            format!(
                "cannot read {} (the fw_env.config naming where the U-Boot environment is; pass -c FILE)",
                config.display()
            )
        })?;
        let parsed = uenv::fw_env_config::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
        let base = config.parent().unwrap_or(Path::new("."));
        let mut copies = vec![CopyLocation::from_config(&parsed.first, base)?];
        if let Some(second) = &parsed.second {
            copies.push(CopyLocation::from_config(second, base)?);
        }
        Ok(FwEnv {
            config: config.to_path_buf(),
            copies,
        })
    }

    /// The copies, first then second.
    pub fn copies(&self) -> &[CopyLocation] {
        &self.copies
    }

    fn layout(&self) -> Layout {
        if self.copies.len() > 1 {
            Layout::Redundant
        } else {
            Layout::Single
        }
    }

    /// Reads the copy in use. Fails, naming each copy and its problem, when no copy is valid.
    pub fn load(&self) -> Result<Loaded> {
        let raw: Vec<Result<Vec<u8>, EnvError>> = self.copies.iter().map(|c| c.read()).collect();
        let mut warnings = Vec::new();
        match self.layout() {
            Layout::Single => {
                let bytes = raw
                    .first()
                    .cloned()
                    .unwrap_or(Err(EnvError::Missing))
                    .map_err(|e| self.copy_error(0, e))?;
                let block = env_block::read_single(&bytes).map_err(|e| self.copy_error(0, e))?;
                Ok(Loaded {
                    vars: collect(block),
                    current: None,
                    flags: None,
                    warnings,
                })
            }
            Layout::Redundant => {
                let bytes: Vec<Option<&[u8]>> = raw.iter().map(|r| r.as_deref().ok()).collect();
                let first = bytes.first().copied().flatten();
                let second = bytes.get(1).copied().flatten();
                match env_block::read_redundant(first, second, FlagScheme::Incrementing) {
                    Ok(chosen) => {
                        if chosen.other.is_err() {
                            let i = chosen.which.other().index();
                            let why = raw
                                .get(i)
                                .and_then(|r| r.as_ref().err().copied())
                                .or(chosen.other.err())
                                .unwrap_or(EnvError::Missing);
                            warnings.push(format!(
                                "{} is not valid ({why}); using {} — the next write repairs it",
                                self.describe(i),
                                self.describe(chosen.which.index())
                            ));
                        }
                        Ok(Loaded {
                            vars: collect(chosen.block),
                            current: Some(chosen.which),
                            flags: Some(chosen.flags),
                            warnings,
                        })
                    }
                    Err(both) => {
                        let why = |i: usize, fallback: EnvError| {
                            raw.get(i)
                                .and_then(|r| r.as_ref().err().copied())
                                .unwrap_or(fallback)
                        };
                        bail!(
                            "no valid U-Boot environment in {}: {} is {}; {} is {}. Nothing was changed. \
                             Restore one copy (for example with mkenvimage) or let U-Boot save its default \
                             environment.",
                            self.config.display(),
                            self.describe(0),
                            why(0, both.first),
                            self.describe(1),
                            why(1, both.second)
                        )
                    }
                }
            }
        }
    }

    /// Applies `changes` in one write. Redundant: to the copy not in use, flags + 1, synced. Single: in
    /// place, synced. Nothing is written when no copy is valid.
    pub fn apply(&self, changes: &[Change]) -> Result<WriteReport> {
        let _lock = copy_io::lock(Path::new(LOCK_FILE));
        let loaded = self.load()?;
        let mut vars = loaded.vars;
        for change in changes {
            match &change.value {
                Some(value) => {
                    if value.contains(&0) {
                        bail!(
                            "value of {} contains a NUL byte",
                            String::from_utf8_lossy(&change.name)
                        );
                    }
                    vars.insert(change.name.clone(), value.clone());
                }
                None => {
                    vars.remove(&change.name);
                }
            }
        }
        let (index, header, flags) = match (loaded.current, loaded.flags) {
            (Some(current), Some(flags)) => {
                let (target, next) = (current.other(), FlagScheme::Incrementing.next(flags));
                (
                    target.index(),
                    Header::Redundant { flags: next },
                    Some(next),
                )
            }
            _ => (0, Header::Single, None),
        };
        let location = self
            .copies
            .get(index)
            .with_context(|| format!("{}: no copy {index}", self.config.display()))?;
        let mut block = vec![0u8; location.size];
        env_block::write(
            &mut block,
            header,
            vars.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the new environment does not fit {} ({e}); nothing was changed",
                self.describe(index)
            )
        })?;
        location
            .write(&block)
            .with_context(|| format!("writing {}", self.describe(index)))?;
        let back = location
            .read()
            .map_err(|e| anyhow::anyhow!("reading back {}: {e}", self.describe(index)))?;
        if back != block {
            bail!(
                "{} does not read back what was written: the storage is failing",
                self.describe(index)
            );
        }
        Ok(WriteReport {
            written: location.clone(),
            flags,
            warnings: loaded.warnings,
        })
    }

    fn describe(&self, index: usize) -> String {
        match self.copies.get(index) {
            Some(c) => format!("copy {} ({})", index + 1, c),
            None => format!("copy {}", index + 1),
        }
    }

    fn copy_error(&self, index: usize, e: EnvError) -> anyhow::Error {
        anyhow::anyhow!(
            "no valid U-Boot environment: {} is {e}. Nothing was changed.",
            self.describe(index)
        )
    }
}

fn collect(block: env_block::EnvBlock<'_>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    block
        .vars()
        .map(|v| (v.name.to_vec(), v.value.to_vec()))
        .collect()
}
