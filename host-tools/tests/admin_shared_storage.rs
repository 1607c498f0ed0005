//! Deployments share the sysroot repository's storage (as `ostree admin deploy`): files are hard links
//! of the bare repository's objects, `/etc` is a real copy, a second deployment costs only what changed,
//! and `undeploy` + `prune` give the space back. Through the command line; Debian's `ostree` referees
//! the repository (a missing `ostree` fails the test).

#[path = "admin_common.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(args: &[&str], extra: &[&Path]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args(args)
        .args(extra)
        .output()
        .expect("run atomboot");
    assert!(
        o.status.success(),
        "atomboot {args:?} {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Bytes used by the distinct inodes under `root` (hard links counted once).
fn disk_used(root: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) {
        let md = std::fs::symlink_metadata(p).unwrap();
        if seen.insert((md.dev(), md.ino())) {
            *total += md.blocks() * 512;
        }
        if md.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), seen, total);
            }
        }
    }
    let mut total = 0;
    walk(root, &mut HashSet::new(), &mut total);
    total
}

fn ostree_fsck(repo: &Path) {
    let o = Command::new("ostree")
        .arg(format!("--repo={}", repo.display()))
        .arg("fsck")
        .output()
        .expect("ostree (scripts/setup.sh installs it)");
    assert!(
        o.status.success(),
        "ostree fsck: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Dev {
    sysroot: PathBuf,
    boot: PathBuf,
}

impl Dev {
    fn admin(&self, args: &[&str]) -> String {
        let mut a = vec![
            "admin".to_string(),
            "--sysroot".into(),
            self.sysroot.display().to_string(),
            "--boot".into(),
            self.boot.display().to_string(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a, &[])
    }
    fn status(&self) -> Value {
        serde_json::from_str(&self.admin(&["status", "--json"])).unwrap()
    }
    fn deployment_of(&self, commit: &str) -> (usize, PathBuf) {
        let s = self.status();
        let (i, d) = s["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .find(|(_, d)| d["commit"] == commit)
            .unwrap_or_else(|| panic!("no deployment of {commit}: {s}"));
        (
            i,
            self.sysroot
                .join(d["path"].as_str().unwrap().trim_start_matches('/')),
        )
    }
}

#[test]
fn deployments_are_hard_links_of_the_sysroot_repository() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dev = Dev {
        sysroot: d.join("sysroot"),
        boot: d.join("boot.img"),
    };
    fat_image(&dev.boot, 16 * 1024);
    run(
        &["admin", "--board", "am335x", "--boot"],
        &[&dev.boot, Path::new("init-fs"), &dev.sysroot],
    );
    dev.admin(&["os-init", "debian"]);
    let repo = dev.sysroot.join("ostree/repo");
    let config = std::fs::read_to_string(repo.join("config")).unwrap();
    assert!(
        config.contains("mode=bare\n"),
        "sysroot repository is bare, as ostree's: {config}"
    );
    let repo_s = format!("--repo={}", repo.display());

    let t1 = tree(d, 1, 6000, Some(dtb(&["ti,am33xx"])));
    std::fs::create_dir_all(t1.join("usr/bin")).unwrap();
    std::fs::write(t1.join("usr/bin/shared"), vec![7u8; 300_000]).unwrap();
    std::fs::write(t1.join("usr/bin/only-v1"), bytes(99, 1_000_000)).unwrap();
    let c1 = run(&[&repo_s, "commit", "-b", "v1", "-s", "one"], &[&t1])
        .trim()
        .to_string();
    dev.admin(&["deploy", "--karg", "console=ttyS0,115200", "v1"]);
    let (_, dep1) = dev.deployment_of(&c1);

    // Every file of /usr is the repository's object (same inode); /etc is a copy.
    let ls = dep1.join("usr/bin/shared");
    let md = std::fs::metadata(&ls).unwrap();
    assert_eq!(md.nlink(), 2, "object + one deployment");
    let object = |commit: &str, path: &str| -> PathBuf {
        let csum = run(&[&repo_s, "ls", "-C", commit, path], &[]);
        let hex = csum.split_whitespace().nth(4).unwrap().to_string();
        repo.join(format!("objects/{}/{}.file", &hex[..2], &hex[2..]))
    };
    let obj = object(&c1, "/usr/bin/shared");
    assert_eq!(std::fs::metadata(&obj).unwrap().ino(), md.ino());
    let etc = std::fs::metadata(dep1.join("etc/os-release")).unwrap();
    assert_eq!(etc.nlink(), 1, "/etc is a real copy");
    let etc_obj = object(&c1, "/etc/os-release");
    assert_ne!(std::fs::metadata(&etc_obj).unwrap().ino(), etc.ino());

    // Changing /etc in a deployment cannot reach the object.
    std::fs::write(dep1.join("etc/os-release"), "VERSION_ID=changed\n").unwrap();
    assert_eq!(std::fs::read_to_string(&etc_obj).unwrap(), "VERSION_ID=1\n");
    ostree_fsck(&repo);
    run(&[&repo_s, "fsck"], &[]);

    // A second deployment: what did not change is shared (object + two deployments).
    let t2 = tree(d, 2, 7000, Some(dtb(&["ti,am33xx"])));
    std::fs::create_dir_all(t2.join("usr/bin")).unwrap();
    std::fs::write(t2.join("usr/bin/shared"), vec![7u8; 300_000]).unwrap();
    let before_v2 = disk_used(&dev.sysroot);
    let c2 = run(&[&repo_s, "commit", "-b", "v2", "-s", "two"], &[&t2])
        .trim()
        .to_string();
    dev.admin(&["deploy", "v2"]);
    let (_, dep2) = dev.deployment_of(&c2);
    assert_eq!(
        std::fs::metadata(dep2.join("usr/bin/shared"))
            .unwrap()
            .nlink(),
        3
    );
    let grown = disk_used(&dev.sysroot) - before_v2;
    assert!(
        grown < 200_000,
        "commit + deploy of v2 cost {grown} bytes: only its new kernel, initramfs and directories"
    );

    // undeploy v1, delete its ref, prune: v1's own object leaves the disk; v2 is intact.
    let only_v1 = object(&c1, "/usr/bin/only-v1");
    assert!(only_v1.exists());
    let before = disk_used(&dev.sysroot);
    let (i1, _) = dev.deployment_of(&c1);
    dev.admin(&["undeploy", &i1.to_string()]);
    assert!(!dep1.exists());
    assert!(only_v1.exists(), "the ref still holds v1's objects");
    run(&[&repo_s, "refs", "--delete", "v1"], &[]);
    run(&[&repo_s, "prune", "--refs-only"], &[]);
    assert!(!only_v1.exists());
    let freed = before - disk_used(&dev.sysroot);
    assert!(freed >= 1_000_000, "undeploy + prune freed {freed} bytes");
    ostree_fsck(&repo);

    // Pruning the objects of a deployed commit never breaks the deployment: its links keep the data.
    run(&[&repo_s, "refs", "--delete", "v2"], &[]);
    run(&[&repo_s, "prune", "--refs-only"], &[]);
    assert_eq!(
        std::fs::read(dep2.join("usr/bin/shared")).unwrap(),
        vec![7u8; 300_000]
    );
    assert_eq!(
        std::fs::metadata(dep2.join("usr/bin/shared"))
            .unwrap()
            .nlink(),
        1
    );
}

/// `admin deploy --verify` re-hashes what it checks out: a damaged object stops the deploy, which
/// changes nothing; the default deploy trusts the repository as ostree does.
#[test]
fn deploy_verify_refuses_a_damaged_object() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dev = Dev {
        sysroot: d.join("sysroot"),
        boot: d.join("boot.img"),
    };
    fat_image(&dev.boot, 16 * 1024);
    run(
        &["admin", "--board", "am335x", "--boot"],
        &[&dev.boot, Path::new("init-fs"), &dev.sysroot],
    );
    dev.admin(&["os-init", "debian"]);
    let repo = dev.sysroot.join("ostree/repo");
    let repo_s = format!("--repo={}", repo.display());
    let t1 = tree(d, 1, 6000, Some(dtb(&["ti,am33xx"])));
    std::fs::write(t1.join("usr/lib/data"), vec![1u8; 5000]).unwrap();
    run(&[&repo_s, "commit", "-b", "v1", "-s", "one"], &[&t1]);
    let line = run(&[&repo_s, "ls", "-C", "v1", "/usr/lib/data"], &[]);
    let hex = line.split_whitespace().nth(4).unwrap().to_string();
    let obj = repo.join(format!("objects/{}/{}.file", &hex[..2], &hex[2..]));
    let mut data = std::fs::read(&obj).unwrap();
    data[100] ^= 0xff;
    std::fs::write(&obj, &data).unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .arg("admin")
        .arg("--sysroot")
        .arg(&dev.sysroot)
        .arg("--boot")
        .arg(&dev.boot)
        .args(["deploy", "--verify", "v1"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&format!("file object {hex} has checksum")),
        "{e}"
    );
    assert_eq!(dev.status()["deployments"].as_array().unwrap().len(), 0);
    dev.admin(&["deploy", "v1"]);
    assert_eq!(dev.status()["deployments"].as_array().unwrap().len(), 1);
}
