//! prune --refs-only [--keep-younger-than]: same surviving objects as `ostree prune` on a copy.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use support::ok;

fn objects(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(repo.join("objects"))
        .unwrap()
        .flat_map(|d| {
            let d = d.unwrap();
            let p = d.file_name().to_string_lossy().into_owned();
            fs::read_dir(d.path())
                .unwrap()
                .map(move |f| format!("{p}{}", f.unwrap().file_name().to_string_lossy()))
        })
        .collect();
    v.sort();
    v
}

fn build(repo: &Path, tree: &Path) {
    ok("atomboot", repo, &["init", "--mode=archive"]);
    fs::create_dir_all(tree).unwrap();
    for (i, day) in ["2024-01-01", "2024-02-01", "2024-03-01"]
        .iter()
        .enumerate()
    {
        fs::write(tree.join(format!("gen{i}")), format!("generation {i}")).unwrap();
        let ts = format!("--timestamp={day}T00:00:00Z");
        ok(
            "atomboot",
            repo,
            &[
                "commit",
                "-b",
                "main",
                "-s",
                "c",
                &ts,
                tree.to_str().unwrap(),
            ],
        );
    }
    fs::write(tree.join("side"), "only on the side branch").unwrap();
    ok(
        "atomboot",
        repo,
        &[
            "commit",
            "-b",
            "side",
            "-s",
            "s",
            "--timestamp=2024-01-15T00:00:00Z",
            tree.to_str().unwrap(),
        ],
    );
    ok("atomboot", repo, &["refs", "--delete", "side"]);
}

fn copy(from: &Path, to: &Path) {
    assert!(Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success());
}

#[test]
fn prune_matches_ostree() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    build(&a, &t.path().join("tree"));
    let before = objects(&a);
    for (i, extra) in [vec![], vec!["--keep-younger-than=2024-01-20T00:00:00Z"]]
        .iter()
        .enumerate()
    {
        let (ours, theirs) = (
            t.path().join(format!("ours{i}")),
            t.path().join(format!("theirs{i}")),
        );
        copy(&a, &ours);
        copy(&a, &theirs);
        let mut args = vec!["prune", "--refs-only"];
        args.extend(extra.iter().copied());
        let out = ok("atomboot", &ours, &args);
        let theirs_args: Vec<&str> = if extra.is_empty() {
            args.clone()
        } else {
            vec![
                "prune",
                "--refs-only",
                "--keep-younger-than=2024-01-20 00:00:00 +0000",
            ]
        };
        ok("ostree", &theirs, &theirs_args);
        assert_eq!(objects(&ours), objects(&theirs), "{extra:?}: {out}");
        assert!(objects(&ours).len() < before.len(), "something was pruned");
        assert!(ok("ostree", &ours, &["fsck"]).contains("no errors found"));
    }
}
