//! The delta parsers over the committed fuzz seeds (fuzz/seeds/delta_parse: real superblocks, parts and
//! summaries from both tools, and named malformed inputs, `malformed-*`), and over random mutations of
//! them: a value or a typed error, never a panic; the malformed ones are refused with the error named.

use atomboot_repo::delta::{apply, part, DeltaError, Superblock};
use proptest::prelude::*;
use std::path::PathBuf;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/delta_parse");
    let mut v: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(v.len() >= 10, "seeds in {}", d.display());
    v
}

/// What the fuzz target does, returning the first error.
fn run(data: &[u8]) -> Result<(), DeltaError> {
    let Some((&which, bytes)) = data.split_first() else {
        return Ok(());
    };
    match which % 3 {
        0 => Superblock::parse(bytes).map(|_| ()),
        1 => {
            let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
            let sb = Superblock::parse(&bytes[4..4 + len])?;
            let Some(h) = sb.parts.first() else {
                return Ok(());
            };
            let payload = part::decode(&bytes[4 + len..], Some(&h.checksum), "part 0")?;
            apply::plan(&h.objects, &payload).map(|_| ())
        }
        _ => atomboot_repo::summary::parse_deltas(bytes)
            .map(|_| ())
            .map_err(DeltaError::Repo),
    }
}

#[test]
fn real_inputs_parse_and_malformed_ones_are_refused() {
    for (name, data) in seeds() {
        let r = run(&data);
        match name.as_str() {
            "malformed-part-truncated" | "malformed-part-unknown-compression" => assert!(
                matches!(r, Err(DeltaError::PartChecksum { .. })),
                "{name}: {r:?}"
            ),
            n if n.starts_with("malformed-superblock") => assert!(
                matches!(
                    r,
                    Err(DeltaError::Malformed { .. } | DeltaError::CommitMismatch { .. })
                ),
                "{name}: {r:?}"
            ),
            _ => assert!(r.is_ok(), "{name}: {r:?}"),
        }
    }
}

#[test]
fn unchecked_malformed_parts_are_refused_by_name() {
    let seeds = seeds();
    let (_, part) = seeds.iter().find(|(n, _)| n == "part-ours-from").unwrap();
    let len = u32::from_le_bytes(part[1..5].try_into().unwrap()) as usize;
    let p = &part[5 + len..];
    let e = part::decode(&p[..p.len() / 2], None, "part 0").unwrap_err();
    assert!(
        e.to_string().starts_with("malformed delta part 0: xz:"),
        "{e}"
    );
    let mut z = p.to_vec();
    z[0] = b'z';
    let e = part::decode(&z, None, "part 0").unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed delta part 0: unknown compression type 122"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn mutated_seeds_never_panic(i in 0usize..14, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let s = seeds();
        let (_, d) = &s[i % s.len()];
        let mut d = d.clone();
        if d.len() > 1 {
            let k = 1 + at.index(d.len() - 1);
            d[k] = byte;
            let keep = 1 + cut.index(d.len() - 1);
            if byte % 4 == 0 {
                d.truncate(keep);
            }
        }
        // Hostile lengths in the selector-1 layout are bounded by the data: never an out-of-range slice.
        if d.first().map(|w| w % 3) == Some(1) {
            let len = d.get(1..5).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
            if len.is_none_or(|l| 5 + l > d.len()) {
                return Ok(());
            }
        }
        let _ = run(&d);
    }
}
