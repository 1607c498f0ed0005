//! Boot files: found in a commit's `usr/lib/modules/<kver>/` (`vmlinuz`, `initramfs.img`, `devicetree` or
//! `dtb/<board dtb>`), stored on the boot partition under `/ostree/<os>-<bootcsum>/` with the names
//! `vmlinuz`, `initramfs.img`, `devicetree`, shared between deployments and removed when unnamed.
//! bootcsum = SHA-256 of kernel, initramfs and device tree concatenated (as OSTree computes it).

use super::board::BoardInfo;
use super::bootfs::BootFs;
use super::loader::{OwnedEntry, OwnedFile};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The boot files of one commit.
#[derive(Debug, Clone)]
pub struct BootFiles {
    /// The kernel version directory name.
    pub kver: String,
    /// zImage.
    pub kernel: Vec<u8>,
    /// initramfs.
    pub ramdisk: Option<Vec<u8>>,
    /// Device tree and where it came from.
    pub fdt: Option<(Vec<u8>, String)>,
}

/// Names of the files on the partition, by role.
pub const NAMES: [&str; 3] = ["vmlinuz", "initramfs.img", "devicetree"];

fn read_opt(p: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Finds the boot files in a checked-out tree. `what` names the commit in errors.
pub fn find(tree: &Path, what: &str, board: Option<&BoardInfo>) -> Result<BootFiles> {
    let modules = tree.join("usr/lib/modules");
    let mut kvers: Vec<String> = std::fs::read_dir(&modules)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("vmlinuz").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    kvers.sort();
    let kver = match kvers.as_slice() {
        [] => bail!(
            "commit {what} has no kernel: expected usr/lib/modules/<kver>/vmlinuz in its tree"
        ),
        [k] => k.clone(),
        _ => bail!("commit {what} has several kernels in usr/lib/modules ({kvers:?}); keep one"),
    };
    let dir = modules.join(&kver);
    let kernel = std::fs::read(dir.join("vmlinuz"))
        .with_context(|| format!("commit {what}: cannot read vmlinuz"))?;
    let ramdisk = read_opt(&dir.join("initramfs.img"))?;
    let mut fdt = read_opt(&dir.join("devicetree"))?
        .map(|b| (b, format!("usr/lib/modules/{kver}/devicetree")));
    if fdt.is_none() {
        if let Some(name) = board.and_then(|b| b.dtb_name) {
            let p = dir.join("dtb").join(name);
            if let Some(b) = read_opt(&p)? {
                fdt = Some((b, format!("usr/lib/modules/{kver}/dtb/{name}")));
            }
        }
    }
    for (len, name) in [
        (Some(kernel.len()), "vmlinuz"),
        (ramdisk.as_ref().map(|r| r.len()), "initramfs.img"),
        (fdt.as_ref().map(|f| f.0.len()), "devicetree"),
    ] {
        if len.is_some_and(|l| l as u64 >= u32::MAX as u64) {
            bail!("commit {what}: {name} is 4 GiB or larger");
        }
    }
    Ok(BootFiles {
        kver,
        kernel,
        ramdisk,
        fdt,
    })
}

impl BootFiles {
    /// OSTree's bootcsum: SHA-256 over kernel, initramfs and device tree.
    pub fn bootcsum(&self) -> String {
        let mut h = Sha256::new();
        h.update(&self.kernel);
        if let Some(r) = &self.ramdisk {
            h.update(r);
        }
        if let Some((f, _)) = &self.fdt {
            h.update(f);
        }
        hex::encode(h.finalize())
    }

    fn contents(&self) -> [Option<&[u8]>; 3] {
        [
            Some(&self.kernel),
            self.ramdisk.as_deref(),
            self.fdt.as_ref().map(|f| f.0.as_slice()),
        ]
    }
}

/// True when every file of `entry` is on the partition with its size and SHA-256.
pub fn verify(fs: &mut dyn BootFs, entry: &OwnedEntry) -> Result<bool> {
    for f in entry.files.iter().flatten() {
        match fs.read(&f.path)? {
            Some(b) if b.len() as u64 == f.size as u64 && Sha256::digest(&b)[..] == f.sha256 => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// A deployment's boot proof as it is stored beside its boot files (`proof-<commit>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFile {
    /// File name in the boot directory.
    pub name: String,
    /// The proof's bytes.
    pub bytes: Vec<u8>,
}

/// Whether the directory holding `entry`'s files can also hold `proof`: absent (it is added, a new file
/// beside the others), or present with the same bytes.
fn proof_fits(fs: &mut dyn BootFs, dir: &str, proof: Option<&ProofFile>) -> Result<bool> {
    let Some(p) = proof else {
        return Ok(true);
    };
    Ok(match fs.read(&format!("{dir}/{}", p.name))? {
        None => true,
        Some(b) => b == p.bytes,
    })
}

/// Puts the files on the partition (or reuses identical ones) and returns the entry naming them, with
/// `bootargs` and, for a signed commit, its boot proof stored beside them. Directories named by `named`
/// (the valid loader copies) are never removed, and a file in them is never changed: a proof is only added
/// as a new file (two commits with the same boot files keep one proof each).
pub fn install(
    fs: &mut dyn BootFs,
    os: &str,
    files: &BootFiles,
    bootargs: String,
    proof: Option<&ProofFile>,
    named: &[String],
) -> Result<OwnedEntry> {
    let csum = files.bootcsum();
    for attempt in 0..8 {
        let dir = if attempt == 0 {
            format!("ostree/{os}-{csum}")
        } else {
            format!("ostree/{os}-{csum}-{attempt}")
        };
        let mut entry = OwnedEntry {
            files: [None, None, None],
            bootargs: bootargs.clone(),
            proof: proof.map(|p| format!("/{dir}/{}", p.name)),
        };
        for (i, content) in files.contents().iter().enumerate() {
            if let Some(c) = content {
                entry.files[i] = Some(OwnedFile {
                    path: format!("/{dir}/{}", NAMES[i]),
                    sha256: Sha256::digest(c).into(),
                    size: c.len() as u32,
                });
            }
        }
        let present = !fs.list_dir(&dir)?.is_empty();
        if present && verify(fs, &entry)? && proof_fits(fs, &dir, proof)? {
            add_proof(fs, &dir, proof)?;
            return Ok(entry);
        }
        if present {
            if named.contains(&dir) {
                continue; // damaged but named by a loader copy: leave it, use another name
            }
            fs.remove_dir_all(&dir)?;
        }
        let write = (|| -> Result<()> {
            for (i, content) in files.contents().iter().enumerate() {
                if let Some(c) = content {
                    fs.create(&format!("{dir}/{}", NAMES[i]), c)?;
                }
            }
            add_proof(fs, &dir, proof)
        })();
        if let Err(e) = write {
            // Nothing names the partial directory: give its space back (best effort).
            let _ = fs.remove_dir_all(&dir);
            return Err(e).with_context(|| {
                format!(
                    "cannot store the boot files on {}; the boot configuration was not changed",
                    fs.describe()
                )
            });
        }
        if !verify(fs, &entry)? {
            bail!(
                "{}: boot files in /{dir} do not read back as written",
                fs.describe()
            );
        }
        return Ok(entry);
    }
    bail!(
        "{}: too many damaged copies of /ostree/{os}-{csum}*; remove them",
        fs.describe()
    )
}

/// Writes `proof` into `dir` unless it is there already (with the same bytes: [`proof_fits`]).
fn add_proof(fs: &mut dyn BootFs, dir: &str, proof: Option<&ProofFile>) -> Result<()> {
    let Some(p) = proof else {
        return Ok(());
    };
    let path = format!("{dir}/{}", p.name);
    match fs.read(&path)? {
        Some(b) if b == p.bytes => Ok(()),
        Some(_) => bail!("{}: /{path} exists with other bytes", fs.describe()),
        None => {
            fs.create(&path, &p.bytes)?;
            if fs.read(&path)?.as_deref() != Some(p.bytes.as_slice()) {
                bail!("{}: /{path} does not read back as written", fs.describe());
            }
            Ok(())
        }
    }
}

/// Removes every `/ostree/<name>` directory not in `keep`.
pub fn gc(fs: &mut dyn BootFs, keep: &[String]) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in fs.list_dir("ostree")? {
        let dir = format!("ostree/{name}");
        if !keep.contains(&dir) {
            fs.remove_dir_all(&dir)?;
            removed.push(dir);
        }
    }
    Ok(removed)
}
