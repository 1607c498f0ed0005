//! Everything `pull` parses from a remote (or fsck from disk): commit, dirtree, dirmeta, the archive
//! file header, the summary, and a `.filez` body inflated to its announced size. Arbitrary bytes must give
//! a value or an error, never a panic; whatever parses re-serialises to something that parses to the same.
#![no_main]

use atomboot_repo::inflate::ExactInflate;
use atomboot_repo::objects::{Commit, DirMeta, DirTree, FileHeader};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(c) = Commit::parse(bytes) {
                let again = Commit::parse(&c.serialize().expect("a parsed commit re-serialises"))
                    .expect("re-serialised commit parses");
                assert_eq!(again, c);
            }
        }
        1 => {
            let mut visited = 0usize;
            let walked = DirTree::visit(bytes, |_| visited += 1);
            if let Ok(t) = DirTree::parse(bytes) {
                assert!(walked.is_ok());
                assert_eq!(visited, t.files.len() + t.dirs.len());
                let again = DirTree::parse(&t.serialize()).expect("re-serialised dirtree parses");
                assert_eq!(again.files.len(), t.files.len());
                assert_eq!(again.dirs.len(), t.dirs.len());
            }
        }
        2 => {
            if let Ok(m) = DirMeta::parse_object(bytes) {
                assert_eq!(
                    m.mode & 0o170000,
                    0o040000,
                    "a dirmeta object is a directory's"
                );
                assert_eq!(m.mode & !0o177777, 0, "no bits beyond S_IFMT | 07777");
            }
            if let Ok(m) = DirMeta::parse(bytes) {
                let again = DirMeta::parse(&m.serialize()).expect("re-serialised dirmeta parses");
                assert_eq!(again, m);
            }
        }
        3 => {
            if let Ok((h, size)) = FileHeader::parse_archive(bytes) {
                assert!(!h.is_symlink() || size == 0, "symlinks carry no content");
                let (again, size2) = FileHeader::parse_archive(&h.serialize_archive(size))
                    .expect("re-serialised header parses");
                assert_eq!((again, size2), (h, size));
            }
        }
        4 => {
            let _ = atomboot_repo::summary::parse(bytes);
        }
        _ => {
            // A .filez body: the first 2 bytes announce a size, the rest is the "deflate stream".
            if bytes.len() < 2 {
                return;
            }
            let size = u64::from(u16::from_le_bytes([bytes[0], bytes[1]]));
            let mut out = Vec::new();
            if ExactInflate::new(&bytes[2..], size)
                .read_to_end(&mut out)
                .is_ok()
            {
                assert_eq!(out.len() as u64, size);
            }
        }
    }
});
