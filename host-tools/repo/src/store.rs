//! The on-disk store: `config`, `objects/XX/<62 hex>.<ext>`, `refs/`, `tmp/`; power-loss safe writes.

use super::inflate::ExactInflate;
use super::lock::TmpdirLock;
use super::objects::{
    finish, size_prefix, Checksum, FileHeader, ObjectType, S_IFLNK, S_IFMT, S_IFREG,
};
use super::tmpobject::TmpObject;
use super::RepoError;
use sha2::Digest;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Repository modes (the `mode=` key of `[core]` in `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Content stored as real files with real owner, mode and xattrs (needs root).
    Bare,
    /// Content stored as files owned by the repo user; metadata in the `user.ostreemeta` xattr.
    BareUser,
    /// `archive-z2` (`archive` on the command line): `.filez` = header variant + raw deflate.
    Archive,
}

impl Mode {
    /// Parses a command-line or config mode name.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "bare" => Some(Mode::Bare),
            "bare-user" => Some(Mode::BareUser),
            "archive" | "archive-z2" => Some(Mode::Archive),
            _ => None,
        }
    }
    /// The name written to `config`.
    pub fn config_name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::BareUser => "bare-user",
            Mode::Archive => "archive-z2",
        }
    }
    fn content_ext(self) -> &'static str {
        match self {
            Mode::Archive => "filez",
            _ => "file",
        }
    }
}

pub const OSTREEMETA_XATTR: &str = "user.ostreemeta";

/// An open repository.
#[derive(Debug, Clone)]
pub struct Store {
    pub path: PathBuf,
    pub mode: Mode,
    /// Whole `config` text (kept to append remotes).
    pub config: String,
    /// Only the store inside a [`Transaction`] has one: new objects go to its staging directory.
    staging: Option<Staging>,
}

/// A transaction's staging directory under `tmp/`, and the lock that holds it.
#[derive(Debug, Clone)]
struct Staging {
    dir: PathBuf,
    /// Which of its 256 object directories (`XX/`, by the checksum's first byte) this transaction has
    /// already made: each is created once, not once per object.
    made: Arc<[AtomicBool; 256]>,
    _lock: Arc<TmpdirLock>,
}

/// A write transaction ([`Store::begin`]): objects written through it (it derefs to the [`Store`] that
/// writes them) land in its staging directory without a per-object fsync. [`Transaction::commit`] makes
/// them durable and moves them into `objects/`; dropping it without committing aborts: the staging
/// directory and its lock file are removed, and what was staged is lost.
#[derive(Debug)]
pub struct Transaction {
    store: Store,
}

impl std::ops::Deref for Transaction {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Transaction {
    /// Makes what is staged so far durable and moves it into `objects/`, keeping the transaction open
    /// for more writes (a pull keeps what it fetched before an error this way): syncfs (or an fsync of
    /// each of a few objects), the renames, the object directories fsynced. Nothing in `objects/` ever
    /// names bytes that are not on disk.
    pub fn flush(&self) -> Result<(), RepoError> {
        match &self.store.staging {
            Some(st) => self.store.move_staged(st),
            None => Ok(()),
        }
    }

    /// Flushes and ends the transaction (its staging directory, empty now, is removed).
    pub fn commit(self) -> Result<(), RepoError> {
        self.flush()
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(st) = &self.store.staging {
            let _ = fs::remove_dir_all(&st.dir);
            let mut lock = st.dir.as_os_str().to_owned();
            lock.push("-lock");
            let _ = fs::remove_file(PathBuf::from(lock));
        }
    }
}

/// Age after which `tmp/` entries nobody holds are removed (OSTree's `tmp-expiry-secs` default: a day).
pub const TMP_EXPIRY_SECS: u64 = 24 * 60 * 60;

/// `staging-<boot id>-`: the name prefix of this boot's staging directories (OSTree's; `OSTREE_BOOTID`
/// overrides the boot id, as for ostree).
pub fn staging_prefix() -> String {
    let id = std::env::var("OSTREE_BOOTID")
        .ok()
        .or_else(|| fs::read_to_string("/proc/sys/kernel/random/boot_id").ok())
        .unwrap_or_default();
    let id: String = id
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("staging-{id}-")
}

/// Bytes in the files under `p` (for reports; unreadable parts count 0).
fn dir_size(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Up to this many staged objects, [`Store::finish`] fsyncs each instead of calling syncfs.
const FSYNC_EACH_UP_TO: usize = 512;

pub(super) fn io_err(path: &Path, what: &str, e: io::Error) -> RepoError {
    RepoError::Io {
        path: path.to_path_buf(),
        what: what.to_string(),
        source: e,
    }
}

/// A bare-user object's `user.ostreemeta` xattr (uid, gid, mode, xattrs) and whether its mode says symlink.
fn bare_user_meta(p: &Path, csum: &Checksum) -> Result<(Vec<u8>, bool), RepoError> {
    let meta = xattr::get(p, OSTREEMETA_XATTR)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                RepoError::MissingObject(format!("file object {csum}"))
            } else {
                io_err(p, "read user.ostreemeta xattr", e)
            }
        })?
        .ok_or_else(|| {
            RepoError::Corrupt(format!("{}: no {OSTREEMETA_XATTR} xattr", p.display()))
        })?;
    let m = super::objects::DirMeta::parse(&meta)
        .map_err(|e| RepoError::Corrupt(format!("{}: {e}", p.display())))?;
    Ok((meta, m.mode & S_IFMT == S_IFLNK))
}

/// The header of a bare-user object that stores a symlink: its `user.ostreemeta` and the target, which
/// the object file holds (NUL-terminated, as OSTree writes it).
fn bare_user_symlink_header(p: &Path, meta: &[u8]) -> Result<FileHeader, RepoError> {
    let mut target = fs::read_to_string(p).map_err(|e| io_err(p, "read symlink object", e))?;
    if target.ends_with('\0') {
        target.pop();
    }
    FileHeader::parse_ostreemeta(meta, target)
        .map_err(|e| RepoError::Corrupt(format!("{}: {e}", p.display())))
}

/// A bare-user regular file's `user.ostreemeta` against the object file it describes: a valid mode
/// (regular file, no bits beyond `S_IFMT|07777`), and the object's permission bits as a store writes them
/// from that mode (ostree: `mode & 0775`; atomboot before 2026-12: `(mode & 0775) | 0600`). A tampered
/// xattr that adds an execute or write bit no longer matches the object file.
fn check_bare_user_mode(
    p: &Path,
    csum: &Checksum,
    meta_mode: u32,
    file_mode: u32,
) -> Result<(), RepoError> {
    let perm = file_mode & 0o7777;
    let want = meta_mode & 0o775;
    if meta_mode & S_IFMT != S_IFREG
        || meta_mode & !(S_IFMT | 0o7777) != 0
        || (perm != want && perm != want | 0o600)
    {
        return Err(RepoError::Corrupt(format!(
            "file object {csum}: its {OSTREEMETA_XATTR} mode {meta_mode:o} does not match the object file ({}, mode {perm:o}); run fsck",
            p.display()
        )));
    }
    Ok(())
}

/// syncfs of the file system holding `path`: everything dirty on it reaches the disk.
fn syncfs(path: &Path) -> Result<(), RepoError> {
    let f = File::open(path).map_err(|e| io_err(path, "open for syncfs", e))?;
    rustix::fs::syncfs(&f).map_err(|e| io_err(path, "syncfs", e.into()))
}

/// Renames a staged object to its place in `objects/`, leaving an object already there as it is (same
/// name, same bytes).
fn rename_unless_present(obj: &Path, dest: &Path) -> Result<(), RepoError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, obj, CWD, dest, RenameFlags::NOREPLACE) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        // A file system without RENAME_NOREPLACE: look first, then rename.
        Err(rustix::io::Errno::INVAL) => {
            if fs::symlink_metadata(dest).is_err() {
                fs::rename(obj, dest).map_err(|e| io_err(dest, "rename object into place", e))?;
            }
            Ok(())
        }
        Err(e) => Err(io_err(dest, "rename object into place", e.into())),
    }
}

/// fsync a directory so a rename in it is durable.
pub fn fsync_dir(dir: &Path) -> Result<(), RepoError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(dir, "fsync directory", e))
}

/// Writes `data` to `path` atomically (mode 0644): temp file in the same dir, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), RepoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| io_err(dir, "create temp file", e))?;
    // 0644 whatever the umask, as ostree writes config, refs and summary: a web server running as
    // another user (nginx's www-data) must be able to read them.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .and_then(|_| tmp.write_all(data))
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| io_err(path, "write", e))?;
    tmp.persist(path)
        .map_err(|e| io_err(path, "rename into place", e.error))?;
    fsync_dir(dir)
}

impl Store {
    /// Creates a new repository at `path` (the directory may exist but must not hold a repo).
    pub fn init(path: &Path, mode: Mode) -> Result<Store, RepoError> {
        if mode == Mode::Bare && !is_root() {
            return Err(RepoError::Usage(format!(
                "mode bare needs root to store real owners and modes; use --mode=bare-user for {}",
                path.display()
            )));
        }
        if path.join("config").exists() {
            return Err(RepoError::Usage(format!(
                "{} already contains a repository (config exists)",
                path.display()
            )));
        }
        for d in [
            "",
            "objects",
            "refs",
            "refs/heads",
            "refs/remotes",
            "refs/mirrors",
            "tmp",
            "extensions",
            "state",
        ] {
            let p = path.join(d);
            fs::create_dir_all(&p).map_err(|e| io_err(&p, "create directory", e))?;
        }
        let config = format!("[core]\nrepo_version=1\nmode={}\n", mode.config_name());
        write_atomic(&path.join("config"), config.as_bytes())?;
        Ok(Store {
            path: path.to_path_buf(),
            mode,
            config,
            staging: None,
        })
    }

    /// Opens an existing repository, reading its mode from `config`.
    pub fn open(path: &Path) -> Result<Store, RepoError> {
        let cfg_path = path.join("config");
        let config = fs::read_to_string(&cfg_path).map_err(|e| RepoError::NotARepo {
            path: path.to_path_buf(),
            source: e,
        })?;
        let bad = |e: super::keyfile::KeyFileError| {
            RepoError::Corrupt(format!("{}: {e}", cfg_path.display()))
        };
        let kf = super::keyfile::KeyFile::parse(&config).map_err(bad)?;
        let mode = kf.get("core", "mode").map_err(bad)?;
        let version = kf.get("core", "repo_version").map_err(bad)?;
        if version.as_deref() != Some("1") {
            return Err(RepoError::Corrupt(format!(
                "{}: [core] repo_version is {:?}, expected 1",
                cfg_path.display(),
                version
            )));
        }
        let mode_s = mode.unwrap_or_else(|| "bare".into());
        let mode = Mode::parse(&mode_s).ok_or_else(|| {
            RepoError::Corrupt(format!(
                "{}: unsupported repository mode {mode_s:?} (supported: bare, bare-user, archive-z2)",
                cfg_path.display()
            ))
        })?;
        Ok(Store {
            path: path.to_path_buf(),
            mode,
            config,
            staging: None,
        })
    }

    /// Path of an object.
    pub fn object_path(&self, csum: &Checksum, t: ObjectType) -> PathBuf {
        let mut hex = [0u8; 64];
        csum.write_hex(&mut hex);
        let hex = std::str::from_utf8(&hex).unwrap_or_default();
        let ext = if t == ObjectType::File {
            self.mode.content_ext()
        } else {
            t.meta_ext()
        };
        // One allocation: <repo>/objects/<2 hex>/<62 hex>.<ext>.
        let mut p = std::ffi::OsString::with_capacity(self.path.as_os_str().len() + 80);
        p.push(self.path.as_os_str());
        if !self.path.as_os_str().as_encoded_bytes().ends_with(b"/") {
            p.push("/");
        }
        p.push("objects/");
        p.push(&hex[..2]);
        p.push("/");
        p.push(&hex[2..]);
        p.push(".");
        p.push(ext);
        PathBuf::from(p)
    }

    /// Where a new object goes: its object path, or its place in the staging directory.
    fn staged_path(&self, csum: &Checksum, t: ObjectType) -> Option<PathBuf> {
        let staging = self.staging.as_ref()?;
        let p = self.object_path(csum, t);
        let rel = p.strip_prefix(self.path.join("objects")).ok()?;
        Some(staging.dir.join(rel))
    }

    /// The file holding an object: in objects/, else (in a transaction) in the staging directory. Outside
    /// a transaction nothing is looked up: the caller's open finds the object or reports it missing.
    fn stored_path(&self, csum: &Checksum, t: ObjectType) -> PathBuf {
        if self.staging.is_none() {
            return self.object_path(csum, t);
        }
        self.find_stored(csum, t)
            .unwrap_or_else(|| self.object_path(csum, t))
    }

    /// Where the object is stored, if it is: objects/ first (one stat for a present object), then the
    /// staging directory.
    fn find_stored(&self, csum: &Checksum, t: ObjectType) -> Option<PathBuf> {
        if self.in_objects(csum, t) {
            return Some(self.object_path(csum, t));
        }
        self.staged_path(csum, t)
            .filter(|s| fs::symlink_metadata(s).is_ok())
    }

    /// Whether the object is in `objects/` (the staging directory not looked at).
    fn in_objects(&self, csum: &Checksum, t: ObjectType) -> bool {
        fs::symlink_metadata(self.object_path(csum, t)).is_ok()
    }

    pub fn has_object(&self, csum: &Checksum, t: ObjectType) -> bool {
        self.find_stored(csum, t).is_some()
    }

    /// Starts a write [`Transaction`] (as OSTree's staging directory): objects written through it land in
    /// `tmp/staging-<boot id>-*` without a per-object fsync until it is flushed or committed; an
    /// interrupted transaction leaves only its staging directory.
    ///
    /// As OSTree's `_ostree_repo_allocate_tmpdir`: a staging directory of this boot that nobody holds (left
    /// by a killed pull) is taken over, so the objects it had verified count as present and are not fetched
    /// again (they were written during this boot, so the page cache still has them even unsynced); each
    /// directory is held with a lock on `tmp/<name>-lock`.
    pub fn begin(&self) -> Result<Transaction, RepoError> {
        let tmp = self.path.join("tmp");
        let prefix = staging_prefix();
        let mut found = None;
        if let Ok(rd) = fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let name = e.file_name();
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if !is_dir || !name.to_string_lossy().starts_with(&prefix) {
                    continue;
                }
                if let Some(lock) = TmpdirLock::try_lock(&e.path())? {
                    // Touched, so that cleanup does not take it for an old one.
                    let _ = File::open(e.path())
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    found = Some((e.path(), lock));
                    break;
                }
            }
        }
        let (dir, lock) = match found {
            Some(f) => f,
            None => loop {
                let dir = tempfile::Builder::new()
                    .prefix(&prefix)
                    .tempdir_in(&tmp)
                    .map_err(|e| io_err(&tmp, "create staging directory", e))?
                    .keep();
                // Another process may have taken the new directory over already: make another.
                if let Some(lock) = TmpdirLock::try_lock(&dir)? {
                    break (dir, lock);
                }
            },
        };
        Ok(Transaction {
            store: Store {
                staging: Some(Staging {
                    dir,
                    made: Arc::new(std::array::from_fn(|_| AtomicBool::new(false))),
                    _lock: Arc::new(lock),
                }),
                ..self.clone()
            },
        })
    }

    /// Reclaims `tmp/` as OSTree's `cleanup_tmpdir` does: staging directories nobody holds are removed
    /// when they come from another boot (their unsynced objects may be torn) or have been left for more
    /// than [`TMP_EXPIRY_SECS`] (a staging directory of this boot is kept for the next pull to take over
    /// until then); other entries are removed once older than that. Returns the bytes freed.
    pub fn cleanup_tmp(&self) -> Result<u64, RepoError> {
        let tmp = self.path.join("tmp");
        let prefix = staging_prefix();
        let now = std::time::SystemTime::now();
        let old = |m: &fs::Metadata| {
            m.modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|d| d.as_secs() > TMP_EXPIRY_SECS)
        };
        let mut freed = 0u64;
        let Ok(rd) = fs::read_dir(&tmp) else {
            return Ok(0);
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(md) = fs::symlink_metadata(&p) else {
                continue;
            };
            if self.staging.as_ref().is_some_and(|st| st.dir == p) {
                continue;
            }
            if name.starts_with("staging-") && md.is_dir() {
                let Some(lock) = TmpdirLock::try_lock(&p)? else {
                    continue;
                };
                if name.starts_with(&prefix) && !old(&md) {
                    continue;
                }
                let size = dir_size(&p);
                lock.remove()
                    .map_err(|er| io_err(&p, "remove stale staging directory", er))?;
                freed += size;
            } else if let Some(dir) = name.strip_suffix("-lock") {
                // A lock file whose directory is gone (its remover died before deleting it).
                if name.starts_with("staging-") && !tmp.join(dir).exists() && old(&md) {
                    let _ = fs::remove_file(&p);
                }
            } else if old(&md) {
                freed += dir_size(&p);
                let r = if md.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                r.map_err(|er| io_err(&p, "remove stale temporary file", er))?;
            }
        }
        Ok(freed)
    }

    /// [`Transaction::flush`]: the objects staged in `st` made durable and renamed into `objects/`, the
    /// object directories fsynced (the staging directory stays for more writes).
    fn move_staged(&self, st: &Staging) -> Result<(), RepoError> {
        use rayon::prelude::*;
        let staging = st.dir.as_path();
        let objects = self.path.join("objects");
        // What is staged, by object directory: (its staged directory, its object directory, [staged file]).
        let mut groups: Vec<(PathBuf, PathBuf, Vec<PathBuf>)> = Vec::new();
        for sub in fs::read_dir(staging).map_err(|e| io_err(staging, "read directory", e))? {
            let sub = sub
                .map_err(|e| io_err(staging, "read directory", e))?
                .path();
            let Some(name) = sub.file_name() else {
                continue;
            };
            let dest_dir = objects.join(name);
            let mut files = Vec::new();
            for obj in fs::read_dir(&sub).map_err(|e| io_err(&sub, "read directory", e))? {
                files.push(obj.map_err(|e| io_err(&sub, "read directory", e))?.path());
            }
            if !files.is_empty() {
                groups.push((sub, dest_dir, files));
            }
        }
        let count: usize = groups.iter().map(|(_, _, f)| f.len()).sum();
        // A few objects are fsynced one by one, and so are their directories afterwards (a syncfs would
        // also flush everything else dirty on the file system); many take one syncfs before the renames
        // (the bytes are durable before anything names them) and one after (the names are).
        let few = count <= FSYNC_EACH_UP_TO;
        if few {
            groups
                .par_iter()
                .flat_map(|(_, _, f)| f)
                .try_for_each(|obj| {
                    File::open(obj)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| io_err(obj, "fsync object", e))
                })?;
        } else {
            syncfs(staging)?;
        }
        super::writeback::synced();
        // The staged object directories may be renamed away below: each is made again when next needed.
        for m in st.made.iter() {
            m.store(false, Ordering::Relaxed);
        }
        // Each object directory is its own group: the renames run in parallel without sharing a lock.
        groups.par_iter().try_for_each(|(sub, dest_dir, files)| {
            // Where objects/ has no such directory yet (or an empty one: rename(2) replaces an empty
            // directory), the staged directory moves in one rename, its objects with it. Otherwise (the
            // directory holds objects, or another writer filled it meanwhile) each object moves alone.
            if fs::rename(sub, dest_dir).is_err() {
                fs::create_dir_all(dest_dir)
                    .map_err(|e| io_err(dest_dir, "create object directory", e))?;
                for obj in files {
                    let Some(name) = obj.file_name() else {
                        continue;
                    };
                    rename_unless_present(obj, &dest_dir.join(name))?;
                }
            }
            if few {
                fsync_dir(dest_dir)?;
            }
            Ok::<(), RepoError>(())
        })?;
        if few {
            fsync_dir(&objects)
        } else {
            syncfs(&objects)
        }
    }

    pub(super) fn tmp_file(&self) -> Result<TmpObject, RepoError> {
        TmpObject::create(&self.path.join("tmp"))
    }

    /// Moves a finished temp file to its object path (no-op when the object already exists).
    pub(super) fn commit_tmp(
        &self,
        tmp: TmpObject,
        csum: &Checksum,
        t: ObjectType,
    ) -> Result<(), RepoError> {
        if self.has_object(csum, t) {
            return Ok(());
        }
        self.place_tmp(tmp, csum, t)
    }

    /// Names a finished temp file as the object `csum`, which its caller has just found absent: in the
    /// staging directory during a transaction, else in `objects/`.
    fn place_tmp(&self, tmp: TmpObject, csum: &Checksum, t: ObjectType) -> Result<(), RepoError> {
        let dest = self
            .staged_path(csum, t)
            .unwrap_or_else(|| self.object_path(csum, t));
        let dir = dest.parent().unwrap_or(&self.path);
        let made = self
            .staging
            .as_ref()
            .map(|s| &s.made[usize::from(csum.0[0])]);
        if !made.is_some_and(|m| m.load(Ordering::Relaxed)) {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, "create object directory", e))?;
            if let Some(m) = made {
                m.store(true, Ordering::Relaxed);
            }
        }
        tmp.persist(&dest)
            .map_err(|e| io_err(&dest, "put object in place", e))?;
        Ok(())
    }

    /// Stores a metadata object, returning its checksum.
    pub fn write_meta(&self, t: ObjectType, data: &[u8]) -> Result<Checksum, RepoError> {
        let csum = Checksum::of(data);
        if self.has_object(&csum, t) {
            return Ok(csum);
        }
        let mut tmp = self.tmp_file()?;
        tmp.file_mut()
            .write_all(data)
            .and_then(|_| self.sync_unless_staged(tmp.file()))
            .map_err(|e| io_err(tmp.shown(), "write object", e))?;
        tmp.set_mode(0o644)?;
        self.place_tmp(tmp, &csum, t)?;
        Ok(csum)
    }

    /// Stores a metadata object whose checksum is already claimed (pull): verifies it first.
    pub fn write_meta_verified(
        &self,
        t: ObjectType,
        expected: &Checksum,
        data: &[u8],
    ) -> Result<(), RepoError> {
        let got = Checksum::of(data);
        if got != *expected {
            return Err(RepoError::Corrupt(format!(
                "{} object {expected}: content has checksum {got}",
                t.name()
            )));
        }
        self.write_meta(t, data).map(|_| ())
    }

    /// fsync of a finished object file, except in a transaction (whose `finish` syncs the file system).
    pub(super) fn sync_unless_staged(&self, f: &File) -> io::Result<()> {
        if self.staging.is_some() {
            Ok(())
        } else {
            f.sync_all()
        }
    }

    /// Reads a metadata object, verifying nothing (see fsck).
    pub fn read_meta(&self, csum: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError> {
        let p = self.stored_path(csum, t);
        fs::read(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                RepoError::MissingObject(format!("{} object {csum}", t.name()))
            } else {
                io_err(&p, "read object", e)
            }
        })
    }

    /// Stores a content object from a header and a content stream, computing the checksum while streaming.
    /// If `expected` is given and differs, nothing is stored and an error is returned.
    pub fn write_content(
        &self,
        header: &FileHeader,
        content: &mut dyn Read,
        size: u64,
        expected: Option<&Checksum>,
    ) -> Result<Checksum, RepoError> {
        let mut sha = header.checksum_start();
        let mut tmp = self.tmp_file()?;
        let tmp_path = tmp.shown().to_path_buf();
        let werr = |e| io_err(&tmp_path, "write object", e);
        let mut buf = vec![0u8; 128 * 1024];
        let mut total = 0u64;
        match self.mode {
            Mode::Archive => {
                let h = header.serialize_archive(size);
                tmp.file_mut()
                    .write_all(&size_prefix(h.len()))
                    .and_then(|_| tmp.file_mut().write_all(&h))
                    .map_err(werr)?;
                let mut w = io::BufWriter::with_capacity(128 * 1024, tmp.file_mut());
                total = super::deflate::write_deflated(content, size, &mut sha, &mut w)
                    .and_then(|n| w.flush().map(|()| n))
                    .map_err(werr)?;
            }
            Mode::BareUser | Mode::Bare => {
                if header.is_symlink() {
                    if self.mode == Mode::BareUser {
                        // OSTree stores the target NUL-terminated.
                        tmp.file_mut()
                            .write_all(header.symlink.as_bytes())
                            .and_then(|_| tmp.file_mut().write_all(&[0]))
                            .map_err(werr)?;
                    }
                } else {
                    loop {
                        let n = content.read(&mut buf).map_err(werr)?;
                        if n == 0 {
                            break;
                        }
                        sha.update(&buf[..n]);
                        tmp.file_mut().write_all(&buf[..n]).map_err(werr)?;
                        total += n as u64;
                    }
                }
            }
        }
        if total != size && !header.is_symlink() {
            return Err(RepoError::Corrupt(format!(
                "content is {total} bytes where {size} were expected (truncated, or changed while reading)"
            )));
        }
        let csum = finish(sha);
        if let Some(exp) = expected {
            if *exp != csum {
                return Err(RepoError::Corrupt(format!(
                    "file object {exp}: content has checksum {csum}"
                )));
            }
        }
        // Only objects/ is looked at: a copy already staged by this transaction makes the staging link
        // below find its name taken, which is success.
        if self.in_objects(&csum, ObjectType::File) {
            return Ok(csum);
        }
        if self.mode != Mode::Archive {
            // As OSTree: content objects carry mtime 0 (hardlinked checkouts show it).
            tmp.file()
                .set_modified(std::time::UNIX_EPOCH)
                .map_err(werr)?;
        }
        self.sync_unless_staged(tmp.file()).map_err(werr)?;
        if size >= super::writeback::MIN_BYTES {
            let len = match self.mode {
                Mode::Archive => tmp.file_mut().stream_position().map_err(werr)?,
                Mode::BareUser | Mode::Bare => total,
            };
            super::writeback::written(tmp.file(), len);
        }
        match self.mode {
            Mode::Archive => tmp.set_mode(0o644)?,
            Mode::BareUser => {
                let perm = if header.is_symlink() {
                    0o644
                } else {
                    (header.mode & 0o775) | 0o600
                };
                tmp.set_mode(perm)?;
                tmp.set_xattr(OSTREEMETA_XATTR.as_bytes(), &header.serialize_ostreemeta())?;
            }
            Mode::Bare => {
                if header.is_symlink() {
                    // Bare mode stores symlinks as symlinks.
                    let dest = self.object_path(&csum, ObjectType::File);
                    let dir = dest.parent().unwrap_or(&self.path).to_path_buf();
                    fs::create_dir_all(&dir)
                        .map_err(|e| io_err(&dir, "create object directory", e))?;
                    let tmpl = self.path.join("tmp").join(format!(
                        "symlink-{csum}-{}-{:?}",
                        std::process::id(),
                        std::thread::current().id()
                    ));
                    let _ = fs::remove_file(&tmpl);
                    std::os::unix::fs::symlink(&header.symlink, &tmpl)
                        .map_err(|e| io_err(&tmpl, "create symlink", e))?;
                    std::os::unix::fs::lchown(&tmpl, Some(header.uid), Some(header.gid))
                        .map_err(|e| io_err(&tmpl, "lchown", e))?;
                    for (n, v) in &header.xattrs {
                        set_xattr_bytes(&tmpl, n, v)?;
                    }
                    fs::rename(&tmpl, &dest)
                        .map_err(|e| io_err(&dest, "rename object into place", e))?;
                    return Ok(csum);
                }
                tmp.chown(header.uid, header.gid)?;
                tmp.set_mode(header.mode & 0o7777)?;
                for (n, v) in &header.xattrs {
                    tmp.set_xattr(n, v)?;
                }
            }
        }
        self.place_tmp(tmp, &csum, ObjectType::File)?;
        Ok(csum)
    }

    /// For hardlink checkouts of a bare-user repository, which link every object as it is except the
    /// symlinks it stores as regular files: `Some(header)` (with the target) when the object stores a
    /// symlink, `None` otherwise, after one xattr read.
    pub fn bare_user_symlink(&self, csum: &Checksum) -> Result<Option<FileHeader>, RepoError> {
        let p = self.stored_path(csum, ObjectType::File);
        match bare_user_meta(&p, csum)? {
            (meta, true) => bare_user_symlink_header(&p, &meta).map(Some),
            (_, false) => Ok(None),
        }
    }

    /// Opens a content object: its header, uncompressed size and a content reader (empty for symlinks).
    pub fn open_content(
        &self,
        csum: &Checksum,
    ) -> Result<(FileHeader, u64, Box<dyn Read + Send>), RepoError> {
        let p = self.stored_path(csum, ObjectType::File);
        let missing = |e: io::Error| {
            if e.kind() == io::ErrorKind::NotFound {
                RepoError::MissingObject(format!("file object {csum}"))
            } else {
                io_err(&p, "open object", e)
            }
        };
        match self.mode {
            Mode::Archive => {
                let mut f = BufReader::new(File::open(&p).map_err(missing)?);
                let mut pre = [0u8; 8];
                f.read_exact(&mut pre)
                    .map_err(|e| io_err(&p, "read header", e))?;
                let len = u32::from_be_bytes([pre[0], pre[1], pre[2], pre[3]]) as usize;
                if len > 16 * 1024 * 1024 {
                    return Err(RepoError::Corrupt(format!(
                        "{}: header size {len} too large",
                        p.display()
                    )));
                }
                let mut h = vec![0u8; len];
                f.read_exact(&mut h)
                    .map_err(|e| io_err(&p, "read header", e))?;
                let (header, size) = FileHeader::parse_archive(&h)
                    .map_err(|e| RepoError::Corrupt(format!("{}: {e}", p.display())))?;
                // Exactly the announced size, then the end of the stream and of the file: bytes after
                // the deflate stream are an error for whoever reads to the end (fsck, checkout).
                Ok((header, size, Box::new(ExactInflate::new(f, size))))
            }
            Mode::BareUser => {
                let (meta, is_symlink) = bare_user_meta(&p, csum)?;
                if is_symlink {
                    let h = bare_user_symlink_header(&p, &meta)?;
                    return Ok((h, 0, Box::new(io::empty())));
                }
                let h = FileHeader::parse_ostreemeta(&meta, String::new())
                    .map_err(|e| RepoError::Corrupt(format!("{}: {e}", p.display())))?;
                let f = File::open(&p).map_err(missing)?;
                let md = f.metadata().map_err(|e| io_err(&p, "stat", e))?;
                check_bare_user_mode(&p, csum, h.mode, md.mode())?;
                Ok((h, md.len(), Box::new(f)))
            }
            Mode::Bare => {
                let md = fs::symlink_metadata(&p).map_err(missing)?;
                let xattrs = read_xattrs(&p)?;
                if md.file_type().is_symlink() {
                    let target = fs::read_link(&p).map_err(|e| io_err(&p, "readlink", e))?;
                    let h = FileHeader {
                        uid: md.uid(),
                        gid: md.gid(),
                        mode: md.mode(),
                        symlink: target.to_string_lossy().into_owned(),
                        xattrs,
                    };
                    return Ok((h, 0, Box::new(io::empty())));
                }
                let h = FileHeader {
                    uid: md.uid(),
                    gid: md.gid(),
                    mode: (md.mode() & !S_IFMT) | S_IFREG,
                    symlink: String::new(),
                    xattrs,
                };
                Ok((h, md.len(), Box::new(File::open(&p).map_err(missing)?)))
            }
        }
    }

    fn ref_path(&self, name: &str) -> Result<PathBuf, RepoError> {
        validate_ref(name)?;
        Ok(if let Some((remote, r)) = name.split_once(':') {
            validate_ref(remote)?;
            self.path.join("refs/remotes").join(remote).join(r)
        } else {
            self.path.join("refs/heads").join(name)
        })
    }

    /// Reads a ref (`name` or `remote:name`); `None` when it does not exist.
    pub fn read_ref(&self, name: &str) -> Result<Option<Checksum>, RepoError> {
        let p = self.ref_path(name)?;
        let p = if p.exists() || name.contains(':') {
            p
        } else {
            // OSTree also resolves "remote/ref" under refs/remotes.
            let alt = self.path.join("refs/remotes").join(name);
            if alt.is_file() {
                alt
            } else {
                p
            }
        };
        match fs::read_to_string(&p) {
            Ok(s) => Checksum::from_hex(s.trim())
                .map(Some)
                .ok_or_else(|| RepoError::Corrupt(format!("{}: not a checksum", p.display()))),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::IsADirectory =>
            {
                Ok(None)
            }
            Err(e) => Err(io_err(&p, "read ref", e)),
        }
    }

    /// Points a ref at a commit (atomic).
    pub fn write_ref(&self, name: &str, csum: &Checksum) -> Result<(), RepoError> {
        let p = self.ref_path(name)?;
        let dir = p.parent().unwrap_or(&self.path).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, "create ref directory", e))?;
        write_atomic(&p, format!("{csum}\n").as_bytes())
    }

    /// Deletes a ref; error when it does not exist.
    pub fn delete_ref(&self, name: &str) -> Result<(), RepoError> {
        let p = self.ref_path(name)?;
        fs::remove_file(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                RepoError::UnknownRef(name.to_string())
            } else {
                io_err(&p, "delete ref", e)
            }
        })?;
        fsync_dir(p.parent().unwrap_or(&self.path))
    }

    /// `name` under any remote (`refs/remotes/*/name`), as ostree's fallback for a ref with no local
    /// match: the first remote in directory order that has it.
    pub fn find_ref_in_remotes(&self, name: &str) -> Result<Option<Checksum>, RepoError> {
        let remotes = self.path.join("refs/remotes");
        let Ok(rd) = fs::read_dir(&remotes) else {
            return Ok(None);
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path().join(name);
            match fs::read_to_string(&p) {
                Ok(s) => {
                    return Checksum::from_hex(s.trim()).map(Some).ok_or_else(|| {
                        RepoError::Corrupt(format!("{}: not a checksum", p.display()))
                    })
                }
                Err(er)
                    if er.kind() == io::ErrorKind::NotFound
                        || er.kind() == io::ErrorKind::IsADirectory =>
                {
                    continue
                }
                Err(er) => return Err(io_err(&p, "read ref", er)),
            }
        }
        Ok(None)
    }

    /// Every commit object whose checksum starts with the lowercase-hex `prefix`.
    pub fn commits_starting_with(&self, prefix: &str) -> Result<Vec<Checksum>, RepoError> {
        let objs = self.path.join("objects");
        let dirs: Vec<String> = if prefix.len() >= 2 {
            vec![prefix[..2].to_string()]
        } else {
            let rd = fs::read_dir(&objs).map_err(|e| io_err(&objs, "read directory", e))?;
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 2 && n.starts_with(prefix))
                .collect()
        };
        let mut out = Vec::new();
        for d in dirs {
            let Ok(rd) = fs::read_dir(objs.join(&d)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(rest) = name.strip_suffix(".commit") {
                    let hex = format!("{d}{rest}");
                    if hex.starts_with(prefix) {
                        out.extend(Checksum::from_hex(&hex));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// All refs: local ones as `name`, remote ones as `remote:name`, sorted.
    pub fn list_refs(&self) -> Result<Vec<(String, Checksum)>, RepoError> {
        let mut out = Vec::new();
        collect_refs(&self.path.join("refs/heads"), "", &mut out)?;
        let remotes = self.path.join("refs/remotes");
        if let Ok(rd) = fs::read_dir(&remotes) {
            for e in rd.flatten() {
                let remote = e.file_name().to_string_lossy().into_owned();
                let mut sub = Vec::new();
                collect_refs(&e.path(), "", &mut sub)?;
                out.extend(sub.into_iter().map(|(n, c)| (format!("{remote}:{n}"), c)));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn collect_refs(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, Checksum)>,
) -> Result<(), RepoError> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let p = e.path();
        if p.is_dir() {
            collect_refs(&p, &format!("{name}/"), out)?;
        } else {
            let s = fs::read_to_string(&p).map_err(|er| io_err(&p, "read ref", er))?;
            let c = Checksum::from_hex(s.trim())
                .ok_or_else(|| RepoError::Corrupt(format!("{}: not a checksum", p.display())))?;
            out.push((name, c));
        }
    }
    Ok(())
}

/// Ref names: `/`-separated components of `[A-Za-z0-9._-]`, none empty, `.` or `..` (optionally `remote:`).
pub fn validate_ref(name: &str) -> Result<(), RepoError> {
    let r = name.split_once(':').map(|(_, r)| r).unwrap_or(name);
    let ok = !r.is_empty()
        && r.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(RepoError::Usage(format!("invalid ref name {name:?}")))
    }
}

fn set_xattr_bytes(p: &Path, name: &[u8], v: &[u8]) -> Result<(), RepoError> {
    use std::os::unix::ffi::OsStrExt;
    xattr::set(p, std::ffi::OsStr::from_bytes(name), v).map_err(|e| io_err(p, "set xattr", e))
}

/// Sets xattrs on a checked-out file.
pub fn apply_xattrs(p: &Path, x: &super::objects::Xattrs) -> Result<(), RepoError> {
    for (n, v) in x {
        set_xattr_bytes(p, n, v)?;
    }
    Ok(())
}

/// Reads a path's xattrs (not following symlinks), sorted by name, without `user.ostreemeta`.
pub fn read_xattrs(p: &Path) -> Result<super::objects::Xattrs, RepoError> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    let names = match xattr::list(p) {
        Ok(n) => n,
        // A file system without xattrs: no xattrs to record.
        Err(e) if rustix::io::Errno::from_io_error(&e) == Some(rustix::io::Errno::OPNOTSUPP) => {
            return Ok(out)
        }
        Err(e) => return Err(io_err(p, "list xattrs", e)),
    };
    for n in names {
        if n == OSTREEMETA_XATTR {
            continue;
        }
        if let Some(v) = xattr::get(p, &n).map_err(|e| io_err(p, "read xattr", e))? {
            out.push((n.as_bytes().to_vec(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether this process runs as root (bare mode needs it).
pub fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
