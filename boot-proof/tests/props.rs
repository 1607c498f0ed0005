//! Property tests: no input panics the parser or the chain walk, and a changed proof either fails or proves
//! exactly what the original proved (the signature and the checksums leave nothing else to change).

use boot_proof::{cmdline, Request, Role, VerifiedEntry};
use proptest::prelude::*;
use std::path::Path;

const ALL: Request = Request {
    ramdisk: true,
    fdt: true,
};

fn good() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/good.proof")).unwrap()
}

fn key() -> [u8; 32] {
    *ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32])).pk
}

/// What a verified entry vouches for.
fn vouched(e: &VerifiedEntry<'_>) -> ([u8; 32], Vec<[u8; 32]>, String) {
    let sums = [Role::Kernel, Role::Ramdisk, Role::Fdt]
        .iter()
        .map(|r| *e.file(*r).unwrap().checksum())
        .collect();
    (*e.commit(), sums, e.kargs().to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_proofs_fail_or_prove_the_same(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let g = good();
        let k = key();
        let want = vouched(&boot_proof::verify(&g, &[k], ALL).unwrap());
        let mut b = g.clone();
        for (i, v) in &edits {
            let i = i.index(b.len());
            b[i] = *v;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        if let Ok(e) = boot_proof::verify(&b, &[k], ALL) {
            prop_assert_eq!(vouched(&e), want);
        }
    }

    #[test]
    fn arbitrary_bytes_after_the_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut b = b"ATBPROOF\x01".to_vec();
        b.extend_from_slice(&tail);
        let _ = boot_proof::verify(&b, &[key()], ALL);
    }

    #[test]
    fn gvariant_readers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300), name in "[a-z]{1,4}") {
        let _ = boot_proof::objects::commit_root_tree(&b);
        let _ = boot_proof::objects::dirtree_lookup(&b, name.as_bytes());
        let _ = boot_proof::objects::file_header_is_regular(&b);
    }

    /// Device arguments: accepted only when every word is allowed; then they follow `ostree=` and the signed
    /// arguments unchanged.
    #[test]
    fn device_arguments_only_from_the_allow_list(words in proptest::collection::vec("(console=[a-zA-Z0-9,]{1,8}|quiet|init=/bin/sh|root=/dev/sda|rw)", 0..6)) {
        let g = good();
        let e = boot_proof::verify(&g, &[key()], ALL).unwrap();
        let hex: String = e.commit().iter().map(|b| format!("{b:02x}")).collect();
        let ostree = format!("ostree=/ostree/deploy/atom/deploy/{hex}.0");
        let args = format!("{ostree} {}", words.join(" "));
        let allow = ["console=", "quiet"];
        let mut buf = [0u8; 1024];
        let all_allowed = words.iter().all(|w| w.starts_with("console=") || w == "quiet");
        match cmdline::build(&e, &args, &allow, &mut buf) {
            Ok(s) => {
                prop_assert!(all_allowed);
                let signed: Vec<&str> = e.kargs().split_whitespace().collect();
                let mut want = vec![ostree.as_str()];
                want.extend(signed);
                want.extend(words.iter().map(String::as_str));
                prop_assert_eq!(s, want.join(" "));
            }
            Err(cmdline::CmdlineError::NotAllowed(w)) => {
                prop_assert!(!all_allowed);
                prop_assert!(!cmdline::allowed(w, &allow));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
