//! Checkout: writes a commit's tree to a directory, files in parallel (rayon), streaming content.

use super::objects::{Checksum, DirMeta, DirTree, ObjectType};
use super::store::{apply_xattrs, Mode, Store};
use super::RepoError;
use rayon::prelude::*;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Options for [`checkout_tree`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutOptions {
    /// `-U`: do not apply owners or xattrs; strip setuid/setgid.
    pub user_mode: bool,
    /// `-H`: hard-link objects from the repository (bare with root, or bare-user with `-U`).
    pub hardlink: bool,
    /// `--union`: write into an existing directory, replacing files.
    pub union: bool,
}

fn err(p: &Path, what: &str, e: io::Error) -> RepoError {
    RepoError::Io {
        path: p.to_path_buf(),
        what: what.into(),
        source: e,
    }
}

/// Checks out the tree (`tree`, `meta`) to `dest`.
pub fn checkout_tree(
    store: &Store,
    tree: &Checksum,
    meta: &Checksum,
    dest: &Path,
    o: &CheckoutOptions,
) -> Result<(), RepoError> {
    if o.hardlink {
        let ok = match store.mode {
            Mode::Bare => !o.user_mode,
            Mode::BareUser => o.user_mode,
            Mode::Archive => false,
        };
        if !ok {
            return Err(RepoError::Usage(format!(
                "-H (hardlink checkout) needs a bare repo without -U or a bare-user repo with -U; {} is {}",
                store.path.display(),
                store.mode.config_name()
            )));
        }
    }
    if !o.union && fs::symlink_metadata(dest).is_ok() {
        return Err(RepoError::Usage(format!(
            "{} already exists; remove it or use --union",
            dest.display()
        )));
    }
    checkout_dir(store, tree, meta, dest, o)
}

fn checkout_dir(
    store: &Store,
    tree: &Checksum,
    meta: &Checksum,
    dest: &Path,
    o: &CheckoutOptions,
) -> Result<(), RepoError> {
    let dm = DirMeta::parse(&store.read_meta(meta, ObjectType::DirMeta)?)
        .map_err(|e| RepoError::Corrupt(format!("dirmeta {meta}: {e}")))?;
    let t = DirTree::parse(&store.read_meta(tree, ObjectType::DirTree)?)
        .map_err(|e| RepoError::Corrupt(format!("dirtree {tree}: {e}")))?;
    match fs::create_dir(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && o.union => {}
        Err(e) => return Err(err(dest, "create directory", e)),
    }
    // Owner-writable while populating; final mode set afterwards.
    fs::set_permissions(dest, fs::Permissions::from_mode(0o700))
        .map_err(|e| err(dest, "chmod", e))?;
    t.files
        .par_iter()
        .try_for_each(|(name, c)| checkout_file(store, c, &dest.join(name), o))?;
    t.dirs
        .par_iter()
        .try_for_each(|(name, tc, mc)| checkout_dir(store, tc, mc, &dest.join(name), o))?;
    if !o.user_mode {
        std::os::unix::fs::chown(dest, Some(dm.uid), Some(dm.gid))
            .map_err(|e| err(dest, "chown", e))?;
        apply_xattrs(dest, &dm.xattrs)?;
    }
    let mut mode = dm.mode & 0o7777;
    if o.user_mode {
        mode &= !0o6000;
    }
    fs::set_permissions(dest, fs::Permissions::from_mode(mode)).map_err(|e| err(dest, "chmod", e))
}

fn remove_existing(p: &Path, o: &CheckoutOptions) -> Result<(), RepoError> {
    if o.union {
        match fs::symlink_metadata(p) {
            Ok(md) if md.is_dir() => {
                return Err(RepoError::Usage(format!(
                    "{}: a directory is in the way of a file (--union replaces files only)",
                    p.display()
                )))
            }
            Ok(_) => fs::remove_file(p).map_err(|e| err(p, "remove", e))?,
            Err(_) => {}
        }
    }
    Ok(())
}

fn checkout_file(
    store: &Store,
    c: &Checksum,
    p: &Path,
    o: &CheckoutOptions,
) -> Result<(), RepoError> {
    remove_existing(p, o)?;
    let is_bare_user_link =
        o.hardlink && store.mode == Mode::BareUser && store.bare_user_is_symlink(c)?;
    if o.hardlink && !is_bare_user_link {
        let src = store.object_path(c, ObjectType::File);
        return fs::hard_link(&src, p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                RepoError::MissingObject(format!("file object {c}"))
            } else {
                err(p, "hard link from repository", e)
            }
        });
    }
    let (h, _size, mut r) = store.open_content(c)?;
    if h.is_symlink() {
        std::os::unix::fs::symlink(&h.symlink, p).map_err(|e| err(p, "create symlink", e))?;
        if !o.user_mode {
            std::os::unix::fs::lchown(p, Some(h.uid), Some(h.gid))
                .map_err(|e| err(p, "lchown", e))?;
            apply_xattrs(p, &h.xattrs)?;
        }
        return Ok(());
    }
    let mut f = fs::File::create_new(p).map_err(|e| err(p, "create", e))?;
    io::copy(&mut r, &mut f).map_err(|e| err(p, "write", e))?;
    if !o.user_mode {
        std::os::unix::fs::fchown(&f, Some(h.uid), Some(h.gid)).map_err(|e| err(p, "chown", e))?;
        apply_xattrs(p, &h.xattrs)?;
    }
    let mut mode = h.mode & 0o7777;
    if o.user_mode {
        mode &= !0o6000;
    }
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| err(p, "chmod", e))
}
