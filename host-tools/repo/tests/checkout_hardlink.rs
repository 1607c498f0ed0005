//! Hard-linked checkout (`-U -H` from a bare-user repository) of a wide tree: directories of several
//! modes (many sharing one dirmeta object, read-only ones holding subdirectories), symlinks (stored as
//! regular files in bare-user) and files. Wide enough that the checkout holds more than 512 directory
//! descriptors at once.

mod common;
use common::listing;

use atomboot_repo::{CheckoutOptions, CommitOptions, Mode, ObjectType, Repo};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Directory modes used round-robin; 0o555 directories have a subdirectory and files, so they get
/// their mode only after everything in them exists.
const DIR_MODES: [u32; 4] = [0o755, 0o700, 0o555, 0o750];

fn wide_tree(src: &Path) {
    for i in 0..300u32 {
        let a = src.join(format!("a{i:03}"));
        let b = a.join("b");
        fs::create_dir_all(&b).unwrap();
        // Few distinct contents: most file objects are shared by many paths.
        fs::write(a.join("f"), format!("content {}\n", i % 7)).unwrap();
        fs::write(b.join("g"), format!("inner {}\n", i % 3)).unwrap();
        std::os::unix::fs::symlink(format!("../a{:03}/f", (i + 1) % 300), a.join("l")).unwrap();
        std::os::unix::fs::symlink(format!("/usr/lib/target{}", i % 5), b.join("abs")).unwrap();
        fs::set_permissions(&b, fs::Permissions::from_mode(DIR_MODES[(i % 4) as usize])).unwrap();
        fs::set_permissions(
            &a,
            fs::Permissions::from_mode(DIR_MODES[((i + 2) % 4) as usize]),
        )
        .unwrap();
    }
}

/// Makes every directory under `root` writable again, so the temporary directory can be removed.
fn make_writable(root: &Path) {
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
    }
}

#[test]
fn hardlink_checkout_of_a_wide_tree_reproduces_modes_links_and_files() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    wide_tree(&src);
    let repo = Repo::init(&t.path().join("repo"), Mode::BareUser).unwrap();
    let c = repo
        .commit(
            &src,
            &CommitOptions {
                branch: Some("main".into()),
                subject: "wide".into(),
                no_stat_cache: true,
                ..Default::default()
            },
        )
        .unwrap();
    let dest = t.path().join("co");
    repo.checkout(
        &c,
        &dest,
        &CheckoutOptions {
            user_mode: true,
            hardlink: true,
            ..Default::default()
        },
    )
    .unwrap();

    let want = listing(&src);
    let got = listing(&dest);
    assert_eq!(
        got.len(),
        1 + 300 * 6,
        "every entry checked out, and the root"
    );
    assert_eq!(
        got, want,
        "modes, symlink targets and contents as committed"
    );

    // Every regular file is its repository object (same inode), every symlink a real symlink.
    for (rel, _) in want
        .iter()
        .filter(|(_, (m, _, _, _))| m & 0o170000 == 0o100000)
    {
        let f = file_object(&repo, &c, rel);
        let obj = repo.store.object_path(&f, ObjectType::File);
        assert_eq!(
            fs::metadata(dest.join(rel)).unwrap().ino(),
            fs::metadata(&obj).unwrap().ino(),
            "{rel} is hard-linked to {}",
            obj.display()
        );
    }
    make_writable(&src);
    make_writable(&dest);
}

fn file_object(
    repo: &Repo,
    commit: &atomboot_repo::Checksum,
    rel: &str,
) -> atomboot_repo::Checksum {
    match repo.lookup_path(commit, rel).unwrap() {
        atomboot_repo::Node::File(f) => f,
        atomboot_repo::Node::Dir(..) => panic!("{rel} is a directory"),
    }
}
