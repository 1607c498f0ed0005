//! Reading and writing one environment copy at an offset of a file or block device.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use uenv::env_block::EnvError;

/// Where one copy lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyLocation {
    /// File or device.
    pub path: PathBuf,
    /// Byte offset; negative counts from the end.
    pub offset: i64,
    /// Environment size in bytes.
    pub size: usize,
}

impl std::fmt::Display for CopyLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {:#x}", self.path.display(), self.offset)
    }
}

impl CopyLocation {
    /// From one line of fw_env.config; relative paths are taken from the config's directory.
    pub fn from_config(
        dev: &uenv::fw_env_config::EnvDevice<'_>,
        base: &Path,
    ) -> Result<CopyLocation> {
        let path = Path::new(dev.path);
        let s = dev.path;
        if s.starts_with("/dev/mtd") || s.starts_with("/dev/ubi") {
            bail!(
                "{}: MTD/UBI devices need erase-block handling that atomboot does not do; use fw_setenv",
                dev.path
            );
        }
        let size = usize::try_from(dev.size)
            .ok()
            .filter(|s| *s <= 16 << 20)
            .with_context(|| {
                format!(
                    "{}: environment size {:#x} is too large",
                    dev.path, dev.size
                )
            })?;
        Ok(CopyLocation {
            path: if path.is_absolute() {
                path.to_path_buf()
            } else {
                base.join(path)
            },
            offset: dev.offset,
            size,
        })
    }

    fn seek_to(&self, file: &mut File) -> std::io::Result<u64> {
        let pos = if self.offset >= 0 {
            SeekFrom::Start(self.offset.unsigned_abs())
        } else {
            SeekFrom::End(self.offset)
        };
        file.seek(pos)
    }

    /// Reads the copy's bytes; a missing file or a short read is reported as the copy being missing/too small.
    pub fn read(&self) -> Result<Vec<u8>, EnvError> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(_) => return Err(EnvError::Missing),
        };
        self.seek_to(&mut file).map_err(|_| EnvError::Missing)?;
        let mut buf = Vec::with_capacity(self.size);
        Read::by_ref(&mut file)
            .take(self.size as u64)
            .read_to_end(&mut buf)
            .map_err(|_| EnvError::Missing)?;
        if buf.len() < self.size {
            return Err(EnvError::TooSmall { len: buf.len() });
        }
        Ok(buf)
    }

    /// Overwrites the copy in place and syncs it to the device. The file must already exist and be large
    /// enough: creating or growing it would change FAT metadata.
    pub fn write(&self, block: &[u8]) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .with_context(|| {
                format!(
                    "cannot open {} for writing (it must exist, at least {} bytes)",
                    self.path.display(),
                    self.size
                )
            })?;
        let start = self
            .seek_to(&mut file)
            .with_context(|| format!("cannot seek in {}", self.path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if is_file && start.saturating_add(block.len() as u64) > len {
            bail!(
                "{} is {} bytes, too small for an environment of {} bytes at offset {:#x}; refusing to grow it",
                self.path.display(),
                len,
                block.len(),
                start
            );
        }
        file.write_all(block)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot sync {}", self.path.display()))?;
        Ok(())
    }
}

/// Takes libubootenv's lock, so that fw_setenv and atomboot never interleave. Best effort: a lock file that
/// cannot be created (no /var/lock, not root) leaves the write unlocked, with a warning.
pub fn lock(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    match file {
        Ok(f) => match f.lock() {
            Ok(()) => Some(f),
            Err(e) => {
                eprintln!("atomboot: warning: cannot lock {}: {e}", path.display());
                None
            }
        },
        Err(e) => {
            eprintln!(
                "atomboot: warning: cannot create lock {}: {e}",
                path.display()
            );
            None
        }
    }
}
