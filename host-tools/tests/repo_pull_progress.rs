//! Pull progress when stderr is not a terminal (a serial console, a log file): one plain `pull:` line per
//! phase, with the objects and bytes fetched so far, and no spinner or terminal control characters.

mod support;

use std::fs;
use std::path::Path;
use support::cmd;

#[track_caller]
fn ok(repo: &Path, args: &[&str]) -> (String, String) {
    let (s, out, err) = cmd("atomboot", repo, args);
    assert!(s, "atomboot {args:?}: {out}{err}");
    (out, err)
}

#[test]
fn pull_prints_one_plain_line_per_phase_without_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("usr/lib")).unwrap();
    for i in 0..5 {
        fs::write(tree.join(format!("usr/lib/f{i}")), format!("file {i}\n")).unwrap();
    }
    let src = t.path().join("src");
    ok(&src, &["init", "--mode=archive"]);
    let (c, _) = ok(
        &src,
        &["commit", "-b", "os/main", "-s", "x", tree.to_str().unwrap()],
    );
    let c = c.trim();
    let dst = t.path().join("dst");
    ok(&dst, &["init", "--mode=bare-user"]);
    let url = format!("file://{}", src.display());
    ok(&dst, &["remote", "add", "--no-gpg-verify", "usb", &url]);
    // stderr is a pipe here: not a terminal.
    let (_, err) = ok(&dst, &["pull", "usb", "os/main"]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "pull: os/main is commit {c} (0 metadata, 0 content objects, 0 bytes fetched so far)"
        )),
        "{err}"
    );
    // Commit, root dirmeta, dirtrees of /, usr, usr/lib (dirmetas shared): the metadata is fetched,
    // the 5 files are still to come.
    assert!(
        lines[1].starts_with(&format!(
            "pull: commit {c}: metadata complete; 5 content objects to fetch ("
        )),
        "{err}"
    );
    assert!(lines[1].contains(" 0 content objects, "), "{err}");
    assert!(
        lines[2].starts_with("pull: done (") && lines[2].contains(" 5 content objects, "),
        "{err}"
    );
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "control characters on stderr: {err:?}"
    );
    // Nothing left to fetch the second time.
    let (_, err) = ok(&dst, &["pull", "usb", "os/main"]);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("pull: done (0 metadata, 0 content objects, 0 bytes"),
        "{err}"
    );
}
