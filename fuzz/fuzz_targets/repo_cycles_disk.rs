//! `repo_cycles` on disk: the same graphs (input layout as `repo_cycles`, low bits only) written into a
//! repository whose objects are stored under names that are not their checksums, then the verbs as the CLI
//! runs them: fsck, path lookups, a pull-local into a second repository, and prune. Each ends with a value
//! or an error, never a crash or a loop. Syscall-bound (hundreds of runs a second): `repo_cycles` runs
//! the same walks in memory. The two repositories live on disk (run it with TMPDIR on a tmpfs) and are
//! made once per process: each run first removes every object name, ref and pulled object the previous
//! run could have left, so a run depends only on its input.
#![no_main]

use atomboot_repo::objects::{Checksum, Commit, DirMeta, DirTree, ObjectType, S_IFDIR};
use atomboot_repo::{Mode, Repo};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Fake object names: dirtree `i` is stored as `[i % 8 + 1; 32]`.
fn name(i: u8) -> Checksum {
    Checksum([i % 8 + 1; 32])
}

/// Commit `i` is stored as `[9 + i; 32]`.
fn commit_name(i: u8) -> Checksum {
    Checksum([9 + i % 4; 32])
}

struct Fixture {
    _dir: tempfile::TempDir,
    src: Repo,
    dst: PathBuf,
    meta: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory (TMPDIR)");
        let src = Repo::init(&dir.path().join("r"), Mode::Archive).expect("init source repo");
        let meta = DirMeta {
            uid: 0,
            gid: 0,
            mode: S_IFDIR | 0o755,
            xattrs: vec![],
        }
        .serialize();
        let dst = dir.path().join("d");
        Fixture {
            _dir: dir,
            src,
            dst,
            meta,
        }
    })
}

/// Removes what an earlier run wrote into the source repository and recreates the destination.
fn reset(f: &Fixture) -> Option<(Checksum, Repo)> {
    let s = &f.src.store;
    for i in 0..8 {
        let _ = std::fs::remove_file(s.object_path(&name(i), ObjectType::DirTree));
    }
    for i in 0..4 {
        let _ = std::fs::remove_file(s.object_path(&commit_name(i), ObjectType::Commit));
        let _ = s.delete_ref(&format!("c{i}"));
    }
    // prune may have deleted the dirmeta when no commit reached it: write it again.
    let meta_id = s.write_meta(ObjectType::DirMeta, &f.meta).ok()?;
    let _ = std::fs::remove_dir_all(&f.dst);
    let dst = Repo::init(&f.dst, Mode::Archive).ok()?;
    Some((meta_id, dst))
}

fn cycles(data: &[u8]) {
    let f = fixture();
    let Some((meta_id, dst)) = reset(f) else {
        return;
    };
    let s = &f.src.store;
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
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(p, tree.serialize());
    }
    // Up to 4 commits, each with a parent and a root chosen by the input.
    for i in 0..4u8 {
        let (Some(parent), Some(root)) = (it.next(), it.next()) else {
            break;
        };
        let c = Commit {
            metadata: vec![],
            parent: Some(commit_name(parent)),
            subject: String::new(),
            body: String::new(),
            timestamp: 0,
            root_tree: name(root),
            root_meta: meta_id,
        };
        let id = commit_name(i);
        let p = s.object_path(&id, ObjectType::Commit);
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let Ok(bytes) = c.serialize() else { return };
        let _ = std::fs::write(p, bytes);
        let _ = s.write_ref(&format!("c{i}"), &id);
    }
    let _ = f.src.fsck();
    for i in 0..4u8 {
        let _ = f
            .src
            .lookup_path(&commit_name(i), "/d0/d1/d2/d0/d1/d2/d0");
    }
    let _ = atomboot_repo::pull::pull(
        &dst.store,
        &atomboot_repo::pull::Source::Local(s.clone()),
        &["c0".to_string()],
        "",
    );
    let _ = atomboot_repo::prune::prune_refs_only(s, None);
}

fuzz_target!(|data: &[u8]| cycles(data));
