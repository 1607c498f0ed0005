//! Static deltas in OSTree's format (`ostree static-delta`, `ostree-repo-static-delta-*.c` of 2022.7):
//! one superblock naming the target commit and its parts, parts of xz-compressed operations that make
//! the new objects (bsdiff patches for modified files), fallback objects fetched on their own.
//! Format notes: docs/FORMATS.md, section "Static deltas".

pub mod apply;
pub mod fetch;
pub mod generate;
pub mod name;
pub mod part;
pub mod superblock;
pub mod varint;

pub use generate::{generate, GenerateOptions};
pub use name::DeltaName;
pub use superblock::Superblock;

use crate::objects::{Checksum, Commit, DirTree, ObjectType};
use crate::store::Store;
use crate::RepoError;
use std::fs;
use std::path::{Path, PathBuf};

/// Errors of static deltas; each names the delta, part or object concerned.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("{0:?} is not a delta name (FROM-TO or TO, 64 hex digits each)")]
    BadName(String),
    #[error("static delta {0} not found in {1} (list them with `static-delta list`)")]
    NotFound(DeltaName, PathBuf),
    #[error("malformed delta {what}: {why}")]
    Malformed { what: String, why: String },
    #[error("checksum mismatch in static delta {part}: expected {expected}, got {got}; the delta is corrupt, regenerate it")]
    PartChecksum {
        part: String,
        expected: Checksum,
        got: Checksum,
    },
    #[error("superblock checksum mismatch for static delta {name}: the summary lists {expected}, got {got}")]
    SuperblockChecksum {
        name: Box<DeltaName>,
        expected: Checksum,
        got: Checksum,
    },
    #[error("superblock is for delta {found}, not {expected}")]
    WrongTarget {
        expected: Box<DeltaName>,
        found: Box<DeltaName>,
    },
    #[error("superblock's commit object has checksum {got}, not the target {to} it names")]
    CommitMismatch { to: Checksum, got: Checksum },
    #[error("object {object} made by the delta does not match its checksum ({detail}); nothing stored for it")]
    ObjectChecksum { object: Checksum, detail: String },
    #[error("the delta reads object {0}, which this repository does not have")]
    MissingSource(Checksum),
    #[error("commit {0}, the delta's source, is not in the repository")]
    FromMissing(Checksum),
    #[error("cannot apply offline: the delta has {0} fallback objects, which only a pull fetches")]
    OfflineFallbacks(usize),
    #[error("after applying the delta, {missing} objects of commit {commit} are still missing (first: {first})")]
    Incomplete {
        commit: Checksum,
        missing: usize,
        first: String,
    },
    #[error("xz: {0}")]
    Compression(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl DeltaError {
    pub(crate) fn malformed(what: &str, why: String) -> DeltaError {
        DeltaError::Malformed {
            what: what.to_string(),
            why,
        }
    }
}

fn io(p: &Path, what: &str, e: std::io::Error) -> DeltaError {
    DeltaError::Repo(RepoError::Io {
        path: p.to_path_buf(),
        what: what.to_string(),
        source: e,
    })
}

/// The deltas stored in a repository (`deltas/*/*/superblock`), sorted.
pub fn list(store: &Store) -> Result<Vec<DeltaName>, DeltaError> {
    let root = store.path.join("deltas");
    let mut out = Vec::new();
    let rd = match fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(&root, "read directory", e)),
    };
    for a in rd.flatten() {
        let Ok(sub) = fs::read_dir(a.path()) else {
            continue;
        };
        for b in sub.flatten() {
            if !b.path().join("superblock").is_file() {
                continue;
            }
            let (Some(x), Some(y)) = (
                a.file_name().to_str().map(str::to_string),
                b.file_name().to_str().map(str::to_string),
            ) else {
                continue;
            };
            if let Some(n) = DeltaName::from_dirs(&x, &y) {
                out.push(n);
            }
        }
    }
    out.sort_by_key(|n| n.to_string());
    Ok(out)
}

/// Removes a delta's directory.
pub fn delete(store: &Store, name: &DeltaName) -> Result<(), DeltaError> {
    let d = store.path.join(name.dir());
    if !d.is_dir() {
        return Err(DeltaError::NotFound(*name, store.path.clone()));
    }
    fs::remove_dir_all(&d).map_err(|e| io(&d, "remove", e))
}

/// Reads and parses a stored delta's superblock, checking it names the delta it is stored as.
pub fn read_superblock(
    store: &Store,
    name: &DeltaName,
) -> Result<(Vec<u8>, Superblock), DeltaError> {
    let p = store.path.join(name.superblock_path());
    let b = fs::read(&p).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DeltaError::NotFound(*name, store.path.clone())
        } else {
            io(&p, "read", e)
        }
    })?;
    let sb = Superblock::parse(&b)?;
    if sb.name != *name {
        return Err(DeltaError::WrongTarget {
            expected: Box::new(*name),
            found: Box::new(sb.name),
        });
    }
    Ok((b, sb))
}

/// The bytes of part `i` and whether they are inline (then not checksummed, as ostree).
pub type PartSource<'a> = dyn Fn(usize) -> Result<Vec<u8>, DeltaError> + Sync + 'a;

/// Applies the parts of a delta whose objects `store` lacks: each part's bytes come from `fetch_part`
/// (inline parts from the superblock), are checked against the header's checksum, planned and run.
/// Parts are fetched and run in parallel (their read sources are objects of the source commit, never
/// of another part). Returns the number of parts run. The target commit is not written here.
pub fn apply_parts(
    store: &Store,
    sb: &Superblock,
    fetch_part: &PartSource<'_>,
) -> Result<usize, DeltaError> {
    use rayon::prelude::*;
    if let Some(from) = &sb.name.from {
        if !store.has_object(from, ObjectType::Commit) {
            return Err(DeltaError::FromMissing(*from));
        }
    }
    let todo: Vec<usize> = (0..sb.parts.len())
        .filter(|&i| {
            !sb.parts[i]
                .objects
                .iter()
                .all(|o| store.has_object(&o.checksum, o.objtype))
        })
        .collect();
    todo.par_iter().try_for_each(|&i| {
        let h = &sb.parts[i];
        let what = format!("{} part {i}", sb.name);
        let payload = match sb.inline_part(i) {
            Some(b) => part::decode(&b, None, &what)?,
            None => {
                let b = fetch_part(i)?;
                part::decode(&b, Some(&h.checksum), &what)?
            }
        };
        let (builds, _) = apply::plan(&h.objects, &payload).map_err(|e| prefix(e, &what))?;
        apply::execute(store, &payload, &builds)
    })?;
    Ok(todo.len())
}

fn prefix(e: DeltaError, what: &str) -> DeltaError {
    match e {
        DeltaError::Malformed { what: w, why } => DeltaError::Malformed {
            what: format!("{what}: {w}"),
            why,
        },
        o => o,
    }
}

/// Objects reachable from `commit` that `store` lacks (the commit itself included).
pub fn missing_objects(
    store: &Store,
    commit: &Checksum,
) -> Result<Vec<(ObjectType, Checksum)>, DeltaError> {
    let mut missing = Vec::new();
    if !store.has_object(commit, ObjectType::Commit) {
        return Ok(vec![(ObjectType::Commit, *commit)]);
    }
    let c = Commit::parse(&store.read_meta(commit, ObjectType::Commit)?)
        .map_err(|e| RepoError::Corrupt(format!("commit {commit}: {e}")))?;
    let mut todo = vec![(c.root_tree, c.root_meta)];
    let mut seen = std::collections::HashSet::new();
    while let Some((t, m)) = todo.pop() {
        if !seen.insert(t) {
            continue;
        }
        if !store.has_object(&m, ObjectType::DirMeta) {
            missing.push((ObjectType::DirMeta, m));
        }
        if !store.has_object(&t, ObjectType::DirTree) {
            missing.push((ObjectType::DirTree, t));
            continue;
        }
        let dt = DirTree::parse(&store.read_meta(&t, ObjectType::DirTree)?)
            .map_err(|e| RepoError::Corrupt(format!("dirtree {t}: {e}")))?;
        for (_, f) in &dt.files {
            if !store.has_object(f, ObjectType::File) {
                missing.push((ObjectType::File, *f));
            }
        }
        for (_, tc, mc) in &dt.dirs {
            todo.push((*tc, *mc));
        }
    }
    Ok(missing)
}

/// `static-delta apply-offline PATH`: PATH is a delta directory (with `superblock` and parts `0`, `1`,
/// ...) or a superblock file. Everything is written in one transaction: a delta that fails leaves the
/// repository as it was. Returns the target commit.
pub fn apply_offline(store: &Store, path: &Path) -> Result<Checksum, DeltaError> {
    let (dir, sb_path) = if path.is_dir() {
        (path.to_path_buf(), path.join("superblock"))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    };
    let b = fs::read(&sb_path).map_err(|e| io(&sb_path, "read", e))?;
    let sb = Superblock::parse(&b)?;
    if !sb.fallbacks.is_empty() {
        return Err(DeltaError::OfflineFallbacks(sb.fallbacks.len()));
    }
    let txn = store.begin()?;
    let fetch = |i: usize| {
        let p = dir.join(i.to_string());
        fs::read(&p).map_err(|e| io(&p, "read delta part", e))
    };
    apply_parts(&txn, &sb, &fetch)?;
    let to = sb.name.to;
    txn.write_meta_verified(ObjectType::Commit, &to, &sb.commit)?;
    let missing = missing_objects(&txn, &to)?;
    if let Some((t, c)) = missing.first() {
        return Err(DeltaError::Incomplete {
            commit: to,
            missing: missing.len(),
            first: format!("{} {c}", t.name()),
        });
    }
    txn.commit()?;
    Ok(to)
}

/// Stores the detached metadata of `commit` (`.commitmeta`, named by the commit's checksum).
pub(crate) fn write_commitmeta(
    store: &Store,
    commit: &Checksum,
    data: &[u8],
) -> Result<(), RepoError> {
    use std::io::Write;
    let mut tmp = store.tmp_file()?;
    tmp.file_mut()
        .write_all(data)
        .and_then(|_| store.sync_unless_staged(tmp.file()))
        .map_err(|e| RepoError::Io {
            path: tmp.shown().to_path_buf(),
            what: "write object".into(),
            source: e,
        })?;
    tmp.set_mode(0o644)?;
    store.commit_tmp(tmp, commit, ObjectType::CommitMeta)
}

/// Writes a delta file readable by a web server (0644), atomically.
pub(crate) fn write_public(path: &Path, data: &[u8]) -> Result<(), RepoError> {
    use std::os::unix::fs::PermissionsExt;
    crate::store::write_atomic(path, data)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(|e| RepoError::Io {
        path: path.to_path_buf(),
        what: "chmod".into(),
        source: e,
    })
}
