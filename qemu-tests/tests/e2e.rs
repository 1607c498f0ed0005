//! End to end: images made by `atomboot admin image` from commits made by `atomboot commit`, booted under
//! Debian's U-Boot (`u-boot-qemu`) with the atomboot agent, a real Debian armhf kernel and the sample OS
//! (qemu-tests/guest), which marks itself good from inside the guest with the armhf `atomboot`.
//! One test per scenario of the "End to end in QEMU" issue; each prints its wall time.

use qemu_tests::device::{atomboot_ok, Device};
use qemu_tests::{board_files, repo_root, sh, Run};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The build server's repository: v1, v2 (healthy) and v3 (its health check fails), each on its own
/// branch `os/vN`, and the factory image of v1.
struct Release {
    repo: PathBuf,
    commits: Vec<String>,
    image: PathBuf,
}

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e")
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let w = work_dir().join("release");
        let _ = std::fs::remove_dir_all(&w);
        std::fs::create_dir_all(&w).unwrap();
        let repo = w.join("repo");
        let repo_arg = format!("--repo={}", repo.display());
        atomboot_ok(&[&repo_arg, "init", "--mode=archive"]);
        let mut commits = Vec::new();
        for (n, health) in [(1, "ok"), (2, "ok"), (3, "fail")] {
            let tree = w.join(format!("os-v{n}"));
            let mut cmd = Command::new("bash");
            cmd.arg(repo_root().join("scripts/build-guest-os.sh"))
                .arg(n.to_string())
                .arg(&tree);
            if health == "fail" {
                cmd.args(["--health", "fail"]);
            }
            sh(&mut cmd);
            let branch = format!("os/v{n}");
            let subject = format!("version {n}");
            let meta = format!("--add-metadata-string=version={n}");
            let tree_s = tree.display().to_string();
            let c = atomboot_ok(&[
                &repo_arg, "commit", "-b", &branch, "-s", &subject, &meta, &tree_s,
            ]);
            commits.push(c.trim().to_string());
        }
        let board = board_files("qemu-virt");
        let image = w.join("factory-v1.img");
        let image_s = image.display().to_string();
        let board_s = board.display().to_string();
        atomboot_ok(&[
            "admin",
            "--board",
            "qemu-virt",
            &repo_arg,
            "image",
            "--boot-size",
            "32",
            "--root-size",
            "128",
            "--karg",
            "console=ttyAMA0",
            "--karg",
            "panic=-1",
            "--board-dir",
            &board_s,
            "os/v1",
            &image_s,
        ]);
        Release {
            repo,
            commits,
            image,
        }
    })
}

/// A fresh board flashed with the factory image.
fn device(name: &str) -> Device {
    let r = release();
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    Device::from_image(&dir, &r.image)
}

fn timed(name: &str, started: Instant) {
    eprintln!(
        "e2e scenario {name}: {:.1} s wall",
        started.elapsed().as_secs_f64()
    );
}

/// Checks a guest boot of `version`: the agent booted `slot`, the guest reports the version.
#[track_caller]
fn booted(run: &Run, slot: &str, version: u32) {
    run.expect(&format!("atomboot: boot {slot}"))
        .expect(&format!("atomboot-guest: booted version={version} "));
}

fn status(dev: &mut Device) -> serde_json::Value {
    serde_json::from_str(&dev.admin_ok(&["status", "--json"])).expect("admin status --json")
}

/// Deploys version `n` (1-based) from the build repository directly (the host acting as the installer).
fn deploy_from_release(dev: &mut Device, n: usize) {
    let repo = format!("--repo={}", release().repo.display());
    let branch = format!("os/v{n}");
    dev.admin_ok(&[&repo, "deploy", &branch]);
}

#[test]
fn s1_fresh_image_boots_v1() {
    let t = Instant::now();
    let r = release();
    let mut dev = device("s1");
    let run = dev.boot("boot1");
    booted(&run, "primary", 1);
    run.expect(&format!("commit={} ", r.commits[0]))
        .expect("atomboot-guest: usr=ro var=mounted boot=vfat")
        .expect("atomboot-guest: mark-good: atomboot admin mark-good rc=0");
    let s = status(&mut dev);
    assert_eq!(s["deployments"][0]["commit"], r.commits[0].as_str(), "{s}");
    timed("1 fresh image boots v1", t);
}

/// A loopback HTTP server for the build repository (scripts/serve-repo.py: HTTP/1.1, deep listen
/// backlog), stopped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(root: &Path) -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/serve-repo.py");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&script)
            .arg(root)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3: run scripts/setup.sh");
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // serve-repo.py prints the port it listens on.
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{} said {line:?}", script.display()));
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn s2_http_pull_and_deploy_v2_then_v2_boots_and_marks_good() {
    let t = Instant::now();
    let r = release();
    let server = Server::start(&r.repo);
    let mut dev = device("s2");
    booted(&dev.boot("boot1"), "primary", 1);
    let repo = dev.repo_arg();
    atomboot_ok(&[
        &repo,
        "remote",
        "add",
        "--no-gpg-verify",
        "origin",
        &server.url,
    ]);
    atomboot_ok(&[&repo, "pull", "origin", "os/v2"]);
    dev.admin_ok(&["deploy", "origin:os/v2"]);
    let s = status(&mut dev);
    assert_eq!(s["deployments"][0]["commit"], r.commits[1].as_str(), "{s}");
    assert_eq!(s["last_boot"]["upgrade_available"], "1", "{s}");
    let run = dev.boot("boot2");
    booted(&run, "primary", 2);
    run.expect("atomboot: entry primary: update on trial, boot 1 of 3")
        .expect(&format!("commit={} ", r.commits[1]))
        .expect("atomboot-guest: health=ok")
        .expect("atomboot-guest: mark-good: atomboot admin mark-good rc=0");
    // The guest's mark-good reached the counters on the boot partition.
    let s = status(&mut dev);
    assert_eq!(s["last_boot"]["bootcount"], "0", "{s}");
    assert_eq!(s["last_boot"]["upgrade_available"], "0", "{s}");
    // And the next boot is a normal boot of v2.
    let run = dev.boot("boot3");
    booted(&run, "primary", 2);
    run.expect("atomboot: entry primary: normal boot");
    timed("2 HTTP pull + deploy v2, boots and marks good", t);
}

#[test]
fn s3_corrupted_v2_kernel_boots_v1() {
    let t = Instant::now();
    let mut dev = device("s3");
    deploy_from_release(&mut dev, 2);
    let kernel = dev.loader_var("kernel_image");
    assert_ne!(kernel, dev.loader_var("kernel_image2"));
    dev.corrupt_boot_file(&kernel);
    let run = dev.boot("boot1");
    run.expect(&format!(
        "atomboot: FAILED primary kernel {kernel}: SHA-256 mismatch"
    ));
    booted(&run, "fallback", 1);
    run.expect("atomboot: boot fallback (primary kernel: SHA-256 mismatch)")
        .expect("atomboot-guest: status: last boot: slot fallback reason primary kernel: SHA-256 mismatch");
    // admin status on the host (offline) says so too.
    let text = dev.admin_ok(&["status"]);
    assert!(
        text.contains("reason primary kernel: SHA-256 mismatch"),
        "{text}"
    );
    timed("3 corrupted v2 kernel -> v1", t);
}

#[test]
fn s4_failing_health_check_falls_back_after_bootlimit_and_stays() {
    let t = Instant::now();
    let mut dev = device("s4");
    deploy_from_release(&mut dev, 3);
    // bootlimit=3: three trial boots of v3, each failing its health check (never marked good).
    for n in 1..=3 {
        let run = dev.boot(&format!("boot{n}"));
        booted(&run, "primary", 3);
        run.expect(&format!(
            "atomboot: entry primary: update on trial, boot {n} of 3"
        ))
        .expect("atomboot-guest: health=fail");
    }
    let run = dev.boot("boot4");
    booted(&run, "fallback", 1);
    run.expect("atomboot-guest: health=ok");
    // v1 marked itself good on the fallback: it is the default again, and stays.
    let run = dev.boot("boot5");
    booted(&run, "primary", 1);
    run.expect("atomboot: entry primary: normal boot");
    timed("4 health check fails -> fallback after bootlimit, stays", t);
}

#[test]
fn s5_every_entry_corrupted_boots_nothing() {
    let t = Instant::now();
    let mut dev = device("s5");
    deploy_from_release(&mut dev, 2);
    for var in ["kernel_image", "kernel_image2"] {
        let k = dev.loader_var(var);
        dev.corrupt_boot_file(&k);
    }
    let run = dev.boot("boot1");
    run.expect("atomboot: FAILED primary kernel")
        .expect("atomboot: FAILED fallback kernel")
        .expect("atomboot: no verified entry booted")
        .expect_not("atomboot: bootz")
        .expect_not("Starting kernel")
        .expect_not("atomboot-guest:");
    timed("5 every entry corrupted -> nothing boots", t);
}

#[test]
fn s6_power_cut_during_deploy_boots_old_or_new() {
    let t = Instant::now();
    // How long an uninterrupted deploy of v2 takes here.
    let mut probe = device("s6-probe");
    probe.sysroot();
    let d0 = Instant::now();
    deploy_from_release(&mut probe, 2);
    let full = d0.elapsed();
    let mut outcomes = Vec::new();
    let mut redeployed = false;
    for (i, frac) in [0.2f64, 0.4, 0.6, 0.8, 0.9, 0.95].into_iter().enumerate() {
        let mut dev = device(&format!("s6-cut{i}"));
        let sysroot = dev.sysroot();
        let repo = format!("--repo={}", release().repo.display());
        let mut child = Command::new(qemu_tests::device::atomboot_bin())
            .arg("admin")
            .arg("--sysroot")
            .arg(&sysroot)
            .arg("--boot")
            .arg(&dev.boot)
            .args([&repo, "deploy", "os/v2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(frac));
        // SIGKILL: the deployer stops between two writes, as at a power cut (its writes already in the
        // files are kept, as a file system with ordered data would keep them).
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        let run = dev.boot("boot1");
        let version = if run.console.contains("atomboot-guest: booted version=2 ") {
            2
        } else {
            1
        };
        booted(&run, "primary", version);
        outcomes.push((frac, finished, version));
        // Once: the interrupted deploy is simply run again, and the board then boots the new version.
        if !finished && !redeployed {
            redeployed = true;
            deploy_from_release(&mut dev, 2);
            booted(&dev.boot("boot2"), "primary", 2);
        }
    }
    assert!(redeployed, "no cut interrupted the deploy: {outcomes:?}");
    eprintln!("s6: full deploy {full:?}; (cut at fraction, deploy finished, booted version): {outcomes:?}");
    timed("6 power cut during deploy -> old or new", t);
}

#[test]
fn s7_unlock_hotfix_gives_a_writable_usr_that_survives_a_reboot() {
    let t = Instant::now();
    let mut dev = device("s7");
    dev.put_job(
        "set -e\n\
         atomboot admin unlock --hotfix\n\
         echo hotfix-1 > /usr/lib/atomboot-hotfix\n\
         sync\n\
         cat /usr/lib/atomboot-hotfix\n",
    );
    let run = dev.boot("boot1");
    booted(&run, "primary", 1);
    run.expect("atomboot-guest: job: hotfix-1")
        .expect("atomboot-guest: job: done rc=0");
    dev.put_job("cat /usr/lib/atomboot-hotfix\n");
    let run = dev.boot("boot2");
    booted(&run, "primary", 1);
    run.expect("prepare-root: /usr unlocked (hotfix): overlay, writable")
        .expect("atomboot-guest: usr=rw")
        .expect("atomboot-guest: job: hotfix-1")
        .expect("atomboot-guest: job: done rc=0");
    timed("7 unlock --hotfix survives a reboot", t);
}
