//! Commit builder: walks a directory in parallel (rayon), streams each file into the store. Files
//! unchanged since the previous commit of the same directory, and (with `link_checkout_speedup`) hard
//! links of the repository's own objects, are taken by their checksum without being read
//! ([`super::statcache`]).

use super::gvariant::{Type, Value};
use super::objects::{
    Checksum, Commit, DirMeta, DirTree, FileHeader, ObjectType, S_IFLNK, S_IFMT, S_IFREG,
};
use super::statcache::{DevIno, StatCache};
use super::store::{read_xattrs, Mode, Store, Transaction};
use super::RepoError;
use rayon::prelude::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Options for [`commit_dir`].
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub branch: Option<String>,
    pub subject: String,
    pub body: String,
    /// Explicit parent; `None` uses the branch's current commit.
    pub parent: Option<Checksum>,
    /// `true` for `--parent=none`.
    pub no_parent: bool,
    /// `--add-metadata-string` pairs, in order.
    pub metadata_strings: Vec<(String, String)>,
    pub timestamp: u64,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// `--skip-if-unchanged`: when the parent has the same root tree, write nothing and return the parent.
    pub skip_if_unchanged: bool,
    /// `--link-checkout-speedup`: a file that is a hard link of one of the repository's content objects
    /// (bare or bare-user, `checkout -H`) is that object, not read.
    pub link_checkout_speedup: bool,
    /// Neither read nor write the stat cache of the source directory (every file is read).
    pub no_stat_cache: bool,
}

/// What one commit walk shares: the store, the options and the caches.
struct Walk<'a> {
    store: &'a Store,
    o: &'a CommitOptions,
    cache: Option<StatCache>,
    devino: Option<DevIno>,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    stat_cache: AtomicU64,
    devino: AtomicU64,
}

/// How a commit found its regular files' checksums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Read and hashed.
    pub read: u64,
    /// Taken from the stat cache (unchanged since the previous commit of the directory).
    pub stat_cache: u64,
    /// Hard links of the repository's objects (`link_checkout_speedup`).
    pub devino: u64,
}

fn err(p: &Path, what: &str, e: std::io::Error) -> RepoError {
    RepoError::Io {
        path: p.to_path_buf(),
        what: what.into(),
        source: e,
    }
}

fn header_for(path: &Path, md: &fs::Metadata, o: &CommitOptions) -> Result<FileHeader, RepoError> {
    let ft = md.file_type();
    let symlink = if ft.is_symlink() {
        let t = fs::read_link(path).map_err(|e| err(path, "readlink", e))?;
        t.to_str()
            .ok_or_else(|| {
                RepoError::Usage(format!("{}: symlink target is not UTF-8", path.display()))
            })?
            .to_string()
    } else if ft.is_file() {
        String::new()
    } else {
        let kind = if ft.is_block_device() || ft.is_char_device() {
            "device node"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_fifo() {
            "FIFO"
        } else {
            "special file"
        };
        return Err(RepoError::Usage(format!(
            "{}: cannot commit a {kind} (OSTree repositories hold only regular files, symlinks and directories); remove it from the tree",
            path.display()
        )));
    };
    Ok(FileHeader {
        uid: o.owner_uid.unwrap_or(md.uid()),
        gid: o.owner_gid.unwrap_or(md.gid()),
        mode: md.mode(),
        symlink,
        xattrs: read_xattrs(path)?,
    })
}

fn write_file(w: &Walk, path: &Path, rel: &Path, md: &fs::Metadata) -> Result<Checksum, RepoError> {
    if md.is_file() {
        let known = match w.devino.as_ref().and_then(|d| d.lookup(md)) {
            Some(c) => Some((c, &w.stats.devino)),
            None => w
                .cache
                .as_ref()
                .and_then(|c| c.lookup(rel, md))
                .map(|c| (c, &w.stats.stat_cache)),
        };
        if let Some((c, n)) = known.filter(|(c, _)| w.store.has_object(c, ObjectType::File)) {
            n.fetch_add(1, Ordering::Relaxed);
            if let Some(cache) = &w.cache {
                cache.record(rel, md, c);
            }
            return Ok(c);
        }
    }
    let h = header_for(path, md, w.o)?;
    debug_assert!(matches!(h.mode & S_IFMT, S_IFREG | S_IFLNK));
    if h.is_symlink() {
        return w.store.write_content(&h, &mut std::io::empty(), 0, None);
    }
    let mut f = fs::File::open(path).map_err(|e| err(path, "open", e))?;
    let c = w.store.write_content(&h, &mut f, md.len(), None)?;
    w.stats.read.fetch_add(1, Ordering::Relaxed);
    if let Some(cache) = &w.cache {
        cache.record(rel, md, c);
    }
    Ok(c)
}

enum Entry {
    File(String, Checksum),
    Dir(String, Checksum, Checksum),
}

/// Writes the tree under `dir` and returns (dirtree, dirmeta) checksums (no caches).
pub fn write_tree(
    store: &Store,
    dir: &Path,
    o: &CommitOptions,
) -> Result<(Checksum, Checksum), RepoError> {
    let w = Walk {
        store,
        o,
        cache: None,
        devino: None,
        stats: Counters::default(),
    };
    walk(&w, dir, Path::new(""))
}

/// Writes the tree under `dir` (`rel` below the committed root).
fn walk(w: &Walk, dir: &Path, rel: &Path) -> Result<(Checksum, Checksum), RepoError> {
    let (store, o) = (w.store, w.o);
    let md = fs::symlink_metadata(dir).map_err(|e| err(dir, "stat", e))?;
    if !md.is_dir() {
        return Err(RepoError::Usage(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    let meta = DirMeta {
        uid: o.owner_uid.unwrap_or(md.uid()),
        gid: o.owner_gid.unwrap_or(md.gid()),
        mode: md.mode(),
        xattrs: read_xattrs(dir)?,
    };
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| err(dir, "read directory", e))? {
        let e = e.map_err(|e| err(dir, "read directory", e))?;
        let name = e.file_name().into_string().map_err(|n| {
            RepoError::Usage(format!("{}: file name {n:?} is not UTF-8", dir.display()))
        })?;
        names.push(name);
    }
    let entries: Vec<Entry> = names
        .into_par_iter()
        .map(|name| {
            let p = dir.join(&name);
            let r = rel.join(&name);
            let md = fs::symlink_metadata(&p).map_err(|e| err(&p, "stat", e))?;
            if md.is_dir() {
                let (t, m) = walk(w, &p, &r)?;
                Ok(Entry::Dir(name, t, m))
            } else {
                let c = write_file(w, &p, &r, &md)?;
                Ok(Entry::File(name, c))
            }
        })
        .collect::<Result<_, RepoError>>()?;
    let mut tree = DirTree::default();
    for e in entries {
        match e {
            Entry::File(n, c) => tree.files.push((n, c)),
            Entry::Dir(n, t, m) => tree.dirs.push((n, t, m)),
        }
    }
    let t = store.write_meta(ObjectType::DirTree, &tree.serialize())?;
    let m = store.write_meta(ObjectType::DirMeta, &meta.serialize())?;
    Ok((t, m))
}

/// Commits `dir`; updates the branch ref when one is given. Returns the commit checksum.
pub fn commit_dir(store: &Store, dir: &Path, o: &CommitOptions) -> Result<Checksum, RepoError> {
    commit_dir_stats(store, dir, o).map(|(c, _)| c)
}

/// [`commit_dir`], also saying how each regular file's checksum was found.
pub fn commit_dir_stats(
    store: &Store,
    dir: &Path,
    o: &CommitOptions,
) -> Result<(Checksum, CommitStats), RepoError> {
    if let Some(b) = &o.branch {
        super::store::validate_ref(b)?;
    }
    let txn = store.begin()?;
    // Overrides change every file's header: a cache made with other ones does not apply.
    let options = format!("{:?} {:?}", o.owner_uid, o.owner_gid);
    let cache = (!o.no_stat_cache)
        .then(|| StatCache::load(StatCache::path_for(&store.path, dir), options.as_bytes()));
    // Hard links of objects are those objects only while no override rewrites their headers.
    let devino = (o.link_checkout_speedup
        && store.mode != Mode::Archive
        && o.owner_uid.is_none()
        && o.owner_gid.is_none())
    .then(|| DevIno::scan(&store.path.join("objects"), "file"));
    let w = Walk {
        store: &txn,
        o,
        cache,
        devino,
        stats: Counters::default(),
    };
    let root = walk(&w, dir, Path::new(""))?;
    let Walk { cache, stats, .. } = w;
    let csum = commit_root(store, txn, root, o)?;
    if let Some(cache) = cache {
        // Only a hint: a commit that could not save it is still a good commit.
        let _ = cache.save();
    }
    let stats = CommitStats {
        read: stats.read.into_inner(),
        stat_cache: stats.stat_cache.into_inner(),
        devino: stats.devino.into_inner(),
    };
    Ok((csum, stats))
}

/// Commits an existing root (dirtree, dirmeta), as `commit --tree=ref=REV` does.
pub fn commit_tree(
    store: &Store,
    root: (Checksum, Checksum),
    o: &CommitOptions,
) -> Result<Checksum, RepoError> {
    if let Some(b) = &o.branch {
        super::store::validate_ref(b)?;
    }
    let txn = store.begin()?;
    commit_root(store, txn, root, o)
}

/// Writes the commit object for `root` in `txn`, commits it and moves the branch.
fn commit_root(
    store: &Store,
    txn: Transaction,
    (root_tree, root_meta): (Checksum, Checksum),
    o: &CommitOptions,
) -> Result<Checksum, RepoError> {
    let parent = if o.no_parent {
        None
    } else if let Some(p) = o.parent {
        Some(p)
    } else if let Some(b) = &o.branch {
        store.read_ref(b)?
    } else {
        None
    };
    if o.skip_if_unchanged {
        if let Some(p) = parent {
            let pc = Commit::parse(&store.read_meta(&p, ObjectType::Commit)?)
                .map_err(|e| RepoError::Corrupt(format!("commit {p}: {e}")))?;
            if (pc.root_tree, pc.root_meta) == (root_tree, root_meta) {
                txn.commit()?;
                return Ok(p);
            }
        }
    }
    let mut metadata: Vec<(String, Type, Value)> = Vec::new();
    for (k, v) in &o.metadata_strings {
        if let Some(e) = metadata.iter_mut().find(|e| &e.0 == k) {
            e.2 = Value::Str(v.clone());
        } else {
            metadata.push((k.clone(), Type::Str('s'), Value::Str(v.clone())));
        }
    }
    // As ostree: the branch, or an empty list for a commit without one (`--orphan`).
    metadata.push((
        "ostree.ref-binding".into(),
        Type::Array(Box::new(Type::Str('s'))),
        Value::Array(o.branch.iter().map(|b| Value::Str(b.clone())).collect()),
    ));
    let c = Commit {
        metadata,
        parent,
        subject: o.subject.clone(),
        body: o.body.clone(),
        timestamp: o.timestamp,
        root_tree,
        root_meta,
    };
    let bytes = c
        .serialize()
        .map_err(|e| RepoError::Usage(format!("cannot write the commit: {e}")))?;
    let csum = txn.write_meta(ObjectType::Commit, &bytes)?;
    txn.commit()?;
    if let Some(b) = &o.branch {
        store.write_ref(b, &csum)?;
    }
    Ok(csum)
}
