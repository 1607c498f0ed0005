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
