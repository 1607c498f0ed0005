//! `atomboot admin` deploying from real OSTree repositories made by Debian's `ostree` (no --tree-source):
//! a local ref, a `remote:ref` pulled from a file:// remote, `upgrade` after the remote moved, and an
//! unknown ref. A missing `ostree` fails the test (scripts/setup.sh installs it).

#[path = "admin_common.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn ostree(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .args(args)
        .output()
        .expect("ostree must be installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "ostree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn admin(sysroot: &Path, boot: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .arg("admin")
        .args(args)
        .arg("--sysroot")
        .arg(sysroot)
        .arg("--boot")
        .arg(boot)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deploy_and_upgrade_from_ostree_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sysroot = d.join("sysroot");
    let boot = d.join("boot.img");
    fat_image(&boot, 16 * 1024);
    init_fs("am335x", &boot, &sysroot);
    let ok = |args: &[&str]| {
        let (ok, o, e) = admin(&sysroot, &boot, args);
        assert!(ok, "admin {args:?}: {e}");
        o
    };
    ok(&["os-init", "debian"]);
    let repo = sysroot.join("ostree/repo");
    ostree(&repo, &["init", "--mode=archive"]);
    let t1 = tree(d, 1, 5000, Some(dtb(&["ti,am33xx"])));
    let c1 = ostree(
        &repo,
        &[
            "commit",
            "-b",
            "os/local",
            &format!("--tree=dir={}", t1.display()),
            "-s",
            "v1",
            "--add-metadata-string=version=1.0",
        ],
    );
    ok(&["deploy", "--karg", "console=ttyS0,115200", "os/local"]);
    let s: Value = serde_json::from_str(&ok(&["status", "--json"])).unwrap();
    assert_eq!(s["deployments"][0]["commit"], c1.as_str());
    assert_eq!(s["deployments"][0]["version"], "1.0");
    assert_eq!(s["deployments"][0]["subject"], "v1");
    let dep = sysroot.join(format!("ostree/deploy/debian/deploy/{c1}.0"));
    assert_eq!(
        std::fs::read(dep.join("etc/os-release")).unwrap(),
        std::fs::read(t1.join("etc/os-release")).unwrap()
    );
    assert_eq!(
        boots(&std::fs::read(&boot).unwrap())
            .unwrap()
            .0
            .commit
            .to_hex(),
        c1
    );

    // A remote served over file://, pulled with ostree, deployed as remote:ref.
    let server = d.join("server");
    ostree(&server, &["init", "--mode=archive"]);
    let t2 = tree(d, 2, 6000, Some(dtb(&["ti,am33xx"])));
    let c2 = ostree(
        &server,
        &[
            "commit",
            "-b",
            "os/stable",
            &format!("--tree=dir={}", t2.display()),
            "-s",
            "v2",
        ],
    );
    ostree(
        &repo,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("file://{}", server.display()),
        ],
    );
    ostree(&repo, &["pull", "origin", "os/stable"]);
    ok(&["deploy", "origin:os/stable"]);
    let s: Value = serde_json::from_str(&ok(&["status", "--json"])).unwrap();
    assert_eq!(s["deployments"][0]["commit"], c2.as_str());
    assert_eq!(s["deployments"][0]["origin"], "origin:os/stable");
    assert_eq!(s["deployments"][1]["commit"], c1.as_str());
    assert!(s["deployments"][0]["bootargs"]
        .as_str()
        .unwrap()
        .ends_with("console=ttyS0,115200"));

    // upgrade: nothing new, then the remote moves; upgrade pulls and deploys.
    assert!(ok(&["upgrade"]).contains("no upgrade"));
    let t3 = tree(d, 3, 4000, Some(dtb(&["ti,am33xx"])));
    let c3 = ostree(
        &server,
        &[
            "commit",
            "-b",
            "os/stable",
            &format!("--tree=dir={}", t3.display()),
            "-s",
            "v3",
        ],
    );
    ok(&["upgrade"]); // pulls origin:os/stable itself
    let s: Value = serde_json::from_str(&ok(&["status", "--json"])).unwrap();
    assert_eq!(s["deployments"][0]["commit"], c3.as_str());
    assert_eq!(s["deployments"][1]["commit"], c2.as_str());
    assert_eq!(
        boots(&std::fs::read(&boot).unwrap())
            .unwrap()
            .0
            .commit
            .to_hex(),
        c3
    );

    // Unknown ref: clear error, nothing changed.
    let before = std::fs::read(&boot).unwrap();
    let (okk, _, err) = admin(&sysroot, &boot, &["deploy", "origin:os/nope"]);
    assert!(
        !okk && err.contains("unknown ref \"origin:os/nope\""),
        "{err}"
    );
    assert_eq!(std::fs::read(&boot).unwrap(), before);
    fsck_clean(&boot);
}
