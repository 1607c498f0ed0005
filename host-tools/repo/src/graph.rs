//! Walks over the object graph (commit -> parent, commit -> root dirtree, dirtree -> subdirectories) that
//! end on every graph, including the cyclic ones a damaged disk or a hostile remote can make: a commit
//! that is its own ancestor, a dirtree that contains itself. The walks read metadata objects through
//! [`MetaObjects`]; the repository's [`Store`] is one, and [`MemObjects`] (a map) lets tests and the
//! `repo_cycles` fuzz target run the very same walks without a disk.
//!
//! Used by `log` ([`History`]), `ls -R` ([`walk_dirs`]), path lookups ([`lookup_path`]), `fsck`
//! ([`super::fsck::check_meta`]) and `prune` ([`super::prune::reachable`]).

use super::objects::{Checksum, Commit, DirTree, ObjectType};
use super::store::Store;
use super::{Node, RepoError};
use std::collections::{HashMap, HashSet};

/// Deepest directory nesting a walk follows (OSTree's `OSTREE_MAX_RECURSION`).
pub const MAX_DIR_DEPTH: usize = 256;

/// Where the walks read metadata objects (commits, dirtrees, dirmetas) from.
pub trait MetaObjects {
    /// The object's bytes; [`RepoError::MissingObject`] when it is not there.
    fn read_meta(&self, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError>;
    /// Whether the object is there.
    fn has_object(&self, c: &Checksum, t: ObjectType) -> bool;
}

impl MetaObjects for Store {
    fn read_meta(&self, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError> {
        Store::read_meta(self, c, t)
    }
    fn has_object(&self, c: &Checksum, t: ObjectType) -> bool {
        Store::has_object(self, c, t)
    }
}

/// Metadata objects in memory, by checksum and type. The checksum is the object's name, not checked
/// against its bytes (as a damaged store's names need not match either).
#[derive(Debug, Default, Clone)]
pub struct MemObjects(pub HashMap<(Checksum, ObjectType), Vec<u8>>);

impl MetaObjects for MemObjects {
    fn read_meta(&self, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError> {
        self.0
            .get(&(*c, t))
            .cloned()
            .ok_or_else(|| RepoError::MissingObject(format!("{} object {c}", t.name())))
    }
    fn has_object(&self, c: &Checksum, t: ObjectType) -> bool {
        self.0.contains_key(&(*c, t))
    }
}

/// Reads and parses a commit object.
pub fn read_commit(src: &impl MetaObjects, c: &Checksum) -> Result<Commit, RepoError> {
    let d = src.read_meta(c, ObjectType::Commit)?;
    Commit::parse(&d).map_err(|e| RepoError::Corrupt(format!("commit {c}: {e}")))
}

/// Reads and parses a dirtree object.
pub fn read_dirtree(src: &impl MetaObjects, c: &Checksum) -> Result<DirTree, RepoError> {
    let d = src.read_meta(c, ObjectType::DirTree)?;
    DirTree::parse(&d).map_err(|e| RepoError::Corrupt(format!("dirtree {c}: {e}")))
}

/// Finds `path` (absolute or relative to the root) in a commit. One dirtree read per path component, so
/// it ends on a dirtree that contains itself too.
pub fn lookup_path(
    src: &impl MetaObjects,
    commit: &Checksum,
    path: &str,
) -> Result<Node, RepoError> {
    let c = read_commit(src, commit)?;
    let mut node = Node::Dir(c.root_tree, c.root_meta);
    for comp in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        let Node::Dir(t, _) = node else {
            return Err(RepoError::Usage(format!(
                "{path}: not a directory in commit {commit}"
            )));
        };
        let tree = read_dirtree(src, &t)?;
        node = if let Some((_, fc)) = tree.files.iter().find(|f| f.0 == comp) {
            Node::File(*fc)
        } else if let Some((_, tc, mc)) = tree.dirs.iter().find(|d| d.0 == comp) {
            Node::Dir(*tc, *mc)
        } else {
            return Err(RepoError::Usage(format!(
                "{path}: no such file in commit {commit}"
            )));
        };
    }
    Ok(node)
}

/// One step of [`History`].
#[derive(Debug)]
pub enum HistoryStep {
    /// A commit that is in the repository, parsed.
    Commit(Checksum, Box<Commit>),
    /// A commit named as a parent but not fetched (a `--depth` pull): the history ends here.
    NotFetched(Checksum),
}

/// A commit's history, newest first, as `log` prints it: parent after parent until a commit without a
/// parent or one not fetched. A history that comes back to a commit it already passed is
/// [`RepoError::Cycle`], returned once, after which the walk ends.
pub struct History<'a, S: MetaObjects> {
    src: &'a S,
    next: Option<Checksum>,
    seen: HashSet<Checksum>,
    start: String,
}

impl<'a, S: MetaObjects> History<'a, S> {
    /// The history of `commit`; `start` is how the user named it (for the error message).
    pub fn new(src: &'a S, commit: Checksum, start: &str) -> History<'a, S> {
        History {
            src,
            next: Some(commit),
            seen: HashSet::new(),
            start: start.to_string(),
        }
    }
}

impl<S: MetaObjects> Iterator for History<'_, S> {
    type Item = Result<HistoryStep, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = self.next.take()?;
        if !self.seen.insert(c) {
            return Some(Err(RepoError::Cycle(format!(
                "commit {c}: the history of {} loops back to it",
                self.start
            ))));
        }
        if !self.src.has_object(&c, ObjectType::Commit) {
            return Some(Ok(HistoryStep::NotFetched(c)));
        }
        Some(read_commit(self.src, &c).map(|cm| {
            self.next = cm.parent;
            HistoryStep::Commit(c, Box::new(cm))
        }))
    }
}

/// Visits the entries below the directory `tree` (at `path`) in `ls` order: a directory's files, then each
/// subdirectory followed, when `recursive`, by its own entries. `visit` gets each entry's path and node.
/// Errors: [`RepoError::Cycle`] for a dirtree inside itself, [`RepoError::TooDeep`] past
/// [`MAX_DIR_DEPTH`] levels, or the first error `visit` returns (which ends the walk).
pub fn walk_dirs<S: MetaObjects, E: From<RepoError>>(
    src: &S,
    tree: &Checksum,
    path: &str,
    recursive: bool,
    visit: &mut impl FnMut(&str, &Node) -> Result<(), E>,
) -> Result<(), E> {
    walk_below(src, tree, path, recursive, &mut Vec::new(), visit)
}

fn walk_below<S: MetaObjects, E: From<RepoError>>(
    src: &S,
    t: &Checksum,
    path: &str,
    recursive: bool,
    above: &mut Vec<Checksum>,
    visit: &mut impl FnMut(&str, &Node) -> Result<(), E>,
) -> Result<(), E> {
    if above.contains(t) {
        return Err(RepoError::Cycle(format!("{path}: dirtree {t} contains itself")).into());
    }
    if above.len() >= MAX_DIR_DEPTH {
        return Err(RepoError::TooDeep(format!(
            "{path}: directories nested deeper than {MAX_DIR_DEPTH} levels"
        ))
        .into());
    }
    let tree = read_dirtree(src, t).map_err(E::from)?;
    let join = |n: &str| {
        if path == "/" {
            format!("/{n}")
        } else {
            format!("{path}/{n}")
        }
    };
    for (n, c) in &tree.files {
        visit(&join(n), &Node::File(*c))?;
    }
    for (n, tc, mc) in &tree.dirs {
        let p = join(n);
        visit(&p, &Node::Dir(*tc, *mc))?;
        if recursive {
            above.push(*t);
            let r = walk_below(src, tc, &p, recursive, above, visit);
            above.pop();
            r?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{DirMeta, S_IFDIR};

    fn meta() -> (Checksum, Vec<u8>) {
        let m = DirMeta {
            uid: 0,
            gid: 0,
            mode: S_IFDIR | 0o755,
            xattrs: vec![],
        }
        .serialize();
        (Checksum::of(&m), m)
    }

    fn commit(parent: Option<Checksum>, root: Checksum, meta: Checksum) -> Vec<u8> {
        Commit {
            metadata: vec![],
            parent,
            subject: "s".into(),
            body: String::new(),
            timestamp: 0,
            root_tree: root,
            root_meta: meta,
        }
        .serialize()
        .unwrap()
    }

    /// Dirtree `a` holds `sub` -> `b`, and `b` holds `back` -> `a`; commit `c` is its own parent.
    fn cyclic() -> (MemObjects, Checksum) {
        let (m, mb) = meta();
        let (a, b, c) = (Checksum([1; 32]), Checksum([2; 32]), Checksum([3; 32]));
        let mut o = MemObjects::default();
        o.0.insert((m, ObjectType::DirMeta), mb);
        let t = |name: &str, to| {
            DirTree {
                files: vec![],
                dirs: vec![(name.to_string(), to, m)],
            }
            .serialize()
        };
        o.0.insert((a, ObjectType::DirTree), t("sub", b));
        o.0.insert((b, ObjectType::DirTree), t("back", a));
        o.0.insert((c, ObjectType::Commit), commit(Some(c), a, m));
        (o, c)
    }

    #[test]
    fn history_that_loops_is_a_cycle_error_once() {
        let (o, c) = cyclic();
        let steps: Vec<_> = History::new(&o, c, "main").collect();
        assert_eq!(steps.len(), 2);
        assert!(matches!(steps[0], Ok(HistoryStep::Commit(x, _)) if x == c));
        match &steps[1] {
            Err(RepoError::Cycle(m)) => assert!(m.contains("loops back to it"), "{m}"),
            other => panic!("expected a Cycle error, got {other:?}"),
        }
    }

    #[test]
    fn history_ends_at_a_parent_not_fetched() {
        let (m, mb) = meta();
        let (c, p) = (Checksum([5; 32]), Checksum([6; 32]));
        let mut o = MemObjects::default();
        o.0.insert((m, ObjectType::DirMeta), mb);
        o.0.insert((c, ObjectType::Commit), commit(Some(p), m, m));
        let steps: Vec<_> = History::new(&o, c, "main").map(Result::unwrap).collect();
        assert!(
            matches!(steps.as_slice(), [HistoryStep::Commit(..), HistoryStep::NotFetched(x)] if *x == p)
        );
    }

    #[test]
    fn recursive_walk_stops_at_a_dirtree_inside_itself() {
        let (o, _) = cyclic();
        let mut seen = Vec::new();
        let r = walk_dirs(&o, &Checksum([1; 32]), "/", true, &mut |p, _| {
            seen.push(p.to_string());
            Ok::<(), RepoError>(())
        });
        match r {
            Err(RepoError::Cycle(m)) => assert!(m.contains("contains itself"), "{m}"),
            other => panic!("expected a Cycle error, got {other:?}"),
        }
        assert_eq!(seen, ["/sub", "/sub/back"]);
    }

    #[test]
    fn walk_past_the_depth_bound_is_too_deep() {
        // 300 distinct dirtrees, each holding the next: no cycle, but deeper than the bound.
        let (m, mb) = meta();
        let mut o = MemObjects::default();
        o.0.insert((m, ObjectType::DirMeta), mb);
        let name = |i: u32| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            Checksum(b)
        };
        for i in 0..300 {
            let dirs = if i < 299 {
                vec![("d".to_string(), name(i + 1), m)]
            } else {
                vec![]
            };
            let t = DirTree {
                files: vec![],
                dirs,
            };
            o.0.insert((name(i), ObjectType::DirTree), t.serialize());
        }
        let r = walk_dirs(&o, &name(0), "/", true, &mut |_, _| Ok::<(), RepoError>(()));
        assert!(matches!(r, Err(RepoError::TooDeep(_))), "{r:?}");
        // Not recursive: one level only, no error.
        walk_dirs(
            &o,
            &name(0),
            "/",
            false,
            &mut |_, _| Ok::<(), RepoError>(()),
        )
        .unwrap();
    }

    #[test]
    fn lookup_through_a_cycle_follows_the_path_only() {
        let (o, c) = cyclic();
        let n = lookup_path(&o, &c, "/sub/back/sub/back/sub").unwrap();
        assert!(matches!(n, Node::Dir(t, _) if t == Checksum([2; 32])));
        match lookup_path(&o, &c, "/sub/nothing") {
            Err(RepoError::Usage(m)) => assert!(m.contains("no such file"), "{m}"),
            other => panic!("expected Usage, got {other:?}"),
        }
    }
}
