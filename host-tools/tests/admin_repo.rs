//! `atomboot admin` deploying from the in-house OSTree repository, through the command line only: a build
//! repository (archive) is the remote, the sysroot's own repository (made by `admin init-fs`) pulls from it
//! over file://, `admin deploy REMOTE:REF` and `admin upgrade` check commits out of it. Debian's `ostree`
//! referees the sysroot repository.

#[path = "admin_common.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn atomboot(args: &[&str], extra: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args(args)
        .args(extra)
        .output()
        .expect("run atomboot")
}

fn ok(args: &[&str], extra: &[&Path]) -> String {
    let o = atomboot(args, extra);
    assert!(
        o.status.success(),
        "atomboot {args:?} {extra:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Device<'a> {
    sysroot: &'a Path,
    boot: &'a Path,
}

impl Device<'_> {
    fn admin(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_atomboot"))
            .arg("admin")
            .arg("--sysroot")
            .arg(self.sysroot)
            .arg("--boot")
            .arg(self.boot)
            .args(args)
            .output()
            .expect("run atomboot admin")
    }
    fn admin_ok(&self, args: &[&str]) -> String {
        let o = self.admin(args);
        assert!(
            o.status.success(),
            "atomboot admin {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn status(&self) -> Value {
        serde_json::from_str(&self.admin_ok(&["status", "--json"])).unwrap()
    }
}

fn commit(server: &Path, tree: &Path, version: &str) -> String {
    let repo = format!("--repo={}", server.display());
    let meta = format!("--add-metadata-string=version={version}");
    ok(
        &[&repo, "commit", "-b", "os/stable", "-s", "release", &meta],
        &[tree],
    )
    .trim()
    .to_string()
}

#[test]
fn deploy_and_upgrade_from_the_in_house_repository() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = d.join("server");
    let server_s = format!("--repo={}", server.display());
    ok(&[&server_s, "init", "--mode=archive"], &[]);
    let t1 = tree(d, 1, 6000, Some(dtb(&["ti,am33xx"])));
    let c1 = commit(&server, &t1, "1");

    let sysroot = d.join("sysroot");
    let boot = d.join("boot.img");
    fat_image(&boot, 16 * 1024);
    ok(
        &["admin", "--board", "am335x", "--boot"],
        &[&boot, Path::new("init-fs"), &sysroot],
    );
    let dev = Device {
        sysroot: &sysroot,
        boot: &boot,
    };
    dev.admin_ok(&["os-init", "debian"]);
    let local = sysroot.join("ostree/repo");
    let local_s = format!("--repo={}", local.display());
    let url = format!("file://{}", server.display());
    ok(
        &[&local_s, "remote", "add", "--no-gpg-verify", "origin", &url],
        &[],
    );

    // Before the pull the ref is unknown: a clear error, nothing deployed.
    let o = dev.admin(&["deploy", "origin:os/stable"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("origin:os/stable") && e.contains("pull"), "{e}");
    assert_eq!(dev.status()["deployments"].as_array().unwrap().len(), 0);

    ok(&[&local_s, "pull", "origin", "os/stable"], &[]);
    dev.admin_ok(&[
        "deploy",
        "--karg",
        "console=ttyS0,115200",
        "origin:os/stable",
    ]);
    let s = dev.status();
    let d0 = &s["deployments"][0];
    assert_eq!(d0["commit"], c1.as_str());
    assert_eq!(d0["version"], "1");
    assert_eq!(d0["boot_files_ok"], true);
    let dep = sysroot.join(d0["path"].as_str().unwrap().trim_start_matches('/'));
    let kernel = "usr/lib/modules/6.1.0-test/vmlinuz";
    assert_eq!(
        std::fs::read(dep.join(kernel)).unwrap(),
        std::fs::read(t1.join(kernel)).unwrap()
    );

    // Debian's ostree accepts the sysroot repository our pull wrote.
    let o = Command::new("ostree")
        .arg(format!("--repo={}", local.display()))
        .arg("fsck")
        .output()
        .expect("ostree (scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A new release on the server: `admin upgrade` pulls the origin and deploys it; v1 is the fallback.
    let t2 = tree(d, 2, 7000, Some(dtb(&["ti,am33xx"])));
    let c2 = commit(&server, &t2, "2");
    assert_ne!(c1, c2);
    dev.admin_ok(&["upgrade"]);
    let s = dev.status();
    assert_eq!(s["deployments"][0]["commit"], c2.as_str());
    assert_eq!(s["deployments"][0]["version"], "2");
    assert_eq!(s["deployments"][1]["commit"], c1.as_str());
    assert_eq!(
        ok(&[&local_s, "rev-parse", "origin:os/stable"], &[]).trim(),
        c2
    );
    // Nothing new upstream: upgrade deploys nothing.
    dev.admin_ok(&["upgrade"]);
    assert_eq!(
        dev.status()["deployments"].as_array().unwrap().len(),
        2,
        "an upgrade to the same commit adds no deployment"
    );
}
