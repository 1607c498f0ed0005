//! fsck: verifies every object reachable from the refs (checksums recomputed, structure parsed).

use super::graph::MetaObjects;
use super::objects::{finish, Checksum, Commit, DirMeta, DirTree, ObjectType};
use super::store::Store;
use super::RepoError;
use rayon::prelude::*;
use sha2::Digest;
use std::collections::HashSet;
use std::io::Read;

/// What fsck looked at.
#[derive(Debug, Default, Clone)]
pub struct FsckReport {
    pub commits: usize,
    pub objects: usize,
    /// One line per problem (object and what is wrong).
    pub errors: Vec<String>,
    /// The objects found corrupt or unreadable (what `fsck --delete` removes).
    pub bad: Vec<(Checksum, ObjectType)>,
    /// Every commit checked (what `fsck --delete` marks partial so that a pull repairs it).
    pub checked_commits: Vec<Checksum>,
}

fn verify_meta(src: &impl MetaObjects, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, String> {
    let data = src
        .read_meta(c, t)
        .map_err(|e| format!("{} object {c}: {e}", t.name()))?;
    let got = Checksum::of(&data);
    if got != *c {
        return Err(format!(
            "{} object {c}: corrupted (content checksum is {got})",
            t.name()
        ));
    }
    Ok(data)
}

/// Verifies one content object; returns an error line.
pub fn verify_file(store: &Store, c: &Checksum) -> Result<(), String> {
    let (h, size, mut r) = store
        .open_content(c)
        .map_err(|e| format!("file object {c}: {e}"))?;
    let mut sha = h.checksum_start();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| format!("file object {c}: unreadable: {e}"))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        total += n as u64;
    }
    if total != size {
        return Err(format!(
            "file object {c}: truncated ({total} of {size} bytes)"
        ));
    }
    let got = finish(sha);
    if got != *c {
        return Err(format!(
            "file object {c}: corrupted (content checksum is {got})"
        ));
    }
    Ok(())
}

/// Checks all commits the refs point to and everything they reference (parents are followed when present).
pub fn fsck(store: &Store) -> Result<FsckReport, RepoError> {
    let heads = store.list_refs()?.into_iter().map(|(_, c)| c).collect();
    let (mut rep, files) = check_meta(store, heads);
    let mut ferrs: Vec<(String, Checksum)> = files
        .par_iter()
        .filter_map(|c| verify_file(store, c).err().map(|e| (e, *c)))
        .collect();
    ferrs.sort();
    for (e, c) in ferrs {
        rep.errors.push(e);
        rep.bad.push((c, ObjectType::File));
    }
    rep.objects += files.len();
    Ok(rep)
}

/// fsck's metadata pass: verifies the commits from `heads` with their present parents, every dirtree and
/// dirmeta they reach (each once, so it ends on cyclic graphs too), and returns the report so far (`objects`
/// counts the metadata objects) with the content objects still to verify.
pub fn check_meta(src: &impl MetaObjects, heads: Vec<Checksum>) -> (FsckReport, Vec<Checksum>) {
    let mut rep = FsckReport::default();
    let mut commits = heads;
    let mut seen_commits = HashSet::new();
    let mut trees = Vec::new();
    let mut metas = HashSet::new();
    while let Some(c) = commits.pop() {
        if !seen_commits.insert(c) {
            continue;
        }
        match verify_meta(src, &c, ObjectType::Commit)
            .and_then(|d| Commit::parse(&d).map_err(|e| format!("commit {c}: {e}")))
        {
            Ok(cm) => {
                rep.commits += 1;
                if let Some(p) = cm.parent {
                    if src.has_object(&p, ObjectType::Commit) {
                        commits.push(p);
                    }
                }
                trees.push(cm.root_tree);
                metas.insert(cm.root_meta);
            }
            Err(e) => {
                rep.errors.push(e);
                rep.bad.push((c, ObjectType::Commit));
            }
        }
    }
    let mut seen_trees = HashSet::new();
    let mut files = HashSet::new();
    while let Some(t) = trees.pop() {
        if !seen_trees.insert(t) {
            continue;
        }
        match verify_meta(src, &t, ObjectType::DirTree)
            .and_then(|d| DirTree::parse(&d).map_err(|e| format!("dirtree {t}: {e}")))
        {
            Ok(dt) => {
                files.extend(dt.files.iter().map(|f| f.1));
                for (_, tc, mc) in dt.dirs {
                    trees.push(tc);
                    metas.insert(mc);
                }
            }
            Err(e) => {
                rep.errors.push(e);
                rep.bad.push((t, ObjectType::DirTree));
            }
        }
    }
    for m in &metas {
        if let Err(e) = verify_meta(src, m, ObjectType::DirMeta).and_then(|d| {
            DirMeta::parse_object(&d)
                .map(|_| ())
                .map_err(|e| format!("dirmeta {m}: {e}"))
        }) {
            rep.errors.push(e);
            rep.bad.push((*m, ObjectType::DirMeta));
        }
    }
    rep.checked_commits = seen_commits.iter().copied().collect();
    rep.objects = seen_commits.len() + seen_trees.len() + metas.len();
    (rep, files.into_iter().collect())
}
