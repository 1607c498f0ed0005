//! Hostile remotes and a damaged disk (issue #20): a small HTTP server of our own on 127.0.0.1 serves an
//! archive repository into which each test plants what an attacker would (objects with valid checksums
//! unless said otherwise). Every refused input leaves the destination clean for both `atomboot fsck` and
//! Debian's `ostree fsck`, with no `tmp/staging-*` left behind.

use atomboot_repo::objects::{
    file_checksum, size_prefix, Checksum, Commit, DirMeta, DirTree, FileHeader, ObjectType,
    S_IFDIR, S_IFLNK, S_IFREG,
};
use atomboot_repo::store::Store;
use flate2::{write::DeflateEncoder, Compression};
use std::collections::HashMap;
mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{atomboot_bin, cmd, ok, serve_with, Reply};

/// The test server: files under `root`, with switchable misbehaviour.
struct Server {
    url: String,
    /// One response per connection, without `Connection: close`: a second request on it is read and the
    /// connection closed without an answer (as a server whose keep-alive timer fired does).
    close_each: Arc<AtomicBool>,
    /// Serve this many `.filez` bodies, then hold every further `.filez` request without answering.
    stall_filez_after: Arc<AtomicUsize>,
    filez_served: Arc<AtomicUsize>,
    bytes_served: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(root: PathBuf) -> Server {
    let mut s = Server {
        url: String::new(),
        close_each: Arc::default(),
        stall_filez_after: Arc::new(AtomicUsize::new(usize::MAX)),
        filez_served: Arc::default(),
        bytes_served: Arc::default(),
        requests: Arc::default(),
    };
    let (close_each, stall, fz, bytes, reqs) = (
        s.close_each.clone(),
        s.stall_filez_after.clone(),
        s.filez_served.clone(),
        s.bytes_served.clone(),
        s.requests.clone(),
    );
    s.url = serve_with(root, move |req| {
        if req.answered > 0 && close_each.load(Ordering::SeqCst) {
            return Reply::Close;
        }
        reqs.lock().unwrap().push(req.path.to_string());
        let filez = req.path.ends_with(".filez");
        // A .filez body is counted before it is served (a check then a later count would let two
        // concurrent requests both pass the limit), and uncounted if it is not a 200.
        if filez
            && fz
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < stall.load(Ordering::SeqCst)).then_some(n + 1)
                })
                .is_err()
        {
            // Hold the request (the client is killed meanwhile).
            return Reply::Hold(Duration::from_secs(60));
        }
        let reply = req.file();
        let served = matches!(&reply, Reply::Send { status, .. } if status.starts_with("200"));
        if filez && !served {
            fz.fetch_sub(1, Ordering::SeqCst);
        }
        if let Reply::Send { body, .. } = &reply {
            bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
        }
        reply
    });
    s
}

/// Runs atomboot, expects failure (an error exit, not a signal, within 2 minutes: `timeout` exits 124 when
/// it has to stop a looping run) with `needle` in stderr.
fn fails_with(repo: &Path, args: &[&str], needle: &str) -> String {
    let o = Command::new("timeout")
        .arg("120")
        .arg(atomboot_bin())
        .arg(format!("--repo={}", repo.display()))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {:?} {err}", o.status);
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
    err
}

fn staging_dirs(repo: &Path) -> Vec<PathBuf> {
    fs::read_dir(repo.join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("staging-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Both fscks pass and no staging directory is left.
fn clean(repo: &Path) {
    ok("atomboot", repo, &["fsck"]);
    ok("ostree", repo, &["fsck"]);
    assert_eq!(
        staging_dirs(repo),
        Vec::<PathBuf>::new(),
        "staging left behind"
    );
}

/// A served archive repository with a good commit on `good`, and a bare-user destination that pulled it.
struct Setup {
    _t: tempfile::TempDir,
    srv: PathBuf,
    dst: PathBuf,
    server: Server,
    good: Commit,
}

fn setup(files: usize) -> Setup {
    let t = tempfile::tempdir().unwrap();
    let srv = t.path().join("srv");
    let dst = t.path().join("dst");
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("usr/lib")).unwrap();
    for i in 0..files {
        fs::write(
            tree.join(format!("usr/lib/f{i}")),
            format!("file {i} ").repeat(50 + i),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("lib/f0", tree.join("usr/link")).unwrap();
    ok("atomboot", &srv, &["init", "--mode=archive"]);
    ok(
        "atomboot",
        &srv,
        &["commit", "-b", "good", "-s", "good", tree.to_str().unwrap()],
    );
    let server = serve(srv.clone());
    ok("atomboot", &dst, &["init", "--mode=bare-user"]);
    ok(
        "atomboot",
        &dst,
        &["remote", "add", "--no-gpg-verify", "origin", &server.url],
    );
    ok("atomboot", &dst, &["pull", "origin", "good"]);
    let repo = atomboot_repo::Repo::open(&srv).unwrap();
    let good = repo
        .read_commit(&repo.resolve_rev("good").unwrap())
        .unwrap();
    Setup {
        _t: t,
        srv,
        dst,
        server,
        good,
    }
}

fn store(p: &Path) -> Store {
    Store::open(p).unwrap()
}

/// Writes a metadata object as it is (no checks) and returns its checksum.
fn put_meta(srv: &Path, t: ObjectType, data: &[u8]) -> Checksum {
    store(srv).write_meta(t, data).unwrap()
}

/// A commit on branch `name` with root (tree, meta) in the served repo.
fn put_commit(srv: &Path, name: &str, tree: Checksum, meta: Checksum) -> Checksum {
    let c = Commit {
        metadata: vec![],
        parent: None,
        subject: name.into(),
        body: String::new(),
        timestamp: 1_700_000_000,
        root_tree: tree,
        root_meta: meta,
    };
    let id = put_meta(srv, ObjectType::Commit, &c.serialize().unwrap());
    store(srv).write_ref(name, &id).unwrap();
    id
}

fn dirmeta(mode: u32) -> Vec<u8> {
    DirMeta {
        uid: 0,
        gid: 0,
        mode,
        xattrs: vec![],
    }
    .serialize()
}

/// A `.filez` for `header` and `content` (content deflated), written as it is.
fn put_filez(srv: &Path, header: &FileHeader, content: &[u8]) -> Checksum {
    let id = file_checksum(header, content);
    let h = header.serialize_archive(content.len() as u64);
    let mut body = size_prefix(h.len()).to_vec();
    body.extend_from_slice(&h);
    let mut e = DeflateEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(content).unwrap();
    body.extend(e.finish().unwrap());
    let p = store(srv).object_path(&id, ObjectType::File);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
    id
}

/// A commit whose root holds one file `name` -> `file` (the root dirmeta is the good one's).
fn commit_with_file(s: &Setup, branch: &str, name: &str, file: Checksum) -> Checksum {
    let tree = DirTree {
        files: vec![(name.into(), file)],
        dirs: vec![],
    };
    let t = put_meta(&s.srv, ObjectType::DirTree, &tree.serialize());
    put_commit(&s.srv, branch, t, s.good.root_meta)
}

/// A dirtree of files only (all with content `file`), serialised here directly, as GLib lays out
/// `(a(say)a(sayay))` (much faster than building values for hundreds of thousands of entries).
fn files_dirtree(sorted_names: &[String], file: Checksum) -> Vec<u8> {
    let offset_size = |len: usize, n: usize| match len + n {
        0..=0xff => 1,
        _ if len + 2 * n <= 0xffff => 2,
        _ => 4,
    };
    let mut arr = Vec::new();
    let mut ends = Vec::new();
    for n in sorted_names {
        let start = arr.len();
        arr.extend_from_slice(n.as_bytes());
        arr.push(0);
        arr.extend_from_slice(&file.0);
        let name_end = n.len() + 1;
        assert!(arr.len() - start < 0xff);
        arr.push(name_end as u8);
        ends.push(arr.len());
    }
    let osz = offset_size(arr.len(), ends.len());
    for e in ends {
        arr.extend_from_slice(&(e as u64).to_le_bytes()[..osz]);
    }
    // The tuple: the files array, the empty dirs array, then the files array's end (its framing offset).
    let end = arr.len();
    let tsz = offset_size(end, 1);
    arr.extend_from_slice(&(end as u64).to_le_bytes()[..tsz]);
    let parsed = DirTree::parse(&arr).expect("hand-made dirtree parses");
    assert_eq!(parsed.files.len(), sorted_names.len());
    arr
}

/// Replaces, in `bytes`, the variant holding string `marker` (`marker\0` `\0s`) with an empty value of a
/// type nested `marker.len() + 1` deep (`aa...ay`), keeping every length and framing offset.
fn deepen(bytes: &mut [u8], marker: &str) {
    let mut pat = marker.as_bytes().to_vec();
    pat.extend_from_slice(b"\0\0s");
    let at = bytes
        .windows(pat.len())
        .position(|w| w == pat.as_slice())
        .expect("marker variant");
    let mut deep = vec![0u8];
    deep.extend(std::iter::repeat_n(b'a', marker.len() + 1));
    deep.push(b'y');
    assert_eq!(deep.len(), pat.len());
    bytes[at..at + pat.len()].copy_from_slice(&deep);
}

#[test]
fn deep_gvariant_in_summary_and_commit_metadata_is_refused_without_a_crash() {
    let s = setup(3);
    // A summary whose ref carries a version variant of type a^100000 y.
    let marker = "Q".repeat(100_000);
    let mut summary = atomboot_repo::summary::build(
        &[atomboot_repo::summary::SummaryRef {
            name: "deep".into(),
            commit_size: 10,
            commit: Checksum([1; 32]),
            timestamp: None,
            version: Some(marker.clone()),
        }],
        &[],
        "archive-z2",
        0,
    );
    deepen(&mut summary, &marker);
    fs::write(s.srv.join("summary"), &summary).unwrap();
    fails_with(
        &s.dst,
        &["remote", "refs", "origin"],
        "nesting deeper than 128 levels",
    );
    fails_with(
        &s.dst,
        &["pull", "origin", "deep"],
        "nesting deeper than 128 levels",
    );
    clean(&s.dst);
    // The server drops its summary (a pull then resolves refs from refs/heads and finds no deltas).
    fs::remove_file(s.srv.join("summary")).unwrap();
    // The same summary read locally.
    fs::write(s.dst.join("summary"), &summary).unwrap();
    fails_with(
        &s.dst,
        &["summary", "--view"],
        "nesting deeper than 128 levels",
    );
    fs::remove_file(s.dst.join("summary")).unwrap();

    // A commit (valid checksum, 25,000 levels in its metadata).
    let marker = "Q".repeat(25_000);
    let mut c = s.good.clone();
    c.metadata = vec![(
        "deep".into(),
        atomboot_repo::gvariant::Type::Str('s'),
        atomboot_repo::gvariant::Value::Str(marker.clone()),
    )];
    let mut bytes = c.serialize().unwrap();
    deepen(&mut bytes, &marker);
    let id = put_meta(&s.srv, ObjectType::Commit, &bytes);
    store(&s.srv).write_ref("deepmeta", &id).unwrap();
    fails_with(
        &s.dst,
        &["pull", "origin", "deepmeta"],
        "nesting deeper than 128 levels",
    );
    assert!(
        !store(&s.dst).has_object(&id, ObjectType::Commit),
        "refused commit stored"
    );
    clean(&s.dst);
}

#[test]
fn symlink_with_content_is_refused_by_pull_and_fsck() {
    let s = setup(2);
    let h = FileHeader {
        uid: 0,
        gid: 0,
        mode: S_IFLNK | 0o777,
        symlink: "target".into(),
        xattrs: vec![],
    };
    let f = put_filez(&s.srv, &h, b"hidden content");
    commit_with_file(&s, "symlink-content", "l", f);
    fails_with(
        &s.dst,
        &["pull", "origin", "symlink-content"],
        "symlink object announces 14 bytes of content",
    );
    assert!(!store(&s.dst).has_object(&f, ObjectType::File));
    clean(&s.dst);
    // fsck of the served repository says so too (as ostree fsck does).
    fails_with(
        &s.srv,
        &["fsck"],
        "symlink object announces 14 bytes of content",
    );
    assert!(!cmd("ostree", &s.srv, &["fsck"]).0, "ostree fsck agrees");
}

#[test]
fn bad_dirmeta_and_file_modes_are_refused_by_pull_and_fsck() {
    let s = setup(2);
    let empty = put_meta(&s.srv, ObjectType::DirTree, &DirTree::default().serialize());
    for (branch, mode, needle) in [
        ("dm-zero", 0, "mode 0 is not a directory's"),
        (
            "dm-reg",
            S_IFREG | 0o755,
            "mode 100755 is not a directory's",
        ),
        (
            "dm-high",
            S_IFDIR | 0o755 | 0o1000000,
            "invalid bits in mode",
        ),
    ] {
        let m = put_meta(&s.srv, ObjectType::DirMeta, &dirmeta(mode));
        put_commit(&s.srv, branch, empty, m);
        fails_with(&s.dst, &["pull", "origin", branch], needle);
        assert!(
            !store(&s.dst).has_object(&m, ObjectType::DirMeta),
            "{branch}"
        );
        clean(&s.dst);
        fails_with(&s.srv, &["fsck"], needle);
        assert!(
            !cmd("ostree", &s.srv, &["fsck"]).0,
            "ostree fsck agrees on {branch}"
        );
        store(&s.srv).delete_ref(branch).unwrap();
    }
    let h = FileHeader {
        uid: 0,
        gid: 0,
        mode: S_IFREG | 0o644 | 0o200000,
        symlink: String::new(),
        xattrs: vec![],
    };
    let f = put_filez(&s.srv, &h, b"x");
    commit_with_file(&s, "file-high", "f", f);
    fails_with(
        &s.dst,
        &["pull", "origin", "file-high"],
        "invalid bits in mode",
    );
    clean(&s.dst);
    fails_with(&s.srv, &["fsck"], "invalid bits in mode");
}

#[test]
fn dirtree_with_bad_names_is_not_stored_and_the_error_says_so() {
    let s = setup(2);
    let f = file_checksum(
        &FileHeader {
            uid: 0,
            gid: 0,
            mode: S_IFREG | 0o644,
            symlink: String::new(),
            xattrs: vec![],
        },
        b"",
    );
    let bad = DirTree {
        files: vec![("..".into(), f)],
        dirs: vec![],
    };
    let t = put_meta(&s.srv, ObjectType::DirTree, &bad.serialize());
    put_commit(&s.srv, "badname", t, s.good.root_meta);
    let err = fails_with(
        &s.dst,
        &["pull", "origin", "badname"],
        "invalid file name \"..\"",
    );
    assert!(err.contains("nothing was stored"), "{err}");
    assert!(
        !store(&s.dst).has_object(&t, ObjectType::DirTree),
        "rejected dirtree stored"
    );
    clean(&s.dst);
}

#[test]
fn metadata_objects_over_10_mib_are_refused() {
    let s = setup(1);
    let f = s.good.root_tree; // any 32 bytes; never fetched
    let names: Vec<String> = (0..220_000).map(|i| format!("file-{i:08}")).collect();
    let bytes = files_dirtree(&names, f);
    assert!(bytes.len() > 10 * 1024 * 1024, "{}", bytes.len());
    let t = put_meta(&s.srv, ObjectType::DirTree, &bytes);
    put_commit(&s.srv, "big", t, s.good.root_meta);
    fails_with(
        &s.dst,
        &["pull", "origin", "big"],
        "larger than 10485760 bytes",
    );
    clean(&s.dst);
}

#[test]
fn a_connection_closed_after_each_response_is_retried() {
    let s = setup(12);
    s.server.close_each.store(true, Ordering::SeqCst);
    let tree = tempfile::tempdir().unwrap();
    fs::write(tree.path().join("new"), "new content").unwrap();
    ok(
        "atomboot",
        &s.srv,
        &[
            "commit",
            "-b",
            "more",
            "-s",
            "more",
            tree.path().to_str().unwrap(),
        ],
    );
    ok("atomboot", &s.dst, &["pull", "origin", "more"]);
    clean(&s.dst);
    // ostree succeeds against the same server.
    let o = s._t.path().join("ostree-dst");
    ok("ostree", &o, &["init", "--mode=bare-user"]);
    ok(
        "ostree",
        &o,
        &["remote", "add", "--no-gpg-verify", "origin", &s.server.url],
    );
    ok("ostree", &o, &["pull", "origin", "more"]);
}

#[test]
fn appended_bytes_after_a_filez_stream_fail_fsck() {
    let s = setup(2);
    ok("atomboot", &s.srv, &["fsck"]);
    let repo = atomboot_repo::Repo::open(&s.srv).unwrap();
    let c = repo.resolve_rev("good").unwrap();
    let atomboot_repo::Node::File(f) = repo.lookup_path(&c, "/usr/lib/f1").unwrap() else {
        panic!("file")
    };
    let p = repo.store.object_path(&f, ObjectType::File);
    let mut o = fs::OpenOptions::new().append(true).open(&p).unwrap();
    o.write_all(b"appended").unwrap();
    fails_with(
        &s.srv,
        &["fsck"],
        "bytes after the end of the deflate stream",
    );
}

fn count_staged_filez(dst: &Path) -> usize {
    staging_dirs(dst)
        .iter()
        .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
        .flat_map(|sub| fs::read_dir(sub.path()).into_iter().flatten().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "file"))
        .count()
}

/// A pull killed mid-way leaves its verified objects in staging; the next pull takes them over instead
/// of fetching them again, and finishes with no staging left.
#[test]
fn a_killed_pull_resumes_from_its_staging_directory() {
    let s = setup(1);
    let tree = tempfile::tempdir().unwrap();
    for i in 0..60 {
        fs::write(
            tree.path().join(format!("g{i}")),
            format!("object {i} ").repeat(200),
        )
        .unwrap();
    }
    ok(
        "atomboot",
        &s.srv,
        &[
            "commit",
            "-b",
            "big",
            "-s",
            "big",
            tree.path().to_str().unwrap(),
        ],
    );
    s.server.filez_served.store(0, Ordering::SeqCst);
    s.server.stall_filez_after.store(20, Ordering::SeqCst);
    let mut child = Command::new(atomboot_bin())
        .arg(format!("--repo={}", s.dst.display()))
        .args(["pull", "origin", "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while count_staged_filez(&s.dst) < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "pull never staged 20 objects"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let staged = count_staged_filez(&s.dst);
    assert_eq!(staged, 20);

    s.server
        .stall_filez_after
        .store(usize::MAX, Ordering::SeqCst);
    s.server.filez_served.store(0, Ordering::SeqCst);
    let out = ok("atomboot", &s.dst, &["pull", "origin", "big"]);
    let fetched = s.server.filez_served.load(Ordering::SeqCst);
    assert_eq!(fetched, 60 - staged, "objects fetched again: {out}");
    assert!(
        out.contains(&format!(" {} content objects fetched", 60 - staged)),
        "{out}"
    );
    clean(&s.dst);
}

/// Staging left by a pull of another boot is reclaimed by the next pull, and by prune.
#[test]
fn stale_staging_of_another_boot_is_reclaimed_by_pull_and_prune() {
    let s = setup(1);
    for verb in [
        &["pull", "origin", "good"][..],
        &["prune", "--refs-only"][..],
    ] {
        let stale = s.dst.join("tmp/staging-0123456789abcdef-old");
        fs::create_dir_all(stale.join("ab")).unwrap();
        fs::write(stale.join("ab/cdef.file"), vec![0u8; 100_000]).unwrap();
        ok("atomboot", &s.dst, verb);
        assert!(!stale.exists(), "{verb:?} left {}", stale.display());
        clean(&s.dst);
    }
}

/// prune (exclusive lock) racing pulls (shared lock): no ref ever points at deleted objects.
#[test]
fn prune_racing_pull_never_leaves_a_broken_ref() {
    let s = setup(40);
    for round in 0..8 {
        // The objects stay but nothing names them: the pull finds them present, prune wants them gone.
        ok("atomboot", &s.dst, &["refs", "--delete", "origin:good"]);
        let spawn = |args: &[&str]| {
            Command::new(atomboot_bin())
                .arg(format!("--repo={}", s.dst.display()))
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let pull = spawn(&["pull", "origin", "good"]);
        std::thread::sleep(Duration::from_millis(2 * round));
        let prune = spawn(&["prune", "--refs-only"]);
        for c in [pull, prune] {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        clean(&s.dst);
        ok(
            "atomboot",
            &s.dst,
            &[
                "checkout",
                "-U",
                "origin:good",
                s.dst.join(format!("co{round}")).to_str().unwrap(),
            ],
        );
    }
}

/// Peak RSS of a pull does not grow with the width of a tree level: 24 large dirtrees at one level cost
/// about what 8 do.
#[test]
fn pull_memory_does_not_grow_with_the_width_of_a_level() {
    let s = setup(1);
    let file = {
        let repo = atomboot_repo::Repo::open(&s.srv).unwrap();
        let c = repo.resolve_rev("good").unwrap();
        match repo.lookup_path(&c, "/usr/lib/f0").unwrap() {
            atomboot_repo::Node::File(f) => f,
            _ => panic!("file"),
        }
    };
    let mut peak = HashMap::new();
    for width in [8usize, 24] {
        let mut root = DirTree::default();
        for d in 0..width {
            let names: Vec<String> = (0..20_000)
                .map(|i| format!("w{width}-d{d}-f{i:06}"))
                .collect();
            let tc = put_meta(&s.srv, ObjectType::DirTree, &files_dirtree(&names, file));
            root.dirs.push((format!("d{d:03}"), tc, s.good.root_meta));
        }
        let rt = put_meta(&s.srv, ObjectType::DirTree, &root.serialize());
        let branch = format!("wide{width}");
        put_commit(&s.srv, &branch, rt, s.good.root_meta);
        let started = Instant::now();
        let mut child = Command::new(atomboot_bin())
            .arg(format!("--repo={}", s.dst.display()))
            .args(["pull", "origin", &branch])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = format!("/proc/{}/status", child.id());
        let mut hwm = 0u64;
        loop {
            if let Ok(text) = fs::read_to_string(&status) {
                if let Some(kb) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    hwm = hwm.max(kb);
                }
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(child.wait().unwrap().success());
        eprintln!("pull of {width} dirtrees: {:?}", started.elapsed());
        peak.insert(width, hwm);
    }
    let (narrow, wide) = (peak[&8], peak[&24]);
    eprintln!("peak RSS: 8 dirtrees {narrow} kB, 24 dirtrees {wide} kB");
    assert!(narrow > 0 && wide > 0);
    assert!(
        wide < narrow + narrow / 2,
        "peak RSS grew with the level: 8 dirtrees {narrow} kB, 24 dirtrees {wide} kB"
    );
    assert_eq!(staging_dirs(&s.dst), Vec::<PathBuf>::new());
}

#[test]
fn cycles_in_a_corrupted_repo_end_with_an_error() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("r");
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("d")).unwrap();
    fs::write(tree.join("d/f"), "x").unwrap();
    ok("atomboot", &r, &["init", "--mode=bare-user"]);
    ok(
        "atomboot",
        &r,
        &["commit", "-b", "main", "-s", "one", tree.to_str().unwrap()],
    );
    let repo = atomboot_repo::Repo::open(&r).unwrap();
    let id = repo.resolve_rev("main").unwrap();
    let mut c = repo.read_commit(&id).unwrap();
    // A commit whose parent is itself (the object's bytes no longer match its name).
    c.parent = Some(id);
    let p = repo.store.object_path(&id, ObjectType::Commit);
    fs::write(&p, c.serialize().unwrap()).unwrap();
    fails_with(&r, &["log", "main"], "loops back to it");
    // A dirtree that contains itself.
    c.parent = None;
    fs::write(&p, c.serialize().unwrap()).unwrap();
    let root = repo.read_dirtree(&c.root_tree).unwrap();
    let mut looped = root.clone();
    looped.dirs[0].1 = c.root_tree;
    fs::write(
        repo.store.object_path(&c.root_tree, ObjectType::DirTree),
        looped.serialize(),
    )
    .unwrap();
    fails_with(&r, &["ls", "-R", "main"], "contains itself");
    // Checkout stops too, at ostree's recursion limit, and writes nothing outside its destination.
    let dest = t.path().join("co");
    fails_with(
        &r,
        &["checkout", "main", dest.to_str().unwrap()],
        "deeper than 256 levels",
    );
}

#[test]
fn remote_add_escapes_values_as_ostree_does() {
    let t = tempfile::tempdir().unwrap();
    let (a, o) = (t.path().join("a"), t.path().join("o"));
    let url = "http://good/\n[core]\nmode=bare";
    let set = "--set=foo=  a\\b\n[core]\nrepo_version=2";
    for (prog, r) in [("atomboot", &a), ("ostree", &o)] {
        ok(prog, r, &["init", "--mode=bare-user"]);
        ok(
            prog,
            r,
            &["remote", "add", "--no-gpg-verify", set, "origin", url],
        );
    }
    assert_eq!(
        fs::read_to_string(a.join("config")).unwrap(),
        fs::read_to_string(o.join("config")).unwrap()
    );
    // Both tools still open it as bare-user, version 1, with the URL as given.
    ok("ostree", &a, &["refs"]);
    let urls = ok("atomboot", &a, &["remote", "list", "-u"]);
    assert_eq!(urls, format!("origin  {url}\n"));
    ok("atomboot", &a, &["refs"]);
    // --set url= does not silently replace the URL argument.
    fails_with(
        &a,
        &[
            "remote",
            "add",
            "--set=url=http://evil/",
            "o2",
            "http://good/",
        ],
        "the URL is the URL argument",
    );
    assert!(!fs::read_to_string(a.join("config"))
        .unwrap()
        .contains("evil"));
}

#[test]
fn os_errors_are_printed_once() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("file"), "").unwrap();
    let err = fails_with(
        &t.path().join("file/r"),
        &["init", "--mode=archive"],
        "Not a directory",
    );
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
}
