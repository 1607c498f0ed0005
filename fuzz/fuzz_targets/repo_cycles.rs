//! Cycles, as a damaged disk or a hostile remote would make them: commits that are their own ancestors,
//! dirtrees that contain themselves or each other, objects that do not parse, parents and subdirectories
//! that are missing. Every walk over the object graph runs on it, in memory ([`graph::MemObjects`]), the
//! same functions the verbs use: `log`'s history, `ls -R`'s walk, path lookups, fsck's metadata pass and
//! prune's reachable set. Each must end with a value or an error, never a crash or a loop, and they must
//! agree: every dirtree fsck reached is one prune keeps.
//!
//! Input (the low bits are `repo_cycles_disk`'s layout): up to 8 dirtrees, each a byte `n` (`n % 4`
//! entries; bit 0x40: store the dirtree's bytes cut in half, so it does not parse) then one byte per entry
//! (`j % 8`: the dirtree it names; bit 0x80: a file entry instead); then up to 4 commits, each a parent
//! byte (`% 4`; bit 0x80: a parent that is not stored) and a root byte (`% 8`).
#![no_main]

use atomboot_repo::graph::{self, History, MemObjects};
use atomboot_repo::objects::{Checksum, Commit, DirMeta, DirTree, ObjectType, S_IFDIR};
use atomboot_repo::{fsck, prune, Node, RepoError};
use libfuzzer_sys::fuzz_target;

fn tree_name(i: u8) -> Checksum {
    Checksum([i % 8 + 1; 32])
}

fn commit_name(i: u8) -> Checksum {
    Checksum([9 + i % 4; 32])
}

fn graph_of(data: &[u8]) -> (MemObjects, usize) {
    let meta = DirMeta {
        uid: 0,
        gid: 0,
        mode: S_IFDIR | 0o755,
        xattrs: vec![],
    }
    .serialize();
    let meta_id = Checksum::of(&meta);
    let mut o = MemObjects::default();
    o.0.insert((meta_id, ObjectType::DirMeta), meta);
    let mut it = data.iter().copied();
    for i in 0..8u8 {
        let Some(n) = it.next() else { break };
        let mut tree = DirTree {
            files: vec![],
            dirs: vec![],
        };
        for k in 0..n % 4 {
            let Some(j) = it.next() else { break };
            if j & 0x80 != 0 {
                tree.files.push((format!("f{k}"), Checksum([j; 32])));
            } else {
                tree.dirs.push((format!("d{k}"), tree_name(j), meta_id));
            }
        }
        let mut bytes = tree.serialize();
        if n & 0x40 != 0 {
            bytes.truncate(bytes.len() / 2);
        }
        o.0.insert((tree_name(i), ObjectType::DirTree), bytes);
    }
    let mut commits = 0;
    for i in 0..4u8 {
        let (Some(parent), Some(root)) = (it.next(), it.next()) else {
            break;
        };
        let parent = if parent & 0x80 != 0 {
            Checksum([0xee; 32])
        } else {
            commit_name(parent)
        };
        let c = Commit {
            metadata: vec![],
            parent: Some(parent),
            subject: String::new(),
            body: String::new(),
            timestamp: u64::from(i),
            root_tree: tree_name(root),
            root_meta: meta_id,
        };
        let Ok(bytes) = c.serialize() else { break };
        o.0.insert((commit_name(i), ObjectType::Commit), bytes);
        commits += 1;
    }
    (o, commits)
}

fn walks(data: &[u8]) {
    let (o, commits) = graph_of(data);
    let heads: Vec<Checksum> = (0..commits as u8).map(commit_name).collect();
    for &head in &heads {
        // log: a history is at most one step per stored commit, plus the step that ends it.
        let steps = History::new(&o, head, "c").count();
        assert!(steps <= commits + 1, "{steps} history steps for {commits} commits");
        // A path that walks around any cycle several times: one dirtree read per component.
        let _ = graph::lookup_path(&o, &head, "/d0/d1/d2/d0/d1/d2/d0/d1/d2");
        if let Ok(Node::Dir(t, _)) = graph::lookup_path(&o, &head, "/") {
            // ls -R: without a cycle, at most 8 levels of at most 3 entries each.
            let mut visited = 0usize;
            let r = graph::walk_dirs(&o, &t, "/", true, &mut |_, _| {
                visited += 1;
                Ok::<(), RepoError>(())
            });
            assert!(visited <= 3usize.pow(9), "{visited} entries visited");
            if let Err(e) = r {
                assert!(
                    matches!(e, RepoError::Cycle(_) | RepoError::Corrupt(_) | RepoError::MissingObject(_)),
                    "unexpected walk error {e:?}"
                );
            }
        }
    }
    let (report, _files) = fsck::check_meta(&o, heads.clone());
    if let Ok(keep) = prune::reachable(&o, heads.clone(), None) {
        // prune keeps every commit and dirtree that fsck checked and found sound.
        for c in &report.checked_commits {
            if !report.bad.contains(&(*c, ObjectType::Commit)) {
                assert!(keep.contains(&(*c, ObjectType::Commit)), "prune drops commit {c}");
            }
        }
    }
    let _ = prune::reachable(&o, heads, Some(2));
}

fuzz_target!(|data: &[u8]| walks(data));
