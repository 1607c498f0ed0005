//! OSTree-compatible repository (byte-compatible with `ostree` 2022.7): objects, store, refs, commit,
//! checkout, fsck. Format notes: docs/FORMATS.md, section "Repository".
//!
//! Public API for the deployer:
//! ```no_run
//! use atomboot_repo::{Repo, CheckoutOptions};
//! let repo = Repo::open("/ostree/repo".as_ref())?;
//! let commit = repo.resolve_rev("os/stable")?;
//! let c = repo.read_commit(&commit)?;
//! println!("{} {:?}", c.subject, c.metadata_string("version"));
//! let kernel = repo.read_file(&commit, "/usr/lib/modules/6.1/vmlinuz")?;
//! repo.checkout(&commit, "/sysroot/deploy/x".as_ref(),
//!     &CheckoutOptions { user_mode: true, hardlink: true, ..Default::default() })?;
//! # Ok::<(), atomboot_repo::RepoError>(())
//! ```

pub mod checkout;
pub mod commit;
pub mod deflate;
pub mod delta;
pub mod diff;
pub mod fsck;
pub mod graph;
pub mod gvariant;
pub mod inflate;
pub mod keyfile;
pub mod lock;
pub mod objects;
pub mod prune;
pub mod pull;
pub mod remote;
pub mod sign;
pub mod statcache;
pub mod store;
pub mod summary;
pub mod time;
pub mod tmpobject;
pub mod verbatim;
pub mod writeback;

pub use checkout::CheckoutOptions;
pub use commit::CommitOptions;
pub use fsck::FsckReport;
pub use objects::{Checksum, Commit, DirMeta, DirTree, FileHeader, ObjectType};
pub use store::{Mode, Transaction};

use std::io::Read;
use std::path::{Path, PathBuf};

/// Repository errors. Each names the path, object or ref concerned.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: not an OSTree repository (cannot read config: {source}); create one with `init --mode=...` or pass --repo=PATH")]
    NotARepo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot {what}: {source}")]
    Io {
        path: PathBuf,
        what: String,
        source: std::io::Error,
    },
    #[error("{0} is missing from the repository")]
    MissingObject(String),
    #[error("corrupt repository data: {0}")]
    Corrupt(String),
    /// A commit that is its own ancestor or a dirtree inside itself ([`graph`]).
    #[error("{0} (a corrupted repository: run fsck)")]
    Cycle(String),
    /// Directories nested deeper than [`graph::MAX_DIR_DEPTH`].
    #[error("{0} (a corrupted or hostile repository: run fsck)")]
    TooDeep(String),
    #[error("ref or commit {0:?} not found (list refs with `refs`)")]
    UnknownRef(String),
    #[error("{0}")]
    Usage(String),
    #[error("pull failed: {0}; nothing was stored for that object, run the pull again to resume")]
    Fetch(String),
    #[error(transparent)]
    Sign(#[from] sign::SignError),
    #[error("static delta: {0}")]
    Delta(Box<delta::DeltaError>),
}

/// An open repository.
#[derive(Debug, Clone)]
pub struct Repo {
    pub store: store::Store,
}

/// A node found by [`Repo::lookup_path`].
#[derive(Debug, Clone)]
pub enum Node {
    /// A directory: (dirtree, dirmeta).
    Dir(Checksum, Checksum),
    /// A file or symlink: its content checksum.
    File(Checksum),
}

impl Repo {
    /// Opens the repository at `path`.
    pub fn open(path: &Path) -> Result<Repo, RepoError> {
        Ok(Repo {
            store: store::Store::open(path)?,
        })
    }

    /// Creates a repository.
    pub fn init(path: &Path, mode: Mode) -> Result<Repo, RepoError> {
        Ok(Repo {
            store: store::Store::init(path, mode)?,
        })
    }

    /// The repository mode.
    pub fn mode(&self) -> Mode {
        self.store.mode
    }

    /// Resolves a rev as ostree's `resolve_rev` does: a full checksum; a unique prefix of a commit
    /// object's checksum; `REV^` (the parent); `remote:name`; or `name`, looked up in `refs/heads`, then
    /// `refs/remotes/name` (`origin/master`), then in each remote's refs (`master` finds
    /// `origin:master`).
    pub fn resolve_rev(&self, rev: &str) -> Result<Checksum, RepoError> {
        if let Some(c) = Checksum::from_hex(rev) {
            return Ok(c);
        }
        if let Some(c) = self.resolve_partial_checksum(rev)? {
            return Ok(c);
        }
        if let Some(base) = rev.strip_suffix('^') {
            let c = self.resolve_rev(base)?;
            return self
                .read_commit(&c)?
                .parent
                .ok_or_else(|| RepoError::UnknownRef(format!("{rev} (commit {c} has no parent)")));
        }
        if store::validate_ref(rev).is_err() {
            return Err(RepoError::UnknownRef(rev.to_string()));
        }
        if let Some(c) = self.store.read_ref(rev)? {
            return Ok(c);
        }
        if !rev.contains(':') {
            if let Some(c) = self.store.find_ref_in_remotes(rev)? {
                return Ok(c);
            }
        }
        Err(RepoError::UnknownRef(rev.to_string()))
    }

    /// A lowercase-hex string of at most 64 characters names the one commit object whose checksum starts
    /// with it (ostree's partial checksums); `None` when no commit matches or `rev` is not such a string.
    fn resolve_partial_checksum(&self, rev: &str) -> Result<Option<Checksum>, RepoError> {
        if rev.len() > 64
            || !rev
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Ok(None);
        }
        let found = self.store.commits_starting_with(rev)?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(RepoError::Usage(format!(
                "Refspec {rev} not unique ({} commits start with it): give more characters",
                found.len()
            ))),
        }
    }

    /// Reads and parses a commit object.
    pub fn read_commit(&self, c: &Checksum) -> Result<Commit, RepoError> {
        graph::read_commit(&self.store, c)
    }

    /// Reads and parses a dirtree.
    pub fn read_dirtree(&self, c: &Checksum) -> Result<DirTree, RepoError> {
        graph::read_dirtree(&self.store, c)
    }

    /// Reads and parses a dirmeta.
    pub fn read_dirmeta(&self, c: &Checksum) -> Result<DirMeta, RepoError> {
        let d = self.store.read_meta(c, ObjectType::DirMeta)?;
        DirMeta::parse_object(&d).map_err(|e| RepoError::Corrupt(format!("dirmeta {c}: {e}")))
    }

    /// Finds `path` (absolute or relative to the root) in a commit.
    pub fn lookup_path(&self, commit: &Checksum, path: &str) -> Result<Node, RepoError> {
        graph::lookup_path(&self.store, commit, path)
    }

    /// Reads a regular file (or a symlink's target) by path from a commit.
    pub fn read_file(&self, commit: &Checksum, path: &str) -> Result<Vec<u8>, RepoError> {
        match self.lookup_path(commit, path)? {
            Node::File(c) => {
                let (h, _, mut r) = self.store.open_content(&c)?;
                if h.is_symlink() {
                    return Ok(h.symlink.into_bytes());
                }
                let mut out = Vec::new();
                r.read_to_end(&mut out).map_err(|e| RepoError::Io {
                    path: self.store.object_path(&c, ObjectType::File),
                    what: "read".into(),
                    source: e,
                })?;
                Ok(out)
            }
            Node::Dir(..) => Err(RepoError::Usage(format!(
                "{path}: is a directory in commit {commit}"
            ))),
        }
    }

    /// Checks out a commit to `dest` (see [`CheckoutOptions`]; hardlink mode needs bare-user + `-U` or bare).
    pub fn checkout(
        &self,
        commit: &Checksum,
        dest: &Path,
        o: &CheckoutOptions,
    ) -> Result<(), RepoError> {
        let _lock = lock::RepoLock::acquire(&self.store.path, lock::LockKind::Shared)?;
        let c = self.read_commit(commit)?;
        checkout::checkout_tree(&self.store, &c.root_tree, &c.root_meta, dest, o)
    }

    /// Commits a directory.
    pub fn commit(&self, dir: &Path, o: &CommitOptions) -> Result<Checksum, RepoError> {
        let _lock = lock::RepoLock::acquire(&self.store.path, lock::LockKind::Shared)?;
        commit::commit_dir(&self.store, dir, o)
    }

    /// Verifies everything reachable from the refs.
    pub fn fsck(&self) -> Result<FsckReport, RepoError> {
        fsck::fsck(&self.store)
    }
}

/// OSTree's content checksum of a commit (shown by `log`): SHA-256 of root dirtree + root dirmeta checksums.
pub fn content_checksum(c: &Commit) -> Checksum {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&c.root_tree.0);
    b.extend_from_slice(&c.root_meta.0);
    Checksum::of(&b)
}
