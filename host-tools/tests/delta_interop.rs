//! Static deltas against Debian's `ostree` (2022.7), both ways: it shows, applies and pulls the deltas
//! we generate; we apply and pull the ones it generates (from a commit, from scratch, inline); `fsck` of
//! both tools is clean after, and the checked-out trees are identical. Then hostile deltas (a corrupt or
//! truncated part, a superblock for another delta, a part whose objects lie) are refused with a named
//! error and leave the repository as it was, and an interrupted delta pull resumes without fetching
//! again the parts it already applied. Pulls go over loopback HTTP (a small server thread that logs
//! every request).

use atomboot_repo::delta::{self, part, DeltaName};
use atomboot_repo::Repo;
mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use support::{cmd, ok, serve_with};

struct Server {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Paths requested since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn serve(root: PathBuf) -> Server {
    let log = Arc::new(Mutex::new(Vec::new()));
    let lg = log.clone();
    let url = serve_with(root, move |req| {
        lg.lock().unwrap().push(req.path.to_string());
        req.file()
    });
    Server { url, log }
}

/// Deterministic bytes (xorshift).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write(p: &Path, b: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, b).unwrap();
}

/// v1 and v2 of a small tree: v2 modifies a large binary in the middle and at the end (bsdiff), edits
/// a text file, adds and removes files, changes a mode, keeps a symlink; `big` adds files enough for
/// several 1 MB parts.
fn trees(t: &Path, big: bool) -> (PathBuf, PathBuf) {
    let (a, b) = (t.join("v1"), t.join("v2"));
    for d in [&a, &b] {
        write(&d.join("usr/lib/libkept.so"), &noise(7, 150_000));
        write(&d.join("etc/hostname"), b"device\n");
        std::os::unix::fs::symlink("hostname", d.join("etc/name")).unwrap();
        fs::create_dir_all(d.join("var/empty")).unwrap();
        if big {
            for i in 0..3 {
                write(
                    &d.join(format!("usr/share/blob{i}")),
                    &noise(100 + i, 700_000),
                );
            }
        }
    }
    let bin = noise(1, 400_000);
    write(&a.join("usr/bin/app"), &bin);
    let mut bin2 = bin.clone();
    bin2[200_000..200_010].copy_from_slice(b"patched!!!");
    bin2.extend_from_slice(b"more code");
    write(&b.join("usr/bin/app"), &bin2);
    let text: String = (0..3000).map(|i| format!("line {i}\n")).collect();
    write(&a.join("etc/config.txt"), text.as_bytes());
    write(
        &b.join("etc/config.txt"),
        text.replace("line 1500\n", "line 1500 changed\n")
            .as_bytes(),
    );
    write(&a.join("etc/removed"), b"gone in v2\n");
    write(&b.join("etc/added"), &noise(3, 5000));
    write(&a.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n");
    write(&b.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n");
    fs::set_permissions(b.join("usr/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    (a, b)
}

/// An archive repository (made by `tool`) with v1 then v2 on `main`; returns (repo, v1, v2).
fn server_repo(t: &Path, tool: &str, big: bool) -> (PathBuf, String, String) {
    let (a, b) = trees(t, big);
    let r = t.join("www/repo");
    fs::create_dir_all(t.join("www")).unwrap();
    ok(tool, &r, &["init", "--mode=archive"]);
    let v1 = ok(
        tool,
        &r,
        &[
            "commit",
            "-b",
            "main",
            "-s",
            "one",
            "--timestamp=2024-01-01T00:00:00Z",
            a.to_str().unwrap(),
        ],
    );
    let v2 = ok(
        tool,
        &r,
        &[
            "commit",
            "-b",
            "main",
            "-s",
            "two",
            "--timestamp=2024-01-02T00:00:00Z",
            b.to_str().unwrap(),
        ],
    );
    (r, v1.trim().to_string(), v2.trim().to_string())
}

/// A bare-user client that has v1 (pulled by objects, under `origin:main`).
fn client_with_v1(t: &Path, tool: &str, srv: &Server, v1: &str, mode: &str) -> PathBuf {
    let c = t.join(format!("client-{tool}-{mode}"));
    ok(tool, &c, &["init", &format!("--mode={mode}")]);
    ok(
        tool,
        &c,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("{}/repo", srv.url),
        ],
    );
    // v1 is pulled from a repository with v1 only, so no delta is involved.
    let tmp = t.join("www/v1only");
    if !tmp.exists() {
        ok("ostree", &tmp, &["init", "--mode=archive"]);
        ok(
            "ostree",
            &tmp,
            &["pull-local", t.join("www/repo").to_str().unwrap(), v1],
        );
        ok("ostree", &tmp, &["refs", "--create=main", v1]);
    }
    ok("ostree", &c, &["pull-local", tmp.to_str().unwrap(), "main"]);
    ok("ostree", &c, &["refs", "--create=origin:main", v1]);
    c
}

fn fsck_both(repo: &Path) {
    let o = ok("ostree", repo, &["fsck"]);
    assert!(o.contains("no errors found"), "{o}");
    let o = ok("atomboot", repo, &["fsck"]);
    assert!(o.contains("no errors found"), "{o}");
}

/// Recursive comparison of two checkouts: names, file contents, symlink targets, permission bits.
fn same_tree(a: &Path, b: &Path) {
    let mut ea: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut eb: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    ea.sort();
    eb.sort();
    assert_eq!(ea, eb, "{} vs {}", a.display(), b.display());
    for n in ea {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(
            ma.permissions().mode(),
            mb.permissions().mode(),
            "{}",
            pa.display()
        );
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
        } else if ma.is_dir() {
            same_tree(&pa, &pb);
        } else {
            assert!(
                fs::read(&pa).unwrap() == fs::read(&pb).unwrap(),
                "{} differs",
                pa.display()
            );
        }
    }
}

/// Checks `client` out at `rev` with both tools and compares with the server's checkout.
fn checkouts_identical(t: &Path, server: &Path, client: &Path, rev: &str) {
    let tag = client.file_name().unwrap().to_str().unwrap().to_string();
    let s = t.join(format!("co-server-{tag}"));
    let c1 = t.join(format!("co-ostree-{tag}"));
    let c2 = t.join(format!("co-atomboot-{tag}"));
    ok(
        "ostree",
        server,
        &["checkout", "-U", rev, s.to_str().unwrap()],
    );
    ok(
        "ostree",
        client,
        &["checkout", "-U", rev, c1.to_str().unwrap()],
    );
    ok(
        "atomboot",
        client,
        &["checkout", "-U", rev, c2.to_str().unwrap()],
    );
    same_tree(&s, &c1);
    same_tree(&s, &c2);
}

fn delta_requests(log: &[String]) -> (usize, usize, usize) {
    let sb = log
        .iter()
        .filter(|p| p.contains("/deltas/") && p.ends_with("/superblock"))
        .count();
    let parts = log
        .iter()
        .filter(|p| p.contains("/deltas/") && !p.ends_with("/superblock"))
        .count();
    let filez = log.iter().filter(|p| p.ends_with(".filez")).count();
    (sb, parts, filez)
}

#[test]
fn ostree_shows_applies_and_pulls_our_deltas() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (r, v1, v2) = server_repo(t, "atomboot", false);
    let out = ok("atomboot", &r, &["static-delta", "generate", "--to=main"]);
    assert!(out.contains(&format!("From: {v1}")), "{out}");
    ok(
        "atomboot",
        &r,
        &["static-delta", "generate", "--empty", "--to=main"],
    );
    let list = ok("ostree", &r, &["static-delta", "list"]);
    assert!(
        list.contains(&format!("{v1}-{v2}")) && list.contains(&format!("{v2}\n")),
        "{list}"
    );
    let show = ok(
        "ostree",
        &r,
        &["static-delta", "show", &format!("{v1}-{v2}")],
    );
    assert!(
        show.contains(&format!("To: {v2}")) && show.contains("Endianness: little"),
        "{show}"
    );
    // The modified binary, the edited text file and the file whose mode changed travel as patches.
    assert!(show.contains("bspatch=3"), "{show}");
    let ours = ok(
        "atomboot",
        &r,
        &["static-delta", "show", &format!("{v1}-{v2}")],
    );
    let pick = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("Part") || l.starts_with("Total"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(&ours), pick(&show), "our show differs from ostree's");
    ok("atomboot", &r, &["summary", "-u"]);
    let view = ok("ostree", &r, &["summary", "--view"]);
    assert!(
        view.contains("ostree.static-deltas") && view.contains(&format!("{v1}-{v2}")),
        "{view}"
    );

    let srv = serve(t.join("www"));
    // ostree pulls v1 -> v2 through our delta (it uses deltas only for bare repositories).
    let c = client_with_v1(t, "ostree", &srv, &v1, "bare-user");
    srv.take();
    let out = ok("ostree", &c, &["pull", "origin", "main"]);
    assert!(out.contains("1 delta parts"), "{out}");
    let (sb, parts, _) = delta_requests(&srv.take());
    assert_eq!((sb, parts), (1, 1));
    fsck_both(&c);
    checkouts_identical(t, &r, &c, &v2);
    // From scratch: a repository without the ref.
    let s = t.join("scratch-ostree");
    ok("ostree", &s, &["init", "--mode=bare-user"]);
    ok(
        "ostree",
        &s,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("{}/repo", srv.url),
        ],
    );
    let out = ok("ostree", &s, &["pull", "origin", "main"]);
    assert!(out.contains("1 delta parts"), "{out}");
    fsck_both(&s);
    checkouts_identical(t, &r, &s, &v2);
}

#[test]
fn we_pull_and_apply_deltas_ostree_generated() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (r, v1, v2) = server_repo(t, "ostree", false);
    ok("ostree", &r, &["static-delta", "generate", "--to=main"]);
    ok(
        "ostree",
        &r,
        &[
            "static-delta",
            "generate",
            "--empty",
            "--inline",
            "--to=main",
        ],
    );
    ok("ostree", &r, &["summary", "-u"]);
    let ours = ok(
        "atomboot",
        &r,
        &["static-delta", "show", &format!("{v1}-{v2}")],
    );
    let theirs = ok(
        "ostree",
        &r,
        &["static-delta", "show", &format!("{v1}-{v2}")],
    );
    let pick = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("Part") || l.starts_with("Total"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(&ours), pick(&theirs));
    let srv = serve(t.join("www"));
    for mode in ["bare-user", "archive"] {
        let c = client_with_v1(t, "atomboot", &srv, &v1, mode);
        srv.take();
        ok("atomboot", &c, &["pull", "origin", "main"]);
        let log = srv.take();
        // Only the delta: no object fetched on its own.
        assert_eq!(delta_requests(&log), (1, 1, 0), "{log:?}");
        assert_eq!(ok("atomboot", &c, &["rev-parse", "origin:main"]).trim(), v2);
        fsck_both(&c);
        checkouts_identical(t, &r, &c, &v2);
    }
    // From scratch, inline: the superblock is the whole delta.
    let s = t.join("scratch-atomboot");
    ok("atomboot", &s, &["init", "--mode=bare-user"]);
    ok(
        "atomboot",
        &s,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("{}/repo", srv.url),
        ],
    );
    srv.take();
    ok("atomboot", &s, &["pull", "origin", "main"]);
    assert_eq!(delta_requests(&srv.take()), (1, 0, 0));
    fsck_both(&s);
    checkouts_identical(t, &r, &s, &v2);
}

#[test]
fn apply_offline_both_ways() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (r, v1, v2) = server_repo(t, "ostree", false);
    let ro = t.join("ostree-deltas");
    ok("ostree", &ro, &["init", "--mode=archive"]);
    ok("ostree", &ro, &["pull-local", r.to_str().unwrap(), "main"]);
    ok("ostree", &ro, &["pull-local", r.to_str().unwrap(), &v1]);
    ok("ostree", &ro, &["static-delta", "generate", "--to=main"]);
    ok("atomboot", &r, &["static-delta", "generate", "--to=main"]);
    let name = DeltaName::parse(&format!("{v1}-{v2}")).unwrap();
    let srv = serve(t.join("www"));
    // ostree applies ours; we apply ostree's.
    for (tool, src) in [("ostree", &r), ("atomboot", &ro)] {
        let c = client_with_v1(
            t,
            if tool == "ostree" {
                "atomboot"
            } else {
                "ostree"
            },
            &srv,
            &v1,
            "bare-user",
        );
        ok(
            tool,
            &c,
            &[
                "static-delta",
                "apply-offline",
                src.join(name.dir()).to_str().unwrap(),
            ],
        );
        ok("ostree", &c, &["refs", "--create=applied", &v2]);
        fsck_both(&c);
        checkouts_identical(t, &r, &c, &v2);
    }
}

/// Every file under objects/ and refs/: what a refused delta must leave as it was.
fn snapshot(repo: &Path) -> Vec<String> {
    fn walk(d: &Path, base: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(format!(
                    "{} {}",
                    p.strip_prefix(base).unwrap().display(),
                    fs::read(&p).map(|b| b.len()).unwrap_or(0)
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo.join("objects"), repo, &mut out);
    walk(&repo.join("refs"), repo, &mut out);
    out.sort();
    out
}

#[test]
fn hostile_deltas_are_refused_and_change_nothing() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (r, v1, v2) = server_repo(t, "atomboot", false);
    ok("atomboot", &r, &["static-delta", "generate", "--to=main"]);
    ok(
        "atomboot",
        &r,
        &["static-delta", "generate", "--empty", "--to=main"],
    );
    let name = DeltaName::parse(&format!("{v1}-{v2}")).unwrap();
    let scratch = DeltaName::parse(&v2).unwrap();
    let part0 = r.join(name.part_path(0));
    let sb_path = r.join(name.superblock_path());
    let good_part = fs::read(&part0).unwrap();
    let good_sb = fs::read(&sb_path).unwrap();
    let srv = serve(t.join("www"));
    let c = client_with_v1(t, "atomboot", &srv, &v1, "bare-user");
    let before = snapshot(&c);
    let refused = |what: &str, expect: &str, offline: bool| {
        ok("atomboot", &r, &["summary", "-u"]);
        let (s, out, err) = cmd("atomboot", &c, &["pull", "origin", "main"]);
        assert!(!s, "{what}: pull succeeded: {out}");
        assert!(
            err.contains(expect),
            "{what}: expected {expect:?} in: {err}"
        );
        assert_eq!(snapshot(&c), before, "{what}: the repository changed");
        if !offline {
            return;
        }
        let dir = t.join(format!("offline-{}", what.replace(' ', "-")));
        fs::create_dir_all(&dir).unwrap();
        fs::copy(&sb_path, dir.join("superblock")).unwrap();
        fs::copy(&part0, dir.join("0")).unwrap();
        let (s, _, err) = cmd(
            "atomboot",
            &c,
            &["static-delta", "apply-offline", dir.to_str().unwrap()],
        );
        assert!(
            !s && err.contains(expect),
            "{what} (apply-offline): expected {expect:?} in: {err}"
        );
        assert_eq!(
            snapshot(&c),
            before,
            "{what} (apply-offline): the repository changed"
        );
    };

    // A corrupt part, then a truncated one: their checksum is not the superblock's.
    let mut bad = good_part.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    fs::write(&part0, &bad).unwrap();
    refused("corrupt part", "checksum mismatch in static delta", true);
    fs::write(&part0, &good_part[..good_part.len() / 2]).unwrap();
    refused("truncated part", "checksum mismatch in static delta", true);
    fs::write(&part0, &good_part).unwrap();

    // A superblock for another delta (the scratch one) where v1 -> v2 should be.
    fs::copy(r.join(scratch.superblock_path()), &sb_path).unwrap();
    // (Offline, a superblock is taken for what it says it is, as ostree does.)
    refused(
        "wrong target",
        &format!("superblock is for delta {v2}, not {v1}-{v2}"),
        false,
    );
    fs::write(&sb_path, &good_sb).unwrap();

    // A part whose checksum is right for its bytes, but one object it makes is not what it claims.
    let repo = Repo::open(&r).unwrap();
    let (_, mut sb) = delta::read_superblock(&repo.store, &name).unwrap();
    let mut payload = part::decode(&good_part, None, "part 0").unwrap();
    let (builds, _) = delta::apply::plan(&sb.parts[0].objects, &payload).unwrap();
    let victim = builds
        .iter()
        .find_map(|b| match b {
            delta::apply::Build::Content {
                checksum, pieces, ..
            } => pieces.iter().find_map(|p| match p {
                delta::apply::Piece::Payload(r) if !r.is_empty() => Some((*checksum, r.start)),
                _ => None,
            }),
            _ => None,
        })
        .expect("a content object spliced from the payload");
    payload.raw[victim.1] ^= 1;
    let lying = part::encode(&payload.serialize(), part::Compression::Xz).unwrap();
    sb.parts[0].checksum = atomboot_repo::Checksum::of(&lying);
    sb.parts[0].size = lying.len() as u64;
    fs::write(&part0, &lying).unwrap();
    fs::write(&sb_path, sb.serialize().unwrap()).unwrap();
    refused(
        "lying part",
        &format!(
            "object {} made by the delta does not match its checksum",
            victim.0
        ),
        true,
    );

    // Put right, the same pull goes through the delta.
    fs::write(&part0, &good_part).unwrap();
    fs::write(&sb_path, &good_sb).unwrap();
    ok("atomboot", &r, &["summary", "-u"]);
    srv.take();
    ok("atomboot", &c, &["pull", "origin", "main"]);
    assert_eq!(delta_requests(&srv.take()), (1, 1, 0));
    fsck_both(&c);
}

#[test]
fn interrupted_delta_pull_resumes() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (r, v1, v2) = server_repo(t, "atomboot", true);
    ok(
        "atomboot",
        &r,
        &[
            "static-delta",
            "generate",
            "--max-chunk-size=1",
            "--empty",
            "--to=main",
        ],
    );
    let scratch = DeltaName::parse(&v2).unwrap();
    let repo = Repo::open(&r).unwrap();
    let (_, sb) = delta::read_superblock(&repo.store, &scratch).unwrap();
    assert!(sb.parts.len() >= 3, "{} parts", sb.parts.len());
    ok("atomboot", &r, &["summary", "-u"]);
    let srv = serve(t.join("www"));
    let c = t.join("fresh");
    ok("atomboot", &c, &["init", "--mode=bare-user"]);
    ok(
        "atomboot",
        &c,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("{}/repo", srv.url),
        ],
    );
    // The last part is missing: the pull stops there, keeping what the parts before it made.
    let last = r.join(scratch.part_path(sb.parts.len() - 1));
    let saved = fs::read(&last).unwrap();
    fs::remove_file(&last).unwrap();
    let (s, _, err) = cmd("atomboot", &c, &["pull", "origin", "main"]);
    assert!(
        !s && err.contains("not found on the remote (static delta part)"),
        "{err}"
    );
    assert!(
        !cmd("atomboot", &c, &["rev-parse", "origin:main"]).0,
        "no ref after a failed pull"
    );
    fs::write(&last, saved).unwrap();
    srv.take();
    ok("atomboot", &c, &["pull", "origin", "main"]);
    let log = srv.take();
    let parts: Vec<_> = log
        .iter()
        .filter(|p| p.contains("/deltas/") && !p.ends_with("superblock"))
        .collect();
    assert_eq!(
        parts.len(),
        1,
        "only the missing part is fetched again: {log:?}"
    );
    assert!(parts[0].ends_with(&format!("/{}", sb.parts.len() - 1)));
    assert_eq!(ok("atomboot", &c, &["rev-parse", "origin:main"]).trim(), v2);
    fsck_both(&c);
    checkouts_identical(t, &r, &c, &v2);
    let _ = v1;
}

#[path = "admin_common.rs"]
mod common;

/// `admin upgrade` (no flag) goes through the delta the server lists: every object v2 adds is removed
/// from the server's `objects/`, so only the delta can make them.
#[test]
fn admin_upgrade_pulls_through_a_delta() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = d.join("server");
    ok("atomboot", &server, &["init", "--mode=archive"]);
    let commit = |seed: u64, len: usize| {
        let t = common::tree(d, seed, len, Some(common::dtb(&["ti,am33xx"])));
        ok(
            "atomboot",
            &server,
            &[
                "commit",
                "-b",
                "os/stable",
                "-s",
                "release",
                t.to_str().unwrap(),
            ],
        )
        .trim()
        .to_string()
    };
    let c1 = commit(1, 6000);
    let sysroot = d.join("sysroot");
    let boot = d.join("boot.img");
    common::fat_image(&boot, 16 * 1024);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
            .args([
                "admin",
                "--board",
                "am335x",
                "--sysroot",
                sysroot.to_str().unwrap(),
                "--boot",
                boot.to_str().unwrap(),
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args([
            "admin",
            "--board",
            "am335x",
            "--boot",
            boot.to_str().unwrap(),
            "init-fs",
            sysroot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run(&["os-init", "debian"]);
    let local = sysroot.join("ostree/repo");
    ok(
        "atomboot",
        &local,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("file://{}", server.display()),
        ],
    );
    ok("atomboot", &local, &["pull", "origin", "os/stable"]);
    run(&[
        "deploy",
        "--karg",
        "console=ttyS0,115200",
        "origin:os/stable",
    ]);

    let before = snapshot(&server);
    let c2 = commit(2, 7000);
    ok(
        "atomboot",
        &server,
        &["static-delta", "generate", "--to=os/stable"],
    );
    ok("atomboot", &server, &["summary", "-u"]);
    let mut removed = 0;
    for f in snapshot(&server) {
        let rel = f.split(' ').next().unwrap();
        if rel.starts_with("objects/") && !before.iter().any(|b| b.split(' ').next() == Some(rel)) {
            fs::remove_file(server.join(rel)).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 5, "{removed} objects removed");
    run(&["upgrade"]);
    let s: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).unwrap();
    assert_eq!(s["deployments"][0]["commit"], c2.as_str());
    assert_eq!(s["deployments"][1]["commit"], c1.as_str());
    fsck_both(&local);
}

/// With `sign-verify`, a pull through a delta takes the commit object from the superblock for the
/// signature check (no request for `.commit`), one without a delta fetches it once (the check and the
/// walk share it), and each asks for the repository's `config` once; the signature is still checked:
/// a remote trusting another key refuses the same pull, naming the commit, and stores nothing.
#[test]
fn signed_pulls_fetch_the_commit_and_config_once() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let (r, v1, v2) = server_repo(t, "atomboot", false);
    let keys = t.join("keys");
    fs::create_dir_all(&keys).unwrap();
    let key = |name: &str| {
        let public = ok(
            "atomboot",
            &r,
            &["sign-keygen", keys.join(name).to_str().unwrap()],
        );
        let secret = fs::read_to_string(keys.join(format!("{name}.secret"))).unwrap();
        (secret.trim().to_string(), public.trim().to_string())
    };
    let (sk, pk) = key("build");
    let (_, stranger) = key("stranger");
    for c in [&v1, &v2] {
        ok("atomboot", &r, &["sign", c, &sk]);
    }
    ok("atomboot", &r, &["static-delta", "generate", "--to=main"]);
    ok("atomboot", &r, &["summary", "-u"]);
    // The same repository without deltas: the object pull.
    let plain = t.join("www/plain");
    ok("ostree", &plain, &["init", "--mode=archive"]);
    ok(
        "ostree",
        &plain,
        &["pull-local", r.to_str().unwrap(), "main"],
    );
    ok("atomboot", &plain, &["summary", "-u"]);
    let srv = serve(t.join("www"));
    let count = |log: &[String], suffix: &str| log.iter().filter(|p| p.ends_with(suffix)).count();
    let commit_rel = format!("/objects/{}/{}.commit", &v2[..2], &v2[2..]);
    let signed_client = |served: &str, tag: &str, key: &str| {
        let c = client_with_v1(t, "atomboot", &srv, &v1, "bare-user");
        let dest = t.join(format!("client-{tag}"));
        fs::rename(&c, &dest).unwrap();
        ok("atomboot", &dest, &["remote", "delete", "origin"]);
        ok(
            "atomboot",
            &dest,
            &[
                "remote",
                "add",
                "--no-gpg-verify",
                &format!("--sign-verify=ed25519=inline:{key}"),
                "origin",
                &format!("{}/{served}", srv.url),
            ],
        );
        dest
    };
    for (served, tag, delta_parts) in [("repo", "delta", 1), ("plain", "objects", 0)] {
        let c = signed_client(served, tag, &pk);
        srv.take();
        ok("atomboot", &c, &["pull", "origin", "main"]);
        let log = srv.take();
        let (sb, parts, _) = delta_requests(&log);
        assert_eq!((sb, parts), (delta_parts, delta_parts), "{tag}: {log:?}");
        let commit_gets = log.iter().filter(|p| p.ends_with(&commit_rel)).count();
        assert_eq!(commit_gets, 1 - delta_parts, "{tag}: {log:?}");
        assert_eq!(count(&log, "/config"), 1, "{tag}: {log:?}");
        assert_eq!(ok("atomboot", &c, &["rev-parse", "origin:main"]).trim(), v2);
        fsck_both(&c);
    }
    // Through the delta, a signature by a key the remote does not trust is refused before anything is
    // written.
    let c = signed_client("repo", "stranger", &stranger);
    let before = snapshot(&c);
    let (good, _, err) = cmd("atomboot", &c, &["pull", "origin", "main"]);
    assert!(!good);
    assert!(err.contains(&v2) && err.contains("signature"), "{err}");
    assert_eq!(snapshot(&c), before);
}
