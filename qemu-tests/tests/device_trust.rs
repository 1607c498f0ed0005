//! The device updates itself from a signing build server, through a static delta, and refuses what its
//! key did not sign: one scenario chain under Debian's U-Boot with the atomboot agent and the real Debian
//! armhf kernel, the guest running `atomboot` against its own /boot and /sysroot, its network reaching only
//! the build server ([`BuildServer`] through QEMU's `guestfwd`, as in device_update.rs).
//!
//! 1. The build server's repository holds v1 and v2 signed with the build key (the secret stays on the
//!    host), a static delta v1 -> v2 listed in its signed summary. The device's remote requires signed
//!    commits and summaries (`sign-verify`, the public key only). On the device `admin upgrade` pulls v2
//!    through the delta: the server's log shows the superblock and part(s) fetched and no `objects/`
//!    request but v2's commit and its signatures.
//! 2. The bytes that upgrade wrote to the device's partitions (the guest's /sys/block counters after a
//!    `sync`, cross-checked with QEMU's `info blockstats`) are at most what changed between v1 and v2 plus
//!    the files a deploy writes besides the repository's new objects (v2's boot files on the FAT
//!    partition, its /etc, the loader copy and the env pair) and the file systems' own bookkeeping for
//!    them, each computed from real sizes.
//! 3. `reboot`: v2 boots on trial and marks itself good.
//! 4. The server serves v3 signed by a stranger's key: `admin upgrade` on the device refuses it (the error
//!    names the commit and the remote), `admin status` is unchanged, and after `reboot` v2 boots again.
//!
//! Prints its wall time and measurements (`device_trust ...` lines, `--nocapture`).

use qemu_tests::device::{atomboot_ok, changed, changed_files, tree_files, Device};
use qemu_tests::http::{BuildServer, Served};
use qemu_tests::machine::{Machine, MachineOptions, SERVER_IN_GUEST};
use qemu_tests::{board_files, repo_root, sh};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One power-on (several boots of the guest) is bounded by this: generous, the machine is shared.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
/// A single boot, from power on or reset to the guest's first line.
const BOOT_TIMEOUT: Duration = Duration::from_secs(400);

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("device-trust")
}

fn repo_arg(repo: &Path) -> String {
    format!("--repo={}", repo.display())
}

/// An ed25519 key pair made with `atomboot sign-keygen`: (public, secret), both base64.
fn keygen(dir: &Path, name: &str) -> (String, String) {
    let base = dir.join(name);
    let public = atomboot_ok(&["sign-keygen", &base.display().to_string()]);
    let secret = std::fs::read_to_string(dir.join(format!("{name}.secret"))).unwrap();
    (public.trim().to_string(), secret.trim().to_string())
}

/// `atomboot commit` of `tree` on `os/stable`, signed with `secret`; returns the commit.
fn commit(repo: &Path, tree: &Path, version: u32, secret: &str) -> String {
    atomboot_ok(&[
        &repo_arg(repo),
        "commit",
        "-b",
        "os/stable",
        "-s",
        &format!("version {version}"),
        &format!("--add-metadata-string=version={version}"),
        &format!("--sign={secret}"),
        &tree.display().to_string(),
    ])
    .trim()
    .to_string()
}

fn guest_os(dir: &Path, version: u32) -> PathBuf {
    let tree = dir.join(format!("os-v{version}"));
    sh(Command::new("bash")
        .arg(repo_root().join("scripts/build-guest-os.sh"))
        .arg(version.to_string())
        .arg(&tree));
    tree
}

/// The names (files, directories, symlinks) under `dir`, as paths relative to it.
fn names(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = BTreeSet::new();
    walk(dir, dir, &mut v);
    v
}

fn round_up(n: u64, unit: u64) -> u64 {
    n.div_ceil(unit) * unit
}

/// The block size of an ext4 image (`dumpe2fs -h`).
fn ext4_block_size(image: &Path) -> u64 {
    let out = sh(Command::new("dumpe2fs").arg("-h").arg(image));
    out.lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no block size from dumpe2fs -h:\n{out}"))
}

/// A FAT volume's sizes (`minfo` of mtools).
struct FatGeometry {
    sector: u64,
    cluster: u64,
    /// Both (all) FAT tables.
    fats_bytes: u64,
}

impl FatGeometry {
    fn of(image: &Path) -> FatGeometry {
        let out = sh(Command::new("minfo").arg("-i").arg(image));
        let field = |name: &str| -> u64 {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name:?} in minfo:\n{out}"))
        };
        let sector = field("sector size:");
        FatGeometry {
            sector,
            cluster: field("cluster size:") * sector,
            fats_bytes: field("fats:") * field("sectors per fat:") * sector,
        }
    }
}

/// Total size of the regular files under `dir`.
fn size_of(dir: &Path) -> u64 {
    tree_files(dir)
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .sum()
}

/// The console split at each U-Boot start: one string per boot.
fn boots(console: &str) -> Vec<&str> {
    let mut v: Vec<&str> = console.split("U-Boot 20").collect();
    v.remove(0);
    v
}

#[track_caller]
fn has(what: &str, text: &str, lines: &[&str]) {
    for l in lines {
        assert!(text.contains(l), "{what} lacks {l:?}:\n{text}");
    }
}

/// A `atomboot-guest: NAME: boot=N root=N` line: sectors written to partitions 1 and 2 (after `sync`).
fn sectors(console: &str, name: &str) -> (u64, u64) {
    let tag = format!("atomboot-guest: {name}: boot=");
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix(tag.as_str()))
        .unwrap_or_else(|| panic!("no {tag:?} line:\n{console}"));
    let (boot, root) = line.split_once(" root=").expect("boot=N root=N");
    (boot.trim().parse().unwrap(), root.trim().parse().unwrap())
}

/// `wr_bytes` of the boot disk (`d0`) in QEMU's `info blockstats`.
fn wr_bytes(m: &Machine) -> u64 {
    let s = m.monitor("info blockstats");
    s.lines()
        .find(|l| l.starts_with("d0:"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("wr_bytes="))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no d0 wr_bytes in info blockstats:\n{s}"))
}

/// The start of every job: output to the console as it comes; `logged CMD...` runs a command with its
/// output through a pipe (plain progress lines) and returns its exit code; `written NAME` syncs and
/// prints the sectors written so far to the boot (vda1) and root (vda2) partitions, then waits 2 s so
/// the test can read QEMU's counters at the same point.
const JOB_PRELUDE: &str = "exec > /dev/console 2>&1\n\
     logged() { ( \"$@\"; echo $? > /tmp/logged.rc ) 2>&1 | cat; return \"$(cat /tmp/logged.rc)\"; }\n\
     wr() { set -- $(cat /sys/block/vda/vda$1/stat); echo $7; }\n\
     written() { sync; sleep 1; sync; echo \"atomboot-guest: $1: boot=$(wr 1) root=$(wr 2)\"; sleep 2; }\n";

#[test]
fn signed_delta_upgrade_on_the_device_writes_what_changed_and_a_stranger_signed_v3_is_refused() {
    let t = Instant::now();
    let w = work_dir();
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(&w).unwrap();
    // The build host's keys: the secret never leaves this directory; a stranger's key for v3.
    let keys = w.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (build_pub, build_secret) = keygen(&keys, "build");
    let (_, stranger_secret) = keygen(&keys, "stranger");
    let trees = [guest_os(&w, 1), guest_os(&w, 2), guest_os(&w, 3)];

    // The build server's repository at v1, and the factory image of v1.
    let srv = w.join("server-repo");
    let sa = repo_arg(&srv);
    atomboot_ok(&[&sa, "init", "--mode=archive"]);
    let v1 = commit(&srv, &trees[0], 1, &build_secret);
    let sign_summary = || atomboot_ok(&[&sa, "summary", "-u", &format!("--sign={build_secret}")]);
    sign_summary();
    let image = w.join("factory-v1.img");
    atomboot_ok(&[
        "admin",
        "--board",
        "qemu-virt",
        &sa,
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
        "os/stable",
        &image.display().to_string(),
    ]);
    // The board as it leaves the factory: v1 deployed from origin:os/stable and marked good; its remote
    // requires signed commits and summaries and holds only the public key.
    let mut dev = Device::from_image(&w.join("board"), &image);
    let repo = dev.repo_arg();
    let verify = format!("--sign-verify=ed25519=inline:{build_pub}");
    let add_origin = |url: &str| {
        atomboot_ok(&[
            &repo,
            "remote",
            "add",
            &verify,
            "--set=sign-verify-summary=true",
            "origin",
            url,
        ])
    };
    add_origin(&format!("file://{}", srv.display()));
    atomboot_ok(&[&repo, "pull", "origin", "os/stable"]);
    dev.admin_ok(&["deploy", "origin:os/stable"]);
    dev.admin_ok(&["mark-good"]);
    atomboot_ok(&[&repo, "remote", "delete", "origin"]);
    add_origin(SERVER_IN_GUEST);
    let names_before = names(&dev.sysroot());
    let config = std::fs::read_to_string(dev.sysroot().join("ostree/repo/config")).unwrap();
    assert!(
        !config.contains(&build_secret) && config.contains(&build_pub),
        "the device holds the public key only:\n{config}"
    );

    // The release: v2 signed, a static delta v1 -> v2, the summary listing it, signed.
    let v2 = commit(&srv, &trees[1], 2, &build_secret);
    let gen = atomboot_ok(&[
        &sa,
        "static-delta",
        "generate",
        &format!("--from={v1}"),
        &format!("--to={v2}"),
    ]);
    sign_summary();
    let delta_files: Vec<PathBuf> = tree_files(&srv.join("deltas"));
    let delta_bytes = size_of(&srv.join("deltas"));
    assert!(!delta_files.is_empty(), "no delta written: {gen}");
    let server = BuildServer::start(&srv);
    let opts = MachineOptions {
        server_port: Some(server.port()),
        ..Default::default()
    };

    // 1-3: the upgrade on the device, measured, then reboot into v2.
    // mkfs.ext4 leaves the inode tables of the root partition to be zeroed by the kernel in the background
    // after mount (lazy_itable_init): stopped first, so the counters see the upgrade's writes only.
    dev.put_job(&format!(
        "{JOB_PRELUDE}\
         mount -o remount,noinit_itable /sysroot && echo 'atomboot-guest: itable zeroing stopped'\n\
         written before-upgrade\n\
         echo 'atomboot-guest: upgrade: start'\n\
         logged atomboot admin upgrade\n\
         rc=$?\n\
         echo \"atomboot-guest: upgrade: rc=$rc\"\n\
         written after-upgrade\n\
         [ $rc = 0 ] && touch /run/atomboot/reboot\n"
    ));
    let t1 = Instant::now();
    let (mut upgrade_secs, mut qemu_written) = (0.0, 0);
    let run = dev.run_with("run1", &opts, RUN_TIMEOUT, |m| {
        let p = m.expect("atomboot-guest: before-upgrade: ", 0, BOOT_TIMEOUT);
        let before = wr_bytes(m);
        let p = m.expect("atomboot-guest: upgrade: start", p, RUN_TIMEOUT);
        let t0 = Instant::now();
        let p = m.expect("atomboot-guest: upgrade: rc=", p, RUN_TIMEOUT);
        upgrade_secs = t0.elapsed().as_secs_f64();
        m.expect("atomboot-guest: after-upgrade: ", p, RUN_TIMEOUT);
        qemu_written = wr_bytes(m) - before;
    });
    let run1_secs = t1.elapsed().as_secs_f64();
    let b = boots(&run.console);
    assert_eq!(b.len(), 2, "two boots (v1, then v2):\n{}", run.console);
    has(
        "boot 1",
        b[0],
        &[
            "atomboot: boot primary",
            "atomboot-guest: booted version=1 ",
            "atomboot-guest: network: eth0 10.0.2.15",
            "atomboot-guest: itable zeroing stopped",
            &format!("pull: os/stable is commit {v2}"),
            "pull: done (",
            "atomboot-guest: upgrade: rc=0",
            "atomboot-guest: reboot",
        ],
    );
    has(
        "boot 2",
        b[1],
        &[
            "atomboot: boot primary",
            "atomboot: entry primary: update on trial, boot 1 of 3",
            "atomboot-guest: booted version=2 ",
            &format!("commit={v2} "),
            "atomboot-guest: health=ok",
            "atomboot-guest: mark-good: atomboot admin mark-good rc=0",
        ],
    );

    // The pull went through the delta: its superblock and every part fetched whole, and no object
    // request but v2's signatures (fetched first, to check them, with the commit the superblock carries,
    // before anything else; the commit object itself is not fetched again).
    let log = server.log();
    let delta_reqs: Vec<&Served> = log
        .iter()
        .filter(|s| s.path.starts_with("/deltas/"))
        .collect();
    assert!(
        delta_reqs
            .iter()
            .any(|s| s.path.ends_with("/superblock") && s.status == 200 && s.complete),
        "no delta superblock fetched: {log:?}"
    );
    let parts = delta_reqs
        .iter()
        .filter(|s| !s.path.ends_with("/superblock"))
        .count();
    assert!(parts >= 1, "no delta part fetched: {log:?}");
    assert!(
        delta_reqs.iter().all(|s| s.status == 200 && s.complete),
        "{delta_reqs:?}"
    );
    let v2_commit = format!("/objects/{}/{}.commit", &v2[..2], &v2[2..]);
    let objects: Vec<&Served> = log
        .iter()
        .filter(|s| s.path.starts_with("/objects/"))
        .collect();
    assert!(
        objects.iter().all(|s| s.path == format!("{v2_commit}meta")),
        "objects fetched besides v2's signatures: {objects:?}"
    );
    let all_bytes: u64 = log.iter().map(|s| s.bytes).sum();
    let (n_changed, changed_bytes) = changed(&trees[0], &trees[1]);
    eprintln!(
        "device_trust 1: on-device admin upgrade v1 -> v2 through the static delta: {upgrade_secs:.1} s; \
         {} requests, {all_bytes} bytes fetched (delta: superblock + {parts} part(s), {delta_bytes} bytes on the \
         server; objects/: {}); what changed: {n_changed} files, {changed_bytes} bytes uncompressed",
        log.len(),
        objects.len()
    );
    for s in &log {
        eprintln!("device_trust 1:   {} {} {}", s.status, s.bytes, s.path);
    }

    // 2: bytes written by the upgrade.
    let (boot0, root0) = sectors(b[0], "before-upgrade");
    let (boot1, root1) = sectors(b[0], "after-upgrade");
    let boot_written = (boot1 - boot0) * 512;
    let root_written = (root1 - root0) * 512;
    assert_eq!(
        boot_written + root_written,
        qemu_written,
        "the guest's counters and QEMU's disagree"
    );
    // What the upgrade may write, from real sizes. The root partition (ext4, BLOCK-byte blocks): the new
    // repository objects' content (the changed files), v2's /etc (real copies, ostree's merge), and per
    // name the upgrade created (hardlinks and directories of the deployment, objects, refs, origin): one
    // data block (a directory block or a small file) and at most 4 metadata blocks (its directory block, its
    // inode's table block, the inode and block bitmaps with their group descriptor), each written twice
    // (the journal, then in place); per name removed, the same 4 metadata blocks. The boot partition (FAT): v2's boot files (kernel and initramfs: its
    // bootcsum is new), a loader copy, the env pair, every sector of both FATs once, and per new file or
    // directory one directory sector (and one cluster for a new directory).
    let block = ext4_block_size(&dev.dir.join("root.ext4"));
    let fat = FatGeometry::of(&dev.boot);
    // Names the upgrade (and the two boots around it) created and removed (the older of two deployments
    // of v1 made at the factory goes), by path.
    let names_after = names(&dev.sysroot());
    let new_names = names_after.difference(&names_before).count() as u64;
    let gone_names = names_before.difference(&names_after).count() as u64;
    let etc = trees[1].join("etc");
    let etc_bytes: u64 = tree_files(&etc)
        .iter()
        .map(|f| round_up(std::fs::metadata(etc.join(f)).unwrap().len(), block))
        .sum();
    let changed_rounded: u64 = changed_files(&trees[0], &trees[1])
        .iter()
        .map(|f| round_up(std::fs::metadata(trees[1].join(f)).unwrap().len(), block))
        .sum();
    let root_allowed =
        changed_rounded + etc_bytes + new_names * block * (1 + 4 * 2) + gone_names * block * 4 * 2;
    let kernel_dir = std::fs::read_dir(trees[1].join("usr/lib/modules"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let boot_names = ["vmlinuz", "initramfs.img"];
    let boot_files: u64 = boot_names
        .iter()
        .map(|f| {
            round_up(
                std::fs::metadata(kernel_dir.join(f)).unwrap().len(),
                fat.cluster,
            )
        })
        .sum();
    let loader_copy = round_up(dev.boot_file("loader.0/uEnv.txt").len() as u64, fat.cluster);
    let env_pair = 2 * round_up(dev.boot_file("uboot.env").len() as u64, fat.cluster);
    // New on the FAT: the entry's directory and its files.
    let fat_new = boot_names.len() as u64 + 1;
    let boot_allowed =
        boot_files + loader_copy + env_pair + fat.fats_bytes + fat_new * fat.sector + fat.cluster;
    eprintln!(
        "device_trust 2: the upgrade wrote {boot_written} bytes to the boot partition (allowed {boot_allowed}: \
         boot files {boot_files}, loader copy {loader_copy}, env pair {env_pair}, FATs {}, directories {}) and \
         {root_written} bytes to the root partition (allowed {root_allowed}: changed files {changed_rounded}, \
         /etc {etc_bytes}, {new_names} new names x {} bytes, {gone_names} removed names x {} bytes); what changed: {changed_bytes} bytes, so the root \
         partition got {:.2} x what changed; guest counters after sync = QEMU's wr_bytes ({qemu_written})",
        fat.fats_bytes,
        fat_new * fat.sector + fat.cluster,
        block * 9,
        block * 8,
        root_written as f64 / changed_bytes as f64
    );
    assert!(
        root_written <= root_allowed,
        "the upgrade wrote {root_written} bytes to the root partition, more than {root_allowed}"
    );
    assert!(
        boot_written <= boot_allowed,
        "the upgrade wrote {boot_written} bytes to the boot partition, more than {boot_allowed}"
    );

    // 4: v3 signed by a stranger on the server (its summary still signed by the build key).
    let v3 = commit(&srv, &trees[2], 3, &stranger_secret);
    sign_summary();
    server.clear_log();
    dev.put_job(&format!(
        "{JOB_PRELUDE}\
         atomboot admin status > /tmp/status-before\n\
         echo 'atomboot-guest: upgrade-v3: start'\n\
         logged atomboot admin upgrade\n\
         echo \"atomboot-guest: upgrade-v3: rc=$?\"\n\
         atomboot admin status > /tmp/status-after\n\
         if cmp /tmp/status-before /tmp/status-after; then echo 'atomboot-guest: status: unchanged'; \
         else echo 'atomboot-guest: status: CHANGED'; cat /tmp/status-after; fi\n\
         touch /run/atomboot/reboot\n"
    ));
    let t2 = Instant::now();
    let run = dev.run_with("run2", &opts, RUN_TIMEOUT, |_| {});
    let run2_secs = t2.elapsed().as_secs_f64();
    let b = boots(&run.console);
    assert_eq!(b.len(), 2, "two boots (v2, v2 again):\n{}", run.console);
    let refusal = format!(
        "commit {v3} from remote \"origin\": none of its 1 ed25519 signature(s) verifies with the trusted keys"
    );
    has(
        "boot 1 of run 2",
        b[0],
        &[
            "atomboot-guest: booted version=2 ",
            &refusal,
            "atomboot-guest: status: unchanged",
            "atomboot-guest: reboot",
        ],
    );
    assert!(
        !b[0].contains("atomboot-guest: upgrade-v3: rc=0"),
        "{}",
        b[0]
    );
    has(
        "boot 2 of run 2",
        b[1],
        &[
            "atomboot: entry primary: normal boot",
            "atomboot-guest: booted version=2 ",
            &format!("commit={v2} "),
        ],
    );
    let log = server.log();
    assert!(
        !log.iter().any(|s| s.path.ends_with(".dirtree")
            || s.path.ends_with(".filez")
            || s.path.starts_with("/deltas/")),
        "content of the refused v3 was fetched: {log:?}"
    );
    let repo = dev.repo_arg();
    assert_eq!(
        atomboot_ok(&[&repo, "rev-parse", "origin:os/stable"]).trim(),
        v2
    );
    eprintln!(
        "device_trust 4: v3 ({v3}) signed by a stranger refused on the device ({} requests), v2 boots on",
        log.len()
    );
    eprintln!(
        "device_trust: run 1 (v1 boot, upgrade, v2 boot) {run1_secs:.1} s, run 2 (refusal, reboot) {run2_secs:.1} s, \
         total {:.1} s wall",
        t.elapsed().as_secs_f64()
    );
}
