//! A deployment's `/etc`, by ostree's rules (ostree-sysroot-deploy.c, 2022.7: `prepare_deployment_etc`,
//! `merge_configuration_from`, `copy_modified_config_file`):
//!
//! 1. [`prepare`]: a tree keeps its defaults in `/usr/etc`; a tree with only `/etc` has it moved to
//!    `/usr/etc` first (a tree with both is refused). The deployment's `/etc` is a copy of `/usr/etc`.
//! 2. [`merge`]: the previous deployment's changes to its `/etc` against its own `/usr/etc` (modified,
//!    removed, added; compared by type, mode, owner, content and symlink target, xattrs ignored) are
//!    applied onto the new `/etc`: removed paths are removed, modified and added ones copied over
//!    (directories with their contents). The local copy always wins; a locally changed file whose path
//!    is now a directory in the new defaults stops the deploy, as in ostree.
//!
//! Every file written is a new copy (never a hard link into the repository), so editing `/etc` can
//! never change a repository object. The caller runs both steps on the staging checkout, before the
//! deployment directory is renamed into place, so a cut leaves no half-merged deployment.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Deepest directory nesting followed under `/etc` (the trees are outside data).
const MAX_DEPTH: usize = 128;

/// Errors of the `/etc` preparation and merge.
#[derive(Debug, thiserror::Error)]
pub enum EtcMergeError {
    #[error("{path}: cannot {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
    #[error("the tree checked out at {0} contains both /etc and /usr/etc: keep the defaults in /usr/etc only")]
    BothEtc(PathBuf),
    #[error("During /etc merge: Modified config file newly defaults to directory '{0}', cannot merge: move the local /etc/{0} away (or make it a directory) and deploy again")]
    NewlyDirectory(String),
    #[error("{0}: more than {MAX_DEPTH} nested directories under /etc")]
    TooDeep(PathBuf),
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> EtcMergeError + 'a {
    move |source| EtcMergeError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// The counts ostree prints: `Copying /etc changes: N modified, N removed, N added`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EtcChanges {
    /// Paths (relative to `/etc`) changed in the old `/etc` against its `/usr/etc`.
    pub modified: Vec<String>,
    /// Paths of the old `/usr/etc` missing from the old `/etc`.
    pub removed: Vec<String>,
    /// Paths of the old `/etc` missing from its `/usr/etc` (everything under an added directory too).
    pub added: Vec<String>,
}

impl EtcChanges {
    /// ostree's message.
    pub fn message(&self) -> String {
        format!(
            "Copying /etc changes: {} modified, {} removed, {} added",
            self.modified.len(),
            self.removed.len(),
            self.added.len()
        )
    }
}

fn lstat(p: &Path) -> Result<Option<fs::Metadata>, EtcMergeError> {
    match fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(p, "stat")(e)),
    }
}

/// Gives `/etc` to a freshly checked-out deployment tree: moves a tree's `/etc` to `/usr/etc` when only
/// `/etc` exists, then copies `/usr/etc` to `/etc`. A tree with neither gets no `/etc` (as ostree).
pub fn prepare(deployment: &Path) -> Result<(), EtcMergeError> {
    let etc = deployment.join("etc");
    let usr_etc = deployment.join("usr/etc");
    let has_etc = lstat(&etc)?.is_some();
    let mut has_usr_etc = lstat(&usr_etc)?.is_some();
    if has_etc {
        if has_usr_etc {
            return Err(EtcMergeError::BothEtc(deployment.to_path_buf()));
        }
        let usr = deployment.join("usr");
        fs::create_dir_all(&usr).map_err(io_err(&usr, "create directory"))?;
        fs::rename(&etc, &usr_etc).map_err(io_err(&etc, "move to usr/etc"))?;
        has_usr_etc = true;
    }
    if has_usr_etc {
        copy_dir_recurse(&usr_etc, &etc, 0)?;
    }
    Ok(())
}

/// Applies the changes `merge_from`'s `/etc` made to its `/usr/etc` onto `new`'s `/etc` (see the module
/// documentation). Nothing is done (and `None` returned) when `merge_from` lacks `/etc` or `/usr/etc`,
/// or `new` has no `/etc`.
pub fn merge(merge_from: &Path, new: &Path) -> Result<Option<EtcChanges>, EtcMergeError> {
    let orig = merge_from.join("usr/etc");
    let modified = merge_from.join("etc");
    let new_etc = new.join("etc");
    for d in [&orig, &modified, &new_etc] {
        if !lstat(d)?.is_some_and(|m| m.is_dir()) {
            return Ok(None);
        }
    }
    let mut changes = EtcChanges::default();
    diff_dirs(&orig, &modified, "", 0, &mut changes)?;
    for r in &changes.removed {
        remove_all(&new_etc.join(r))?;
    }
    for p in changes.modified.iter().chain(&changes.added) {
        copy_modified_config_file(&modified, &new_etc, p)?;
    }
    Ok(Some(changes))
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<String>, EtcMergeError> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map_err(io_err(dir, "list directory"))?
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(io_err(dir, "list directory"))
        })
        .collect::<Result<_, _>>()?;
    v.sort();
    Ok(v)
}

/// Whether two entries of the same type differ as ostree's file checksums would (mode, owner, size and
/// content, symlink target, device number; xattrs ignored).
fn differs(
    a: &Path,
    am: &fs::Metadata,
    b: &Path,
    bm: &fs::Metadata,
) -> Result<bool, EtcMergeError> {
    if am.mode() != bm.mode() || am.uid() != bm.uid() || am.gid() != bm.gid() {
        return Ok(true);
    }
    let t = am.file_type();
    if t.is_symlink() {
        let ta = fs::read_link(a).map_err(io_err(a, "read symlink"))?;
        let tb = fs::read_link(b).map_err(io_err(b, "read symlink"))?;
        return Ok(ta != tb);
    }
    if t.is_file() {
        if am.len() != bm.len() {
            return Ok(true);
        }
        return Ok(!same_content(a, b)?);
    }
    if t.is_dir() {
        return Ok(false);
    }
    Ok(am.rdev() != bm.rdev())
}

fn same_content(a: &Path, b: &Path) -> Result<bool, EtcMergeError> {
    use std::io::Read;
    let mut fa = fs::File::open(a).map_err(io_err(a, "open"))?;
    let mut fb = fs::File::open(b).map_err(io_err(b, "open"))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let n = read_full(&mut fa, &mut ba).map_err(io_err(a, "read"))?;
        let m = read_full(&mut fb, &mut bb).map_err(io_err(b, "read"))?;
        if ba.get(..n) != bb.get(..m) {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }

    fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let k = f.read(&mut buf[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        Ok(n)
    }
}

/// ostree_diff_dirs: entries of `orig` missing from `modified` are removed, entries whose type or
/// checksum differ are modified (directories are then compared inside too), entries only in `modified`
/// are added with everything under them.
fn diff_dirs(
    orig: &Path,
    modified: &Path,
    rel: &str,
    depth: usize,
    out: &mut EtcChanges,
) -> Result<(), EtcMergeError> {
    let a_dir = orig.join(rel);
    let b_dir = modified.join(rel);
    if depth > MAX_DEPTH {
        return Err(EtcMergeError::TooDeep(b_dir));
    }
    for name in sorted_names(&a_dir)? {
        let p = join_rel(rel, &name);
        let (a, b) = (orig.join(&p), modified.join(&p));
        let Some(am) = lstat(&a)? else { continue };
        let Some(bm) = lstat(&b)? else {
            out.removed.push(p);
            continue;
        };
        if am.file_type() != bm.file_type() {
            out.modified.push(p);
            continue;
        }
        if differs(&a, &am, &b, &bm)? {
            out.modified.push(p.clone());
        }
        if am.is_dir() {
            diff_dirs(orig, modified, &p, depth + 1, out)?;
        }
    }
    for name in sorted_names(&b_dir)? {
        let p = join_rel(rel, &name);
        if lstat(&orig.join(&p))?.is_none() {
            out.added.push(p.clone());
            if lstat(&modified.join(&p))?.is_some_and(|m| m.is_dir()) {
                add_all(modified, &p, depth + 1, &mut out.added)?;
            }
        }
    }
    Ok(())
}

fn add_all(
    root: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), EtcMergeError> {
    let dir = root.join(rel);
    if depth > MAX_DEPTH {
        return Err(EtcMergeError::TooDeep(dir));
    }
    for name in sorted_names(&dir)? {
        let p = join_rel(rel, &name);
        out.push(p.clone());
        if lstat(&root.join(&p))?.is_some_and(|m| m.is_dir()) {
            add_all(root, &p, depth + 1, out)?;
        }
    }
    Ok(())
}

fn remove_all(p: &Path) -> Result<(), EtcMergeError> {
    match lstat(p)? {
        None => Ok(()),
        Some(m) if m.is_dir() => fs::remove_dir_all(p).map_err(io_err(p, "remove")),
        Some(_) => fs::remove_file(p).map_err(io_err(p, "remove")),
    }
}

/// Owner, then mode (a chown clears set-id bits). Another owner needs root: without it the copy keeps
/// the caller's, as a non-root deploy can only do.
fn copy_attributes(src: &fs::Metadata, dest: &Path) -> Result<(), EtcMergeError> {
    match std::os::unix::fs::lchown(dest, Some(src.uid()), Some(src.gid())) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
        Err(e) => return Err(io_err(dest, "chown")(e)),
    }
    if !src.file_type().is_symlink() {
        fs::set_permissions(dest, fs::Permissions::from_mode(src.mode() & 0o7777))
            .map_err(io_err(dest, "chmod"))?;
    }
    Ok(())
}

/// A directory like `src` (mode, owner) at `dest` (created when missing), then its contents.
fn copy_dir_recurse(src: &Path, dest: &Path, depth: usize) -> Result<(), EtcMergeError> {
    if depth > MAX_DEPTH {
        return Err(EtcMergeError::TooDeep(src.to_path_buf()));
    }
    let sm = fs::symlink_metadata(src).map_err(io_err(src, "stat"))?;
    ensure_dir(dest)?;
    copy_attributes(&sm, dest)?;
    for name in sorted_names(src)? {
        let (s, d) = (src.join(&name), dest.join(&name));
        let m = fs::symlink_metadata(&s).map_err(io_err(&s, "stat"))?;
        if m.is_dir() {
            copy_dir_recurse(&s, &d, depth + 1)?;
        } else {
            copy_file(&s, &m, &d)?;
        }
    }
    Ok(())
}

fn ensure_dir(p: &Path) -> Result<(), EtcMergeError> {
    match fs::create_dir(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(p, "create directory")(e)),
    }
}

/// A new copy of a regular file or symlink, replacing whatever non-directory is at `dest`. Other
/// file types (devices, sockets, FIFOs) are skipped, as ostree skips them.
fn copy_file(src: &Path, sm: &fs::Metadata, dest: &Path) -> Result<(), EtcMergeError> {
    let t = sm.file_type();
    if !(t.is_file() || t.is_symlink()) {
        return Ok(());
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dest.with_file_name(format!(".{name}.etc-merge"));
    remove_all(&tmp)?;
    if t.is_symlink() {
        let target = fs::read_link(src).map_err(io_err(src, "read symlink"))?;
        std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp, "create symlink"))?;
    } else {
        fs::copy(src, &tmp).map_err(io_err(&tmp, "copy file"))?;
    }
    copy_attributes(sm, &tmp)?;
    if lstat(dest)?.is_some_and(|m| m.is_dir()) {
        fs::remove_dir_all(dest).map_err(io_err(dest, "remove"))?;
    }
    fs::rename(&tmp, dest).map_err(io_err(dest, "rename into place"))
}

/// Creates the chain of directories of `rel` under `new_etc` that is missing, each with the attributes
/// of the same directory in `modified_etc` (ostree's `ensure_directory_from_template`; an existing
/// directory takes them too).
fn ensure_directory_from_template(
    modified_etc: &Path,
    new_etc: &Path,
    rel: &str,
) -> Result<(), EtcMergeError> {
    let mut cur = String::new();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        cur = join_rel(&cur, comp);
        let target = new_etc.join(&cur);
        let existed = lstat(&target)?.is_some();
        ensure_dir(&target)?;
        if !existed || cur == rel {
            let src = modified_etc.join(&cur);
            let sm = fs::symlink_metadata(&src).map_err(io_err(&src, "stat"))?;
            copy_attributes(&sm, &target)?;
        }
    }
    Ok(())
}

/// ostree's `copy_modified_config_file`: copies `rel` from the old `/etc` to the new one.
fn copy_modified_config_file(
    modified_etc: &Path,
    new_etc: &Path,
    rel: &str,
) -> Result<(), EtcMergeError> {
    let src = modified_etc.join(rel);
    let sm = fs::symlink_metadata(&src).map_err(io_err(&src, "stat"))?;
    if let Some((parent, _)) = rel.rsplit_once('/') {
        ensure_directory_from_template(modified_etc, new_etc, parent)?;
    }
    let dest = new_etc.join(rel);
    match lstat(&dest)? {
        None => {}
        Some(nm) if nm.is_dir() => {
            if !sm.is_dir() {
                return Err(EtcMergeError::NewlyDirectory(rel.to_string()));
            }
            // The directory exists in the new defaults: its contents are merged entry by entry.
            return Ok(());
        }
        Some(_) => fs::remove_file(&dest).map_err(io_err(&dest, "remove"))?,
    }
    if sm.is_dir() {
        copy_dir_recurse(&src, &dest, 0)
    } else {
        copy_file(&src, &sm, &dest)
    }
}
