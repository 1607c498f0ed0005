//! `diff REV_A REV_B`: what changed between two commits, as `ostree diff` lists it (modified, then
//! removed, then added; an added or removed directory lists everything under it).

use super::objects::{Checksum, ObjectType};
use super::{Repo, RepoError};

/// The changes between two trees, as paths from the root (`/usr/etc/a`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeDiff {
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

impl TreeDiff {
    /// `ostree diff`'s text: `M    /path`, `D    /path`, `A    /path`, one per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (mark, list) in [
            ('M', &self.modified),
            ('D', &self.removed),
            ('A', &self.added),
        ] {
            for p in list {
                out.push_str(&format!("{mark}    {p}\n"));
            }
        }
        out
    }
}

/// One entry of a directory: a file (content checksum) or a directory (dirtree, dirmeta).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    File(Checksum),
    Dir(Checksum, Checksum),
}

fn entries(repo: &Repo, tree: &Checksum) -> Result<Vec<(String, Entry)>, RepoError> {
    let t = repo.read_dirtree(tree)?;
    let mut v: Vec<(String, Entry)> = t
        .files
        .into_iter()
        .map(|(n, c)| (n, Entry::File(c)))
        .collect();
    v.extend(
        t.dirs
            .into_iter()
            .map(|(n, tc, mc)| (n, Entry::Dir(tc, mc))),
    );
    Ok(v)
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn add_all(
    repo: &Repo,
    tree: &Checksum,
    path: &str,
    out: &mut Vec<String>,
) -> Result<(), RepoError> {
    for (n, e) in entries(repo, tree)? {
        let p = join(path, &n);
        out.push(p.clone());
        if let Entry::Dir(tc, _) = e {
            add_all(repo, &tc, &p, out)?;
        }
    }
    Ok(())
}

fn diff_trees(
    repo: &Repo,
    a: &Checksum,
    b: &Checksum,
    path: &str,
    d: &mut TreeDiff,
) -> Result<(), RepoError> {
    if a == b {
        return Ok(());
    }
    let ea = entries(repo, a)?;
    let eb = entries(repo, b)?;
    for (n, x) in &ea {
        let p = join(path, n);
        match eb.iter().find(|(m, _)| m == n).map(|e| e.1) {
            None => d.removed.push(p),
            Some(y) => match (x, y) {
                (Entry::File(c1), Entry::File(c2)) => {
                    if *c1 != c2 {
                        d.modified.push(p);
                    }
                }
                (Entry::Dir(t1, m1), Entry::Dir(t2, m2)) => {
                    if *m1 != m2 {
                        d.modified.push(p.clone());
                    }
                    diff_trees(repo, t1, &t2, &p, d)?;
                }
                _ => d.modified.push(p),
            },
        }
    }
    for (n, y) in &eb {
        if !ea.iter().any(|(m, _)| m == n) {
            let p = join(path, n);
            d.added.push(p.clone());
            if let Entry::Dir(tc, _) = y {
                add_all(repo, tc, &p, &mut d.added)?;
            }
        }
    }
    Ok(())
}

/// The differences from commit `a` to commit `b`.
pub fn diff_commits(repo: &Repo, a: &Checksum, b: &Checksum) -> Result<TreeDiff, RepoError> {
    let ca = repo.read_commit(a)?;
    let cb = repo.read_commit(b)?;
    let mut d = TreeDiff::default();
    if !repo.store.has_object(&ca.root_tree, ObjectType::DirTree) {
        return Err(RepoError::MissingObject(format!(
            "dirtree {}",
            ca.root_tree
        )));
    }
    diff_trees(repo, &ca.root_tree, &cb.root_tree, "/", &mut d)?;
    Ok(d)
}
