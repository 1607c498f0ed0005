//! A remote with `sign-verify` refuses every commit without a valid signature from a configured key, and
//! a remote with `sign-verify-summary` a summary without one, before anything is written: each case names
//! its error variant, and the destination repository is byte for byte as before (and fsck clean).

use atomboot_repo::objects::ObjectType;
use atomboot_repo::sign::{ops, SecretKey, SignError};
use atomboot_repo::{Checksum, CommitOptions, Mode, Repo, RepoError};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn commit(repo: &Repo, dir: &Path, n: u8) -> Checksum {
    fs::create_dir_all(dir.join("usr/lib")).unwrap();
    fs::write(dir.join("usr/lib/file"), vec![n; 1000 + n as usize]).unwrap();
    repo.commit(
        dir,
        &CommitOptions {
            branch: Some("os/stable".into()),
            subject: format!("release {n}"),
            timestamp: 1_700_000_000 + n as u64,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Every file and directory under `root`, with the files' bytes.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                out.insert(format!("{rel}/"), vec![]);
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

struct Setup {
    dir: tempfile::TempDir,
    server: Repo,
    dest: Repo,
    /// The key the remote trusts.
    key: SecretKey,
    tree: PathBuf,
}

impl Setup {
    /// A server archive repository and an empty destination whose remote `origin` (file://) has the
    /// options `opts(trusted public key, temp dir)`.
    fn new(opts: impl Fn(&str, &Path) -> Vec<(&'static str, String)>) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let server = Repo::init(&dir.path().join("server"), Mode::Archive).unwrap();
        let mut dest = Repo::init(&dir.path().join("dest"), Mode::BareUser).unwrap();
        let opts: Vec<(String, String)> = opts(&key.public().to_base64(), dir.path())
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let url = format!("file://{}", server.store.path.display());
        atomboot_repo::remote::add(&mut dest.store, "origin", &url, &opts).unwrap();
        Setup {
            tree: dir.path().join("tree"),
            dir,
            server,
            dest,
            key,
        }
    }

    /// Pulls `os/stable` from origin expecting a refusal; checks nothing changed; returns the error.
    fn refused(&self) -> RepoError {
        let before = snapshot(&self.dest.store.path);
        let e = ops::pull_remote(&self.dest.store, "origin", &["os/stable".into()]).unwrap_err();
        assert_eq!(
            before,
            snapshot(&self.dest.store.path),
            "the refused pull changed the repository: {e}"
        );
        let rep = self.dest.fsck().unwrap();
        assert!(rep.errors.is_empty(), "{:?}", rep.errors);
        e
    }

    fn commitmeta(&self, c: &Checksum) -> PathBuf {
        self.server.store.object_path(c, ObjectType::CommitMeta)
    }
}

fn verify_commits(key: &str, _: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("gpg-verify", "false".into()),
        ("sign-verify", "ed25519".into()),
        ("verification-ed25519-key", key.into()),
    ]
}

#[test]
fn signed_commit_pulls_and_keeps_its_signature() {
    let s = Setup::new(verify_commits);
    let c = commit(&s.server, &s.tree, 1);
    ops::sign_commit(&s.server.store, &c, std::slice::from_ref(&s.key)).unwrap();
    ops::pull_remote(&s.dest.store, "origin", &["os/stable".into()]).unwrap();
    assert_eq!(s.dest.resolve_rev("origin:os/stable").unwrap(), c);
    // The signature came along: the deploy-time check passes on the stored copy.
    let k = ops::check_stored_commit(&s.dest.store, "origin", &c)
        .unwrap()
        .unwrap();
    assert_eq!(k, s.key.public());
    assert!(s.dest.fsck().unwrap().errors.is_empty());
}

#[test]
fn unsigned_commit_is_refused() {
    let s = Setup::new(verify_commits);
    let c = commit(&s.server, &s.tree, 1);
    match s.refused() {
        RepoError::Sign(SignError::NoSignatures {
            what,
            source_name,
            keys,
            ..
        }) => {
            assert_eq!(what.to_string(), format!("commit {c}"));
            assert_eq!(source_name, "remote \"origin\"");
            assert_eq!(keys, s.key.public().to_base64());
        }
        e => panic!("expected NoSignatures, got {e}"),
    }
}

#[test]
fn wrong_key_is_refused() {
    let s = Setup::new(verify_commits);
    let c = commit(&s.server, &s.tree, 1);
    let stranger = SecretKey::generate().unwrap();
    ops::sign_commit(&s.server.store, &c, &[stranger]).unwrap();
    match s.refused() {
        RepoError::Sign(SignError::Unverified { count: 1, keys, .. }) => {
            assert_eq!(keys, s.key.public().to_base64())
        }
        e => panic!("expected Unverified, got {e}"),
    }
}

#[test]
fn truncated_signature_is_refused() {
    let s = Setup::new(verify_commits);
    let c = commit(&s.server, &s.tree, 1);
    ops::sign_commit(&s.server.store, &c, std::slice::from_ref(&s.key)).unwrap();
    // Rewrite the signature list with the good signature cut to 63 bytes.
    let p = s.commitmeta(&c);
    let mut d = atomboot_repo::sign::detached::Detached::parse(&fs::read(&p).unwrap()).unwrap();
    let mut sig = d.signatures().unwrap().unwrap().remove(0);
    sig.truncate(63);
    d.set_signatures(&[sig]);
    fs::write(&p, d.serialize()).unwrap();
    match s.refused() {
        RepoError::Sign(SignError::BadSignatureLength { len: 63, .. }) => {}
        e => panic!("expected BadSignatureLength, got {e}"),
    }
}

#[test]
fn signature_of_another_commit_is_refused() {
    let s = Setup::new(verify_commits);
    let c1 = commit(&s.server, &s.tree, 1);
    ops::sign_commit(&s.server.store, &c1, std::slice::from_ref(&s.key)).unwrap();
    let c2 = commit(&s.server, &s.tree, 2);
    // c1's valid signature (same key) put beside c2.
    fs::copy(s.commitmeta(&c1), s.commitmeta(&c2)).unwrap();
    match s.refused() {
        RepoError::Sign(SignError::Unverified { what, count: 1, .. }) => {
            assert_eq!(what.to_string(), format!("commit {c2}"))
        }
        e => panic!("expected Unverified, got {e}"),
    }
}

#[test]
fn tampered_signed_summary_is_refused() {
    let s = Setup::new(|key, _| {
        let mut o = verify_commits(key, Path::new(""));
        o.push(("sign-verify-summary", "true".into()));
        o
    });
    let c1 = commit(&s.server, &s.tree, 1);
    ops::sign_commit(&s.server.store, &c1, std::slice::from_ref(&s.key)).unwrap();
    atomboot_repo::summary::update(&s.server.store, 1_700_000_000).unwrap();
    ops::sign_summary(&s.server.store, std::slice::from_ref(&s.key)).unwrap();
    // The signed summary pulls.
    ops::pull_remote(&s.dest.store, "origin", &["os/stable".into()]).unwrap();
    assert_eq!(s.dest.resolve_rev("origin:os/stable").unwrap(), c1);

    // A signed c2 in a signed summary, then one byte of the summary changed (in c2's checksum).
    let c2 = commit(&s.server, &s.tree, 2);
    ops::sign_commit(&s.server.store, &c2, std::slice::from_ref(&s.key)).unwrap();
    atomboot_repo::summary::update(&s.server.store, 1_700_000_000).unwrap();
    ops::sign_summary(&s.server.store, std::slice::from_ref(&s.key)).unwrap();
    let sp = s.server.store.path.join("summary");
    let mut summary = fs::read(&sp).unwrap();
    let at = summary
        .windows(32)
        .position(|w| w == c2.0)
        .expect("c2 in the summary");
    summary[at] ^= 1;
    fs::write(&sp, summary).unwrap();
    match s.refused() {
        RepoError::Sign(SignError::Unverified { what, .. }) => {
            assert!(what.to_string().starts_with("summary "), "{what}")
        }
        e => panic!("expected Unverified (summary), got {e}"),
    }
    // Without summary.sig at all: its own error.
    fs::remove_file(s.server.store.path.join("summary.sig")).unwrap();
    match s.refused() {
        RepoError::Sign(SignError::SummaryMissing { file, .. }) => assert_eq!(file, "summary.sig"),
        e => panic!("expected SummaryMissing, got {e}"),
    }
    assert_eq!(s.dest.resolve_rev("origin:os/stable").unwrap(), c1);
}

#[test]
fn key_file_with_a_bad_line_is_refused() {
    for (content, line) in [
        ("GOOD\nnot-a-key\n", 2usize),
        ("GOOD\n\nGOOD\n", 2),
        ("# trusted keys\nGOOD\n", 1),
        ("GOOD\nAAAA\n", 2),
    ] {
        let s = Setup::new(|key, dir| {
            let f = dir.join("trusted.ed25519");
            fs::write(&f, content.replace("GOOD", key)).unwrap();
            vec![
                ("gpg-verify", "false".into()),
                ("sign-verify", "ed25519".into()),
                ("verification-ed25519-file", f.display().to_string()),
            ]
        });
        let c = commit(&s.server, &s.tree, 1);
        ops::sign_commit(&s.server.store, &c, std::slice::from_ref(&s.key)).unwrap();
        match s.refused() {
            RepoError::Sign(SignError::KeyFileLine { path, line: l, .. }) => {
                assert_eq!(l, line, "{content:?}");
                assert_eq!(path, s.dir.path().join("trusted.ed25519"));
            }
            e => panic!("expected KeyFileLine for {content:?}, got {e}"),
        }
    }
}

#[test]
fn gpg_verify_remote_is_refused_not_pulled_unverified() {
    // No gpg-verify key at all: ostree's default is true.
    let s = Setup::new(|_, _| vec![]);
    commit(&s.server, &s.tree, 1);
    match s.refused() {
        RepoError::Sign(SignError::GpgUnsupported { key, default, .. }) => {
            assert_eq!(key, "gpg-verify");
            assert!(default.contains("default"));
        }
        e => panic!("expected GpgUnsupported, got {e}"),
    }
    let s = Setup::new(|_, _| vec![("gpg-verify", "true".into())]);
    commit(&s.server, &s.tree, 1);
    assert!(matches!(
        s.refused(),
        RepoError::Sign(SignError::GpgUnsupported { .. })
    ));
    // sign-verify without keys: its own error.
    let s = Setup::new(|_, _| {
        vec![
            ("gpg-verify", "false".into()),
            ("sign-verify", "true".into()),
        ]
    });
    commit(&s.server, &s.tree, 1);
    assert!(matches!(
        s.refused(),
        RepoError::Sign(SignError::NoKeysConfigured { .. })
    ));
}
