//! A commit leaves no object of [`writeback::MIN_BYTES`] or more in the page cache (the source tree it
//! read stays cached). Resident bytes are read with util-linux's `fincore`.

use atomboot_repo::{writeback, CommitOptions, Mode, Node, ObjectType, Repo};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Bytes of `p` in the page cache.
fn resident(p: &Path) -> u64 {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(p)
        .output()
        .expect("fincore (util-linux) runs");
    assert!(out.status.success(), "fincore {}: {:?}", p.display(), out);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("fincore {}: {e}: {:?}", p.display(), out.stdout))
}

fn commit_drops_object_pages(mode: Mode) {
    // On the project's file system, not a tmpfs (whose pages are the file and are never dropped).
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    let len = (writeback::MIN_BYTES * 4) as usize;
    for i in 0..12u32 {
        // Distinct, poorly compressible contents (archive objects stay above MIN_BYTES).
        let mut x = 0x9e37_79b9u32.wrapping_mul(i + 1);
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        fs::write(src.join(format!("f{i}")), data).unwrap();
    }
    fs::write(src.join("small"), b"below the threshold\n").unwrap();
    let repo = Repo::init(&t.path().join("repo"), mode).unwrap();
    let c = repo
        .commit(
            &src,
            &CommitOptions {
                branch: Some("main".into()),
                subject: "s".into(),
                no_stat_cache: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        resident(&src.join("f0")) > 0,
        "the source tree, read by the commit, is still cached (fincore sees cached pages)"
    );
    for i in 0..12 {
        let Node::File(f) = repo.lookup_path(&c, &format!("f{i}")).unwrap() else {
            panic!("f{i} is a file");
        };
        let obj = repo.store.object_path(&f, ObjectType::File);
        assert!(fs::metadata(&obj).unwrap().len() >= writeback::MIN_BYTES);
        assert_eq!(
            resident(&obj),
            0,
            "{} left in the page cache",
            obj.display()
        );
    }
}

#[test]
fn bare_user_commit_drops_its_objects_from_the_page_cache() {
    commit_drops_object_pages(Mode::BareUser);
}

#[test]
fn archive_commit_drops_its_objects_from_the_page_cache() {
    commit_drops_object_pages(Mode::Archive);
}
