//! Replays the named proofs of tests/malformed/ (written by host-tools/tests/boot_proof.rs from a real signed
//! commit, ATOMBOOT_REGEN_PROOFS=1): each is refused with exactly its error; `good` verifies. The vendor key
//! is the ed25519 key of seed [7; 32], as in that test.

use boot_proof::{Part, ProofError, Request, Role};
use std::path::Path;

fn vendor_key() -> [u8; 32] {
    *ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32])).pk
}

const ALL: Request = Request {
    ramdisk: true,
    fdt: true,
};

fn expected() -> Vec<(&'static str, Result<(), ProofError>)> {
    use ProofError::*;
    let k = Role::Kernel;
    vec![
        ("good", Ok(())),
        ("bad-magic", Err(BadMagic)),
        ("bad-version", Err(BadMagic)),
        ("truncated-commit", Err(Truncated(Part::Commit))),
        ("truncated-signature", Err(Truncated(Part::Signatures))),
        ("trailing-bytes", Err(TrailingBytes)),
        ("no-signatures", Err(Empty(Part::Signatures))),
        ("unknown-key", Err(NoValidSignature)),
        ("tampered-commit", Err(NoValidSignature)),
        ("signature-of-other-bytes", Err(NoValidSignature)),
        (
            "wrong-dirtree-checksum",
            Err(MissingDirTree { role: k, depth: 4 }),
        ),
        (
            "missing-path-element",
            Err(MissingDirTree { role: k, depth: 2 }),
        ),
        (
            "file-named-twice",
            Err(DuplicateEntry { role: k, depth: 4 }),
        ),
        (
            "file-and-dir-same-name",
            Err(DuplicateEntry { role: k, depth: 4 }),
        ),
        (
            "malformed-dirtree-gvariant",
            Err(MalformedDirTree { role: k, depth: 4 }),
        ),
        ("malformed-commit-gvariant", Err(MalformedCommit)),
        (
            "file-absent-from-dirtree",
            Err(NotFound {
                role: Role::Fdt,
                depth: 4,
            }),
        ),
        ("path-outside-modules", Err(BadPath(k))),
        ("path-with-dotdot", Err(BadPath(k))),
        ("two-kernel-versions", Err(KernelVersionMismatch)),
        ("duplicate-role", Err(DuplicateRole(k))),
        ("missing-ramdisk", Err(MissingRole(Role::Ramdisk))),
        ("content-for-kernel", Err(UnexpectedContent(k))),
        ("kernel-header-symlink", Err(NotRegular(k))),
        ("kernel-header-malformed", Err(MalformedHeader(k))),
        ("kargs-content-not-signed", Err(KargsMismatch)),
        ("kargs-sets-ostree", Err(KargsSetsOstree)),
        ("kargs-control-bytes", Err(KargsSyntax)),
        ("unknown-role-code", Err(UnknownRole(9))),
        ("too-many-dirtrees", Err(TooMany(Part::DirTrees))),
    ]
}

#[test]
fn every_named_proof_fails_with_its_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let table = expected();
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut named: Vec<String> = table.iter().map(|(n, _)| format!("{n}.proof")).collect();
    named.sort();
    assert_eq!(on_disk, named, "tests/malformed and this table disagree");
    let key = vendor_key();
    for (name, want) in table {
        let bytes = std::fs::read(dir.join(format!("{name}.proof"))).unwrap();
        let got = boot_proof::verify(&bytes, &[key], ALL).map(|_| ());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn good_proof_proves_nothing_with_an_empty_key_list() {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/good.proof"))
            .unwrap();
    assert_eq!(
        boot_proof::verify(&bytes, &[], ALL),
        Err(ProofError::NoValidSignature)
    );
}
