//! Everything a static delta gives the pull to parse: the superblock, the summary's delta list, a part
//! (compression byte, xz, payload) and its operations, planned against the part's object list.
//! Arbitrary bytes must give a value or an error, never a panic; a superblock that parses re-serialises
//! to one that parses the same, and a plan never reaches outside the payload.
//! Input: selector byte; 0: superblock; 1: u32 LE superblock length, superblock, then part 0's bytes;
//! 2: a summary.
#![no_main]

use atomboot_repo::delta::{apply, part, Superblock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(sb) = Superblock::parse(bytes) {
                let again = Superblock::parse(&sb.serialize().expect("re-serialises"))
                    .expect("re-serialised superblock parses");
                assert_eq!(again, sb);
            }
        }
        1 => {
            let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
                return;
            };
            let len = u32::from_le_bytes(*len) as usize;
            let (Some(sb), Some(p)) = (rest.get(..len), rest.get(len..)) else {
                return;
            };
            let Ok(sb) = Superblock::parse(sb) else {
                return;
            };
            let objects = sb
                .parts
                .first()
                .map(|h| h.objects.clone())
                .unwrap_or_default();
            if let Ok(payload) = part::decode(p, None, "part 0") {
                if let Ok((builds, _)) = apply::plan(&objects, &payload) {
                    for b in builds {
                        let ranges: Vec<std::ops::Range<usize>> = match b {
                            apply::Build::Meta { data, .. } => vec![data],
                            apply::Build::Content { pieces, .. } => pieces
                                .into_iter()
                                .filter_map(|p| match p {
                                    apply::Piece::Payload(r) => Some(r),
                                    apply::Piece::Patch { patch, .. } => Some(patch),
                                    apply::Piece::Source { .. } => None,
                                })
                                .collect(),
                        };
                        for r in ranges {
                            assert!(r.start <= r.end && r.end <= payload.raw.len());
                        }
                    }
                }
            }
        }
        _ => {
            let _ = atomboot_repo::summary::parse_deltas(bytes);
        }
    }
});
