//! The device updates itself, as users run it on the board: under Debian's U-Boot with the atomboot agent
//! and the real Debian armhf kernel, the guest (qemu-tests/guest) runs `atomboot` against its own mounted
//! /boot (the kernel's vfat driver) and /sysroot, then reboots (`reboot` in the guest, the same QEMU).
//! Its network reaches only the build server: QEMU user networking with `restrict=on` and a `guestfwd` of
//! 10.0.2.100:80 to [`BuildServer`] on the host's loopback ([`qemu_tests::machine`]).
//!
//! 1. network: `admin upgrade` pulls v2 over HTTP, deploys it, reboot, v2 on trial marks itself good;
//! 2. USB stick: a second virtio disk holding an archive repository exported on the host, mounted in the
//!    guest, `remote add usb file:///media/usb/repo`, `pull`, `admin deploy usb:os/v2`, reboot;
//! 3. the server goes down in the middle of the download: v1 keeps booting, a second `admin upgrade`
//!    fetches only what the first did not finish (the server's log says which objects, and bytes);
//! 4. power cuts (QEMU's `system_reset`: the guest's page cache is lost) at moments spread over the pull
//!    and the deploy of an on-device `admin upgrade`: the next boot boots a verified entry, v1 or v2;
//!    after a sample of the cuts and the last one, a completing `admin upgrade` boots v2. The board is
//!    booted once and saved while its job waits to upgrade (QEMU's machine state and its disk); each cut
//!    resumes it over its own disk overlay. The moments are fractions of an uncut probe run, each reached
//!    from the progress line (`pull: ...`, `deploy: ...`) that preceded it in the probe; each cut records
//!    the last progress line seen before it. `ATOMBOOT_POWERCUTS=N` (default 6, the CI subset) sets how
//!    many cut moments; `scripts/device-powercuts.sh [N]` runs the full campaign (24) and prints the table.
//!
//! Each test prints its wall time and its measurements (`device_update ...` lines, `--nocapture`).

use qemu_tests::device::{atomboot_ok, changed, Device};
use qemu_tests::http::{BuildServer, Served};
use qemu_tests::machine::{Machine, MachineOptions, SERVER_IN_GUEST};
use qemu_tests::{board_files, repo_root, sh};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One power-on of a scenario (several boots of the guest) is bounded by this.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// A single boot, from power on or reset to the guest's first line.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// The build server's repository (v1 and v2 on `os/v1`, `os/v2`) and the factory image of v1.
struct Release {
    repo: PathBuf,
    v1: String,
    v2: String,
    /// The trees, to measure what changed.
    trees: [PathBuf; 2],
    image: PathBuf,
}

/// The scenarios' files; `ATOMBOOT_DEVICE_UPDATE_DIR` moves them (two test processes at once need two).
fn work_dir() -> PathBuf {
    std::env::var_os("ATOMBOOT_DEVICE_UPDATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("device-update"))
}

fn repo_arg(repo: &Path) -> String {
    format!("--repo={}", repo.display())
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let w = work_dir().join("release");
        let _ = std::fs::remove_dir_all(&w);
        std::fs::create_dir_all(&w).unwrap();
        let repo = w.join("repo");
        let ra = repo_arg(&repo);
        atomboot_ok(&[&ra, "init", "--mode=archive"]);
        let mut commits = Vec::new();
        let mut trees = Vec::new();
        for n in 1..=2 {
            let tree = w.join(format!("os-v{n}"));
            sh(Command::new("bash")
                .arg(repo_root().join("scripts/build-guest-os.sh"))
                .arg(n.to_string())
                .arg(&tree));
            let c = atomboot_ok(&[
                &ra,
                "commit",
                "-b",
                &format!("os/v{n}"),
                "-s",
                &format!("version {n}"),
                &format!("--add-metadata-string=version={n}"),
                &tree.display().to_string(),
            ]);
            commits.push(c.trim().to_string());
            trees.push(tree);
        }
        let image = w.join("factory-v1.img");
        atomboot_ok(&[
            "admin",
            "--board",
            "qemu-virt",
            &ra,
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
            &board_files("qemu-virt").display().to_string(),
            "os/v1",
            &image.display().to_string(),
        ]);
        Release {
            repo,
            v2: commits.pop().unwrap(),
            v1: commits.pop().unwrap(),
            trees: [trees[0].clone(), trees[1].clone()],
            image,
        }
    })
}

/// A copy of the build repository for one scenario, its branch `os/stable` at `commit`.
fn server_repo(name: &str, commit: &str) -> PathBuf {
    let dir = work_dir().join(name).join("server-repo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    sh(Command::new("cp").arg("-a").arg(&release().repo).arg(&dir));
    set_stable(&dir, commit);
    dir
}

/// Moves `os/stable` of a server repository (what a release does on the build server): the ref file,
/// `refs/heads/os/stable`, replaced by a rename (OSTree's format: the checksum and a newline).
fn set_stable(repo: &Path, commit: &str) {
    let heads = repo.join("refs/heads/os");
    std::fs::create_dir_all(&heads).unwrap();
    let tmp = heads.join(".stable.tmp");
    std::fs::write(&tmp, format!("{commit}\n")).unwrap();
    std::fs::rename(&tmp, heads.join("stable")).unwrap();
}

/// A board as it leaves the factory for the network: v1 deployed from `origin:os/stable` and marked
/// good, its repository holding v1, its remote `origin` the build server as the guest reaches it.
fn networked_device(name: &str, server_repo: &Path) -> Device {
    let dir = work_dir().join(name).join("board");
    let _ = std::fs::remove_dir_all(&dir);
    let mut dev = Device::from_image(&dir, &release().image);
    let repo = dev.repo_arg();
    let file_url = format!("file://{}", server_repo.display());
    atomboot_ok(&[
        &repo,
        "remote",
        "add",
        "--no-gpg-verify",
        "origin",
        &file_url,
    ]);
    atomboot_ok(&[&repo, "pull", "origin", "os/stable"]);
    dev.admin_ok(&["deploy", "origin:os/stable"]);
    dev.admin_ok(&["mark-good"]);
    atomboot_ok(&[&repo, "remote", "delete", "origin"]);
    atomboot_ok(&[
        &repo,
        "remote",
        "add",
        "--no-gpg-verify",
        "origin",
        SERVER_IN_GUEST,
    ]);
    dev
}

fn timed(name: &str, started: Instant) {
    eprintln!(
        "device_update scenario {name}: {:.1} s wall",
        started.elapsed().as_secs_f64()
    );
}

/// The console from `from` on, split at each U-Boot start: one string per boot.
fn boots(console: &str) -> Vec<&str> {
    let mut v: Vec<&str> = console.split("U-Boot 20").collect();
    v.remove(0);
    v
}

/// Checks one boot: the agent booted `slot` and the guest runs `version`.
#[track_caller]
fn booted(boot: &str, slot: &str, version: u32) {
    assert!(
        boot.contains(&format!("atomboot: boot {slot}"))
            && boot.contains(&format!("atomboot-guest: booted version={version} ")),
        "expected a boot of {slot} running v{version}:\n{boot}"
    );
}

/// Bytes of the `.filez` objects the server sent whole, and how many.
fn filez(log: &[Served]) -> (u64, usize) {
    let f: Vec<&Served> = log
        .iter()
        .filter(|s| s.path.ends_with(".filez") && s.complete)
        .collect();
    (f.iter().map(|s| s.bytes).sum(), f.len())
}

/// The start of every job: its output goes to the console as it comes (not after the job, as the guest's
/// init would print it), and `logged CMD...` runs a command with its output through a pipe, as in a log
/// (so `atomboot` prints plain progress lines), returning its exit code.
const JOB_PRELUDE: &str = "exec > /dev/console 2>&1\n\
     logged() { ( \"$@\"; echo $? > /tmp/logged.rc ) 2>&1 | cat; return \"$(cat /tmp/logged.rc)\"; }\n";

/// The job of scenario 1 and 4: `admin upgrade`, live on the console; reboot when it worked.
/// `rearm`: the job puts itself back first, so an interrupted upgrade runs again on the next boot.
fn upgrade_job(rearm: bool) -> String {
    format!(
        "{JOB_PRELUDE}\
         {}\
         echo 'atomboot-guest: upgrade: start'\n\
         logged atomboot admin upgrade\n\
         rc=$?\n\
         echo \"atomboot-guest: upgrade: rc=$rc\"\n\
         if [ $rc = 0 ]; then rm -f /boot/atomboot-job.sh; sync; touch /run/atomboot/reboot; fi\n\
         atomboot admin status\n",
        if rearm {
            "cp /tmp/atomboot-job.sh /boot/atomboot-job.sh; sync\n"
        } else {
            ""
        }
    )
}

#[test]
fn s1_network_upgrade_on_the_device_reboots_into_v2_which_marks_itself_good() {
    let t = Instant::now();
    let r = release();
    let srv_repo = server_repo("s1", &r.v1);
    let mut dev = networked_device("s1", &srv_repo);
    set_stable(&srv_repo, &r.v2);
    let server = BuildServer::start(&srv_repo);
    // A local edit of /etc made on the device before the upgrade (a file the OS does not ship) must be in
    // v2's /etc (ostree's 3-way merge); the job left for v2's boot prints it.
    let job = upgrade_job(false).replacen(
        "echo 'atomboot-guest: upgrade: start'\n",
        "echo kept-across-the-upgrade > /etc/atomboot-local-edit\n\
         echo 'atomboot-guest: upgrade: start'\n",
        1,
    );
    let job = job.replacen(
        "rm -f /boot/atomboot-job.sh; sync;",
        "printf 'exec > /dev/console 2>&1\\necho \"atomboot-guest: etc-check: $(cat /etc/atomboot-local-edit)\"\\n' \
         > /boot/atomboot-job.sh; sync;",
        1,
    );
    assert!(
        job.contains("etc-check") && job.contains("atomboot-local-edit\n"),
        "{job}"
    );
    dev.put_job(&job);
    let opts = MachineOptions {
        server_port: Some(server.port()),
        ..Default::default()
    };
    let mut upgrade_secs = 0.0;
    let run = dev.run_with("run", &opts, RUN_TIMEOUT, |m| {
        let p = m.expect("atomboot-guest: upgrade: start", 0, BOOT_TIMEOUT);
        let t0 = Instant::now();
        m.expect("atomboot-guest: upgrade: rc=", p, RUN_TIMEOUT);
        upgrade_secs = t0.elapsed().as_secs_f64();
    });
    let b = boots(&run.console);
    assert_eq!(
        b.len(),
        2,
        "two boots (v1, then v2 after `reboot`):\n{}",
        run.console
    );
    booted(b[0], "primary", 1);
    for line in [
        "atomboot-guest: network: eth0 10.0.2.15",
        &format!("pull: os/stable is commit {}", r.v2),
        "pull: done (",
        "atomboot-guest: upgrade: rc=0",
        "atomboot-guest: reboot",
    ] {
        assert!(b[0].contains(line), "boot 1 lacks {line:?}:\n{}", b[0]);
    }
    booted(b[1], "primary", 2);
    for line in [
        "atomboot: entry primary: update on trial, boot 1 of 3",
        &format!("commit={} ", r.v2),
        "atomboot-guest: health=ok",
        "atomboot-guest: mark-good: atomboot admin mark-good rc=0",
        "atomboot-guest: status: last boot: slot primary reason update on trial;",
        "atomboot-guest: etc-check: kept-across-the-upgrade",
    ] {
        assert!(b[1].contains(line), "boot 2 lacks {line:?}:\n{}", b[1]);
    }
    let log = server.log();
    let (bytes, objects) = filez(&log);
    let all: u64 = log.iter().map(|s| s.bytes).sum();
    let (n_changed, changed_bytes) = changed(&r.trees[0], &r.trees[1]);
    assert!(objects >= 1 && objects <= n_changed, "{log:?}");
    eprintln!(
        "device_update s1: on-device admin upgrade v1 -> v2 (pull over HTTP + deploy into /boot): {upgrade_secs:.1} s; \
         fetched {all} bytes in {} requests ({objects} content objects, {bytes} bytes); \
         what changed: {n_changed} files, {changed_bytes} bytes uncompressed",
        log.len()
    );
    timed("1 network upgrade on the device", t);
}

/// A USB stick: a FAT file system over the whole disk (no partition table, as many sticks come) holding
/// `repo/`, an archive repository exported on the host with `atomboot pull-local` from the build repo.
fn usb_stick(dir: &Path, branch: &str) -> PathBuf {
    let export = dir.join("stick");
    let _ = std::fs::remove_dir_all(&export);
    std::fs::create_dir_all(&export).unwrap();
    let repo = export.join("repo");
    let ra = repo_arg(&repo);
    atomboot_ok(&[&ra, "init", "--mode=archive"]);
    atomboot_ok(&[
        &ra,
        "pull-local",
        &release().repo.display().to_string(),
        branch,
    ]);
    let img = dir.join("stick.img");
    let _ = std::fs::remove_file(&img);
    sh(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "USBSTICK", "-C"])
        .arg(&img)
        .arg((64 * 1024).to_string()));
    sh(Command::new("mcopy")
        .args(["-s", "-i"])
        .arg(&img)
        .arg(&repo)
        .arg("::/"));
    img
}

#[test]
fn s2_usb_stick_pull_and_deploy_on_the_device_then_reboot_into_it() {
    let t = Instant::now();
    let r = release();
    let mut dev = Device::from_image(&work_dir().join("s2").join("board"), &r.image);
    let stick = usb_stick(&work_dir().join("s2"), "os/v2");
    // As seed 000 does it: the stick's repository as a file:// remote, pull, deploy REMOTE:REF.
    dev.put_job(&format!(
        "{JOB_PRELUDE}\
         set -e\n\
         for d in /dev/vda /dev/vdb; do [ -b ${{d}}1 ] || stick=$d; done\n\
         echo \"atomboot-guest: usb: stick is $stick\"\n\
         mount -t vfat -o ro $stick /media/usb\n\
         atomboot --repo=/sysroot/ostree/repo remote add --no-gpg-verify usb file:///media/usb/repo\n\
         logged atomboot --repo=/sysroot/ostree/repo pull usb os/v2\n\
         logged atomboot admin deploy usb:os/v2\n\
         umount /media/usb\n\
         echo 'atomboot-guest: usb: deployed'\n\
         touch /run/atomboot/reboot\n",
    ));
    let opts = MachineOptions {
        extra_disk: Some(stick),
        ..Default::default()
    };
    let run = dev.run_with("run", &opts, RUN_TIMEOUT, |_| {});
    let b = boots(&run.console);
    assert_eq!(
        b.len(),
        2,
        "two boots (v1, then v2 after `reboot`):\n{}",
        run.console
    );
    booted(b[0], "primary", 1);
    for line in [
        &format!("pull: os/v2 is commit {}", r.v2),
        "pull: done (",
        "atomboot-guest: usb: deployed",
        "atomboot-guest: reboot",
    ] {
        assert!(b[0].contains(line), "boot 1 lacks {line:?}:\n{}", b[0]);
    }
    booted(b[1], "primary", 2);
    for line in [
        "atomboot: entry primary: update on trial, boot 1 of 3",
        &format!("commit={} ", r.v2),
        "atomboot-guest: mark-good: atomboot admin mark-good rc=0",
    ] {
        assert!(b[1].contains(line), "boot 2 lacks {line:?}:\n{}", b[1]);
    }
    // The deployment's origin names the stick's remote, as ostree's would.
    let s: serde_json::Value = serde_json::from_str(&dev.admin_ok(&["status", "--json"])).unwrap();
    assert_eq!(s["deployments"][0]["commit"], r.v2.as_str(), "{s}");
    assert_eq!(s["deployments"][0]["origin"], "usb:os/v2", "{s}");
    timed("2 USB stick pull + deploy on the device", t);
}

#[test]
fn s3_server_down_halfway_v1_keeps_booting_and_the_second_upgrade_fetches_only_the_rest() {
    let t = Instant::now();
    let r = release();
    let w = work_dir().join("s3");
    let srv_repo = server_repo("s3", &r.v1);
    let mut dev = networked_device("s3", &srv_repo);
    // The release the device downloads: v2 plus 40 new files of incompressible data (2.5 MiB), so the
    // download has many objects to stop in the middle of.
    let tree = w.join("os-v2-payload");
    let _ = std::fs::remove_dir_all(&tree);
    sh(Command::new("cp").arg("-a").arg(&r.trees[1]).arg(&tree));
    std::fs::create_dir_all(tree.join("usr/share/payload")).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut payload = 0u64;
    for i in 0..40 {
        let data: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        payload += data.len() as u64;
        std::fs::write(tree.join(format!("usr/share/payload/{i:02}")), data).unwrap();
    }
    let c = atomboot_ok(&[
        &repo_arg(&srv_repo),
        "commit",
        "-b",
        "os/stable",
        "-s",
        "version 2 with a payload",
        "--add-metadata-string=version=2",
        &tree.display().to_string(),
    ]);
    let c = c.trim().to_string();
    let server = BuildServer::start(&srv_repo);
    // Down after half the payload's bytes.
    server.go_down_after(payload / 2);
    // Attempt 1 fails: reboot (v1 must keep booting) and try again, the job re-armed; attempt 2 reboots
    // into the new version.
    dev.put_job(&format!(
        "{JOB_PRELUDE}\
         n=$(( $(cat /var/upgrade-attempt 2>/dev/null || echo 0) + 1 ))\n\
         echo $n > /var/upgrade-attempt\n\
         echo \"atomboot-guest: upgrade attempt $n: start\"\n\
         logged atomboot admin upgrade\n\
         rc=$?\n\
         echo \"atomboot-guest: upgrade attempt $n: rc=$rc\"\n\
         [ $rc = 0 ] || cp /tmp/atomboot-job.sh /boot/atomboot-job.sh\n\
         sync\n\
         touch /run/atomboot/reboot\n",
    ));
    let opts = MachineOptions {
        server_port: Some(server.port()),
        ..Default::default()
    };
    let mut first: Vec<Served> = Vec::new();
    let run = dev.run_with("run", &opts, RUN_TIMEOUT, |m| {
        m.expect("atomboot-guest: upgrade attempt 1: rc=", 0, RUN_TIMEOUT);
        assert!(
            server.is_down(),
            "the first attempt ended before the outage"
        );
        first = server.log();
        server.clear_log();
        server.come_back();
    });
    let second = server.log();
    let b = boots(&run.console);
    assert_eq!(
        b.len(),
        3,
        "three boots (v1, v1 after the failed download, v2):\n{}",
        run.console
    );
    booted(b[0], "primary", 1);
    assert!(
        b[0].contains("pull: stopped: ") && !b[0].contains("upgrade attempt 1: rc=0"),
        "the first download did not fail:\n{}",
        b[0]
    );
    booted(b[1], "primary", 1);
    assert!(
        b[1].contains("atomboot: entry primary: normal boot"),
        "{}",
        b[1]
    );
    assert!(
        b[1].contains("atomboot-guest: upgrade attempt 2: rc=0"),
        "{}",
        b[1]
    );
    booted(b[2], "primary", 2);
    assert!(b[2].contains(&format!("commit={c} ")), "{}", b[2]);
    assert!(b[2].contains("atomboot-guest: mark-good: atomboot admin mark-good rc=0"));
    // What the first attempt received whole is not fetched again.
    let whole1: BTreeSet<&str> = first
        .iter()
        .filter(|s| s.path.ends_with(".filez") && s.complete)
        .map(|s| s.path.as_str())
        .collect();
    let again: Vec<&Served> = second
        .iter()
        .filter(|s| s.path.ends_with(".filez") && whole1.contains(s.path.as_str()))
        .collect();
    let (b1, n1) = filez(&first);
    let cut: Vec<&Served> = first.iter().filter(|s| !s.complete).collect();
    let (b2, n2) = filez(&second);
    eprintln!(
        "device_update s3: attempt 1 received {n1} content objects whole ({b1} bytes), {} cut short ({} bytes); \
         attempt 2 fetched {n2} content objects ({b2} bytes), of which {} had been received whole before ({} bytes)",
        cut.len(),
        cut.iter().map(|s| s.bytes).sum::<u64>(),
        again.len(),
        again.iter().map(|s| s.bytes).sum::<u64>()
    );
    assert!(
        n1 > 0,
        "the first attempt fetched no object whole: {first:?}"
    );
    assert!(again.is_empty(), "fetched again: {again:?}");
    timed("3 server down halfway, then back", t);
}

/// s4's starting point, taken once: the board (v1 booted, health-checked, marked good) stopped through
/// QEMU's monitor while its job waits to upgrade, its machine state (RAM with the guest's page cache,
/// devices) saved to a file beside the disk as it was then. Every run from it resumes that state over its
/// own temporary qcow2 overlay of the disk (`snapshot=on`), so a cut costs the upgrade up to the cut and
/// the boots after it, not the host's setup and a first boot.
struct Snapshot {
    /// U-Boot's env flash the board was started with.
    flash: PathBuf,
    /// The disk (raw), never written after the state was saved.
    disk: PathBuf,
    /// QEMU's machine state (`migrate "exec:cat > FILE"` of the stopped board).
    state: PathBuf,
}

/// s4's job. It puts itself back on /boot first, so every boot after a cut runs it again (the completing
/// upgrade), wherever the cut came. It waits for the build server before it upgrades: the snapshot is
/// taken while it waits (no server yet), each run resumes it with the server up. An upgrade that worked
/// on v1 reboots (into v2); on v2 (nothing left to do) the job removes itself and the board powers off.
fn powercut_job() -> String {
    format!(
        "{JOB_PRELUDE}\
         cp /tmp/atomboot-job.sh /boot/atomboot-job.sh; sync\n\
         echo 'atomboot-guest: upgrade: waiting for the build server'\n\
         sleep 2\n\
         until wget -q -O /dev/null {SERVER_IN_GUEST}/config; do sleep 1; done\n\
         echo 'atomboot-guest: upgrade: start'\n\
         logged atomboot admin upgrade\n\
         rc=$?\n\
         echo \"atomboot-guest: upgrade: rc=$rc\"\n\
         . /etc/os-release\n\
         if [ $rc = 0 ] && [ \"$VERSION_ID\" = 2 ]; then rm -f /boot/atomboot-job.sh; sync;\n\
         elif [ $rc = 0 ]; then touch /run/atomboot/reboot; fi\n"
    )
}

/// Stops the board, saves its machine state to `state` (QEMU's migration to a file) and ends QEMU.
fn save_state(m: &mut Machine, state: &Path) {
    m.monitor("stop");
    m.monitor(&format!("migrate \"exec:cat > {}\"", state.display()));
    let t0 = Instant::now();
    loop {
        let s = m.monitor("info migrate");
        if s.contains("Migration status: completed") {
            break;
        }
        assert!(
            !s.contains("Migration status: failed") && t0.elapsed() < BOOT_TIMEOUT,
            "saving the machine state to {}: {s}",
            state.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    m.monitor("quit");
    let (_, timed_out) = m.wait_exit(BOOT_TIMEOUT);
    assert!(!timed_out, "QEMU did not quit after saving its state");
}

/// Waits until a board started with [`MachineOptions::incoming`] has loaded its state, then runs it.
fn resume(m: &mut Machine) {
    let t0 = Instant::now();
    loop {
        let s = m.monitor("info status");
        if s.contains("VM status: running") {
            return;
        }
        if s.contains("VM status: paused") && !s.contains("inmigrate") {
            break;
        }
        assert!(
            !m.exited() && t0.elapsed() < BOOT_TIMEOUT,
            "the saved machine state did not load ({s}):\n{}",
            m.console()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    m.monitor("cont");
}

/// The progress lines of `admin upgrade` in `text` (whole lines only): the pull's and the deploy's.
fn progress_lines(text: &str) -> Vec<&str> {
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    whole
        .lines()
        .filter(|l| {
            l.starts_with("pull: ") || l.starts_with("deploy: ") || l.starts_with("deployed ")
        })
        .collect()
}

/// A progress line without its running counts (`pull: done (7 metadata, ...)` -> `pull: done`): the
/// same in every run from the snapshot.
fn progress_key(line: &str) -> &str {
    line.split(" (").next().unwrap_or(line)
}

/// A progress key for the table: checksums shortened to 8 digits, absolute paths to their last part.
fn short_phase(key: &str) -> String {
    key.split(' ')
        .map(|w| {
            let w = match w.strip_prefix('/') {
                Some(path) => path.rsplit('/').next().unwrap_or(path),
                None => w,
            };
            let hex = w.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(w.len());
            if hex >= 64 {
                format!("{}..{}", &w[..8], &w[64..])
            } else if let Some(csum) = w.strip_prefix("debian-").filter(|c| c.len() >= 64) {
                format!("debian-{}..", &csum[..8])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One cut moment: `fraction` of the way through one phase of the probe's upgrade (from the progress line
/// `anchor`, None for the upgrade's start, to the next line `until`, None for the upgrade's end), `at`
/// seconds after the start in the probe. A run reaches it as `delay` seconds after it sees `anchor`, or
/// as soon as it sees `until` (that run is faster than the probe: the cut stays at the phase's end).
#[derive(Debug, Clone)]
struct CutAt {
    /// `pull` or `deploy`.
    part: &'static str,
    anchor: Option<String>,
    until: Option<String>,
    fraction: f64,
    delay: f64,
    at: f64,
}

/// Which phases get cut moments first, by the progress line that starts them. Pull: the content objects
/// being fetched, then the ref and the metadata. Deploy: the boot files being written to /boot, the first
/// loader copy naming the new deployment (after the counters), the checkout into the sysroot, the
/// cleanup, the counters, the second loader copy; then the rest in order.
const PULL_FIRST: &[&str] = &["pull: commit ", "pull: "];
const DEPLOY_FIRST: &[&str] = &[
    "deploy: deployment ",
    "deploy: boot counters",
    "deploy: checking out",
    "deploy: cleanup",
    "deploy: boot files",
    "deploy: loader copy",
];

/// `n` cut moments spread over the probe's upgrade (`lines`: each progress line and when it came, `end`:
/// when the upgrade ended). The upgrade's phases are the spans between consecutive progress lines; the
/// pull's (up to `pull: done`) get a quarter of the moments (at least 2), the deploy's the rest. Within
/// each part the moments go round the phases in the order of [`PULL_FIRST`] / [`DEPLOY_FIRST`], so a
/// short phase (a loader copy written in 20 ms) gets a moment as well as a long one; the moments of one
/// phase are spread evenly over it. Sorted by time.
fn cut_moments(n: usize, lines: &[(String, f64)], end: f64) -> Vec<CutAt> {
    let pull_end = lines
        .iter()
        .find(|(l, _)| l.starts_with("pull: done"))
        .map(|(_, t)| *t)
        .expect("the probe's pull printed `pull: done`");
    // (anchor, from, to, until)
    let mut phases: Vec<(Option<&str>, f64, f64, Option<&str>)> = Vec::new();
    let mut from = (None, 0.0);
    for (l, t) in lines {
        phases.push((from.0, from.1, *t, Some(progress_key(l))));
        from = (Some(progress_key(l)), *t);
    }
    phases.push((from.0, from.1, end, None));
    let in_pull = (n / 4).max(2).min(n);
    let mut moments = Vec::new();
    for (part, k, first) in [
        ("pull", in_pull, PULL_FIRST),
        ("deploy", n - in_pull, DEPLOY_FIRST),
    ] {
        let rank = |a: Option<&str>| {
            a.and_then(|a| first.iter().position(|p| a.starts_with(p)))
                .unwrap_or(first.len())
        };
        let mut mine: Vec<&(Option<&str>, f64, f64, Option<&str>)> = phases
            .iter()
            .filter(|(_, from, ..)| (*from < pull_end) == (part == "pull"))
            .collect();
        mine.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.1.total_cmp(&b.1)));
        let mut count = vec![0usize; mine.len()];
        for j in 0..k {
            count[j % mine.len()] += 1;
        }
        for (&&(anchor, from, to, until), &m) in mine.iter().zip(&count) {
            for c in 1..=m {
                let fraction = c as f64 / (m + 1) as f64;
                moments.push(CutAt {
                    part,
                    anchor: anchor.map(str::to_string),
                    until: until.map(str::to_string),
                    fraction,
                    delay: (to - from) * fraction,
                    at: from + (to - from) * fraction,
                });
            }
        }
    }
    moments.sort_by(|a, b| a.at.total_cmp(&b.at));
    moments
}

/// The spread of the cut moments over a probe like the one measured in the guest (no QEMU): the CI
/// subset cuts the pull's metadata and content fetches and the deploy's checkout, boot files, first
/// loader copy and cleanup; the full campaign cuts every phase twice.
#[test]
fn cut_moments_cover_the_pull_and_the_deploy_phase_by_phase() {
    let c = "7e37ef7743acec63f33eae28a1a726d7941980f0d1f57a14d6ab4f088daffd6a";
    let lines: Vec<(String, f64)> = [
        (
            format!("pull: os/stable is commit {c} (0 metadata, ...)"),
            0.98,
        ),
        (
            format!(
                "pull: commit {c}: metadata complete; 2 content objects to fetch (7 metadata, ...)"
            ),
            1.72,
        ),
        (
            "pull: done (7 metadata, 2 content objects, 1543790 bytes fetched so far)".into(),
            2.70,
        ),
        (format!("deploy: checking out {c} (origin:os/stable)"), 2.85),
        (
            format!("deploy: deployment /ostree/deploy/debian/deploy/{c}.0 written and synced"),
            3.69,
        ),
        (
            "deploy: boot files /ostree/debian-19054b ready and synced (6996715 bytes)".into(),
            4.98,
        ),
        (
            "deploy: boot counters written (bootcount=0, upgrade_available=1)".into(),
            5.02,
        ),
        (
            "deploy: loader copy 0 (generation 5) written: default x, fallback y".into(),
            5.04,
        ),
        (
            "deploy: loader copy 1 (generation 6) written: default x, fallback y".into(),
            5.06,
        ),
        ("deploy: cleanup".into(), 5.08),
        (format!("deployed /ostree/deploy/debian/deploy/{c}.0"), 5.34),
    ]
    .into_iter()
    .collect();
    let ci = cut_moments(6, &lines, 5.42);
    let anchors: Vec<(&str, &str)> = ci
        .iter()
        .map(|m| (m.part, m.anchor.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        anchors,
        [
            ("pull", format!("pull: os/stable is commit {c}").as_str()),
            (
                "pull",
                &format!("pull: commit {c}: metadata complete; 2 content objects to fetch")
            ),
            ("deploy", &format!("deploy: checking out {c}")),
            (
                "deploy",
                &format!(
                    "deploy: deployment /ostree/deploy/debian/deploy/{c}.0 written and synced"
                )
            ),
            ("deploy", "deploy: boot counters written"),
            ("deploy", "deploy: cleanup"),
        ]
    );
    for m in &ci {
        assert!((m.fraction - 0.5).abs() < 1e-9, "{m:?}");
    }
    assert!(
        (ci[4].at - 5.03).abs() < 1e-9 && (ci[4].delay - 0.01).abs() < 1e-9,
        "{:?}",
        ci[4]
    );
    let full = cut_moments(24, &lines, 5.42);
    assert_eq!(full.len(), 24);
    assert_eq!(full.iter().filter(|m| m.part == "pull").count(), 6);
    // 3 phases of the pull and 9 of the deploy (from `pull: done` to the end), two moments in each.
    let mut per_phase = std::collections::BTreeMap::new();
    for m in &full {
        *per_phase.entry(m.anchor.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_phase.len(), 12, "{per_phase:?}");
    assert!(per_phase.values().all(|&k| k == 2), "{per_phase:?}");
    assert!(full.windows(2).all(|w| w[0].at <= w[1].at));
}

/// One boot after a cut, judged from its console: the agent verified and booted an entry, and the guest
/// runs the deployment of v1 or v2 and marks it good. Returns `slot vN (deployment)`.
#[track_caller]
fn verified_boot(i: usize, boot: &str, r: &Release) -> (String, u32) {
    let slot = if boot.contains("atomboot: boot primary") {
        "primary"
    } else if boot.contains("atomboot: boot fallback") {
        "fallback"
    } else {
        panic!("cut {i}: the agent booted no entry after the cut:\n{boot}")
    };
    for file in ["kernel", "ramdisk"] {
        let line = boot
            .lines()
            .find(|l| l.starts_with(&format!("atomboot: verified {slot} {file} ")))
            .unwrap_or_else(|| {
                panic!("cut {i}: the agent did not verify the {slot} {file}:\n{boot}")
            });
        assert!(line.contains(" sha256 ok"), "cut {i}: {line}\n{boot}");
    }
    let guest = boot
        .lines()
        .find_map(|l| l.strip_prefix("atomboot-guest: booted version="))
        .unwrap_or_else(|| panic!("cut {i}: the guest did not start after the cut:\n{boot}"));
    let version: u32 = guest
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let commit = [(1, &r.v1), (2, &r.v2)]
        .into_iter()
        .find(|(v, _)| *v == version)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("cut {i}: neither v1 nor v2 booted: {guest}"));
    let deployment = format!("deployment=/ostree/deploy/debian/deploy/{commit}.");
    assert!(
        guest.contains(&format!("commit={commit} ")) && guest.contains(&deployment),
        "cut {i}: v{version} booted but not its commit's deployment: {guest}"
    );
    for line in [
        "atomboot-guest: health=ok",
        "atomboot-guest: mark-good: atomboot admin mark-good rc=0",
    ] {
        assert!(
            boot.contains(line),
            "cut {i}: the boot after the cut lacks {line:?}:\n{boot}"
        );
    }
    let dep = guest
        .split(' ')
        .find_map(|w| w.strip_prefix("deployment=/ostree/deploy/debian/deploy/"))
        .unwrap_or("?");
    (format!("{slot} v{version} ({})", short_phase(dep)), version)
}

#[test]
fn s4_power_cuts_during_the_on_device_upgrade_boot_a_verified_entry_then_v2() {
    let t = Instant::now();
    let r = release();
    let n: usize = std::env::var("ATOMBOOT_POWERCUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    assert!(n >= 6, "ATOMBOOT_POWERCUTS={n}: at least 6 cut moments");
    let w = work_dir().join("s4");
    let srv_repo = server_repo("s4", &r.v1);
    let mut base = networked_device("s4", &srv_repo);
    set_stable(&srv_repo, &r.v2);
    base.put_job(&powercut_job());

    // The snapshot: v1 boots, its job waits for the build server (not there: nothing listens on the
    // port its guestfwd names); the board is stopped and saved.
    let snap_dir = w.join("snapshot");
    let snap_dev = base.copy_to(&snap_dir);
    let snap = Snapshot {
        flash: snap_dir.join("flash.img"),
        disk: snap_dir.join("disk.img"),
        state: snap_dir.join("machine.state"),
    };
    qemu_tests::disk_image(
        &snap.disk,
        &[(0x0e, &snap_dev.boot), (0x83, &snap_dir.join("root.ext4"))],
    );
    qemu_tests::uboot_env_flash(
        &snap.flash,
        &format!("bootdelay=0\nbootcmd={}\n", qemu_tests::device::BOOTCMD),
    );
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t_snap = Instant::now();
    {
        let mut m = Machine::start(
            &snap.flash,
            &snap.disk,
            &MachineOptions {
                server_port: Some(closed_port),
                ..Default::default()
            },
        );
        m.expect(
            "atomboot-guest: upgrade: waiting for the build server",
            0,
            BOOT_TIMEOUT,
        );
        save_state(&mut m, &snap.state);
        let console = m.console();
        std::fs::write(snap_dir.join("snapshot.log"), &console).unwrap();
        let b = boots(&console);
        assert_eq!(b.len(), 1, "{console}");
        booted(b[0], "primary", 1);
    }
    eprintln!(
        "device_update s4: snapshot (v1 booted, its job waiting to upgrade) taken in {:.1} s, machine state {} MB",
        t_snap.elapsed().as_secs_f64(),
        std::fs::metadata(&snap.state).unwrap().len() >> 20
    );

    let server = BuildServer::start(&srv_repo);
    let opts = MachineOptions {
        server_port: Some(server.port()),
        disk_snapshot: true,
        incoming: Some(snap.state.clone()),
        ..Default::default()
    };

    // The probe: an uncut upgrade from the snapshot, each progress line timed from the upgrade's start.
    let t_probe = Instant::now();
    let (lines, end) = {
        let mut m = Machine::start(&snap.flash, &snap.disk, &opts);
        resume(&mut m);
        let p = m.expect("atomboot-guest: upgrade: start", 0, BOOT_TIMEOUT);
        let t0 = Instant::now();
        let mut lines: Vec<(String, f64)> = Vec::new();
        let end = loop {
            let c = m.console();
            let tail = c.get(p..).unwrap_or("");
            for l in progress_lines(tail).into_iter().skip(lines.len()) {
                lines.push((l.to_string(), t0.elapsed().as_secs_f64()));
            }
            if let Some(i) = tail.find("atomboot-guest: upgrade: rc=") {
                let rc = tail[i..].lines().next().unwrap_or("");
                assert_eq!(
                    rc, "atomboot-guest: upgrade: rc=0",
                    "the uncut upgrade:\n{c}"
                );
                break t0.elapsed().as_secs_f64();
            }
            assert!(
                !m.exited() && t0.elapsed() < RUN_TIMEOUT,
                "the uncut upgrade did not end:\n{c}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        std::fs::write(snap_dir.join("probe.log"), m.console()).unwrap();
        (lines, end)
    };
    for (l, t) in &lines {
        eprintln!("device_update s4: probe {t:6.2} s {l}");
    }
    eprintln!(
        "device_update s4: probe: uncut upgrade {end:.2} s (run {:.1} s)",
        t_probe.elapsed().as_secs_f64()
    );

    let moments = cut_moments(n, &lines, end);
    assert_eq!(moments.len(), n);
    assert!(
        moments.iter().any(|m| m.part == "pull") && moments.iter().any(|m| m.part == "deploy"),
        "{moments:?}"
    );
    // A completing upgrade after a sample of the cuts (every third, starting with the second) and after
    // the last; after the others the board is switched off once the boot after the cut is judged.
    let completes = |i: usize| i % 3 == 1 || i + 1 == moments.len();
    let mut table = Vec::new();
    for (i, at) in moments.iter().enumerate() {
        let t_cut = Instant::now();
        let mut m = Machine::start(&snap.flash, &snap.disk, &opts);
        resume(&mut m);
        let p = m.expect("atomboot-guest: upgrade: start", 0, BOOT_TIMEOUT);
        let t0 = Instant::now();
        let a = match &at.anchor {
            Some(a) => m.expect(a, p, RUN_TIMEOUT),
            None => p,
        };
        let t_anchor = Instant::now();
        let until = at
            .until
            .as_deref()
            .unwrap_or("atomboot-guest: upgrade: rc=");
        while t_anchor.elapsed().as_secs_f64() < at.delay
            && m.wait_for(until, a, Duration::ZERO).is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let before = m.console().len();
        m.power_cut();
        let cut_after = t0.elapsed().as_secs_f64();
        let reset = m.expect("U-Boot 20", before, BOOT_TIMEOUT) - "U-Boot 20".len();
        if completes(i) {
            let (_, timed_out) = m.wait_exit(RUN_TIMEOUT);
            assert!(
                !timed_out,
                "cut {i}: the completing upgrade did not end:\n{}",
                m.console()
            );
        } else {
            // The boot after the cut is judged once its job starts again (after the health check).
            m.expect("atomboot-guest: job: start", reset, BOOT_TIMEOUT);
            m.kill();
        }
        let console = m.console();
        drop(m);
        std::fs::write(w.join(format!("cut{i:02}.log")), &console).unwrap();
        let upgrade = console.get(p..reset).unwrap_or("");
        let seen = if upgrade.contains("atomboot-guest: upgrade: rc=") {
            "after the upgrade ended".to_string()
        } else {
            progress_lines(upgrade)
                .last()
                .map_or("before the first pull line".to_string(), |l| {
                    format!("after \"{}\"", short_phase(progress_key(l)))
                })
        };
        let next = boots(&console[reset..]);
        let (booted_after, version_after) = verified_boot(i, next[0], r);
        let completed = if !completes(i) {
            "-".to_string()
        } else {
            assert!(
                next[0].contains("atomboot-guest: job: start")
                    && next[0].contains("atomboot-guest: upgrade: rc=0"),
                "cut {i}: the completing upgrade did not work:\n{}",
                &console[reset..]
            );
            if version_after == 1 {
                // It deployed v2 and rebooted: v2 boots on trial, marks itself good, and its job finds
                // nothing left to upgrade.
                assert_eq!(next.len(), 2, "cut {i}:\n{}", &console[reset..]);
                let (v2, version) = verified_boot(i, next[1], r);
                assert!(
                    version == 2
                        && next[1].contains("atomboot: entry primary: update on trial")
                        && next[1].contains("atomboot-guest: upgrade: rc=0"),
                    "cut {i}: the completing upgrade did not boot v2:\n{}",
                    next[1]
                );
                format!("upgrade rc=0, then {v2}")
            } else {
                // v2 booted after the cut: the upgrade finds it done; the board stays on v2.
                assert_eq!(next.len(), 1, "cut {i}:\n{}", &console[reset..]);
                "upgrade rc=0 on v2 (nothing left to do)".to_string()
            }
        };
        let row = format!(
            "{i:3} | {:6} {:3.0}% into \"{}\" ({:.2} s) | {:6.2} s | {seen} | {booted_after} | {completed} | {:.0} s",
            at.part,
            at.fraction * 100.0,
            at.anchor.as_deref().map_or("upgrade: start".to_string(), short_phase),
            at.at,
            cut_after,
            t_cut.elapsed().as_secs_f64()
        );
        eprintln!("device_update s4: cut {row}");
        table.push(row);
    }
    eprintln!("device_update s4: table: cut | moment (part, how far into the phase after a progress line, probe time) | cut after upgrade start | phase seen on the console | next boot | completing upgrade | run time");
    for row in &table {
        eprintln!("device_update s4: table: {row}");
    }
    timed(&format!("4 {n} power cuts during the on-device upgrade"), t);
}
