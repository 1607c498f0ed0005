//! Nesting and cycles, as a hostile remote or a damaged disk would make them.
//!
//! Mode 0: a GVariant type signature generated from the input (bytes with the high bit set repeat a
//! nesting character up to 16,384 times, so depths far beyond GLib's 128 are reached), parsed alone, as a
//! variant's type inside commit metadata and inside a summary: an error or a value, never a crash, and a
//! parsed type is never deeper than 128.
//! Mode 1: a small repository whose objects are stored under names that are not their checksums, so
//! dirtrees contain themselves or each other and commits are their own ancestors: fsck, prune, path
//! lookups and a pull-local of it terminate with a value or an error.
#![no_main]

use atomboot_repo::gvariant::{self, Type, MAX_DEPTH};
use atomboot_repo::objects::{Checksum, Commit, DirMeta, DirTree, ObjectType, S_IFDIR};
use atomboot_repo::{Mode, Repo};
use libfuzzer_sys::fuzz_target;

/// Signature characters, chosen by the low 4 bits of an input byte.
const SIG_CHARS: &[u8; 16] = b"aam((){}ysvutbdx";

/// One character per byte; with the high bit set, repeated 4^((byte >> 4) & 7) times (up to 16,384).
fn signature(bytes: &[u8]) -> Vec<u8> {
    let mut sig = Vec::new();
    for &b in bytes {
        let c = SIG_CHARS[(b & 0x0f) as usize];
        let n = if b & 0x80 != 0 { 1usize << (2 * ((b >> 4) & 7)) } else { 1 };
        sig.extend(std::iter::repeat_n(c, n));
    }
    sig
}

fn nesting(data: &[u8]) {
    let (sig_len, rest) = match data.split_first() {
        Some((&n, r)) => (n as usize, r),
        None => return,
    };
    let (sig_bytes, value) = rest.split_at(sig_len.min(rest.len()));
    let sig = signature(sig_bytes);
    let Ok(sig_str) = std::str::from_utf8(&sig) else {
        return;
    };
    if let Ok(t) = Type::parse(sig_str) {
        assert!(t.depth() <= MAX_DEPTH, "type deeper than {MAX_DEPTH}");
        let _ = gvariant::parse(&t, value);
    }
    // The same signature as a variant's type: alone, in commit metadata, in a summary.
    let mut variant = value.to_vec();
    variant.push(0);
    variant.extend_from_slice(&sig);
    let _ = gvariant::parse(&Type::Variant, &variant);
    let mut entry = b"k\0\0\0\0\0\0\0".to_vec();
    entry.extend_from_slice(&variant);
    if entry.len() < 250 {
        entry.push(2);
        let end = entry.len() as u8;
        entry.push(end);
        let _ = Commit::parse(&entry);
        let _ = atomboot_repo::summary::parse(&entry);
        if let Ok(t) = Type::parse("a{sv}") {
            let _ = gvariant::parse(&t, &entry);
        }
    }
}

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

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&m, rest)) if m & 1 == 0 => nesting(rest),
        Some((_, rest)) => cycles(rest),
        None => {}
    }
});
