//! Property tests of the repository object formats that `pull` and `fsck` read from outside: any value
//! survives serialise -> parse; any bytes give a value or an error, never a panic (the fuzz target
//! `repo_objects` covers the same parsers with coverage guidance). Byte-exactness against `ostree` itself
//! is in repo_interop.rs.

use atomboot_repo::inflate::ExactInflate;
use atomboot_repo::objects::{Checksum, DirMeta, DirTree, FileHeader, S_IFLNK, S_IFREG};
use proptest::prelude::*;
use std::io::{Read, Write};

fn name() -> impl Strategy<Value = String> {
    // Valid entry names: not empty, not . or .., no / or NUL.
    "[a-zA-Z0-9._ -]{1,40}".prop_filter("not . or ..", |n| n != "." && n != "..")
}

fn checksum() -> impl Strategy<Value = Checksum> {
    any::<[u8; 32]>().prop_map(Checksum)
}

fn xattrs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(1u8..=255, 1..20),
            proptest::collection::vec(any::<u8>(), 0..40),
        ),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn dirmeta_round_trips(uid in any::<u32>(), gid in any::<u32>(), mode in any::<u32>(), x in xattrs()) {
        let m = DirMeta { uid, gid, mode, xattrs: x };
        prop_assert_eq!(DirMeta::parse(&m.serialize()).unwrap(), m);
    }

    #[test]
    fn dirtree_round_trips_sorted(
        files in proptest::collection::btree_map(name(), checksum(), 0..12),
        dirs in proptest::collection::btree_map(name(), (checksum(), checksum()), 0..6),
    ) {
        // A BTreeMap of Strings is sorted by name bytes, as OSTree sorts them.
        let t = DirTree {
            files: files.into_iter().collect(),
            dirs: dirs.into_iter().map(|(n, (a, b))| (n, a, b)).collect(),
        };
        prop_assert_eq!(DirTree::parse(&t.serialize()).unwrap(), t);
    }

    #[test]
    fn archive_header_round_trips(
        uid in any::<u32>(), gid in any::<u32>(), perm in 0u32..0o7777, link in proptest::option::of("[a-z/]{1,30}"),
        x in xattrs(), size in any::<u64>(),
    ) {
        let is_link = link.is_some();
        let h = FileHeader {
            uid,
            gid,
            mode: perm | if is_link { S_IFLNK } else { S_IFREG },
            symlink: link.unwrap_or_default(),
            xattrs: x,
        };
        if is_link {
            // A symlink carries no content (OSTree's checksum covers its header alone).
            prop_assert_eq!(FileHeader::parse_archive(&h.serialize_archive(0)).unwrap(), (h.clone(), 0));
            if size != 0 {
                let e = FileHeader::parse_archive(&h.serialize_archive(size)).unwrap_err().to_string();
                prop_assert!(e.contains("symlink object announces"), "{}", e);
            }
        } else {
            prop_assert_eq!(FileHeader::parse_archive(&h.serialize_archive(size)).unwrap(), (h, size));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = DirMeta::parse(&b);
        let _ = DirTree::parse(&b);
        let _ = FileHeader::parse_archive(&b);
        let _ = atomboot_repo::objects::Commit::parse(&b);
        let _ = atomboot_repo::summary::parse(&b);
        let mut out = Vec::new();
        let _ = ExactInflate::new(&b[..], 100).read_to_end(&mut out);
    }

    #[test]
    fn filez_bodies_inflate_exactly_or_fail(content in proptest::collection::vec(any::<u8>(), 0..3000),
                                            cut in any::<usize>(), extra in proptest::collection::vec(any::<u8>(), 0..4)) {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&content).unwrap();
        let raw = e.finish().unwrap();
        let mut out = Vec::new();
        ExactInflate::new(&raw[..], content.len() as u64).read_to_end(&mut out).unwrap();
        prop_assert_eq!(&out, &content);
        // Truncated anywhere, or with bytes after the stream: an error, never other content.
        // (An empty body is how OSTree stores empty content: no stream at all.)
        let cut = cut % raw.len();
        if !(cut == 0 && content.is_empty()) {
            let mut out = Vec::new();
            let e = ExactInflate::new(&raw[..cut], content.len() as u64).read_to_end(&mut out).unwrap_err();
            // A short stream ends early (UnexpectedEof), or the decoder finds it corrupt (InvalidInput).
            prop_assert!(matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput), "{}", e);
        }
        if !extra.is_empty() {
            let mut tail = raw.clone();
            tail.extend_from_slice(&extra);
            let mut out = Vec::new();
            let e = ExactInflate::new(&tail[..], content.len() as u64).read_to_end(&mut out).unwrap_err();
            prop_assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            prop_assert!(e.to_string().contains("after the end of the deflate stream"), "{}", e);
        }
    }
}
