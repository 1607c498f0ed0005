//! `prune`: delete objects not reachable from any commit object (ostree's default), or with
//! `--refs-only [--keep-younger-than]` from the refs.

use super::graph::MetaObjects;
use super::lock::{LockKind, RepoLock};
use super::objects::{Checksum, Commit, DirTree, ObjectType};
use super::store::{fsync_dir, Mode, Store};
use super::RepoError;
use std::collections::HashSet;
use std::fs;

/// What prune did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneReport {
    pub total: usize,
    pub deleted: usize,
    pub bytes_freed: u64,
    /// Bytes of abandoned staging directories and old temporary files reclaimed from `tmp/`.
    pub tmp_freed: u64,
}

fn ext_type(ext: &str, mode: Mode) -> Option<ObjectType> {
    Some(match ext {
        "commit" => ObjectType::Commit,
        "dirtree" => ObjectType::DirTree,
        "dirmeta" => ObjectType::DirMeta,
        "commitmeta" => ObjectType::CommitMeta,
        "filez" if mode == Mode::Archive => ObjectType::File,
        "file" if mode != Mode::Archive => ObjectType::File,
        _ => return None,
    })
}

/// Keeps every commit a ref points to and its ancestors (only those with `timestamp >= keep_younger_than`
/// when given), and all objects they reference; deletes the rest, then reclaims `tmp/`
/// ([`Store::cleanup_tmp`]). Holds the repository's exclusive lock throughout: no pull or commit runs
/// meanwhile, so nothing they add can be taken for unreachable.
pub fn prune_refs_only(
    store: &Store,
    keep_younger_than: Option<u64>,
) -> Result<PruneReport, RepoError> {
    let _lock = RepoLock::acquire(&store.path, LockKind::Exclusive)?;
    let heads = store.list_refs()?.into_iter().map(|r| r.1).collect();
    prune_from(store, heads, keep_younger_than)
}

/// ostree's `prune` without `--refs-only`: every commit object in the repository is kept with all it
/// references, whether a ref names it or not; what no commit reaches (the leftovers of an interrupted
/// commit, objects of deleted commits) is deleted.
pub fn prune_unreachable(store: &Store) -> Result<PruneReport, RepoError> {
    let _lock = RepoLock::acquire(&store.path, LockKind::Exclusive)?;
    let mut heads = store
        .list_refs()?
        .into_iter()
        .map(|r| r.1)
        .collect::<Vec<_>>();
    heads.extend(store.commits_starting_with("")?);
    prune_from(store, heads, None)
}

fn prune_from(
    store: &Store,
    heads: Vec<Checksum>,
    keep_younger_than: Option<u64>,
) -> Result<PruneReport, RepoError> {
    // The caller holds the exclusive lock from before it listed `heads`.
    let keep = reachable(store, heads, keep_younger_than)?;
    let mut rep = PruneReport::default();
    let objs = store.path.join("objects");
    let rd = fs::read_dir(&objs).map_err(|e| RepoError::Io {
        path: objs.clone(),
        what: "read directory".into(),
        source: e,
    })?;
    for d in rd.flatten() {
        let prefix = d.file_name().to_string_lossy().into_owned();
        let Ok(files) = fs::read_dir(d.path()) else {
            continue;
        };
        let mut changed = false;
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some((rest, ext)) = name.split_once('.') else {
                continue;
            };
            let (Some(c), Some(t)) = (
                Checksum::from_hex(&format!("{prefix}{rest}")),
                ext_type(ext, store.mode),
            ) else {
                continue;
            };
            rep.total += 1;
            if keep.contains(&(c, t)) {
                continue;
            }
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(f.path()).map_err(|e| RepoError::Io {
                path: f.path(),
                what: "delete object".into(),
                source: e,
            })?;
            changed = true;
            rep.deleted += 1;
            rep.bytes_freed += size;
        }
        if changed {
            fsync_dir(&d.path())?;
        }
    }
    rep.tmp_freed = store.cleanup_tmp()?;
    Ok(rep)
}

/// What prune keeps: the commits from `heads` and their ancestors (each ancestor only while its
/// `timestamp >= keep_younger_than`, when given; a commit not in the repository ends its chain), with
/// their commitmeta, and every dirtree, dirmeta and content object they reach. Each object is visited
/// once, so it ends on cyclic graphs too.
pub fn reachable(
    src: &impl MetaObjects,
    heads: Vec<Checksum>,
    keep_younger_than: Option<u64>,
) -> Result<HashSet<(Checksum, ObjectType)>, RepoError> {
    let mut keep: HashSet<(Checksum, ObjectType)> = HashSet::new();
    let mut trees = Vec::new();
    for head in heads {
        let mut cur = Some(head);
        let mut first = true;
        while let Some(c) = cur.take() {
            if !src.has_object(&c, ObjectType::Commit) || keep.contains(&(c, ObjectType::Commit)) {
                break;
            }
            let cm = Commit::parse(&src.read_meta(&c, ObjectType::Commit)?)
                .map_err(|e| RepoError::Corrupt(format!("commit {c}: {e}")))?;
            if !first && keep_younger_than.is_some_and(|t| cm.timestamp < t) {
                break;
            }
            first = false;
            keep.insert((c, ObjectType::Commit));
            keep.insert((c, ObjectType::CommitMeta));
            keep.insert((cm.root_meta, ObjectType::DirMeta));
            trees.push(cm.root_tree);
            cur = cm.parent;
        }
    }
    while let Some(t) = trees.pop() {
        if !keep.insert((t, ObjectType::DirTree)) {
            continue;
        }
        let dt = DirTree::parse(&src.read_meta(&t, ObjectType::DirTree)?)
            .map_err(|e| RepoError::Corrupt(format!("dirtree {t}: {e}")))?;
        for (_, f) in dt.files {
            keep.insert((f, ObjectType::File));
        }
        for (_, tc, mc) in dt.dirs {
            keep.insert((mc, ObjectType::DirMeta));
            trees.push(tc);
        }
    }
    Ok(keep)
}
