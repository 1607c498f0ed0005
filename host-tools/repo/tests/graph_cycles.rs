//! Property test of the graph walks (`atomboot_repo::graph`, fsck's metadata pass, prune's reachable
//! set) over random object graphs in memory, cycles included: every walk ends, within the bounds the
//! graph's size gives, with the error that names the cycle. The `repo_cycles` fuzz target
//! checks the same over inputs a fuzzer grows.

use atomboot_repo::graph::{self, History, HistoryStep, MemObjects};
use atomboot_repo::objects::{Checksum, Commit, DirMeta, DirTree, ObjectType, S_IFDIR};
use atomboot_repo::{fsck, prune, RepoError};
use proptest::prelude::*;

const TREES: u8 = 6;
const COMMITS: u8 = 4;

fn tree(i: u8) -> Checksum {
    Checksum([1 + i % TREES; 32])
}

fn commit(i: u8) -> Checksum {
    Checksum([0x40 + i % COMMITS; 32])
}

/// Dirtree `i` holds subdirectories naming the dirtrees in `subdirs[i]`; commit `i` has root `roots[i]`
/// and parent `parents[i]` (`None`: no parent; `Some(COMMITS)`: a parent that is not stored).
fn build(subdirs: &[Vec<u8>], roots: &[u8], parents: &[Option<u8>]) -> MemObjects {
    let meta = DirMeta {
        uid: 0,
        gid: 0,
        mode: S_IFDIR | 0o755,
        xattrs: vec![],
    }
    .serialize();
    let m = Checksum::of(&meta);
    let mut o = MemObjects::default();
    o.0.insert((m, ObjectType::DirMeta), meta);
    for (i, subs) in subdirs.iter().enumerate() {
        let dirs = subs
            .iter()
            .enumerate()
            .map(|(k, &j)| (format!("d{k}"), tree(j), m))
            .collect();
        let t = DirTree {
            files: vec![],
            dirs,
        };
        o.0.insert((tree(i as u8), ObjectType::DirTree), t.serialize());
    }
    for (i, (&root, &parent)) in roots.iter().zip(parents).enumerate() {
        let c = Commit {
            metadata: vec![],
            parent: parent.map(|p| {
                if p >= COMMITS {
                    Checksum([0xee; 32])
                } else {
                    commit(p)
                }
            }),
            subject: String::new(),
            body: String::new(),
            timestamp: i as u64,
            root_tree: tree(root),
            root_meta: m,
        };
        o.0.insert(
            (commit(i as u8), ObjectType::Commit),
            c.serialize().unwrap(),
        );
    }
    o
}

proptest! {
    #[test]
    fn walks_end_on_any_graph(
        subdirs in prop::collection::vec(prop::collection::vec(0..TREES, 0..3), TREES as usize),
        roots in prop::collection::vec(0..TREES, COMMITS as usize),
        parents in prop::collection::vec(prop::option::of(0..=COMMITS), COMMITS as usize),
    ) {
        let o = build(&subdirs, &roots, &parents);
        let heads: Vec<Checksum> = (0..COMMITS).map(commit).collect();
        for &h in &heads {
            let steps: Vec<_> = History::new(&o, h, "h").collect();
            prop_assert!(steps.len() <= COMMITS as usize + 1);
            // A history ends in a commit without parent, a parent not fetched, or a loop.
            match steps.last() {
                Some(Ok(HistoryStep::Commit(_, c))) => prop_assert!(c.parent.is_none()),
                Some(Ok(HistoryStep::NotFetched(c))) => prop_assert_eq!(*c, Checksum([0xee; 32])),
                Some(Err(RepoError::Cycle(m))) => prop_assert!(m.contains("loops back")),
                other => prop_assert!(false, "history ended with {:?}", other),
            }
            let root = tree(roots[(h.0[0] - 0x40) as usize]);
            let mut visited = 0usize;
            let r = graph::walk_dirs(&o, &root, "/", true, &mut |_, _| {
                visited += 1;
                Ok::<(), RepoError>(())
            });
            // Without a cycle, at most TREES levels of at most 2 entries each.
            prop_assert!(visited < 2usize.pow(u32::from(TREES) + 1));
            if let Err(e) = r {
                prop_assert!(matches!(e, RepoError::Cycle(_)), "{:?}", e);
            }
        }
        // The objects are stored under names that are not their checksums (no real graph has a cycle), so
        // fsck finds each head corrupt and follows nothing from it; prune follows the names.
        let (report, files) = fsck::check_meta(&o, heads.clone());
        prop_assert_eq!(report.errors.len(), COMMITS as usize, "{:?}", report.errors);
        prop_assert!(files.is_empty());
        let keep = prune::reachable(&o, heads, None).unwrap();
        for c in &report.checked_commits {
            prop_assert!(keep.contains(&(*c, ObjectType::Commit)));
        }
        // Every kept dirtree is one a head's root reaches.
        let kept_trees = keep.iter().filter(|k| k.1 == ObjectType::DirTree).count();
        prop_assert!(kept_trees <= TREES as usize);
    }
}
