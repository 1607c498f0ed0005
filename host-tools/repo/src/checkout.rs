//! Checkout: writes a commit's tree to a directory.
//!
//! Everything below the destination is created through directory file descriptors (`mkdirat`, `openat`
//! with `O_NOFOLLOW`, `linkat`, `symlinkat`, `fchown`, `fchmod`), so nothing in a tree, and nothing already
//! in a `--union` destination, can make the checkout write, chown or chmod outside the destination: a
//! symlink found where the tree has a directory is replaced by that directory, never followed.
//!
//! The tree is walked one level at a time: the level's directories are read and created in parallel, then
//! all of the level's files in parallel (rayon), then the level above gets its final owner and mode (a
//! directory stays owner-writable until its subdirectories exist) and its descriptor is closed. Only two
//! levels of directory descriptors are open at once, in a descriptor table grown once, up front. Each
//! dirmeta object is read once. A hard-linked file costs one `linkat` (and, in a bare-user repository,
//! one xattr read, which tells the symlinks it stores as regular files).
//!
//! Verification, as ostree: objects were verified when they entered the repository (`fsck` re-checks),
//! so the default checkout does not hash them; a bare-user object's `user.ostreemeta` is checked against
//! the object file (see [`crate::store::Store::open_content`]). `verify` re-hashes every object read.

use super::objects::{finish, Checksum, DirMeta, DirTree, FileHeader, ObjectType};
use super::store::{Mode as RepoMode, Store};
use super::RepoError;
use rayon::prelude::*;
use rustix::fs::{AtFlags, Mode, OFlags};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Options for [`checkout_tree`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutOptions {
    /// `-U`: do not apply owners or xattrs; strip setuid/setgid.
    pub user_mode: bool,
    /// `-H`: hard-link objects from the repository (bare with root, or bare-user with `-U`).
    pub hardlink: bool,
    /// `--union`: write into an existing directory, replacing files (and symlinks in the way).
    pub union: bool,
    /// `--verify`: re-hash every object read (metadata and content); a mismatch stops the checkout.
    pub verify: bool,
    /// Top-level directories written as real copies even with `hardlink` (the deployer's `etc`, which
    /// stays writable on the device and must never share an inode with a repository object).
    pub copy_dirs: &'static [&'static str],
}

/// How deep a checkout goes before it calls the tree corrupt (ostree's OSTREE_MAX_RECURSION).
const MAX_DEPTH: usize = 256;

fn err(p: &Path, what: &str, e: io::Error) -> RepoError {
    RepoError::Io {
        path: p.to_path_buf(),
        what: what.into(),
        source: e,
    }
}

fn rerr(p: &Path, what: &str, e: rustix::io::Errno) -> RepoError {
    err(p, what, e.into())
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
            RepoMode::Bare => !o.user_mode,
            RepoMode::BareUser => o.user_mode,
            RepoMode::Archive => false,
        };
        if !ok {
            return Err(RepoError::Usage(format!(
                "-H (hardlink checkout) needs a bare repo without -U or a bare-user repo with -U; {} is {}",
                store.path.display(),
                store.mode.config_name()
            )));
        }
    }
    if !o.union && std::fs::symlink_metadata(dest).is_ok() {
        return Err(RepoError::Usage(format!(
            "{} already exists; remove it or use --union",
            dest.display()
        )));
    }
    let c = Checkout {
        store,
        o,
        dirmetas: Mutex::new(HashMap::new()),
    };
    // The root's objects are read (and checked) before anything is created.
    let (m, t) = c.parse(tree, meta)?;
    match std::fs::create_dir(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && o.union => {}
        Err(e) => return Err(err(dest, "create directory", e)),
    }
    // The destination itself is the caller's choice (it may be reached through a symlink); everything
    // below it is opened with O_NOFOLLOW.
    let root_fd = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| rerr(dest, "open directory", e))?;
    rustix::fs::fchmod(&root_fd, Mode::from_raw_mode(0o700)).map_err(|e| rerr(dest, "chmod", e))?;
    reserve_descriptors(&root_fd);
    c.run(Dir {
        path: dest.to_path_buf(),
        fd: root_fd,
        meta: m,
        tree: t,
        link: o.hardlink,
    })
}

/// Grows this process's descriptor table to 4096 (else 1024) entries now, while it is cheap: a table that
/// grows once the thread pool runs waits for an RCU grace period (`expand_fdtable`, at 256, 512, ... open
/// descriptors), measured at 10-13 ms each on this project's machine, and a checkout holds two levels of
/// directories open. A table only grows, so the descriptor is closed at once; failing changes nothing.
fn reserve_descriptors(fd: &OwnedFd) {
    for highest in [4095, 1023] {
        if rustix::io::fcntl_dupfd_cloexec(fd, highest).is_ok() {
            return;
        }
    }
}

/// A directory created (or found, with `--union`) and opened, with its tree.
struct Dir {
    path: PathBuf,
    fd: OwnedFd,
    meta: Arc<DirMeta>,
    tree: DirTree,
    /// Files in it are hard-linked (false under a `copy_dirs` directory).
    link: bool,
}

/// A directory of the next level: its parent's index in the current level, its name and objects.
struct Pending<'t> {
    parent: usize,
    name: &'t str,
    tree: Checksum,
    meta: Checksum,
    link: bool,
}

struct Checkout<'a> {
    store: &'a Store,
    o: &'a CheckoutOptions,
    /// Dirmeta objects read so far: a tree has few distinct ones (owner and mode), shared by most of
    /// its directories.
    dirmetas: Mutex<HashMap<Checksum, Arc<DirMeta>>>,
}

impl Checkout<'_> {
    fn read_meta(&self, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError> {
        let d = self.store.read_meta(c, t)?;
        if self.o.verify {
            let got = Checksum::of(&d);
            if got != *c {
                return Err(RepoError::Corrupt(format!(
                    "{} object {c} has checksum {got}; run fsck",
                    t.name()
                )));
            }
        }
        Ok(d)
    }

    fn parse(
        &self,
        tree: &Checksum,
        meta: &Checksum,
    ) -> Result<(Arc<DirMeta>, DirTree), RepoError> {
        let m = self.dirmeta(meta)?;
        let t = DirTree::parse(&self.read_meta(tree, ObjectType::DirTree)?)
            .map_err(|e| RepoError::Corrupt(format!("dirtree {tree}: {e}")))?;
        Ok((m, t))
    }

    fn dirmeta(&self, c: &Checksum) -> Result<Arc<DirMeta>, RepoError> {
        if let Some(m) = self.cached_dirmeta(c) {
            return Ok(m);
        }
        let m = Arc::new(
            DirMeta::parse(&self.read_meta(c, ObjectType::DirMeta)?)
                .map_err(|e| RepoError::Corrupt(format!("dirmeta {c}: {e}")))?,
        );
        if let Ok(mut cache) = self.dirmetas.lock() {
            cache.insert(*c, m.clone());
        }
        Ok(m)
    }

    fn cached_dirmeta(&self, c: &Checksum) -> Option<Arc<DirMeta>> {
        self.dirmetas.lock().ok()?.get(c).cloned()
    }

    /// Creates (or, with `--union`, reuses) `name` in `parent` as a real directory and opens it.
    fn make_dir(&self, parent: &Dir, name: &str) -> Result<(PathBuf, OwnedFd), RepoError> {
        let p = parent.path.join(name);
        let mut existed = false;
        match rustix::fs::mkdirat(&parent.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) if self.o.union => {
                let st = rustix::fs::statat(&parent.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| rerr(&p, "stat", e))?;
                if st.st_mode & 0o170000 == 0o040000 {
                    existed = true;
                } else {
                    // A file or symlink where the tree has a directory: --union replaces it (a symlink
                    // is never followed out of the destination).
                    rustix::fs::unlinkat(&parent.fd, name, AtFlags::empty())
                        .map_err(|e| rerr(&p, "remove (in the way of a directory)", e))?;
                    rustix::fs::mkdirat(&parent.fd, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| rerr(&p, "create directory", e))?;
                }
            }
            Err(e) => return Err(rerr(&p, "create directory", e)),
        }
        let fd = rustix::fs::openat(
            &parent.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| rerr(&p, "open directory", e))?;
        if existed {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
                .map_err(|e| rerr(&p, "chmod", e))?;
        }
        Ok((p, fd))
    }

    /// Level by level: directories, then their files, then the level above gets its owner and mode.
    fn run(&self, root: Dir) -> Result<(), RepoError> {
        let mut level = vec![root];
        let mut above: Vec<Dir> = Vec::new();
        let mut depth = 0usize;
        loop {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(RepoError::Corrupt(format!(
                    "{}: the tree is deeper than {MAX_DEPTH} levels (a dirtree that contains itself?); \
                     run fsck",
                    level.first().map(|d| d.path.display().to_string()).unwrap_or_default()
                )));
            }
            std::mem::take(&mut above)
                .into_par_iter()
                .try_for_each(|d| self.finish_dir(&d))?;
            let files: Vec<(usize, &str, &Checksum)> = level
                .iter()
                .enumerate()
                .flat_map(|(i, d)| d.tree.files.iter().map(move |(n, c)| (i, n.as_str(), c)))
                .collect();
            files
                .par_iter()
                .with_min_len(16)
                .try_for_each(|(i, name, c)| self.file(&level[*i], name, c))?;
            let pending: Vec<Pending> = level
                .iter()
                .enumerate()
                .flat_map(|(i, d)| {
                    d.tree.dirs.iter().map(move |(n, t, m)| Pending {
                        parent: i,
                        name: n.as_str(),
                        tree: *t,
                        meta: *m,
                        link: d.link,
                    })
                })
                .collect();
            let is_root = depth == 1;
            let next: Vec<Dir> = pending
                .par_iter()
                .map(|p| {
                    let (meta, tree) = self.parse(&p.tree, &p.meta)?;
                    let (path, fd) = self.make_dir(&level[p.parent], p.name)?;
                    let link = p.link && !(is_root && self.o.copy_dirs.contains(&p.name));
                    Ok(Dir {
                        path,
                        fd,
                        meta,
                        tree,
                        link,
                    })
                })
                .collect::<Result<_, RepoError>>()?;
            above = level;
            if next.is_empty() {
                break;
            }
            level = next;
        }
        above.into_par_iter().try_for_each(|d| self.finish_dir(&d))
    }

    /// A directory's owner, xattrs and mode, once everything in it exists.
    fn finish_dir(&self, d: &Dir) -> Result<(), RepoError> {
        if !self.o.user_mode {
            rustix::fs::fchown(
                &d.fd,
                Some(rustix::fs::Uid::from_raw(d.meta.uid)),
                Some(rustix::fs::Gid::from_raw(d.meta.gid)),
            )
            .map_err(|e| rerr(&d.path, "chown", e))?;
            for (n, v) in &d.meta.xattrs {
                rustix::fs::fsetxattr(&d.fd, n.as_slice(), v, rustix::fs::XattrFlags::empty())
                    .map_err(|e| rerr(&d.path, "set xattr", e))?;
            }
        }
        let mut mode = d.meta.mode & 0o7777;
        if self.o.user_mode {
            mode &= !0o6000;
        }
        rustix::fs::fchmod(&d.fd, Mode::from_raw_mode(mode)).map_err(|e| rerr(&d.path, "chmod", e))
    }

    /// `--union`: whatever file or symlink is at `name` goes (a directory there is an error).
    fn remove_existing(&self, dir: &Dir, name: &str) -> Result<(), RepoError> {
        if !self.o.union {
            return Ok(());
        }
        match rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {
                Err(RepoError::Usage(format!(
                    "{}: a directory is in the way of a file (--union replaces files only)",
                    dir.path.join(name).display()
                )))
            }
            Err(e) => Err(rerr(&dir.path.join(name), "remove", e)),
        }
    }

    fn file(&self, dir: &Dir, name: &str, c: &Checksum) -> Result<(), RepoError> {
        self.remove_existing(dir, name)?;
        let p = || dir.path.join(name);
        if dir.link && self.o.hardlink {
            if self.o.verify {
                self.verify_object(c)?;
            }
            if self.store.mode == RepoMode::BareUser {
                if let Some(h) = self.store.bare_user_symlink(c)? {
                    return self.symlink(dir, name, &h);
                }
            }
            let src = self.store.object_path(c, ObjectType::File);
            match rustix::fs::linkat(rustix::fs::CWD, &src, &dir.fd, name, AtFlags::empty()) {
                Ok(()) => return Ok(()),
                // Another file system than the repository's: a copy, as ostree falls back to.
                Err(rustix::io::Errno::XDEV) => {}
                Err(rustix::io::Errno::NOENT) => {
                    return Err(RepoError::MissingObject(format!("file object {c}")))
                }
                Err(e) => return Err(rerr(&p(), "hard link from repository", e)),
            }
        }
        let (h, size, r) = self.store.open_content(c)?;
        let mut r = Hashing::new(r, &h, self.o.verify);
        if h.is_symlink() {
            self.symlink(dir, name, &h)?;
            return r.check(c);
        }
        let fd = rustix::fs::openat(
            &dir.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| rerr(&p(), "create", e))?;
        let mut f = File::from(fd);
        let written = copy(&mut r, &mut f).map_err(|e| err(&p(), "write", e))?;
        if written != size {
            return Err(RepoError::Corrupt(format!(
                "file object {c}: content is {written} bytes where its header says {size}; run fsck"
            )));
        }
        if let Err(e) = r.check(c) {
            let _ = rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty());
            return Err(e);
        }
        if !self.o.user_mode {
            rustix::fs::fchown(
                &f,
                Some(rustix::fs::Uid::from_raw(h.uid)),
                Some(rustix::fs::Gid::from_raw(h.gid)),
            )
            .map_err(|e| rerr(&p(), "chown", e))?;
            for (n, v) in &h.xattrs {
                rustix::fs::fsetxattr(&f, n.as_slice(), v, rustix::fs::XattrFlags::empty())
                    .map_err(|e| rerr(&p(), "set xattr", e))?;
            }
        }
        let mut mode = h.mode & 0o7777;
        if self.o.user_mode {
            mode &= !0o6000;
        }
        rustix::fs::fchmod(&f, Mode::from_raw_mode(mode)).map_err(|e| rerr(&p(), "chmod", e))?;
        f.flush().map_err(|e| err(&p(), "write", e))
    }

    /// A symlink from its header: target, and (without `-U`) owner and xattrs.
    fn symlink(&self, dir: &Dir, name: &str, h: &FileHeader) -> Result<(), RepoError> {
        let p = || dir.path.join(name);
        rustix::fs::symlinkat(h.symlink.as_str(), &dir.fd, name)
            .map_err(|e| rerr(&p(), "create symlink", e))?;
        if !self.o.user_mode {
            rustix::fs::chownat(
                &dir.fd,
                name,
                Some(rustix::fs::Uid::from_raw(h.uid)),
                Some(rustix::fs::Gid::from_raw(h.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| rerr(&p(), "lchown", e))?;
            // No fd-based call sets a symlink's xattrs; the path's parents are directories this
            // checkout created or checked (never symlinks).
            for (n, v) in &h.xattrs {
                rustix::fs::lsetxattr(p(), n.as_slice(), v, rustix::fs::XattrFlags::empty())
                    .map_err(|e| rerr(&p(), "set xattr", e))?;
            }
        }
        Ok(())
    }

    /// `--verify` of an object that is hard-linked, not read: hash it whole.
    fn verify_object(&self, c: &Checksum) -> Result<(), RepoError> {
        let (h, _, r) = self.store.open_content(c)?;
        let mut r = Hashing::new(r, &h, true);
        copy(&mut r, &mut io::sink()).map_err(|e| {
            err(
                &self.store.object_path(c, ObjectType::File),
                "read object",
                e,
            )
        })?;
        r.check(c)
    }
}

thread_local! {
    static COPY_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 128 * 1024]);
}

/// Copies through a per-thread 128 KiB buffer (std's io::copy uses 8 KiB for a boxed reader).
fn copy(r: &mut dyn Read, w: &mut dyn Write) -> io::Result<u64> {
    COPY_BUF.with_borrow_mut(|buf| {
        let mut total = 0u64;
        loop {
            let n = match r.read(buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            w.write_all(&buf[..n])?;
            total += n as u64;
        }
    })
}

/// A content reader that (when asked) hashes the object as OSTree does: header, then content.
struct Hashing {
    inner: Box<dyn Read + Send>,
    sha: Option<sha2::Sha256>,
}

impl Hashing {
    fn new(inner: Box<dyn Read + Send>, h: &FileHeader, verify: bool) -> Hashing {
        Hashing {
            inner,
            sha: verify.then(|| h.checksum_start()),
        }
    }

    /// After reading everything: the checksum matches `c` (or nothing was hashed).
    fn check(self, c: &Checksum) -> Result<(), RepoError> {
        match self.sha {
            None => Ok(()),
            Some(s) => {
                let got = finish(s);
                if got == *c {
                    Ok(())
                } else {
                    Err(RepoError::Corrupt(format!(
                        "file object {c} has checksum {got}; run fsck"
                    )))
                }
            }
        }
    }
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(s) = &mut self.sha {
            sha2::Digest::update(s, &buf[..n]);
        }
        Ok(n)
    }
}
