//! A store transaction: objects written through it are in `objects/` only once it commits; dropped
//! without committing, it aborts, leaving neither its objects nor its staging directory behind.

use atomboot_repo::store::{Mode, Store};
use atomboot_repo::ObjectType;
use std::path::Path;

fn tmp_entries(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_dropped_transaction_aborts_and_a_committed_one_lands_in_objects() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::init(&t.path().join("r"), Mode::Archive).unwrap();

    let txn = store.begin().unwrap();
    let c = txn
        .write_meta(ObjectType::Commit, b"not really a commit")
        .unwrap();
    // Visible through the transaction, not yet to the repository.
    assert!(txn.has_object(&c, ObjectType::Commit));
    assert!(!store.has_object(&c, ObjectType::Commit));
    let staged = tmp_entries(&store.path);
    assert!(
        staged.iter().any(|n| n.starts_with("staging-")),
        "{staged:?}"
    );
    drop(txn);
    assert!(!store.has_object(&c, ObjectType::Commit));
    assert_eq!(tmp_entries(&store.path), Vec::<String>::new());

    let txn = store.begin().unwrap();
    let c = txn.write_meta(ObjectType::Commit, b"kept").unwrap();
    txn.commit().unwrap();
    assert!(store.has_object(&c, ObjectType::Commit));
    assert_eq!(
        std::fs::read(store.object_path(&c, ObjectType::Commit)).unwrap(),
        b"kept"
    );
    assert_eq!(tmp_entries(&store.path), Vec::<String>::new());
}

#[test]
fn a_flushed_transaction_keeps_what_it_flushed_when_dropped() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::init(&t.path().join("r"), Mode::Archive).unwrap();
    let txn = store.begin().unwrap();
    let kept = txn.write_meta(ObjectType::Commit, b"flushed").unwrap();
    txn.flush().unwrap();
    let lost = txn.write_meta(ObjectType::Commit, b"staged only").unwrap();
    drop(txn);
    assert!(store.has_object(&kept, ObjectType::Commit));
    assert!(!store.has_object(&lost, ObjectType::Commit));
    assert_eq!(tmp_entries(&store.path), Vec::<String>::new());
}

/// Every object file under `objects/`, as "xx/rest" names, sorted.
fn object_files(repo: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(repo.join("objects")).unwrap() {
        let d = d.unwrap();
        for f in std::fs::read_dir(d.path()).unwrap() {
            let f = f.unwrap().file_name();
            v.push(format!(
                "{}/{}",
                d.file_name().to_string_lossy(),
                f.to_string_lossy()
            ));
        }
    }
    v.sort();
    v
}

#[test]
fn a_flush_merges_staged_directories_into_existing_ones_and_writes_go_on_after_it() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::init(&t.path().join("r"), Mode::BareUser).unwrap();
    let blob = |i: u32| format!("object {i}").into_bytes();
    // 300 objects already in objects/ (about 180 of the 256 directories hold one)...
    let before: Vec<_> = (0..300)
        .map(|i| store.write_meta(ObjectType::DirMeta, &blob(i)).unwrap())
        .collect();
    // ... and an empty object directory (left by a prune, say), which a flush may replace.
    let empty = (0u8..=255)
        .map(|b| format!("{b:02x}"))
        .find(|n| !store.path.join("objects").join(n).exists())
        .unwrap();
    std::fs::create_dir(store.path.join("objects").join(&empty)).unwrap();

    // One transaction: 700 new objects and the 300 again (more than the per-object fsync bound, so
    // the syncfs path), flushed; then 60 more through the same transaction, committed.
    let txn = store.begin().unwrap();
    let mut all: Vec<_> = (0..1000)
        .map(|i| txn.write_meta(ObjectType::DirMeta, &blob(i)).unwrap())
        .collect();
    txn.flush().unwrap();
    all.extend((1000..1060).map(|i| txn.write_meta(ObjectType::DirMeta, &blob(i)).unwrap()));
    txn.commit().unwrap();

    assert_eq!(&all[..300], &before[..]);
    for c in &all {
        let p = store.object_path(c, ObjectType::DirMeta);
        assert!(
            std::fs::read(&p).unwrap().starts_with(b"object "),
            "{}",
            p.display()
        );
    }
    // Exactly the 1060 objects, nothing else, and no staging left behind.
    let mut want: Vec<String> = all
        .iter()
        .map(|c| {
            let h = c.to_hex();
            format!("{}/{}.dirmeta", &h[..2], &h[2..])
        })
        .collect();
    want.sort();
    assert_eq!(object_files(&store.path), want);
    assert_eq!(tmp_entries(&store.path), Vec::<String>::new());
}

#[test]
fn the_same_content_written_twice_in_a_transaction_is_one_object() {
    use atomboot_repo::objects::FileHeader;
    let t = tempfile::tempdir().unwrap();
    let store = Store::init(&t.path().join("r"), Mode::BareUser).unwrap();
    let h = FileHeader {
        uid: 0,
        gid: 0,
        mode: 0o100644,
        symlink: String::new(),
        xattrs: Default::default(),
    };
    let txn = store.begin().unwrap();
    let a = txn
        .write_content(&h, &mut &b"same bytes"[..], 10, None)
        .unwrap();
    let b = txn
        .write_content(&h, &mut &b"same bytes"[..], 10, None)
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(a, b);
    let p = store.object_path(&a, ObjectType::File);
    assert_eq!(std::fs::read(p).unwrap(), b"same bytes");
    assert_eq!(object_files(&store.path).len(), 1);
}
