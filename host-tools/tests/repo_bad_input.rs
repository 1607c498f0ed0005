//! Bad input: clear error naming the thing, non-zero exit, nothing half-written.

use atomboot_repo::objects::{Checksum, Commit, DirMeta, DirTree, ObjectType};
use atomboot_repo::{Mode, Repo};
use std::fs;
use std::path::Path;
use std::process::Command;

fn atomboot(repo: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .arg(format!("--repo={}", repo.display()))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn fails_with(repo: &Path, args: &[&str], needle: &str) {
    let (ok, out, err) = atomboot(repo, args);
    assert!(!ok, "{args:?} should fail; stdout {out}");
    assert!(
        err.contains(needle),
        "{args:?}: stderr {err:?} lacks {needle:?}"
    );
}

fn small_tree(root: &Path) {
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("d/f"), "content of f").unwrap();
}

#[test]
fn missing_repo_wrong_mode_unknown_ref() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("nope");
    fails_with(&missing, &["log", "main"], "not an OSTree repository");
    fails_with(&missing, &["refs"], &missing.display().to_string());
    let r = t.path().join("r");
    fails_with(&r, &["init", "--mode=zip"], "unknown mode \"zip\"");
    assert!(
        !r.join("config").exists(),
        "failed init must not create a repo"
    );
    assert!(atomboot(&r, &["init", "--mode=archive"]).0);
    fails_with(
        &r,
        &["init", "--mode=archive"],
        "already contains a repository",
    );
    fails_with(
        &r,
        &["rev-parse", "no-such-ref"],
        "\"no-such-ref\" not found",
    );
    fails_with(
        &r,
        &[
            "checkout",
            "no-such-ref",
            t.path().join("co").to_str().unwrap(),
        ],
        "not found",
    );
    assert!(!t.path().join("co").exists());
    fails_with(&r, &["refs", "--delete", "ghost"], "not found");
    fs::write(
        r.join("config"),
        "[core]\nrepo_version=1\nmode=archive-z9\n",
    )
    .unwrap();
    fails_with(&r, &["refs"], "unsupported repository mode \"archive-z9\"");
}

fn corrupt_one(mode: &str) {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("r");
    let tree = t.path().join("tree");
    small_tree(&tree);
    assert!(atomboot(&r, &["init", &format!("--mode={mode}")]).0);
    let (ok, out, err) = atomboot(
        &r,
        &["commit", "-b", "main", "-s", "x", tree.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert!(
        atomboot(&r, &["fsck"]).1.contains("no errors found"),
        "{out}"
    );
    let repo = Repo::open(&r).unwrap();
    let c = repo.resolve_rev("main").unwrap();
    let h = repo.lookup_path(&c, "/d/f").unwrap();
    let atomboot_repo::Node::File(fc) = h else {
        panic!("file expected")
    };
    let p = repo.store.object_path(&fc, ObjectType::File);
    // Flip the content: bare-user keeps it raw; archive's deflate stream gets a changed tail byte.
    let mut b = fs::read(&p).unwrap();
    let last = b.len() - 3;
    b[last] ^= 0x55;
    let perm = fs::metadata(&p).unwrap().permissions();
    let x = xattr::get(&p, "user.ostreemeta").unwrap();
    fs::write(&p, &b).unwrap();
    fs::set_permissions(&p, perm).unwrap();
    if let Some(x) = x {
        xattr::set(&p, "user.ostreemeta", &x).unwrap();
    }
    fails_with(&r, &["fsck"], &fc.to_hex());
    // ostree agrees the object is bad.
    let o = Command::new("ostree")
        .arg(format!("--repo={}", r.display()))
        .arg("fsck")
        .output()
        .unwrap();
    assert!(!o.status.success(), "ostree fsck should fail too");
    // A corrupt metadata object.
    let dm = repo.read_commit(&c).unwrap().root_meta;
    let mp = repo.store.object_path(&dm, ObjectType::DirMeta);
    fs::write(&mp, b"garbage").unwrap();
    fails_with(&r, &["fsck"], &dm.to_hex());
}

#[test]
fn corrupt_objects_archive() {
    corrupt_one("archive");
}

#[test]
fn corrupt_objects_bare_user() {
    corrupt_one("bare-user");
}

#[test]
fn dirtree_with_bad_names_is_rejected() {
    for bad in ["a/b", "..", "nul\0byte", "."] {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("r");
        let repo = Repo::init(&r, Mode::Archive).unwrap();
        let meta = DirMeta {
            uid: 0,
            gid: 0,
            mode: 0o40755,
            xattrs: vec![],
        };
        let m = repo
            .store
            .write_meta(ObjectType::DirMeta, &meta.serialize())
            .unwrap();
        let empty = repo
            .store
            .write_meta(ObjectType::DirTree, &DirTree::default().serialize())
            .unwrap();
        let tree = DirTree {
            files: vec![],
            dirs: vec![(bad.to_string(), empty, m)],
        };
        let tc = repo
            .store
            .write_meta(ObjectType::DirTree, &tree.serialize())
            .unwrap();
        let commit = Commit {
            metadata: vec![],
            parent: None,
            subject: "evil".into(),
            body: String::new(),
            timestamp: 0,
            root_tree: tc,
            root_meta: m,
        };
        let cc: Checksum = repo
            .store
            .write_meta(ObjectType::Commit, &commit.serialize().unwrap())
            .unwrap();
        repo.store.write_ref("evil", &cc).unwrap();
        let co = t.path().join("co");
        let (ok, _, err) = atomboot(&r, &["checkout", "-U", "evil", co.to_str().unwrap()]);
        assert!(!ok, "{bad:?}");
        assert!(err.contains(&tc.to_hex()), "{bad:?}: {err}");
        assert!(!co.exists(), "nothing checked out for {bad:?}");
        fails_with(&r, &["ls", "-R", "evil"], &tc.to_hex());
        fails_with(&r, &["fsck"], &tc.to_hex());
    }
}

#[test]
fn special_files_are_refused_by_name() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("r");
    let tree = t.path().join("tree");
    small_tree(&tree);
    let fifo = tree.join("d/pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    assert!(atomboot(&r, &["init", "--mode=bare-user"]).0);
    fails_with(
        &r,
        &["commit", "-b", "main", tree.to_str().unwrap()],
        "d/pipe: cannot commit a FIFO",
    );
    fs::remove_file(&fifo).unwrap();
    let dev = tree.join("d/null");
    assert!(Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .unwrap()
        .success());
    fails_with(
        &r,
        &["commit", "-b", "main", tree.to_str().unwrap()],
        "d/null: cannot commit a device node",
    );
    assert!(
        !r.join("refs/heads/main").exists(),
        "no ref after a refused commit"
    );
    // Nothing half-written: the objects written before the refusal stayed in the transaction's staging
    // directory, which is gone; objects/ holds nothing.
    assert_eq!(
        walk_files(&r.join("objects")),
        0,
        "objects after a refused commit"
    );
    assert_eq!(
        fs::read_dir(r.join("tmp")).unwrap().count(),
        0,
        "tmp/ after a refused commit"
    );
    fails_with(
        &r,
        &["commit", "-b", "main", "/definitely/missing"],
        "/definitely/missing",
    );
    fails_with(
        &r,
        &["commit", "-b", "../x", tree.to_str().unwrap()],
        "invalid ref name",
    );
}

/// Regular files under `d`, recursively.
fn walk_files(d: &Path) -> usize {
    fs::read_dir(d)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.file_type().unwrap().is_dir() {
                        walk_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
