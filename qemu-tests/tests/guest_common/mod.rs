//! A small, self-contained runner for the guest-side tests (tests/guest_*.rs): builds the sample OS with
//! scripts/build-guest-os.sh, lays out a hand-made sysroot, makes an MBR disk (FAT boot + ext4 root),
//! boots it under Debian's U-Boot driven by a pflash env image, and reads the console with a timeout.
//! QEMU itself is started by the harness in qemu-tests/src (`run_qemu`, `uboot_env_flash`).

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// The stateroot used by the tests.
pub const OS: &str = "debian";
/// Every QEMU run is bounded by this.
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(240);
/// Sector size of the disk image.
const SECTOR: u64 = 512;
/// The boot partition starts at 1 MiB.
const BOOT_START: u64 = 2048;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("qemu-tests sits in the workspace")
        .to_path_buf()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("guest")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs a command, panicking with its output when it fails or cannot start.
pub fn run(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e} (run scripts/setup.sh)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds the guest OS tree (scripts/build-guest-os.sh VERSION OUT [--health fail]).
pub fn build_os(version: &str, health_fail: bool, out: &Path) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut cmd = Command::new(repo_root().join("scripts/build-guest-os.sh"));
    cmd.arg(version).arg(out);
    if health_fail {
        cmd.args(["--health", "fail"]);
    }
    run(&mut cmd);
    out.to_path_buf()
}

/// The kernel version directory of a built tree (exactly one under usr/lib/modules).
pub fn kver_dir(tree: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = fs::read_dir(tree.join("usr/lib/modules"))
        .expect("usr/lib/modules")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("vmlinuz").is_file())
        .collect();
    assert_eq!(dirs.len(), 1, "one kernel in {}", tree.display());
    dirs.into_iter().next().expect("one kernel")
}

/// A stand-in commit checksum (64 hex) derived from a label.
pub fn fake_commit(label: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut s = String::new();
    for round in 0..4u64 {
        for b in label.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        s.push_str(&format!("{h:016x}"));
    }
    s
}

/// A hand-made sysroot: /ostree/deploy/<OS>/deploy/<commit>.0 holding `tree`, the stateroot's var,
/// an empty /ostree/repo. Returns the `ostree=` path of the deployment.
pub fn make_sysroot(sysroot: &Path, tree: &Path, commit: &str) -> String {
    let dep_rel = format!("ostree/deploy/{OS}/deploy/{commit}.0");
    let dep = sysroot.join(&dep_rel);
    fs::create_dir_all(dep.parent().expect("parent")).expect("mkdir deploy");
    fs::create_dir_all(sysroot.join(format!("ostree/deploy/{OS}/var"))).expect("mkdir var");
    fs::create_dir_all(sysroot.join("ostree/repo")).expect("mkdir repo");
    run(Command::new("cp").arg("-a").arg(tree).arg(&dep));
    format!("/{dep_rel}")
}

/// The initial counters on the boot partition: a trial boot in progress.
pub const INITIAL_ENV: &str = "bootcount=2\nbootlimit=3\nupgrade_available=1\n";

/// The disk: MBR, partition 1 FAT (vmlinuz, initramfs.img, uboot.env pair), partition 2 ext4 (sysroot).
pub struct Disk {
    pub path: PathBuf,
    pub boot_offset: u64,
    /// Byte offset and length of the ext4 root partition.
    pub root_offset: u64,
    pub root_len: u64,
}

pub fn make_disk(dir: &Path, tree: &Path, sysroot: &Path) -> Disk {
    let kdir = kver_dir(tree);
    // FAT boot partition, 32 MiB.
    let fat = dir.join("boot.fat");
    let _ = fs::remove_file(&fat);
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "BOOT"])
        .arg(&fat)
        .arg("32768"));
    let envtxt = dir.join("initial-env.txt");
    fs::write(&envtxt, INITIAL_ENV).expect("write env text");
    for name in ["uboot.env", "uboot-redund.env"] {
        let out = dir.join(name);
        run(Command::new("mkenvimage")
            .args(["-r", "-s", "0x4000", "-o"])
            .arg(&out)
            .arg(&envtxt));
    }
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&fat)
        .arg(kdir.join("vmlinuz"))
        .arg(kdir.join("initramfs.img"))
        .arg(dir.join("uboot.env"))
        .arg(dir.join("uboot-redund.env"))
        .arg("::/"));
    // ext4 root, 96 MiB.
    let ext4 = dir.join("root.ext4");
    let _ = fs::remove_file(&ext4);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-d"])
        .arg(sysroot)
        .arg(&ext4)
        .arg("96M"));

    let fat_bytes = fs::read(&fat).expect("read fat");
    let ext_bytes = fs::read(&ext4).expect("read ext4");
    let fat_sectors = fat_bytes.len() as u64 / SECTOR;
    let root_start = BOOT_START + fat_sectors;
    let root_sectors = ext_bytes.len() as u64 / SECTOR;
    let mut mbr = vec![0u8; SECTOR as usize];
    mbr[440..444].copy_from_slice(&0x6775_6573u32.to_le_bytes());
    let mut entry = |i: usize, boot: bool, ty: u8, start: u64, len: u64| {
        let e = &mut mbr[446 + 16 * i..446 + 16 * (i + 1)];
        e[0] = if boot { 0x80 } else { 0 };
        e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[4] = ty;
        e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[8..12].copy_from_slice(&(start as u32).to_le_bytes());
        e[12..16].copy_from_slice(&(len as u32).to_le_bytes());
    };
    entry(0, true, 0x0e, BOOT_START, fat_sectors);
    entry(1, false, 0x83, root_start, root_sectors);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    let path = dir.join("disk.img");
    let mut f = fs::File::create(&path).expect("create disk");
    f.write_all(&mbr).expect("mbr");
    f.write_all(&vec![0u8; ((BOOT_START - 1) * SECTOR) as usize])
        .expect("gap");
    f.write_all(&fat_bytes).expect("fat");
    f.write_all(&ext_bytes).expect("ext4");
    f.sync_all().expect("sync disk");
    Disk {
        path,
        boot_offset: BOOT_START * SECTOR,
        root_offset: root_start * SECTOR,
        root_len: root_sectors * SECTOR,
    }
}

/// U-Boot's environment on pflash unit 1 (replaces the default env, so the load addresses are in it too,
/// as QEMU.md measured them): bootdelay=0 and a bootcmd that fatloads vmlinuz and
/// initramfs.img from the boot partition and bootz's them with `bootargs`; powers off if that fails.
pub fn make_uboot_flash(dir: &Path, bootargs: &str) -> PathBuf {
    let img = dir.join("uboot-flash.img");
    qemu_tests::uboot_env_flash(
        &img,
        &format!(
            "bootdelay=0\n\
             kernel_addr_r=0x40400000\n\
             ramdisk_addr_r=0x44000000\n\
             bootargs={bootargs}\n\
             bootcmd=fatload virtio 0:1 ${{kernel_addr_r}} vmlinuz && \
             fatload virtio 0:1 ${{ramdisk_addr_r}} initramfs.img && \
             bootz ${{kernel_addr_r}} ${{ramdisk_addr_r}}:${{filesize}} ${{fdtcontroladdr}}; \
             echo guest-test: boot failed; poweroff\n"
        ),
    );
    img
}

/// What one QEMU run produced.
pub struct Boot {
    pub console: String,
    pub exited: bool,
    pub success: bool,
    pub wall: Duration,
    pub log: PathBuf,
}

impl Boot {
    /// The console lines that start with `prefix`.
    pub fn lines(&self, prefix: &str) -> Vec<&str> {
        self.console
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// Panics with the whole console log unless `cond`.
    #[track_caller]
    pub fn check(&self, cond: bool, what: &str) {
        if !cond {
            panic!(
                "{what}\n--- console ({}) ---\n{}\n--- end of console ---",
                self.log.display(),
                self.console
            );
        }
    }

    /// Panics with the console unless a line contains `needle`.
    #[track_caller]
    pub fn expect_line(&self, needle: &str) {
        self.check(
            self.console.lines().any(|l| l.contains(needle)),
            &format!("no console line contains {needle:?}"),
        );
    }
}

/// Boots the disk under Debian's U-Boot; bounded by QEMU_TIMEOUT (QEMU is killed then).
pub fn boot(dir: &Path, disk: &Disk, flash: &Path) -> Boot {
    let log = dir.join("console.log");
    let r = qemu_tests::run_qemu(flash, &disk.path, QEMU_TIMEOUT);
    let (exited, success, wall) = (!r.timed_out, r.success, r.elapsed);
    let mut console = r.console;
    if !exited {
        console.push_str(&format!(
            "\n[guest test: QEMU killed after {QEMU_TIMEOUT:?}]\n"
        ));
    }
    fs::write(&log, &console).expect("write console log");
    eprintln!(
        "guest test: QEMU ran {:.1} s (exited {exited}, success {success}), console in {}",
        wall.as_secs_f64(),
        log.display()
    );
    Boot {
        console,
        exited,
        success,
        wall,
        log,
    }
}

/// Copies a file out of the boot partition inside the disk image (mtools, image@@offset).
pub fn fat_read(disk: &Disk, name: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("out-{name}"));
    let _ = fs::remove_file(&out);
    run(Command::new("mcopy")
        .arg("-n")
        .arg("-i")
        .arg(format!("{}@@{}", disk.path.display(), disk.boot_offset))
        .arg(format!("::/{name}"))
        .arg(&out));
    fs::read(&out).expect("read copied file")
}

/// A file from the ext4 root partition inside the disk image (debugfs on a copy of the partition);
/// None when it does not exist.
pub fn root_read(disk: &Disk, path: &str, dir: &Path) -> Option<Vec<u8>> {
    let bytes = fs::read(&disk.path).expect("read disk");
    let start = usize::try_from(disk.root_offset).expect("offset");
    let end = start + usize::try_from(disk.root_len).expect("len");
    let part = dir.join("out-root.ext4");
    fs::write(&part, &bytes[start..end]).expect("write root partition copy");
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(&part)
        .output()
        .expect("cannot run debugfs (e2fsprogs; run scripts/setup.sh)");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("File not found") {
        return None;
    }
    assert!(out.status.success(), "debugfs cat {path}: {err}");
    Some(out.stdout)
}

/// The env pair on the boot partition after a run.
pub struct Counters {
    /// The copy in use (valid, newest).
    pub which: uenv::env_block::Which,
    /// Its variables.
    pub vars: Vec<(String, String)>,
    /// The raw files.
    pub first: Vec<u8>,
    pub second: Vec<u8>,
}

/// Reads the env pair from the boot partition inside the disk image.
pub fn read_counters(disk: &Disk, dir: &Path) -> Counters {
    let first = fat_read(disk, "uboot.env", dir);
    let second = fat_read(disk, "uboot-redund.env", dir);
    let chosen = uenv::env_block::read_redundant(
        Some(&first),
        Some(&second),
        uenv::env_block::FlagScheme::Incrementing,
    )
    .unwrap_or_else(|e| panic!("env pair on the boot partition: {e}"));
    let vars = chosen
        .block
        .vars()
        .map(|v| {
            (
                String::from_utf8_lossy(v.name).into_owned(),
                String::from_utf8_lossy(v.value).into_owned(),
            )
        })
        .collect();
    let which = chosen.which;
    Counters {
        which,
        vars,
        first,
        second,
    }
}

pub fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
