//! Boot proofs built from a real repository commit (made with `atomboot commit`, signed here the way OSTree's
//! ed25519 signer stores signatures) and verified with the agent's no_std `boot-proof` crate. Debian's
//! `ostree` referees the content checksums and reads the `.commitmeta` written here. Also writes the named
//! malformed proofs of boot-proof/tests/malformed/ (with ATOMBOOT_REGEN_PROOFS=1) and checks each fails with
//! its error.

#[path = "admin_common.rs"]
mod common;

use atomboot_repo::gvariant::{self, Type, Value};
use atomboot_repo::{Checksum, DirTree, ObjectType, Repo};
use boot_proof::cmdline::{self, CmdlineError};
use boot_proof::{ProofError, Request, Role};
use ed25519_compact::{KeyPair, Seed};
use host_tools::deploy::proof::{self, ProofBuildError, ProofParts, ED25519_KEY};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// The vendor's key in every test (the malformed-proof replay in boot-proof uses the same seed).
const VENDOR_SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [9; 32];
const ALL: Request = Request {
    ramdisk: true,
    fdt: true,
};

fn key(seed: [u8; 32]) -> KeyPair {
    KeyPair::from_seed(Seed::new(seed))
}

fn pk(seed: [u8; 32]) -> [u8; 32] {
    *key(seed).pk
}

fn atomboot(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args(args)
        .output()
        .expect("run atomboot");
    assert!(
        o.status.success(),
        "atomboot {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn write(p: &Path, data: &[u8], mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An OS tree with one kernel directory, a kargs file and some unrelated files.
fn make_tree(t: &Path, kernel: &[u8], kargs: &str) {
    let m = t.join("usr/lib/modules/6.1.0-atom");
    write(&m.join("vmlinuz"), kernel, 0o644);
    write(&m.join("initramfs.img"), b"initramfs bytes\n", 0o644);
    write(&m.join("devicetree"), b"\xd0\x0d\xfe\xed fdt", 0o644);
    write(&m.join("modules.dep"), b"", 0o644);
    write(&t.join("usr/lib/atomboot/kargs"), kargs.as_bytes(), 0o644);
    write(&t.join("usr/lib/os-release"), b"ID=atom\n", 0o644);
    write(&t.join("usr/bin/sh"), b"#!shell", 0o755);
    write(&t.join("etc/hostname"), b"atom\n", 0o644);
}

/// Commits `tree` with the CLI (deterministic: fixed time and owner).
fn commit(repo: &Path, tree: &Path) -> Checksum {
    let r = format!("--repo={}", repo.display());
    let c = atomboot(&[
        &r,
        "commit",
        "-b",
        "os/stable",
        "-s",
        "signed release",
        "--timestamp=@1700000000",
        "--owner-uid=0",
        "--owner-gid=0",
        "--parent=none",
        tree.to_str().unwrap(),
    ]);
    Checksum::from_hex(&c).unwrap()
}

/// `a{sv}` with `ostree.sign.ed25519` -> `aay`, as OSTree's ed25519 signer writes `.commitmeta`.
fn commitmeta(sigs: &[[u8; 64]]) -> Vec<u8> {
    let v = Value::Array(vec![Value::DictEntry(
        Box::new(Value::Str(ED25519_KEY.into())),
        Box::new(Value::Variant(
            Type::parse("aay").unwrap(),
            Box::new(Value::Array(
                sigs.iter().map(|s| Value::Bytes(s.to_vec())).collect(),
            )),
        )),
    )]);
    gvariant::serialize(&Type::parse("a{sv}").unwrap(), &v).unwrap()
}

fn sign(bytes: &[u8], seed: [u8; 32]) -> [u8; 64] {
    *key(seed).sk.sign(bytes, None)
}

/// Signs `commit` in `repo` with the vendor key.
fn sign_commit(repo: &Repo, commit: &Checksum) -> [u8; 64] {
    let bytes = repo.store.read_meta(commit, ObjectType::Commit).unwrap();
    let sig = sign(&bytes, VENDOR_SEED);
    std::fs::write(
        repo.store.object_path(commit, ObjectType::CommitMeta),
        commitmeta(&[sig]),
    )
    .unwrap();
    sig
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo_path: std::path::PathBuf,
    repo: Repo,
    commit: Checksum,
    kernel: Vec<u8>,
}

fn fixture(kargs: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo_path = dir.path().join("repo");
    atomboot(&[
        &format!("--repo={}", repo_path.display()),
        "init",
        "--mode=archive",
    ]);
    let tree = dir.path().join("tree");
    let kernel: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    make_tree(&tree, &kernel, kargs);
    let commit = commit(&repo_path, &tree);
    let repo = Repo::open(&repo_path).unwrap();
    sign_commit(&repo, &commit);
    Fixture {
        _dir: dir,
        repo_path,
        repo,
        commit,
        kernel,
    }
}

/// The content checksum Debian's ostree lists for `path` in `commit`.
fn ostree_checksum(repo: &Path, commit: &Checksum, path: &str) -> [u8; 32] {
    let o = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(["ls", "-C", &commit.to_hex(), path])
        .output()
        .expect("run Debian's ostree (scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let hex = out.split_whitespace().nth(4).unwrap();
    Checksum::from_hex(hex).unwrap().0
}

#[test]
fn proof_of_a_signed_commit_verifies_and_names_ostrees_checksums() {
    let f = fixture("quiet rw\nloglevel=4\n");
    let bytes = proof::build(&f.repo, &f.commit, None).unwrap();
    let other = pk(OTHER_SEED);
    let e = boot_proof::verify(&bytes, &[other, pk(VENDOR_SEED)], ALL).unwrap();
    assert_eq!(e.key_index(), 1);
    assert_eq!(*e.commit(), f.commit.0);
    assert_eq!(e.kargs(), "quiet rw\nloglevel=4\n");
    let dir = "/usr/lib/modules/6.1.0-atom";
    for (role, name) in [
        (Role::Kernel, "vmlinuz"),
        (Role::Ramdisk, "initramfs.img"),
        (Role::Fdt, "devicetree"),
    ] {
        let vf = e.file(role).unwrap();
        assert_eq!(
            *vf.checksum(),
            ostree_checksum(&f.repo_path, &f.commit, &format!("{dir}/{name}")),
            "{role}"
        );
    }
    // The kernel's bytes, as loaded, in one pass and in pieces.
    let k = e.file(Role::Kernel).unwrap();
    k.verify(&f.kernel).unwrap();
    let mut h = k.hasher();
    for chunk in f.kernel.chunks(4096) {
        h.update(chunk);
    }
    h.finish().unwrap();
    let mut bad = f.kernel.clone();
    bad[123_456] ^= 1;
    assert_eq!(
        k.verify(&bad),
        Err(ProofError::ContentMismatch(Role::Kernel))
    );
    assert_eq!(
        k.verify(&f.kernel[..f.kernel.len() - 1]),
        Err(ProofError::ContentMismatch(Role::Kernel))
    );
    // Only the vendor key verifies.
    assert_eq!(
        boot_proof::verify(&bytes, &[other], ALL),
        Err(ProofError::NoValidSignature)
    );
    // The loader copy must boot exactly the files proven.
    assert_eq!(
        boot_proof::verify(
            &bytes,
            &[pk(VENDOR_SEED)],
            Request {
                ramdisk: true,
                fdt: false
            }
        ),
        Err(ProofError::UnexpectedRole(Role::Fdt))
    );
}

#[test]
fn commitmeta_is_read_by_debians_ostree() {
    let f = fixture("");
    let bytes = f
        .repo
        .store
        .read_meta(&f.commit, ObjectType::Commit)
        .unwrap();
    let sig = sign(&bytes, VENDOR_SEED);
    let o = Command::new("ostree")
        .arg(format!("--repo={}", f.repo_path.display()))
        .args([
            "show",
            &format!("--print-detached-metadata-key={ED25519_KEY}"),
            &f.commit.to_hex(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    // GLib prints aay as [[byte 0x.., 0x.., ...]].
    let got: Vec<u8> = out
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|w| w.strip_prefix("0x"))
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(got, sig.to_vec(), "ostree printed {out}");
    assert_eq!(proof::signatures(&f.repo, &f.commit).unwrap(), vec![sig]);
}

#[test]
fn unsigned_commit_and_missing_kargs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let rp = dir.path().join("repo");
    atomboot(&[
        &format!("--repo={}", rp.display()),
        "init",
        "--mode=archive",
    ]);
    let tree = dir.path().join("tree");
    make_tree(&tree, b"kernel", "");
    std::fs::remove_file(tree.join("usr/lib/atomboot/kargs")).unwrap();
    let c = commit(&rp, &tree);
    let repo = Repo::open(&rp).unwrap();
    let e = proof::build(&repo, &c, None).unwrap_err();
    assert!(matches!(e, ProofBuildError::NotSigned(x) if x == c), "{e}");
    sign_commit(&repo, &c);
    let e = proof::build(&repo, &c, None).unwrap_err();
    assert!(
        matches!(e, ProofBuildError::NoKargs { commit } if commit == c),
        "{e}"
    );
}

#[test]
fn signed_command_line() {
    let f = fixture("quiet\n");
    let bytes = proof::build(&f.repo, &f.commit, None).unwrap();
    let e = boot_proof::verify(&bytes, &[pk(VENDOR_SEED)], ALL).unwrap();
    let c = f.commit.to_hex();
    let allow = ["console=", "panic=", "rootwait"];
    let mut buf = [0u8; 1024];
    let args = format!("ostree=/ostree/deploy/atom/deploy/{c}.1 console=ttyS0,115200 rootwait");
    assert_eq!(
        cmdline::build(&e, &args, &allow, &mut buf).unwrap(),
        format!("ostree=/ostree/deploy/atom/deploy/{c}.1 quiet console=ttyS0,115200 rootwait")
    );
    let boot_form = format!("ostree=/ostree/boot.1/atom/{}/0", "ab".repeat(32));
    assert_eq!(
        cmdline::build(&e, &boot_form, &allow, &mut buf).unwrap(),
        format!("{boot_form} quiet")
    );
    let init = format!("ostree=/ostree/deploy/atom/deploy/{c}.1 init=/bin/sh");
    assert_eq!(
        cmdline::build(&e, &init, &allow, &mut buf),
        Err(CmdlineError::NotAllowed("init=/bin/sh"))
    );
    let other = format!("ostree=/ostree/deploy/atom/deploy/{}.0", "0".repeat(64));
    assert_eq!(
        cmdline::build(&e, &other, &allow, &mut buf),
        Err(CmdlineError::CommitMismatch(&other["ostree=".len()..]))
    );
    for bad in [
        format!("/ostree/deploy/../deploy/{c}.0"),
        format!("/ostree/deploy/a/b/deploy/{c}.0"),
        format!("/ostree/deploy/atom/deploy/{c}.01"),
        format!("/ostree/deploy/atom/deploy/{}.0", c.to_uppercase()),
        format!("/ostree/boot.2/atom/{c}/0"),
        format!("/ostree/boot.0/atom/{}/0", "g".repeat(64)),
        format!("/ostree/boot.0/atom/{c}/0/x"),
    ] {
        let a = format!("ostree={bad}");
        assert_eq!(
            cmdline::build(&e, &a, &allow, &mut buf),
            Err(CmdlineError::BadOstree(&a["ostree=".len()..])),
            "{a}"
        );
    }
    assert_eq!(
        cmdline::build(&e, "console=ttyS0", &allow, &mut buf),
        Err(CmdlineError::NoOstree)
    );
    let two = format!("{args} {args}");
    assert_eq!(
        cmdline::build(&e, &two, &allow, &mut buf),
        Err(CmdlineError::TwoOstree)
    );
    let long = format!("{args} {}", "console=x ".repeat(100));
    assert_eq!(
        cmdline::build(&e, &long, &allow, &mut buf),
        Err(CmdlineError::TooLong)
    );
}

// ---- Named malformed proofs -------------------------------------------------------------------------

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn replace32(hay: &mut [u8], old: &[u8; 32], new: &[u8; 32]) -> bool {
    match hay.windows(32).position(|w| w == old) {
        Some(i) => {
            hay[i..i + 32].copy_from_slice(new);
            true
        }
        None => false,
    }
}

/// Replaces dirtree `i` with `new` and rewrites its ancestors' entries and the commit's root checksum, then
/// re-signs the commit with the vendor key: a chain the vendor really signed, holding `new`.
fn rechain(p: &mut ProofParts, i: usize, new: Vec<u8>) {
    let mut old = sha(&p.dirtrees[i]);
    p.dirtrees[i] = new;
    let mut cur = i;
    loop {
        let newsum = sha(&p.dirtrees[cur]);
        let parent = (0..p.dirtrees.len())
            .find(|&j| j != cur && p.dirtrees[j].windows(32).any(|w| w == old));
        match parent {
            Some(j) => {
                let prev = sha(&p.dirtrees[j]);
                assert!(replace32(&mut p.dirtrees[j], &old, &newsum));
                old = prev;
                cur = j;
            }
            None => {
                assert!(replace32(&mut p.commit, &old, &newsum));
                break;
            }
        }
    }
    p.signatures = vec![sign(&p.commit, VENDOR_SEED)];
}

/// Index of the dirtree naming `name` (as a file or a directory).
fn tree_naming(p: &ProofParts, name: &str) -> usize {
    p.dirtrees
        .iter()
        .position(|t| {
            DirTree::parse(t).is_ok_and(|d| {
                d.files.iter().any(|f| f.0 == name) || d.dirs.iter().any(|f| f.0 == name)
            })
        })
        .unwrap()
}

fn file_mut(p: &mut ProofParts, role: Role) -> &mut (Role, String, Vec<u8>, Vec<u8>) {
    p.files.iter_mut().find(|f| f.0 == role).unwrap()
}

fn resign_kargs(p: &mut ProofParts, content: &[u8]) {
    // Replace the kargs file: new content checksum in its dirtree, re-chained and re-signed.
    let (_, _, header, _) = file_mut(p, Role::Kargs).clone();
    let mut s = Sha256::new();
    s.update(boot_proof::size_prefix(header.len()));
    s.update(&header);
    s.update(content);
    let new: [u8; 32] = s.finalize().into();
    let i = tree_naming(p, "kargs");
    let mut t = DirTree::parse(&p.dirtrees[i]).unwrap();
    t.files.iter_mut().find(|f| f.0 == "kargs").unwrap().1 = Checksum(new);
    rechain(p, i, t.serialize());
    file_mut(p, Role::Kargs).3 = content.to_vec();
}

type Case = (&'static str, Vec<u8>, Result<(), ProofError>);

fn cases(good: &ProofParts) -> Vec<Case> {
    let enc = |f: &dyn Fn(&mut ProofParts)| {
        let mut p = good.clone();
        f(&mut p);
        p.encode()
    };
    let kver_tree = tree_naming(good, "vmlinuz");
    let lib_tree = tree_naming(good, "modules");
    let g = good.encode();
    let sig_at = 8 + 1 + 4 + good.commit.len() + 1;
    let mut v: Vec<Case> = vec![
        ("good", g.clone(), Ok(())),
        (
            "bad-magic",
            {
                let mut b = g.clone();
                b[0] = b'X';
                b
            },
            Err(ProofError::BadMagic),
        ),
        (
            "bad-version",
            {
                let mut b = g.clone();
                b[8] = 2;
                b
            },
            Err(ProofError::BadMagic),
        ),
        (
            "truncated-commit",
            g[..20].to_vec(),
            Err(ProofError::Truncated(boot_proof::Part::Commit)),
        ),
        (
            "truncated-signature",
            g[..sig_at + 40].to_vec(),
            Err(ProofError::Truncated(boot_proof::Part::Signatures)),
        ),
        (
            "trailing-bytes",
            {
                let mut b = g.clone();
                b.push(0);
                b
            },
            Err(ProofError::TrailingBytes),
        ),
        (
            "no-signatures",
            enc(&|p| p.signatures.clear()),
            Err(ProofError::Empty(boot_proof::Part::Signatures)),
        ),
        (
            "unknown-key",
            enc(&|p| p.signatures = vec![sign(&p.commit, OTHER_SEED)]),
            Err(ProofError::NoValidSignature),
        ),
        (
            "tampered-commit",
            enc(&|p| {
                let i = p.commit.windows(6).position(|w| w == b"signed").unwrap();
                p.commit[i] = b'S';
            }),
            Err(ProofError::NoValidSignature),
        ),
        (
            "signature-of-other-bytes",
            enc(&|p| p.signatures = vec![sign(b"something else", VENDOR_SEED)]),
            Err(ProofError::NoValidSignature),
        ),
        (
            "wrong-dirtree-checksum",
            enc(&|p| {
                let t = &mut p.dirtrees[kver_tree];
                t[40] ^= 1;
            }),
            Err(ProofError::MissingDirTree {
                role: Role::Kernel,
                depth: 4,
            }),
        ),
        (
            "missing-path-element",
            enc(&|p| {
                p.dirtrees.remove(lib_tree);
            }),
            Err(ProofError::MissingDirTree {
                role: Role::Kernel,
                depth: 2,
            }),
        ),
        (
            "file-named-twice",
            enc(&|p| {
                let mut t = DirTree::parse(&p.dirtrees[kver_tree]).unwrap();
                let k = t.files.iter().find(|f| f.0 == "vmlinuz").unwrap().clone();
                t.files.push(("vmlinuz".into(), Checksum([0xee; 32])));
                t.files.push(k);
                rechain(p, kver_tree, t.serialize());
            }),
            Err(ProofError::DuplicateEntry {
                role: Role::Kernel,
                depth: 4,
            }),
        ),
        (
            "file-and-dir-same-name",
            enc(&|p| {
                let mut t = DirTree::parse(&p.dirtrees[kver_tree]).unwrap();
                t.dirs
                    .push(("vmlinuz".into(), Checksum([1; 32]), Checksum([2; 32])));
                rechain(p, kver_tree, t.serialize());
            }),
            Err(ProofError::DuplicateEntry {
                role: Role::Kernel,
                depth: 4,
            }),
        ),
        (
            "malformed-dirtree-gvariant",
            enc(&|p| {
                let mut t = p.dirtrees[kver_tree].clone();
                let n = t.len();
                t[n - 1] = 0xff; // framing offset past the end
                rechain(p, kver_tree, t);
            }),
            Err(ProofError::MalformedDirTree {
                role: Role::Kernel,
                depth: 4,
            }),
        ),
        (
            "malformed-commit-gvariant",
            enc(&|p| {
                let n = p.commit.len();
                p.commit[n - 1] = 0xff;
                p.signatures = vec![sign(&p.commit, VENDOR_SEED)];
            }),
            Err(ProofError::MalformedCommit),
        ),
        (
            "file-absent-from-dirtree",
            enc(&|p| file_mut(p, Role::Fdt).1 = "usr/lib/modules/6.1.0-atom/dtb/board.dtb".into()),
            Err(ProofError::NotFound {
                role: Role::Fdt,
                depth: 4,
            }),
        ),
        (
            "path-outside-modules",
            enc(&|p| file_mut(p, Role::Kernel).1 = "usr/bin/sh".into()),
            Err(ProofError::BadPath(Role::Kernel)),
        ),
        (
            "path-with-dotdot",
            enc(&|p| file_mut(p, Role::Kernel).1 = "usr/lib/modules/../vmlinuz".into()),
            Err(ProofError::BadPath(Role::Kernel)),
        ),
        (
            "two-kernel-versions",
            enc(&|p| file_mut(p, Role::Fdt).1 = "usr/lib/modules/6.2/devicetree".into()),
            Err(ProofError::KernelVersionMismatch),
        ),
        (
            "duplicate-role",
            enc(&|p| {
                let k = file_mut(p, Role::Kernel).clone();
                *file_mut(p, Role::Ramdisk) = k;
            }),
            Err(ProofError::DuplicateRole(Role::Kernel)),
        ),
        (
            "missing-ramdisk",
            enc(&|p| p.files.retain(|f| f.0 != Role::Ramdisk)),
            Err(ProofError::MissingRole(Role::Ramdisk)),
        ),
        (
            "content-for-kernel",
            enc(&|p| file_mut(p, Role::Kernel).3 = b"x".to_vec()),
            Err(ProofError::UnexpectedContent(Role::Kernel)),
        ),
        (
            "kernel-header-symlink",
            enc(&|p| {
                let h = &mut file_mut(p, Role::Kernel).2;
                h[8..12].copy_from_slice(&0o120777u32.to_be_bytes()); // mode: a symlink
            }),
            Err(ProofError::NotRegular(Role::Kernel)),
        ),
        (
            "kernel-header-malformed",
            enc(&|p| file_mut(p, Role::Kernel).2.truncate(10)),
            Err(ProofError::MalformedHeader(Role::Kernel)),
        ),
        (
            "kargs-content-not-signed",
            enc(&|p| file_mut(p, Role::Kargs).3 = b"init=/bin/sh".to_vec()),
            Err(ProofError::KargsMismatch),
        ),
        (
            "kargs-sets-ostree",
            enc(&|p| resign_kargs(p, b"quiet ostree=/ostree/deploy/evil/deploy/x.0")),
            Err(ProofError::KargsSetsOstree),
        ),
        (
            "kargs-control-bytes",
            enc(&|p| resign_kargs(p, b"quiet\x1b[2J")),
            Err(ProofError::KargsSyntax),
        ),
        (
            "too-many-dirtrees",
            enc(&|p| {
                while p.dirtrees.len() <= boot_proof::format::MAX_DIRTREES {
                    p.dirtrees.push(vec![0]);
                }
            }),
            Err(ProofError::TooMany(boot_proof::Part::DirTrees)),
        ),
    ];
    // A role code no version knows: patch the first file record's role byte.
    let mut b = g.clone();
    let files_at = b.len() - {
        let mut tail = 0;
        for (_, path, h, c) in &good.files {
            tail += 1 + 2 + path.len() + 4 + h.len() + 4 + c.len();
        }
        tail
    };
    b[files_at] = 9;
    v.push(("unknown-role-code", b, Err(ProofError::UnknownRole(9))));
    v
}

#[test]
fn named_malformed_proofs_fail_with_their_error() {
    let f = fixture("quiet\n");
    let good = proof::build_parts(&f.repo, &f.commit, None).unwrap();
    let regen = std::env::var_os("ATOMBOOT_REGEN_PROOFS").is_some();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boot-proof/tests/malformed");
    for (name, bytes, want) in cases(&good) {
        let got = boot_proof::verify(&bytes, &[pk(VENDOR_SEED)], ALL).map(|_| ());
        assert_eq!(got, want, "case {name}");
        if regen {
            std::fs::write(dir.join(format!("{name}.proof")), &bytes).unwrap();
        }
    }
}

// ---- The no_std dirtree reader against the repository's serialiser ----------------------------------

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn dirtree_lookup_agrees_with_the_repository(
        files in proptest::collection::btree_map(name(), any::<[u8; 32]>(), 0..40),
        dirs in proptest::collection::btree_map(name(), any::<([u8; 32], [u8; 32])>(), 0..40),
        probe in name(),
    ) {
        use boot_proof::objects::{dirtree_lookup, DirTreeError, Lookup};
        let t = DirTree {
            files: files.iter().map(|(n, c)| (n.clone(), Checksum(*c))).collect(),
            dirs: dirs.iter().map(|(n, (a, b))| (n.clone(), Checksum(*a), Checksum(*b))).collect(),
        };
        let bytes = t.serialize();
        for n in files.keys().chain(dirs.keys()).chain([&probe]) {
            let got = dirtree_lookup(&bytes, n.as_bytes());
            let want = match (files.get(n), dirs.get(n)) {
                (Some(_), Some(_)) => Err(DirTreeError::Duplicate),
                (Some(c), None) => Ok(Lookup::File(*c)),
                (None, Some((tc, _))) => Ok(Lookup::Dir(*tc)),
                (None, None) => Ok(Lookup::Absent),
            };
            prop_assert_eq!(got, want);
        }
    }
}

/// `admin deploy` of a signed commit stores its proof beside the boot files as `proof-<commit>` and names
/// it in the loader copy (`atomboot_proof`); the proof verifies with the vendor key and the deployed boot
/// files pass its content check. The fallback keeps its own key. An unsigned commit gets neither.
#[test]
fn admin_deploy_writes_the_proof_of_a_signed_commit_and_names_it() {
    let f = fixture("quiet\n");
    let d = f._dir.path();
    let sysroot = d.join("sysroot");
    let boot = d.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let s = sysroot.to_str().unwrap();
    let b = boot.to_str().unwrap();
    let r = format!("--repo={}", f.repo_path.display());
    atomboot(&["admin", "--boot", b, "init-fs", s]);
    let admin = |args: &[&str]| {
        let mut a = vec!["admin", "--sysroot", s, "--boot", b, &r];
        a.extend_from_slice(args);
        atomboot(&a)
    };
    admin(&["os-init", "atom"]);
    // An unsigned second commit (another kernel), deployed first: no proof, no key.
    let tree2 = d.join("tree2");
    make_tree(&tree2, b"unsigned kernel", "quiet\n");
    let unsigned = commit(&f.repo_path, &tree2);
    admin(&["deploy", "--force", &unsigned.to_hex()]);
    admin(&["deploy", "--force", &f.commit.to_hex()]);

    let read_loader = || {
        let l0 = std::fs::read(boot.join("loader.0/uEnv.txt")).unwrap();
        let l1 = std::fs::read(boot.join("loader.1/uEnv.txt")).unwrap();
        (l0, l1)
    };
    let (l0, l1) = read_loader();
    let sel = uenv::boot_config::select(Some(&l0), Some(&l1)).unwrap();
    let primary = sel.config.primary;
    let proof_path = primary.proof.expect("signed default names its proof");
    let kernel_path = primary.kernel.path;
    let dir = kernel_path.rsplit_once('/').unwrap().0;
    assert_eq!(proof_path, format!("{dir}/proof-{}", f.commit.to_hex()));
    let text = String::from_utf8_lossy(if sel.copy.index() == 0 { &l0 } else { &l1 }).into_owned();
    assert!(
        text.contains(&format!("\natomboot_proof={proof_path}\n")),
        "{text}"
    );
    let fallback = sel
        .config
        .fallback
        .expect("the unsigned commit is the fallback");
    assert_eq!(fallback.proof, None);
    assert!(!text.contains("atomboot_proof2="), "{text}");

    let stored = std::fs::read(boot.join(proof_path.trim_start_matches('/'))).unwrap();
    assert_eq!(stored, proof::build(&f.repo, &f.commit, None).unwrap());
    let request = Request {
        ramdisk: primary.ramdisk.is_some(),
        fdt: primary.fdt.is_some(),
    };
    let e = boot_proof::verify(&stored, &[pk(VENDOR_SEED)], request).unwrap();
    for (role, file) in [
        (Role::Kernel, Some(primary.kernel)),
        (Role::Ramdisk, primary.ramdisk),
        (Role::Fdt, primary.fdt),
    ] {
        let file = file.unwrap();
        let bytes = std::fs::read(boot.join(file.path.trim_start_matches('/'))).unwrap();
        e.file(role).unwrap().verify(&bytes).unwrap();
    }
    // The signed kargs and the loader's bootargs make the signed command line.
    let mut out = [0u8; 1024];
    let line = cmdline::build(&e, primary.bootargs, &["console="], &mut out).unwrap();
    assert!(line.starts_with(&format!(
        "ostree=/ostree/deploy/atom/deploy/{}.0 quiet",
        f.commit.to_hex()
    )));

    // Deployed again (a second deployment of the same commit, same boot files): the same directory and
    // proof; both entries name it.
    admin(&["deploy", "--force", &f.commit.to_hex()]);
    let (l0, l1) = read_loader();
    let sel = uenv::boot_config::select(Some(&l0), Some(&l1)).unwrap();
    assert_eq!(sel.config.primary.proof, Some(proof_path));
    assert_eq!(sel.config.fallback.and_then(|f| f.proof), Some(proof_path));
    assert!(boot.join(proof_path.trim_start_matches('/')).is_file());
}

/// A signed commit without the kargs file is deployed (with a warning naming why) but gets no proof.
#[test]
fn admin_deploy_of_a_signed_commit_without_kargs_warns_and_names_no_proof() {
    let f = fixture("");
    let d = f._dir.path();
    let tree = d.join("tree-nokargs");
    make_tree(&tree, b"kernel", "");
    std::fs::remove_dir_all(tree.join("usr/lib/atomboot")).unwrap();
    let c = commit(&f.repo_path, &tree);
    sign_commit(&f.repo, &c);
    let sysroot = d.join("sysroot");
    let boot = d.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let (s, b) = (sysroot.to_str().unwrap(), boot.to_str().unwrap());
    let r = format!("--repo={}", f.repo_path.display());
    atomboot(&["admin", "--boot", b, "init-fs", s]);
    atomboot(&["admin", "--sysroot", s, "--boot", b, &r, "os-init", "atom"]);
    let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args([
            "admin",
            "--sysroot",
            s,
            "--boot",
            b,
            &r,
            "deploy",
            "--force",
        ])
        .arg(c.to_hex())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "commit {} has no usr/lib/atomboot/kargs",
            c.to_hex()
        )) && err.contains("an agent built in signed mode will refuse it"),
        "{err}"
    );
    let l0 = std::fs::read(boot.join("loader.0/uEnv.txt")).unwrap();
    let l1 = std::fs::read(boot.join("loader.1/uEnv.txt")).unwrap();
    let sel = uenv::boot_config::select(Some(&l0), Some(&l1)).unwrap();
    assert_eq!(sel.config.primary.proof, None);
}

/// The boot script's steps (`boot_agent::script`) over a boot directory, with the agent library checking
/// as `policy`: what boots, or why nothing does, and the console lines.
mod agent {
    use crate::common::MapEnv;
    use boot_agent::script::{self, Buffers, End, Files};
    use boot_agent::Policy;
    use std::path::{Path, PathBuf};

    struct DirFiles(PathBuf);

    impl Files for DirFiles {
        fn load(&mut self, path: &str, max: usize, dst: &mut [u8]) -> Option<usize> {
            let bytes = std::fs::read(self.0.join(path.trim_start_matches('/'))).ok()?;
            let n = bytes.len().min(max).min(dst.len());
            dst[..n].copy_from_slice(&bytes[..n]);
            Some(n)
        }
    }

    struct Lines(Vec<String>);

    impl boot_agent::Console for Lines {
        fn line(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
    }

    struct NoClock;

    impl boot_agent::Clock for NoClock {
        fn now_ms(&self) -> u32 {
            0
        }
    }

    /// `Ok((slot, bootargs))` or `Err(atomboot_reason)`, and the console.
    pub fn boot<P: Policy>(
        boot: &Path,
        policy: &P,
    ) -> (Result<(&'static str, String), String>, String) {
        let mut small = [
            vec![0u8; 0x2000],
            vec![0u8; 0x2000],
            vec![0u8; 0x10000],
            vec![0u8; 0x10000],
        ];
        let (mut kernel, mut ramdisk, mut fdt) =
            (vec![0u8; 1 << 20], vec![0u8; 1 << 20], vec![0u8; 4096]);
        let (mut env_out, mut proof) = (vec![0u8; 0x10000], vec![0u8; 0x40000]);
        let [s0, s1, s2, s3] = &mut small;
        let mut bufs = Buffers {
            small: [s0, s1, s2, s3],
            env_out: &mut env_out,
            kernel: &mut kernel,
            ramdisk: &mut ramdisk,
            fdt: &mut fdt,
            proof: &mut proof,
        };
        let mut env = MapEnv::default();
        let mut console = Lines(Vec::new());
        let mut files = DirFiles(boot.to_path_buf());
        let end = script::run_with(
            policy,
            &mut env,
            &mut files,
            &mut bufs,
            &mut console,
            &NoClock,
        );
        let out = match end {
            End::Boot(plan) => Ok((plan.slot.name(), plan.files().cmdline().to_string())),
            End::Fail => Err(env.0.get("atomboot_reason").cloned().unwrap_or_default()),
        };
        (out, console.0.join("\n"))
    }
}

/// v1 and v2 signed, deployed by `admin deploy` (v2 the default, v1 the fallback) into a boot directory.
struct Signed2 {
    f: Fixture,
    boot: std::path::PathBuf,
    v1: Checksum,
    v2: Checksum,
}

fn signed_pair() -> Signed2 {
    let f = fixture("quiet\n");
    let d = f._dir.path().to_path_buf();
    let tree = d.join("tree-v2");
    let kernel2: Vec<u8> = (0..300_000u32).map(|i| (i * 11 % 253) as u8).collect();
    make_tree(&tree, &kernel2, "quiet loglevel=3\n");
    let v2 = commit(&f.repo_path, &tree);
    sign_commit(&f.repo, &v2);
    let sysroot = d.join("sysroot");
    let boot = d.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let (s, b) = (sysroot.to_str().unwrap(), boot.to_str().unwrap());
    let r = format!("--repo={}", f.repo_path.display());
    atomboot(&["admin", "--boot", b, "init-fs", s]);
    let admin = |args: &[&str]| {
        let mut a = vec!["admin", "--sysroot", s, "--boot", b, &r];
        a.extend_from_slice(args);
        atomboot(&a)
    };
    admin(&["os-init", "atom"]);
    let v1 = f.commit;
    admin(&[
        "deploy",
        "--force",
        "--karg",
        "console=ttyAMA0",
        &v1.to_hex(),
    ]);
    admin(&["deploy", "--force", &v2.to_hex()]);
    Signed2 { f, boot, v1, v2 }
}

const ALLOW: &[&str] = &["console=", "atomboot.root=", "atomboot.bootpart="];

impl Signed2 {
    fn policy(&self) -> boot_agent::Signed<'static> {
        static KEYS: std::sync::OnceLock<[[u8; 32]; 1]> = std::sync::OnceLock::new();
        boot_agent::Signed {
            keys: KEYS.get_or_init(|| [pk(VENDOR_SEED)]),
            allow: ALLOW,
        }
    }

    /// Rewrites the selected loader copy into the other copy (generation + 1, valid CRC), as anyone who can
    /// write the partition can.
    fn rewrite_loader(&self, edit: impl FnOnce(&mut uenv::boot_config::Entry<'_>)) {
        let l0 = std::fs::read(self.boot.join("loader.0/uEnv.txt")).unwrap();
        let l1 = std::fs::read(self.boot.join("loader.1/uEnv.txt")).unwrap();
        let sel = uenv::boot_config::select(Some(&l0), Some(&l1)).unwrap();
        let mut c = sel.config;
        c.generation += 1;
        edit(&mut c.primary);
        let mut buf = vec![0u8; uenv::boot_config::LOADER_FILE_SIZE];
        uenv::boot_config::render_padded(&c, &mut buf).unwrap();
        let other = 1 - sel.copy.index();
        std::fs::write(self.boot.join(format!("loader.{other}/uEnv.txt")), buf).unwrap();
    }

    fn primary(&self) -> (String, String) {
        let l0 = std::fs::read(self.boot.join("loader.0/uEnv.txt")).unwrap();
        let l1 = std::fs::read(self.boot.join("loader.1/uEnv.txt")).unwrap();
        let sel = uenv::boot_config::select(Some(&l0), Some(&l1)).unwrap();
        let p = sel.config.primary;
        (
            p.kernel.path.trim_start_matches('/').to_string(),
            p.proof.unwrap().trim_start_matches('/').to_string(),
        )
    }
}

#[test]
fn signed_agent_boots_the_signed_default_with_the_signed_command_line() {
    let s = signed_pair();
    let (out, log) = agent::boot(&s.boot, &s.policy());
    let (slot, cmdline) = out.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_eq!(slot, "primary", "{log}");
    // ostree= rebuilt, then the signed kargs, then the allowed device argument.
    assert_eq!(
        cmdline,
        format!(
            "ostree=/ostree/deploy/atom/deploy/{}.0 quiet loglevel=3 console=ttyAMA0",
            s.v2.to_hex()
        )
    );
    assert!(
        log.contains(&format!(
            "atomboot: proof primary: commit {} signed by key 0",
            &s.v2.to_hex()[..8]
        )),
        "{log}"
    );
    assert!(log.contains("bytes ostree content checksum ok"), "{log}");
    // The unsigned agent boots the same partition, labelled, by the loader copy's SHA-256 values.
    let (out, log) = agent::boot(&s.boot, &boot_agent::Unsigned);
    assert_eq!(out.unwrap().0, "primary");
    assert!(log.contains("sha256 ok"), "{log}");
}

#[test]
fn signed_agent_refuses_a_rewritten_kernel_checksums_and_proof_header_and_boots_v1() {
    let s = signed_pair();
    let (kernel_path, proof_path) = s.primary();
    // The attacker's kernel, with its SHA-256 and size in the loader copy and the proof's file header
    // changed to match whatever they like (they cannot sign).
    let evil = b"evil kernel".repeat(1000);
    std::fs::write(s.boot.join(&kernel_path), &evil).unwrap();
    s.rewrite_loader(|e| {
        e.kernel.sha256 = Sha256::digest(&evil).into();
        e.kernel.size = evil.len() as u32;
    });
    let mut parts = proof::build_parts(&s.f.repo, &s.v2, None).unwrap();
    file_mut(&mut parts, Role::Kernel).2[3] ^= 0x01; // the uid's low byte
    std::fs::write(s.boot.join(&proof_path), parts.encode()).unwrap();
    // The unsigned agent would boot it: that is what signed mode is for.
    let (out, _) = agent::boot(&s.boot, &boot_agent::Unsigned);
    assert_eq!(out.unwrap().0, "primary");

    let (out, log) = agent::boot(&s.boot, &s.policy());
    let (slot, cmdline) = out.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_eq!(slot, "fallback", "{log}");
    assert!(
        cmdline.contains(&format!("{}.0", s.v1.to_hex())),
        "{cmdline}"
    );
    let why =
        "kernel: the loaded bytes do not have the OSTree content checksum the signed commit names";
    assert!(
        log.contains(&format!(
            "atomboot: FAILED primary kernel /{kernel_path}: not proven by the signed commit: {why}"
        )),
        "{log}"
    );
    assert!(
        log.contains("atomboot: boot fallback (primary kernel: not proven by the signed commit"),
        "{log}"
    );
}

#[test]
fn signed_agent_refuses_an_unknown_key_and_an_unsigned_karg() {
    let s = signed_pair();
    // Keys the commits were not signed with: nothing boots.
    static OTHER: std::sync::OnceLock<[[u8; 32]; 1]> = std::sync::OnceLock::new();
    let other = boot_agent::Signed {
        keys: OTHER.get_or_init(|| [pk(OTHER_SEED)]),
        allow: ALLOW,
    };
    let (out, log) = agent::boot(&s.boot, &other);
    let reason = out.unwrap_err();
    assert!(
        log.contains("atomboot: REFUSED primary: no signature in the boot proof verifies the commit with a trusted key"),
        "{log}"
    );
    assert!(
        log.contains("atomboot: REFUSED fallback: no signature in the boot proof verifies"),
        "{log}"
    );
    assert!(
        reason.starts_with("nothing verifies: primary kernel: not proven"),
        "{reason}"
    );

    // `init=/bin/sh` added to the default's bootargs: refused, the fallback boots.
    s.rewrite_loader(|e| {
        e.bootargs = Box::leak(format!("{} init=/bin/sh", e.bootargs).into_boxed_str());
    });
    let (out, log) = agent::boot(&s.boot, &s.policy());
    assert_eq!(out.unwrap().0, "fallback", "{log}");
    assert!(
        log.contains("atomboot: REFUSED primary: kernel argument \"init=/bin/sh\" is not signed and not in the board's allow-list"),
        "{log}"
    );
    // A loader copy that names no proof for the default: refused before anything is loaded.
    s.rewrite_loader(|e| {
        e.bootargs = Box::leak(e.bootargs.replace(" init=/bin/sh", "").into_boxed_str());
        e.proof = None;
    });
    let (out, log) = agent::boot(&s.boot, &s.policy());
    assert_eq!(out.unwrap().0, "fallback", "{log}");
    assert!(
        log.contains("atomboot: REFUSED primary kernel: no boot proof named: signed mode boots only signed commits"),
        "{log}"
    );
}
