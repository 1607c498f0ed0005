//! The two loader copies (`loader.N/uEnv.txt`), read and written only through `uenv::boot_config`.

use super::bootfs::BootFs;
use super::layout::DeploymentId;
use anyhow::{anyhow, bail, Result};
use uenv::boot_config::{
    self, BootConfig, BootFile, Entry, FileRole, LOADER_FILE_SIZE, LOADER_PATHS,
};

/// One boot file, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFile {
    /// Path on the partition (absolute).
    pub path: String,
    /// SHA-256.
    pub sha256: [u8; 32],
    /// Size.
    pub size: u32,
}

/// One entry, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntry {
    /// Kernel, ramdisk, fdt.
    pub files: [Option<OwnedFile>; 3],
    /// Kernel command line (`ostree=...` first).
    pub bootargs: String,
    /// The boot proof's path (`atomboot_proof`), when the commit is signed (docs/FORMATS.md, "Boot proof").
    pub proof: Option<String>,
}

impl OwnedEntry {
    fn from(e: &Entry<'_>) -> OwnedEntry {
        let f = |role| {
            e.file(role).map(|b: &BootFile<'_>| OwnedFile {
                path: b.path.to_string(),
                sha256: b.sha256,
                size: b.size,
            })
        };
        OwnedEntry {
            files: [f(FileRole::Kernel), f(FileRole::Ramdisk), f(FileRole::Fdt)],
            bootargs: e.bootargs.to_string(),
            proof: e.proof.map(str::to_string),
        }
    }

    /// The deployment its `ostree=` names.
    pub fn deployment(&self) -> Option<DeploymentId> {
        DeploymentId::from_cmdline(&self.bootargs)
    }

    /// The kernel arguments other than `ostree=`.
    pub fn kargs(&self) -> Vec<String> {
        self.bootargs
            .split_whitespace()
            .filter(|a| !a.starts_with(super::layout::KARG_PREFIX))
            .map(str::to_string)
            .collect()
    }

    /// The directories (under the partition root) holding its files.
    pub fn dirs(&self) -> Vec<String> {
        self.files
            .iter()
            .flatten()
            .map(|f| &f.path)
            .chain(&self.proof)
            .filter_map(|path| {
                let p = path.trim_start_matches('/');
                p.rsplit_once('/').map(|(d, _)| d.to_string())
            })
            .collect()
    }

    fn borrowed(&self) -> Result<Entry<'_>> {
        fn b(f: &OwnedFile) -> BootFile<'_> {
            BootFile {
                path: &f.path,
                sha256: f.sha256,
                size: f.size,
            }
        }
        let [k, r, d] = &self.files;
        Ok(Entry {
            kernel: k
                .as_ref()
                .map(b)
                .ok_or_else(|| anyhow!("entry without kernel"))?,
            ramdisk: r.as_ref().map(b),
            fdt: d.as_ref().map(b),
            bootargs: &self.bootargs,
            proof: self.proof.as_deref(),
        })
    }
}

/// The selected loader copy, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Which copy (0 or 1).
    pub copy: usize,
    /// Its generation.
    pub generation: u64,
    /// The default entry.
    pub primary: OwnedEntry,
    /// The fallback entry.
    pub fallback: Option<OwnedEntry>,
    /// The other copy, when valid (older).
    pub other: Option<(OwnedEntry, Option<OwnedEntry>)>,
}

fn owned(c: &BootConfig<'_>) -> (OwnedEntry, Option<OwnedEntry>) {
    (
        OwnedEntry::from(&c.primary),
        c.fallback.as_ref().map(OwnedEntry::from),
    )
}

/// Reads both copies and selects one; `Ok(None)` when neither is valid (a fresh partition).
pub fn read(fs: &mut dyn BootFs) -> Result<Option<Config>> {
    let c0 = fs.read(LOADER_PATHS[0])?;
    let c1 = fs.read(LOADER_PATHS[1])?;
    let Ok(sel) = boot_config::select(c0.as_deref(), c1.as_deref()) else {
        return Ok(None);
    };
    let other_bytes = if sel.copy.index() == 0 { &c1 } else { &c0 };
    let other = match boot_config::judge(other_bytes.as_deref()) {
        boot_config::CopyState::Valid(c) => Some(owned(&c)),
        _ => None,
    };
    let (primary, fallback) = owned(&sel.config);
    Ok(Some(Config {
        copy: sel.copy.index(),
        generation: sel.config.generation,
        primary,
        fallback,
        other,
    }))
}

/// Writes a new configuration to the copy that is not selected (`plan_write`), in place, and syncs.
pub fn write(
    fs: &mut dyn BootFs,
    primary: &OwnedEntry,
    fallback: Option<&OwnedEntry>,
) -> Result<()> {
    let c0 = fs.read(LOADER_PATHS[0])?;
    let c1 = fs.read(LOADER_PATHS[1])?;
    if c0.is_none() || c1.is_none() {
        bail!(
            "{}: the loader copies {} and {} must exist at {} bytes; run `atomboot admin init-fs --boot` on this partition",
            fs.describe(),
            LOADER_PATHS[0],
            LOADER_PATHS[1],
            LOADER_FILE_SIZE
        );
    }
    let plan = boot_config::plan_write(c0.as_deref(), c1.as_deref())
        .map_err(|e| anyhow!("{}: {e}", fs.describe()))?;
    let config = BootConfig {
        generation: plan.generation,
        primary: primary.borrowed()?,
        fallback: fallback.map(|f| f.borrowed()).transpose()?,
    };
    let mut buf = vec![0u8; LOADER_FILE_SIZE];
    boot_config::render_padded(&config, &mut buf)
        .map_err(|e| anyhow!("boot configuration: {e}"))?;
    fs.overwrite(plan.copy.path(), &buf)
}

/// Writes the configuration to both copies, one after the other (the second write makes the older copy
/// name the same files, so that files only the old configuration named can then be removed).
pub fn write_both(
    fs: &mut dyn BootFs,
    primary: &OwnedEntry,
    fallback: Option<&OwnedEntry>,
) -> Result<()> {
    write(fs, primary, fallback)?;
    write(fs, primary, fallback)
}

/// Creates the two copies (fixed size, not yet valid) on a fresh partition.
pub fn create(fs: &mut dyn BootFs) -> Result<()> {
    let mut blank = vec![b'#'; LOADER_FILE_SIZE];
    if let Some(last) = blank.last_mut() {
        *last = b'\n';
    }
    for p in LOADER_PATHS {
        if fs.read(p)?.is_none() {
            fs.create(p, &blank)?;
        }
    }
    Ok(())
}
