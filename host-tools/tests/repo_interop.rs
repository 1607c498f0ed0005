//! Interop with the real `ostree` (Debian 2022.7), both ways, archive and bare-user. A missing `ostree`
//! fails these tests.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn atomboot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atomboot"))
}

fn run(mut c: Command) -> Output {
    let o = c
        .output()
        .expect("spawn (is ostree installed? scripts/setup.sh)");
    assert!(
        o.status.success(),
        "{:?} failed: {}{}",
        c,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn ostree(repo: &Path, args: &[&str]) -> String {
    let mut c = Command::new("ostree");
    c.arg(format!("--repo={}", repo.display())).args(args);
    String::from_utf8(run(c).stdout).unwrap()
}

fn ours(repo: &Path, args: &[&str]) -> String {
    let mut c = atomboot();
    c.args(args).arg(format!("--repo={}", repo.display()));
    String::from_utf8(run(c).stdout).unwrap()
}

/// A tree with the cases the format must get right.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("empty/nested-empty")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), "board\n").unwrap();
    fs::write(root.join("empty-file"), "").unwrap();
    let big: Vec<u8> = (0..400_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(root.join("usr/bin/tool"), &big).unwrap();
    fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-link")).unwrap();
    std::os::unix::fs::symlink("../etc/hostname", root.join("usr/hostname-link")).unwrap();
    std::os::unix::fs::symlink("dangling/target", root.join("dangling")).unwrap();
    fs::write(root.join("etc/secret"), "s").unwrap();
    fs::set_permissions(root.join("etc/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(root.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(root.join("xattr-file"), "x").unwrap();
    xattr::set(root.join("xattr-file"), "user.atomboot", b"value").unwrap();
    xattr::set(root.join("xattr-file"), "user.another", b"2").unwrap();
}

/// path -> (kind, mode, content or target, hardlink group representative)
/// Hardlink groups are kept only when `links` (copying checkouts do not preserve hardlinks, as OSTree).
fn manifest_with(root: &Path, links: bool) -> BTreeMap<String, (char, u32, Vec<u8>, String)> {
    let mut m = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    walk(root, root, &mut m, &mut inodes);
    if !links {
        for v in m.values_mut() {
            v.3.clear();
        }
    }
    m
}

fn manifest(root: &Path) -> BTreeMap<String, (char, u32, Vec<u8>, String)> {
    manifest_with(root, false)
}

fn walk(
    root: &Path,
    dir: &Path,
    m: &mut BTreeMap<String, (char, u32, Vec<u8>, String)>,
    inodes: &mut BTreeMap<u64, String>,
) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            m.insert(rel, ('d', md.mode() & 0o7777, vec![], String::new()));
            walk(root, &p, m, inodes);
        } else if md.file_type().is_symlink() {
            let t = fs::read_link(&p).unwrap();
            m.insert(
                rel,
                (
                    'l',
                    0,
                    t.to_string_lossy().as_bytes().to_vec(),
                    String::new(),
                ),
            );
        } else {
            let group = inodes.entry(md.ino()).or_insert(rel.clone()).clone();
            let digest = format!("{:x}", Sha256::digest(fs::read(&p).unwrap()));
            m.insert(rel, ('f', md.mode() & 0o7777, digest.into_bytes(), group));
        }
    }
}

fn objects(repo: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for d in fs::read_dir(repo.join("objects")).unwrap() {
        let d = d.unwrap();
        for f in fs::read_dir(d.path()).unwrap() {
            v.push(format!(
                "{}{}",
                d.file_name().to_string_lossy(),
                f.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    v.sort();
    v
}

const COMMIT_ARGS: &[&str] = &[
    "commit",
    "-b",
    "os/main",
    "-s",
    "Subject line",
    "--body",
    "Body text",
    "--add-metadata-string=version=1.2",
    "--add-metadata-string=zz=first",
    "--timestamp=2024-05-06T07:08:09Z",
];

fn interop(mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tree = t.join("tree");
    make_tree(&tree);
    let src = manifest(&tree);
    let src_links = manifest_with(&tree, true);
    assert_eq!(src_links["usr/bin/tool-link"].3, "usr/bin/tool");
    let (ours_repo, theirs) = (t.join("ours"), t.join("theirs"));
    ours(&ours_repo, &["init", &format!("--mode={mode}")]);
    ostree(&theirs, &["init", &format!("--mode={mode}")]);

    let mut a: Vec<&str> = COMMIT_ARGS.to_vec();
    let tree_s = tree.to_str().unwrap();
    a.push(tree_s);
    let ours_id = ours(&ours_repo, &a).trim().to_string();
    let theirs_id = ostree(&theirs, &a).trim().to_string();
    assert_eq!(ours_id.len(), 64);
    assert_eq!(ours_id, theirs_id, "commit ids differ ({mode})");
    assert_eq!(
        objects(&ours_repo),
        objects(&theirs),
        "object sets differ ({mode})"
    );
    // Meta objects are byte-identical.
    for o in objects(&theirs)
        .iter()
        .filter(|o| !o.ends_with(".file") && !o.ends_with(".filez"))
    {
        let p = format!("objects/{}/{}", &o[..2], &o[2..]);
        assert_eq!(
            fs::read(ours_repo.join(&p)).unwrap(),
            fs::read(theirs.join(&p)).unwrap(),
            "{p}"
        );
    }

    // Ours -> ostree.
    let fsck = ostree(&ours_repo, &["fsck"]);
    assert!(fsck.contains("no errors found"), "{fsck}");
    assert_eq!(
        ostree(&ours_repo, &["log", "os/main"]),
        ostree(&theirs, &["log", "os/main"])
    );
    assert_eq!(
        ours(&ours_repo, &["log", "os/main"]),
        ostree(&theirs, &["log", "os/main"])
    );
    let ls_theirs = ostree(&theirs, &["ls", "-R", "-C", "os/main"]);
    assert_eq!(
        ostree(&ours_repo, &["ls", "-R", "-C", "os/main"]),
        ls_theirs
    );
    assert_eq!(ours(&theirs, &["ls", "-R", "-C", "os/main"]), ls_theirs);
    assert_eq!(
        ours(&ours_repo, &["rev-parse", "os/main"]).trim(),
        theirs_id
    );
    assert_eq!(
        ours(&theirs, &["cat", "os/main", "/etc/hostname"]),
        "board\n"
    );
    let co1 = t.join("co-ostree-from-ours");
    ostree(
        &ours_repo,
        &["checkout", "-U", "os/main", co1.to_str().unwrap()],
    );
    assert_eq!(manifest(&co1), src, "ostree checkout of our {mode} repo");

    // Theirs -> ours.
    assert!(ours(&theirs, &["fsck"]).contains("no errors found"));
    let co2 = t.join("co-ours-from-theirs");
    ours(
        &theirs,
        &["checkout", "-U", "os/main", co2.to_str().unwrap()],
    );
    assert_eq!(manifest(&co2), src, "our checkout of ostree's {mode} repo");
    assert_eq!(
        xattr::get(co2.join("xattr-file"), "user.atomboot").unwrap(),
        None,
        "-U must not apply xattrs"
    );
    let co3 = t.join("co-ours-full");
    ours(&theirs, &["checkout", "os/main", co3.to_str().unwrap()]);
    assert_eq!(manifest(&co3), src);
    assert_eq!(
        xattr::get(co3.join("xattr-file"), "user.atomboot")
            .unwrap()
            .as_deref(),
        Some(&b"value"[..])
    );
    if mode == "bare-user" {
        let co4 = t.join("co-hardlink");
        ours(
            &theirs,
            &["checkout", "-U", "-H", "os/main", co4.to_str().unwrap()],
        );
        assert_eq!(manifest_with(&co4, true), src_links, "hardlinks kept by -H");
        let co5 = t.join("co-ostree-hardlink-from-ours");
        ostree(
            &ours_repo,
            &["checkout", "-U", "-H", "os/main", co5.to_str().unwrap()],
        );
        assert_eq!(manifest_with(&co5, true), src_links);
        let obj = fs::metadata(co4.join("usr/bin/tool")).unwrap();
        assert!(obj.nlink() >= 3, "hardlink checkout links repo objects");
    }

    // Second commit: parent chain identical too.
    fs::write(tree.join("etc/hostname"), "board2\n").unwrap();
    let mut a2: Vec<&str> = vec![
        "commit",
        "-b",
        "os/main",
        "-s",
        "second",
        "--timestamp=2024-05-07T00:00:00Z",
        tree_s,
    ];
    let o2 = ours(&ours_repo, &a2).trim().to_string();
    a2.truncate(a2.len());
    let t2 = ostree(&theirs, &a2).trim().to_string();
    assert_eq!(o2, t2);
    assert!(ostree(&ours_repo, &["log", "os/main"]).contains(&format!("Parent:  {theirs_id}")));
}

#[test]
fn interop_archive() {
    interop("archive");
}

#[test]
fn interop_bare_user() {
    interop("bare-user");
}

#[test]
fn owner_flags_and_tree_dir_match_ostree() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tree = t.join("tree");
    make_tree(&tree);
    let (o, th) = (t.join("o"), t.join("t"));
    ours(&o, &["init", "--mode=archive-z2"]);
    ostree(&th, &["init", "--mode=archive-z2"]);
    let dir = format!("--tree=dir={}", tree.display());
    let args = [
        "commit",
        "-b",
        "x",
        "-s",
        "s",
        "--owner-uid=1000",
        "--owner-gid=1001",
        "--timestamp=2021-01-01T00:00:00Z",
        dir.as_str(),
    ];
    assert_eq!(ours(&o, &args), ostree(&th, &args));
    let ls = ostree(&o, &["ls", "x", "/"]);
    assert!(ls.contains(" 1000 1001 "), "{ls}");
}

#[test]
fn interop_bare_as_root() {
    // Bare mode stores real owners; these tests run as root (the project's test machines do).
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tree = t.join("tree");
    make_tree(&tree);
    let src_links = manifest_with(&tree, true);
    let (o, th) = (t.join("ours"), t.join("theirs"));
    ours(&o, &["init", "--mode=bare"]);
    ostree(&th, &["init", "--mode=bare"]);
    let mut a: Vec<&str> = COMMIT_ARGS.to_vec();
    a.push(tree.to_str().unwrap());
    assert_eq!(ours(&o, &a), ostree(&th, &a));
    assert_eq!(objects(&o), objects(&th));
    assert!(ostree(&o, &["fsck"]).contains("no errors found"));
    assert!(ours(&th, &["fsck"]).contains("no errors found"));
    let co1 = t.join("co1");
    ours(&th, &["checkout", "-H", "os/main", co1.to_str().unwrap()]);
    assert_eq!(manifest_with(&co1, true), src_links);
    let co2 = t.join("co2");
    ostree(&o, &["checkout", "-H", "os/main", co2.to_str().unwrap()]);
    assert_eq!(manifest_with(&co2, true), src_links);
    assert_eq!(
        xattr::get(co2.join("xattr-file"), "user.atomboot")
            .unwrap()
            .as_deref(),
        Some(&b"value"[..])
    );
}
