//! Pull over loopback HTTP (a tiny server thread in the test), file:// and pull-local, both ways with
//! the real `ostree`, plus misbehaving servers (HTML, 404, truncated bodies) and resume.

mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use support::{cmd, ok, serve_with, Reply};

const GOOD: u8 = 0;
const HTML: u8 = 1;
const TRUNCATE_FILEZ: u8 = 2;
const MISSING_FILEZ: u8 = 3;

struct Server {
    url: String,
    mode: Arc<AtomicU8>,
    filez_served: Arc<AtomicUsize>,
    /// TCP connections accepted so far (the server keeps connections alive, as HTTP/1.1 servers do).
    connections: Arc<AtomicUsize>,
}

/// Serves `root` on 127.0.0.1:<random port>; behaviour switchable through `mode`.
fn serve(root: PathBuf) -> Server {
    let mode = Arc::new(AtomicU8::new(GOOD));
    let filez_served = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let (m, fz, conns) = (mode.clone(), filez_served.clone(), connections.clone());
    let url = serve_with(root, move |req| {
        if req.answered == 0 {
            conns.fetch_add(1, Ordering::SeqCst);
        }
        let mode = m.load(Ordering::SeqCst);
        let is_filez = req.path.ends_with(".filez");
        let reply = |status, body: &[u8], ctype| Reply::Send {
            status,
            body: body.to_vec(),
            content_type: Some(ctype),
        };
        if mode == HTML {
            return reply(
                "200 OK",
                b"<html><body>Welcome to our portal</body></html>",
                "text/html",
            );
        }
        if mode == MISSING_FILEZ && is_filez {
            return reply("404 Not Found", b"not found", "text/plain");
        }
        match req.file() {
            Reply::Send {
                status: "200 OK",
                mut body,
                ..
            } => {
                if is_filez {
                    fz.fetch_add(1, Ordering::SeqCst);
                    if mode == TRUNCATE_FILEZ {
                        body.truncate(body.len() * 2 / 3);
                    }
                }
                reply("200 OK", &body, "application/octet-stream")
            }
            _ => reply("404 Not Found", b"not found", "text/plain"),
        }
    });
    Server {
        url,
        mode,
        filez_served,
        connections,
    }
}

/// `init --mode=MODE` then `remote add --no-gpg-verify NAME URL`, with `prog` (atomboot or ostree).
fn init_with_remote(prog: &str, repo: &Path, mode: &str, name: &str, url: &str) {
    ok(prog, repo, &["init", &format!("--mode={mode}")]);
    ok(prog, repo, &["remote", "add", "--no-gpg-verify", name, url]);
}

fn make_tree(root: &Path, n: usize) {
    fs::create_dir_all(root.join("usr/lib")).unwrap();
    fs::create_dir_all(root.join("var/empty")).unwrap();
    for i in 0..n {
        let body: String = (0..(i * 97 % 5000))
            .map(|k| char::from(b'a' + ((k * i) % 26) as u8))
            .collect();
        fs::write(root.join(format!("usr/lib/f{i}")), body).unwrap();
    }
    std::os::unix::fs::symlink("lib/f1", root.join("usr/link")).unwrap();
}

fn commit(prog: &str, repo: &Path, tree: &Path, subject: &str) -> String {
    ok(
        prog,
        repo,
        &[
            "commit",
            "-b",
            "os/main",
            "-s",
            subject,
            "--timestamp=2024-01-01T00:00:00Z",
            tree.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string()
}

fn checkout_and_compare(prog: &str, repo: &Path, rev: &str, dest: &Path, tree: &Path) {
    ok(prog, repo, &["checkout", "-U", rev, dest.to_str().unwrap()]);
    let o = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(tree)
        .arg(dest)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "checkout differs: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// `repo` has `rev` at `commit`, and every tool in `fsck_by` finds no errors in it.
fn assert_holds(prog: &str, repo: &Path, rev: &str, commit: &str, fsck_by: &[&str]) {
    assert_eq!(ok(prog, repo, &["rev-parse", rev]).trim(), commit);
    for tool in fsck_by {
        assert!(
            ok(tool, repo, &["fsck"]).contains("no errors found"),
            "{tool} fsck of {}",
            repo.display()
        );
    }
}

#[test]
fn pull_ostree_repo_over_http_into_archive_and_bare_user() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree, 40);
    let srv_root = t.path().join("srv");
    let src = srv_root.join("repo");
    fs::create_dir_all(&srv_root).unwrap();
    ok("ostree", &src, &["init", "--mode=archive"]);
    let c1 = commit("ostree", &src, &tree, "one");
    ok("ostree", &src, &["summary", "-u"]);
    let server = serve(srv_root);
    let url = format!("{}/repo", server.url);
    for mode in ["archive", "bare-user"] {
        let d = t.path().join(format!("dest-{mode}"));
        init_with_remote("atomboot", &d, mode, "origin", &url);
        assert_eq!(ok("atomboot", &d, &["remote", "list"]).trim(), "origin");
        assert_eq!(
            ok("atomboot", &d, &["remote", "refs", "origin"]).trim(),
            "origin:os/main"
        );
        let before = server.filez_served.load(Ordering::SeqCst);
        let conns_before = server.connections.load(Ordering::SeqCst);
        let out = ok("atomboot", &d, &["pull", "origin:os/main"]);
        // Each of the 8 parallel fetchers keeps its connection: bodies are read to their end.
        let conns = server.connections.load(Ordering::SeqCst) - conns_before;
        assert!(conns <= 10, "{mode}: {conns} connections for one pull");
        assert!(
            out.contains("40 content objects") || out.contains("41 content objects"),
            "{out}"
        );
        assert!(server.filez_served.load(Ordering::SeqCst) > before);
        assert_holds(
            "atomboot",
            &d,
            "origin:os/main",
            &c1,
            &["atomboot", "ostree"],
        );
        checkout_and_compare(
            "atomboot",
            &d,
            "origin:os/main",
            &t.path().join(format!("co-{mode}")),
            &tree,
        );
        // Nothing missing: nothing fetched.
        let out = ok("atomboot", &d, &["pull", "origin", "os/main"]);
        assert!(out.starts_with("0 metadata, 0 content"), "{out}");
    }
    // Incremental: change one file, pull fetches only that.
    fs::write(tree.join("usr/lib/f3"), "changed").unwrap();
    let c2 = commit("ostree", &src, &tree, "two");
    let d = t.path().join("dest-archive");
    let out = ok("atomboot", &d, &["pull", "origin:os/main"]);
    assert!(out.contains(" 1 content objects"), "{out}");
    assert_eq!(
        ok("atomboot", &d, &["rev-parse", "origin:os/main"]).trim(),
        c2
    );
    assert!(ok("atomboot", &d, &["log", "origin:os/main"]).contains(&format!("Parent:  {c1}")));
}

#[test]
fn ostree_pulls_our_repo_over_http() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree, 30);
    let srv_root = t.path().join("srv");
    let src = srv_root.join("repo");
    ok("atomboot", &src, &["init", "--mode=archive"]);
    let c1 = commit("atomboot", &src, &tree, "ours");
    ok("atomboot", &src, &["summary", "-u"]);
    let view = ok("ostree", &src, &["summary", "--view"]);
    assert!(view.contains(&c1), "{view}");
    let server = serve(srv_root);
    for mode in ["archive", "bare-user"] {
        let d = t.path().join(format!("ostree-{mode}"));
        init_with_remote("ostree", &d, mode, "o", &format!("{}/repo", server.url));
        assert_eq!(
            ok("ostree", &d, &["remote", "refs", "o"]).trim(),
            "o:os/main"
        );
        ok("ostree", &d, &["pull", "o", "os/main"]);
        assert_holds("ostree", &d, "o:os/main", &c1, &["ostree"]);
        checkout_and_compare(
            "ostree",
            &d,
            "o:os/main",
            &t.path().join(format!("co-{mode}")),
            &tree,
        );
    }
}

#[test]
fn bad_servers_are_rejected_and_pull_resumes() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree, 20);
    let srv_root = t.path().join("srv");
    let src = srv_root.join("repo");
    ok("atomboot", &src, &["init", "--mode=archive"]);
    let c1 = commit("atomboot", &src, &tree, "x");
    let server = serve(srv_root);
    // Both ways a fetched object is stored: inflated (bare-user) and as fetched (archive).
    for dest_mode in ["bare-user", "archive"] {
        server.mode.store(GOOD, Ordering::SeqCst);
        let d = t.path().join(format!("d-{dest_mode}"));
        init_with_remote(
            "atomboot",
            &d,
            dest_mode,
            "origin",
            &format!("{}/repo", server.url),
        );

        let objects = |d: &Path| -> usize {
            fs::read_dir(d.join("objects"))
                .unwrap()
                .map(|e| fs::read_dir(e.unwrap().path()).unwrap().count())
                .sum()
        };
        for (mode, needle) in [
            (HTML, "only archive repositories"),
            (TRUNCATE_FILEZ, ".filez"),
            (MISSING_FILEZ, "not found on the remote"),
        ] {
            server.mode.store(mode, Ordering::SeqCst);
            let (s, out, err) = cmd("atomboot", &d, &["pull", "origin:os/main"]);
            assert!(!s, "mode {mode}: pull should fail: {out}");
            assert!(err.contains(needle), "mode {mode}: {err}");
            assert!(
                !d.join("refs/remotes/origin/os/main").exists(),
                "no ref after a failed pull"
            );
            assert_eq!(
                fs::read_dir(d.join("tmp")).unwrap().count(),
                0,
                "no temp files left"
            );
            // Every stored object is whole: our fsck of all objects via a temporary ref would fail otherwise;
            // check content objects directly.
            for e in fs::read_dir(d.join("objects")).unwrap() {
                for f in fs::read_dir(e.unwrap().path()).unwrap() {
                    let f = f.unwrap().path();
                    let name = f.file_name().unwrap().to_string_lossy().into_owned();
                    assert!(!name.starts_with("tmp"), "{name}");
                }
            }
        }
        // Metadata arrived in the 404 run; the resume fetches only the content.
        let have = objects(&d);
        assert!(have > 0, "metadata objects were kept for resume");
        server.mode.store(GOOD, Ordering::SeqCst);
        let out = ok("atomboot", &d, &["pull", "origin:os/main"]);
        assert!(
            out.starts_with("0 metadata"),
            "resume refetched metadata: {out}"
        );
        assert_holds(
            "atomboot",
            &d,
            "origin:os/main",
            &c1,
            &["atomboot", "ostree"],
        );
    }
}

#[test]
fn pull_file_url_and_pull_local() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree, 10);
    let src = t.path().join("src");
    ok("ostree", &src, &["init", "--mode=archive"]);
    let c1 = commit("ostree", &src, &tree, "x");
    let d = t.path().join("d");
    ok("atomboot", &d, &["init", "--mode=archive"]);
    ok(
        "atomboot",
        &d,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "--set=branches=os/main",
            "usb",
            &format!("file://{}", src.display()),
        ],
    );
    assert!(fs::read_to_string(d.join("config"))
        .unwrap()
        .contains("branches=os/main"));
    ok("atomboot", &d, &["pull", "usb", "os/main"]);
    assert_eq!(ok("ostree", &d, &["rev-parse", "usb:os/main"]).trim(), c1);
    ok("atomboot", &d, &["remote", "delete", "usb"]);
    assert_eq!(ok("atomboot", &d, &["remote", "list"]).trim(), "");
    assert!(!cmd("atomboot", &d, &["pull", "usb:os/main"]).0);
    // pull-local from ostree's bare-user repo into ours.
    let bu = t.path().join("bu");
    ok("ostree", &bu, &["init", "--mode=bare-user"]);
    ok(
        "ostree",
        &bu,
        &["pull-local", src.to_str().unwrap(), "os/main"],
    );
    let l = t.path().join("l");
    ok("atomboot", &l, &["init", "--mode=bare-user"]);
    ok(
        "atomboot",
        &l,
        &["pull-local", bu.to_str().unwrap(), "os/main"],
    );
    assert_holds("atomboot", &l, "os/main", &c1, &["ostree"]);
    checkout_and_compare("atomboot", &l, "os/main", &t.path().join("co"), &tree);
    // Refs --delete.
    ok("atomboot", &l, &["refs", "--delete", "os/main"]);
    assert_eq!(ok("atomboot", &l, &["refs"]).trim(), "");
}

/// Every `.filez` under `repo/objects`, by relative path, with its bytes.
fn filez_objects(repo: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for d in fs::read_dir(repo.join("objects")).unwrap() {
        for f in fs::read_dir(d.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "filez") {
                let rel = f.strip_prefix(repo).unwrap().to_path_buf();
                out.insert(rel, fs::read(&f).unwrap());
            }
        }
    }
    out
}

/// Rewrites every `.filez` of an archive repo with its content deflated at `level` (same object, other
/// bytes: OSTree verifies the inflated content, not the compressed bytes).
fn recompress_filez(repo: &Path, level: u32) {
    use flate2::{read::DeflateDecoder, write::DeflateEncoder, Compression};
    use std::io::Read;
    for (rel, bytes) in filez_objects(repo) {
        let hlen = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let (head, stream) = bytes.split_at(8 + hlen);
        if stream.is_empty() {
            continue; // symlink: no deflate stream
        }
        let mut content = Vec::new();
        DeflateDecoder::new(stream)
            .read_to_end(&mut content)
            .unwrap();
        let mut enc = DeflateEncoder::new(head.to_vec(), Compression::new(level));
        enc.write_all(&content).unwrap();
        fs::write(repo.join(rel), enc.finish().unwrap()).unwrap();
    }
}

#[test]
fn archive_pull_stores_objects_as_fetched_over_few_connections() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree, 60);
    let srv_root = t.path().join("srv");
    let src = srv_root.join("repo");
    ok("atomboot", &src, &["init", "--mode=archive"]);
    let c1 = commit("atomboot", &src, &tree, "one");
    // Level 1 instead of the level 6 both tools write: a pull that deflates again cannot match these.
    recompress_filez(&src, 1);
    let served = filez_objects(&src);
    assert!(served.len() >= 60);
    let server = serve(srv_root);
    for (name, url) in [
        ("http", format!("{}/repo", server.url)),
        ("file", format!("file://{}", src.display())),
    ] {
        let d = t.path().join(format!("dest-{name}"));
        init_with_remote("atomboot", &d, "archive", "origin", &url);
        let before = server.connections.load(Ordering::SeqCst);
        ok("atomboot", &d, &["pull", "origin:os/main"]);
        if name == "http" {
            // About 70 requests through 8 parallel fetchers, each keeping its connection.
            let conns = server.connections.load(Ordering::SeqCst) - before;
            assert!(conns <= 10, "{conns} connections for one pull");
        }
        assert_holds("atomboot", &d, "origin:os/main", &c1, &["ostree"]);
        assert!(
            filez_objects(&d) == served,
            "{name}: pulled .filez objects differ from the served bytes"
        );
        checkout_and_compare(
            "atomboot",
            &d,
            "origin:os/main",
            &t.path().join(format!("co-{name}")),
            &tree,
        );
    }
}

#[test]
fn archive_pull_refuses_bytes_after_the_deflate_stream() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree, 5);
    let src = t.path().join("src");
    ok("atomboot", &src, &["init", "--mode=archive"]);
    commit("atomboot", &src, &tree, "one");
    // The biggest object gets a tail: its content still verifies, but storing the bytes as fetched
    // would store bytes nobody verified.
    let (rel, mut bytes) = filez_objects(&src)
        .into_iter()
        .max_by_key(|(_, b)| b.len())
        .unwrap();
    bytes.extend_from_slice(b"appended");
    fs::write(src.join(&rel), &bytes).unwrap();
    let d = t.path().join("d");
    init_with_remote(
        "atomboot",
        &d,
        "archive",
        "origin",
        &format!("file://{}", src.display()),
    );
    let (s, out, err) = cmd("atomboot", &d, &["pull", "origin:os/main"]);
    assert!(!s, "pull should fail: {out}");
    assert!(
        err.contains("after the end of the deflate stream") && err.contains(rel.to_str().unwrap()),
        "{err}"
    );
    assert!(!d.join(&rel).exists(), "the refused object was stored");
    assert!(!d.join("refs/remotes/origin/os/main").exists());
}
