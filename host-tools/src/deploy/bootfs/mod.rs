//! The boot partition (FAT): a mounted directory ([`DirBootFs`]), or a FAT file system inside an image file
//! (bare FAT or the first FAT partition behind an MBR, [`ImageBootFs`]), reached without root or loop mounts
//! through the `fatfs` crate.
//!
//! Power-cut rules (DESIGN.md section 2): files that change at every deploy or boot (the two loader copies
//! and the two env copies) are only ever overwritten in place at their fixed size ([`BootFs::overwrite`]);
//! new boot files are created whole and synced ([`BootFs::create`]) before anything names them; files are
//! removed ([`BootFs::remove_dir_all`]) only once no valid loader copy names them.

mod dir;
mod fat;
mod storage;

pub use dir::DirBootFs;
pub use fat::ImageBootFs;
pub use storage::{FileStorage, MemStorage, Storage};

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, SeekFrom};
use std::path::Path;

/// What the deployer needs from the boot partition. Paths are relative to the partition root, `/`-separated.
pub trait BootFs {
    /// A name for messages, for example `/boot` or `disk.img (FAT partition 1)`.
    fn describe(&self) -> String;
    /// Reads a whole file; `None` when it does not exist.
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>>;
    /// Creates a new file (and its parent directories) with `data`, then syncs. Fails when it exists.
    fn create(&mut self, path: &str, data: &[u8]) -> Result<()>;
    /// Overwrites an existing file of exactly `data.len()` bytes in place, then syncs.
    fn overwrite(&mut self, path: &str, data: &[u8]) -> Result<()>;
    /// Removes a directory and everything in it (no error when missing), then syncs.
    fn remove_dir_all(&mut self, path: &str) -> Result<()>;
    /// Names in a directory (empty when missing).
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>>;
    /// Creates a directory and its parents (no error when present), then syncs.
    fn create_dir_all(&mut self, path: &str) -> Result<()>;
}

/// Opens the boot partition at `path`: a directory (mounted FAT) or an image file.
pub fn open(path: &Path) -> Result<Box<dyn BootFs>> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "boot partition {} not found (pass --boot DIR|IMAGE)",
            path.display()
        )
    })?;
    if meta.is_dir() {
        Ok(Box::new(DirBootFs::new(path)))
    } else {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| {
                format!(
                    "cannot open boot image {} for writing (read-only?)",
                    path.display()
                )
            })?;
        Ok(Box::new(ImageBootFs::new(
            Box::new(FileStorage(file)),
            path.display().to_string(),
        )?))
    }
}

/// Opens the boot partition read-only (for `status`).
pub fn open_read_only(path: &Path) -> Result<Box<dyn BootFs>> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "boot partition {} not found (pass --boot DIR|IMAGE)",
            path.display()
        )
    })?;
    if meta.is_dir() {
        Ok(Box::new(DirBootFs::new(path)))
    } else {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .with_context(|| format!("cannot read boot image {}", path.display()))?;
        Ok(Box::new(ImageBootFs::new(
            Box::new(MemStorage::new(bytes)),
            path.display().to_string(),
        )?))
    }
}

fn clean(path: &str) -> Result<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        bail!("path {path:?} on the boot partition has a . or .. component");
    }
    Ok(parts.join("/"))
}

/// Where the FAT file system starts in an image: 0 for a bare FAT image, else the first FAT partition of
/// the MBR. Returns (start, length) in bytes.
pub fn find_fat(storage: &mut dyn Storage) -> Result<(u64, u64)> {
    let total = storage.seek(SeekFrom::End(0))?;
    let mut sector = [0u8; 512];
    storage.seek(SeekFrom::Start(0))?;
    storage
        .read_exact(&mut sector)
        .context("image shorter than one sector")?;
    if sector[510] != 0x55 || sector[511] != 0xaa {
        bail!("no boot signature 55 aa in sector 0: neither a FAT image nor an MBR disk image");
    }
    let bps = u16::from_le_bytes([sector[11], sector[12]]);
    let looks_fat = (sector[0] == 0xeb || sector[0] == 0xe9)
        && matches!(bps, 512 | 1024 | 2048 | 4096)
        && sector[13] != 0;
    if looks_fat {
        return Ok((0, total));
    }
    for i in 0..4 {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        let kind = e[4];
        if matches!(kind, 0x01 | 0x04 | 0x06 | 0x0b | 0x0c | 0x0e | 0xef) {
            let lba = u32::from_le_bytes([e[8], e[9], e[10], e[11]]) as u64;
            let count = u32::from_le_bytes([e[12], e[13], e[14], e[15]]) as u64;
            let (start, len) = (lba * 512, count * 512);
            if start + len > total || len == 0 {
                bail!("MBR partition {} runs past the end of the image", i + 1);
            }
            return Ok((start, len));
        }
    }
    bail!("the MBR has no FAT partition (types 01, 04, 06, 0b, 0c, 0e, ef)")
}
