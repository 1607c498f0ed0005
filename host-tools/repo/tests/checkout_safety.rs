//! Checkout never writes, chowns or chmods outside its destination (`--union` over symlinks), and what
//! it verifies: bare-user metadata always, every object with `verify`.

mod common;
use common::listing;

use atomboot_repo::{CheckoutOptions, CommitOptions, Mode, Node, ObjectType, Repo, RepoError};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn opts(branch: &str) -> CommitOptions {
    CommitOptions {
        branch: Some(branch.into()),
        subject: "s".into(),
        no_stat_cache: true,
        ..Default::default()
    }
}

/// Commit 1 has `x -> OUTSIDE` and `f -> OUTSIDE/target`; commit 2 has a directory `x/` (mode 0700, file
/// `x/evil`) and a regular file `f`. A union checkout of 2 over 1 must leave OUTSIDE as it was.
fn union_over_symlinks(user_mode: bool) {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("target"), b"keep me").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o755)).unwrap();
    let before = listing(t.path());

    let one = t.path().join("one");
    fs::create_dir(&one).unwrap();
    std::os::unix::fs::symlink(&outside, one.join("x")).unwrap();
    std::os::unix::fs::symlink(outside.join("target"), one.join("f")).unwrap();
    let two = t.path().join("two");
    fs::create_dir_all(two.join("x")).unwrap();
    fs::write(two.join("x/evil"), b"written outside?").unwrap();
    fs::set_permissions(two.join("x"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(two.join("f"), b"replaced").unwrap();

    let repo = Repo::init(&t.path().join("repo"), Mode::BareUser).unwrap();
    let c1 = repo.commit(&one, &opts("one")).unwrap();
    let c2 = repo.commit(&two, &opts("two")).unwrap();
    let dest = t.path().join("dest");
    let o = CheckoutOptions {
        user_mode,
        union: true,
        ..Default::default()
    };
    repo.checkout(&c1, &dest, &o).unwrap();
    assert!(fs::symlink_metadata(dest.join("x"))
        .unwrap()
        .file_type()
        .is_symlink());
    let outside_before = listing(&outside);
    repo.checkout(&c2, &dest, &o).unwrap();

    assert_eq!(listing(&outside), outside_before, "nothing outside changed");
    let md = fs::symlink_metadata(dest.join("x")).unwrap();
    assert!(
        md.is_dir(),
        "the symlink was replaced by the tree's directory"
    );
    assert_eq!(md.mode() & 0o7777, 0o700);
    assert_eq!(fs::read(dest.join("x/evil")).unwrap(), b"written outside?");
    assert!(fs::symlink_metadata(dest.join("f")).unwrap().is_file());
    assert_eq!(fs::read(outside.join("target")).unwrap(), b"keep me");
    // The parent directory: only what the test made itself is new.
    let after = listing(t.path());
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
}

#[test]
fn union_never_writes_through_a_symlink() {
    union_over_symlinks(false);
}

#[test]
fn union_user_mode_never_writes_through_a_symlink() {
    union_over_symlinks(true);
}

/// A hostile dirtree naming `x` both as a symlink out and as a directory: without --union the checkout
/// stops at the directory; nothing is written outside.
#[test]
fn a_name_both_file_and_directory_stops_the_checkout() {
    use atomboot_repo::{Commit, DirMeta, DirTree, FileHeader};
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let repo = Repo::init(&t.path().join("repo"), Mode::BareUser).unwrap();
    let s = &repo.store;
    let link = s
        .write_content(
            &FileHeader {
                uid: 0,
                gid: 0,
                mode: 0o120777,
                symlink: outside.display().to_string(),
                xattrs: vec![],
            },
            &mut std::io::empty(),
            0,
            None,
        )
        .unwrap();
    let file = s
        .write_content(
            &FileHeader {
                uid: 0,
                gid: 0,
                mode: 0o100644,
                symlink: String::new(),
                xattrs: vec![],
            },
            &mut &b"evil"[..],
            4,
            None,
        )
        .unwrap();
    let dm = s
        .write_meta(
            ObjectType::DirMeta,
            &DirMeta {
                uid: 0,
                gid: 0,
                mode: 0o40755,
                xattrs: vec![],
            }
            .serialize(),
        )
        .unwrap();
    let inner = s
        .write_meta(
            ObjectType::DirTree,
            &DirTree {
                files: vec![("evil".into(), file)],
                dirs: vec![],
            }
            .serialize(),
        )
        .unwrap();
    let root = s
        .write_meta(
            ObjectType::DirTree,
            &DirTree {
                files: vec![("x".into(), link)],
                dirs: vec![("x".into(), inner, dm)],
            }
            .serialize(),
        )
        .unwrap();
    let c = s
        .write_meta(
            ObjectType::Commit,
            &Commit {
                metadata: vec![],
                parent: None,
                subject: String::new(),
                body: String::new(),
                timestamp: 0,
                root_tree: root,
                root_meta: dm,
            }
            .serialize()
            .unwrap(),
        )
        .unwrap();
    for union in [false, true] {
        let dest = t.path().join(format!("dest-{union}"));
        let r = repo.checkout(
            &c,
            &dest,
            &CheckoutOptions {
                user_mode: true,
                union,
                ..Default::default()
            },
        );
        if !union {
            let e = r.unwrap_err();
            assert!(
                matches!(&e, RepoError::Io { what, .. } if what == "create directory"),
                "{e}"
            );
        }
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "union={union}");
    }
}

fn file_object(repo: &Repo, branch: &str, path: &str) -> atomboot_repo::Checksum {
    let c = repo.resolve_rev(branch).unwrap();
    match repo.lookup_path(&c, path).unwrap() {
        Node::File(f) => f,
        Node::Dir(..) => panic!("{path} is a directory"),
    }
}

/// A tampered `user.ostreemeta` (mode made executable) is refused by checkout and cat, by default.
#[test]
fn bare_user_metadata_is_checked_on_checkout_and_cat() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("script"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(src.join("script"), fs::Permissions::from_mode(0o644)).unwrap();
    let repo = Repo::init(&t.path().join("repo"), Mode::BareUser).unwrap();
    let commit = repo.commit(&src, &opts("main")).unwrap();
    // Untouched: checks out.
    repo.checkout(&commit, &t.path().join("ok"), &CheckoutOptions::default())
        .unwrap();
    let obj = repo
        .store
        .object_path(&file_object(&repo, "main", "script"), ObjectType::File);
    let meta = xattr::get(&obj, "user.ostreemeta").unwrap().unwrap();
    let mut parsed = atomboot_repo::DirMeta::parse(&meta).unwrap();
    parsed.mode = 0o100755;
    xattr::set(&obj, "user.ostreemeta", &parsed.serialize()).unwrap();

    let e = repo
        .checkout(&commit, &t.path().join("bad"), &CheckoutOptions::default())
        .unwrap_err();
    assert!(
        matches!(&e, RepoError::Corrupt(m) if m.contains("user.ostreemeta mode 100755 does not match")),
        "{e}"
    );
    let e = repo.read_file(&commit, "script").unwrap_err();
    assert!(
        matches!(&e, RepoError::Corrupt(m) if m.contains("user.ostreemeta")),
        "{e}"
    );
}

/// Archive content changed on disk (same size): the default checkout writes it, as ostree's does
/// (fsck reports it); `verify` refuses it by name.
#[test]
fn verify_rehashes_content_and_metadata() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a"), b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
    fs::write(src.join("b"), b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap();
    for mode in [Mode::Archive, Mode::BareUser] {
        let rp = t.path().join(format!("repo-{}", mode.config_name()));
        let repo = Repo::init(&rp, mode).unwrap();
        let commit = repo.commit(&src, &opts("main")).unwrap();
        let a = file_object(&repo, "main", "a");
        let b = file_object(&repo, "main", "b");
        // Swap the two objects' files: each still reads as a valid object, of the other checksum.
        let (pa, pb) = (
            repo.store.object_path(&a, ObjectType::File),
            repo.store.object_path(&b, ObjectType::File),
        );
        let tmp = t.path().join("swap");
        fs::rename(&pa, &tmp).unwrap();
        fs::rename(&pb, &pa).unwrap();
        fs::rename(&tmp, &pb).unwrap();

        let plain = t.path().join(format!("plain-{}", mode.config_name()));
        repo.checkout(&commit, &plain, &CheckoutOptions::default())
            .unwrap();
        assert_eq!(fs::read(plain.join("a")).unwrap()[0], b'b');

        let verify = CheckoutOptions {
            verify: true,
            ..Default::default()
        };
        let e = repo
            .checkout(
                &commit,
                &t.path().join(format!("v-{}", mode.config_name())),
                &verify,
            )
            .unwrap_err();
        assert!(
            matches!(&e, RepoError::Corrupt(m) if m.contains("has checksum") && (m.contains(&a.to_hex()) || m.contains(&b.to_hex()))),
            "{e}"
        );
        if mode == Mode::BareUser {
            let e = repo
                .checkout(
                    &commit,
                    &t.path().join("v-hardlink"),
                    &CheckoutOptions {
                        verify: true,
                        hardlink: true,
                        user_mode: true,
                        ..Default::default()
                    },
                )
                .unwrap_err();
            assert!(
                matches!(&e, RepoError::Corrupt(m) if m.contains("has checksum")),
                "{e}"
            );
        }
    }
    // A dirtree swapped for another valid dirtree: only verify notices.
    let repo = Repo::open(&t.path().join("repo-archive-z2")).unwrap();
    let c = repo
        .read_commit(&repo.resolve_rev("main").unwrap())
        .unwrap();
    let empty = repo
        .store
        .write_meta(
            ObjectType::DirTree,
            &atomboot_repo::DirTree::default().serialize(),
        )
        .unwrap();
    fs::copy(
        repo.store.object_path(&empty, ObjectType::DirTree),
        repo.store.object_path(&c.root_tree, ObjectType::DirTree),
    )
    .unwrap();
    let e = repo
        .checkout(
            &repo.resolve_rev("main").unwrap(),
            &t.path().join("v-tree"),
            &CheckoutOptions {
                verify: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&e, RepoError::Corrupt(m) if m.contains(&format!("dirtree object {} has checksum", c.root_tree))),
        "{e}"
    );
}
