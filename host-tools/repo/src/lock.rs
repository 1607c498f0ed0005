//! Repository locks, as OSTree takes them (`ostree_repo_lock_push`): a shared lock on `.lock` in the
//! repository directory while objects are added or read in bulk (pull, commit, checkout), an exclusive
//! one while objects are deleted (prune). So a prune never deletes an object that a running pull has
//! just found present, or written but not yet named by a ref.
//!
//! The locks are `fcntl` record locks on the whole file, which conflict with the open-file-description
//! locks OSTree takes on the same file: atomboot and ostree exclude each other. Record locks belong to the
//! process, so threads of one process are coordinated here in memory, and the file is opened once per
//! process and repository while anything holds it (closing another descriptor of the file would drop
//! the lock).
//!
//! The same record locks guard staging directories (`tmp/staging-*`, each with its `tmp/<name>-lock`), as
//! OSTree's `_ostree_repo_try_lock_tmpdir` does.

use super::store::io_err;
use super::RepoError;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Shared (pull, commit, checkout) or exclusive (prune).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

#[derive(Default)]
struct State {
    readers: usize,
    writer: bool,
    /// The open `.lock` while anything in this process holds the lock.
    file: Option<File>,
}

#[derive(Default)]
struct PathLock {
    state: Mutex<State>,
    changed: Condvar,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<PathLock>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Arc<PathLock>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn open_lock_file(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(p)
}

/// A held repository lock; released on drop.
pub struct RepoLock {
    lock: Option<Arc<PathLock>>,
    kind: LockKind,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RepoLock({:?})", self.kind)
    }
}

impl RepoLock {
    /// Takes the lock on repository `repo`, waiting for conflicting holders (other processes included).
    /// A repository this user cannot write to is not locked (as OSTree: read-only users cannot
    /// disturb anyone).
    pub fn acquire(repo: &Path, kind: LockKind) -> Result<RepoLock, RepoError> {
        let key = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
        let pl = {
            let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
            reg.entry(key.clone()).or_default().clone()
        };
        let mut st = pl.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let free = match kind {
                LockKind::Shared => !st.writer,
                LockKind::Exclusive => !st.writer && st.readers == 0,
            };
            if free {
                break;
            }
            st = pl.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.file.is_none() {
            let path = key.join(".lock");
            let f = match open_lock_file(&path) {
                Ok(f) => f,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                    ) =>
                {
                    return Ok(RepoLock { lock: None, kind });
                }
                Err(e) => return Err(io_err(&path, "open repository lock", e)),
            };
            let op = match kind {
                LockKind::Shared => rustix::fs::FlockOperation::LockShared,
                LockKind::Exclusive => rustix::fs::FlockOperation::LockExclusive,
            };
            rustix::fs::fcntl_lock(&f, op)
                .map_err(|e| io_err(&path, "lock the repository", e.into()))?;
            st.file = Some(f);
        }
        match kind {
            LockKind::Shared => st.readers += 1,
            LockKind::Exclusive => st.writer = true,
        }
        drop(st);
        Ok(RepoLock {
            lock: Some(pl),
            kind,
        })
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        let Some(pl) = self.lock.take() else {
            return;
        };
        let mut st = pl.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.kind {
            LockKind::Shared => st.readers = st.readers.saturating_sub(1),
            LockKind::Exclusive => st.writer = false,
        }
        if st.readers == 0 && !st.writer {
            // Closing the file releases the process's record lock.
            st.file = None;
        }
        drop(st);
        pl.changed.notify_all();
    }
}

/// Staging directories this process holds (their record locks would not exclude our own threads).
fn held_tmpdirs() -> &'static Mutex<HashSet<PathBuf>> {
    static H: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    H.get_or_init(Default::default)
}

/// An exclusive lock on a directory in `tmp/` (`tmp/NAME-lock`), held until dropped.
#[derive(Debug)]
pub struct TmpdirLock {
    dir: PathBuf,
    _file: File,
}

impl TmpdirLock {
    /// Tries to lock directory `dir` (in `tmp/`) without waiting: `None` when another process or thread
    /// holds it, or when the directory is gone once locked.
    pub fn try_lock(dir: &Path) -> Result<Option<TmpdirLock>, RepoError> {
        let mut held = held_tmpdirs().lock().unwrap_or_else(|e| e.into_inner());
        if held.contains(dir) {
            return Ok(None);
        }
        let mut name = dir.as_os_str().to_owned();
        name.push("-lock");
        let lock_path = PathBuf::from(name);
        let f =
            open_lock_file(&lock_path).map_err(|e| io_err(&lock_path, "open staging lock", e))?;
        match rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::ACCESS) => return Ok(None),
            Err(e) => return Err(io_err(&lock_path, "lock staging directory", e.into())),
        }
        // Locked after another process removed the directory: not ours to use.
        if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Ok(None);
        }
        held.insert(dir.to_path_buf());
        Ok(Some(TmpdirLock {
            dir: dir.to_path_buf(),
            _file: f,
        }))
    }

    /// Removes the directory and then its lock file, still holding the lock.
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_dir_all(&self.dir).or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        let mut name = self.dir.as_os_str().to_owned();
        name.push("-lock");
        let _ = std::fs::remove_file(PathBuf::from(name));
        Ok(())
    }
}

impl Drop for TmpdirLock {
    fn drop(&mut self) {
        held_tmpdirs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.dir);
    }
}
