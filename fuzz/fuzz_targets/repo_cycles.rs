//! Cycles, as a damaged disk or a hostile remote would make them: a small repository whose objects are
//! stored under names that are not their checksums, so dirtrees contain themselves or each other and
//! commits are their own ancestors. fsck, prune, path lookups and a pull-local of it terminate with a
//! value or an error, never a crash or a loop. (Each run builds repositories on disk: run it with
//! TMPDIR on a tmpfs.)
#![no_main]

use atomboot_repo::objects::{Checksum, Commit, DirMeta, DirTree, ObjectType, S_IFDIR};
use atomboot_repo::{Mode, Repo};
use libfuzzer_sys::fuzz_target;

/// Fake object names: object `i` is stored as `[i + 1; 32]`.
fn name(i: u8) -> Checksum {
    Checksum([i % 8 + 1; 32])
}

fn cycles(data: &[u8]) {
    let Ok(t) = tempfile::tempdir() else {
        return;
    };
    let path = t.path().join("r");
    let Ok(repo) = Repo::init(&path, Mode::Archive) else {
        return;
    };
    let s = &repo.store;
    let meta = DirMeta {
        uid: 0,
        gid: 0,
        mode: S_IFDIR | 0o755,
        xattrs: vec![],
    }
    .serialize();
    let meta_id = match s.write_meta(ObjectType::DirMeta, &meta) {
        Ok(m) => m,
        Err(_) => return,
    };
    // Up to 8 dirtrees, each with up to 3 subdirectories chosen by the input (itself included).
    let mut it = data.iter().copied();
    for i in 0..8u8 {
        let Some(n) = it.next() else { break };
        let dirs = (0..n % 4)
            .filter_map(|k| it.next().map(|j| (format!("d{k}"), name(j), meta_id)))
            .collect();
        let tree = DirTree {
            files: vec![],
            dirs,
        };
        let p = s.object_path(&name(i), ObjectType::DirTree);
        let _ = std::fs::create_dir_all(p.parent().unwrap_or(&path));
        let _ = std::fs::write(p, tree.serialize());
    }
    // Up to 4 commits named 9.., each with a parent and a root chosen by the input.
    for i in 0..4u8 {
        let (Some(parent), Some(root)) = (it.next(), it.next()) else {
            break;
        };
        let c = Commit {
            metadata: vec![],
            parent: Some(Checksum([9 + parent % 4; 32])),
            subject: String::new(),
            body: String::new(),
            timestamp: 0,
            root_tree: name(root),
            root_meta: meta_id,
        };
        let id = Checksum([9 + i; 32]);
        let p = s.object_path(&id, ObjectType::Commit);
        let _ = std::fs::create_dir_all(p.parent().unwrap_or(&path));
        let Ok(bytes) = c.serialize() else { return };
        let _ = std::fs::write(p, bytes);
        let _ = s.write_ref(&format!("c{i}"), &id);
    }
    let _ = repo.fsck();
    for i in 0..4u8 {
        let _ = repo.lookup_path(&Checksum([9 + i; 32]), "/d0/d1/d2/d0/d1/d2/d0");
    }
    if let Ok(dst) = Repo::init(&t.path().join("d"), Mode::Archive) {
        let _ = atomboot_repo::pull::pull(
            &dst.store,
            &atomboot_repo::pull::Source::Local(s.clone()),
            &["c0".to_string()],
            "",
        );
    }
    let _ = atomboot_repo::prune::prune_refs_only(s, None);
}

fuzz_target!(|data: &[u8]| cycles(data));
