//! A mounted FAT partition (any directory, in tests), written with std::fs.

use super::{clean, BootFs};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A mounted FAT partition (or any directory, in tests).
pub struct DirBootFs {
    root: PathBuf,
}

impl DirBootFs {
    /// The partition mounted at `root`.
    pub fn new(root: &Path) -> DirBootFs {
        DirBootFs {
            root: root.to_path_buf(),
        }
    }

    fn full(&self, path: &str) -> Result<PathBuf> {
        Ok(self.root.join(clean(path)?))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl BootFs for DirBootFs {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let full = self.full(path)?;
        match std::fs::read(&full) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", full.display())),
        }
    }

    fn create(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let full = self.full(path)?;
        let parent = full.parent().unwrap_or(&self.root).to_path_buf();
        self.create_dir_all(&path_parent(path))?;
        let result = (|| -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&full)?;
            f.write_all(data)?;
            f.sync_all()?;
            sync_dir(&parent)
        })();
        result.with_context(|| format!("cannot write {}", full.display()))
    }

    fn overwrite(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let full = self.full(path)?;
        let result = (|| -> io::Result<()> {
            let mut f = OpenOptions::new().write(true).open(&full)?;
            let len = f.metadata()?.len();
            if len != data.len() as u64 {
                return Err(io::Error::other(format!(
                    "has {len} bytes, expected its fixed size {} (recreate the boot partition with `atomboot admin init-fs --boot`)",
                    data.len()
                )));
            }
            f.write_all(data)?;
            f.sync_all()
        })();
        result.with_context(|| format!("cannot overwrite {} in place", full.display()))
    }

    fn remove_dir_all(&mut self, path: &str) -> Result<()> {
        let full = self.full(path)?;
        match std::fs::remove_dir_all(&full) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", full.display())),
        }
        if let Some(parent) = full.parent() {
            sync_dir(parent).with_context(|| format!("cannot sync {}", parent.display()))?;
        }
        Ok(())
    }

    fn list_dir(&mut self, path: &str) -> Result<Vec<String>> {
        let full = self.full(path)?;
        let rd = match std::fs::read_dir(&full) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", full.display())),
        };
        let mut names = Vec::new();
        for e in rd {
            let e = e.with_context(|| format!("cannot list {}", full.display()))?;
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&mut self, path: &str) -> Result<()> {
        let full = self.full(path)?;
        if full.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&full)
            .and_then(|()| sync_dir(full.parent().unwrap_or(&self.root)))
            .with_context(|| format!("cannot create directory {}", full.display()))
    }
}

fn path_parent(path: &str) -> String {
    match path.trim_matches('/').rsplit_once('/') {
        Some((parent, _)) => parent.to_string(),
        None => String::new(),
    }
}
