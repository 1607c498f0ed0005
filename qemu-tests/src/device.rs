//! A simulated board for the end-to-end tests: a disk image made by `atomboot admin image`, booted under
//! Debian's U-Boot with the qemu-virt boot script, and serviced between boots by the `atomboot` CLI on
//! the host (the way a device's SD card is serviced offline).
//!
//! The disk's two partitions live as files between boots: `boot.fat` (the FAT boot partition, carried
//! byte for byte, with whatever U-Boot, the agent and the guest wrote) and `root.ext4`. The host sees the
//! root partition as a directory (`sysroot/`, extracted with `debugfs rdump`, no mount needed) only when a
//! host command needs it; after such a command the ext4 is remade from that directory (`mkfs.ext4 -d`),
//! otherwise the guest's own writes to it (its /var, an unlocked /usr) are carried unchanged.
//! Known loss of the round trip: `rdump` drops setuid bits and extended attributes; the sample OS has
//! neither.

use crate::machine::{Machine, MachineOptions};
use crate::{boot_uboot, extract_partition, repo_root, sh, Run};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Every boot of the board is bounded by this.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// U-Boot's bootcmd: the board's boot script from the boot partition, as on the am335x.
pub const BOOTCMD: &str = "fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000";

/// The host `atomboot` binary of this workspace (target/<profile>/atomboot, built by
/// `cargo test --workspace`; built here when missing).
pub fn atomboot_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable under target/<profile>/deps");
    let bin = profile_dir.join("atomboot");
    if !bin.exists() {
        sh(Command::new("cargo")
            .args(["build", "-p", "host-tools", "--bin", "atomboot"])
            .current_dir(repo_root()));
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// Runs `atomboot ARGS`, returning its output.
pub fn atomboot(args: &[&str]) -> Output {
    Command::new(atomboot_bin())
        .args(args)
        .output()
        .expect("run atomboot")
}

/// Runs `atomboot ARGS`, panicking with its stderr on failure; returns stdout.
#[track_caller]
pub fn atomboot_ok(args: &[&str]) -> String {
    crate::succeeded(&format!("atomboot {args:?}"), &atomboot(args))
}

/// A board: its disk's partitions as files, and the host's view of the root partition.
pub struct Device {
    /// Work directory (console logs, partition files).
    pub dir: PathBuf,
    /// The FAT boot partition.
    pub boot: PathBuf,
    root: PathBuf,
    sysroot: PathBuf,
    /// The root partition's size, kept when it is remade.
    root_bytes: u64,
    /// `sysroot/` holds the current root partition's content.
    sysroot_current: bool,
    /// `sysroot/` was changed by the host: the ext4 must be remade before the next boot.
    sysroot_changed: bool,
    boots: u32,
}

impl Device {
    /// A board whose disk is `image` (made by `atomboot admin image`); `dir` is its work directory.
    pub fn from_image(dir: &Path, image: &Path) -> Device {
        std::fs::create_dir_all(dir).unwrap();
        let boot = dir.join("boot.fat");
        let root = dir.join("root.ext4");
        extract_partition(image, 0, &boot);
        extract_partition(image, 1, &root);
        let root_bytes = std::fs::metadata(&root).unwrap().len();
        Device {
            dir: dir.to_path_buf(),
            boot,
            root,
            sysroot: dir.join("sysroot"),
            root_bytes,
            sysroot_current: false,
            sysroot_changed: false,
            boots: 0,
        }
    }

    /// The root partition as a host directory (extracted now if the guest may have changed it). The
    /// caller is about to change it: the ext4 is remade before the next boot.
    pub fn sysroot(&mut self) -> PathBuf {
        if !self.sysroot_current {
            let _ = std::fs::remove_dir_all(&self.sysroot);
            std::fs::create_dir_all(&self.sysroot).unwrap();
            let out = Command::new("debugfs")
                .arg("-R")
                .arg(format!("rdump / {}", self.sysroot.display()))
                .arg(&self.root)
                .output()
                .expect("debugfs (e2fsprogs): run scripts/setup.sh");
            assert!(
                out.status.success(),
                "debugfs rdump of {}: {}",
                self.root.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            self.sysroot_current = true;
        }
        self.sysroot_changed = true;
        self.sysroot.clone()
    }

    /// `atomboot admin --sysroot SYSROOT --boot boot.fat ARGS`.
    pub fn admin(&mut self, args: &[&str]) -> Output {
        let sysroot = self.sysroot();
        Command::new(atomboot_bin())
            .arg("admin")
            .arg("--sysroot")
            .arg(&sysroot)
            .arg("--boot")
            .arg(&self.boot)
            .args(args)
            .output()
            .expect("run atomboot admin")
    }

    /// Like [`Device::admin`], panicking with stderr on failure; returns stdout.
    #[track_caller]
    pub fn admin_ok(&mut self, args: &[&str]) -> String {
        let out = self.admin(args);
        crate::succeeded(&format!("atomboot admin {args:?}"), &out)
    }

    /// The sysroot's own repository (`SYSROOT/ostree/repo`), as a `--repo=` argument.
    pub fn repo_arg(&mut self) -> String {
        format!("--repo={}", self.sysroot().join("ostree/repo").display())
    }

    /// Puts a one-shot job on the boot partition: the guest runs it once after its health check
    /// (qemu-tests/guest/os/init) and prints its output as `atomboot-guest: job: ...`.
    pub fn put_job(&self, script: &str) {
        let f = self.dir.join("atomboot-job.sh");
        std::fs::write(&f, script).unwrap();
        sh(Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(&self.boot)
            .arg(&f)
            .arg("::/atomboot-job.sh"));
    }

    /// Reads a file of the boot partition.
    pub fn boot_file(&self, path: &str) -> Vec<u8> {
        let out = Command::new("mtype")
            .arg("-i")
            .arg(&self.boot)
            .arg(format!("::{path}"))
            .output()
            .expect("mtype (mtools)");
        assert!(
            out.status.success(),
            "mtype ::{path}: not on the boot partition"
        );
        out.stdout
    }

    /// Flips one byte in the middle of a boot partition file (the storage went bad under it).
    pub fn corrupt_boot_file(&self, path: &str) {
        let mut bytes = self.boot_file(path);
        assert!(!bytes.is_empty(), "{path} is empty");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        let f = self.dir.join("corrupted.bin");
        std::fs::write(&f, &bytes).unwrap();
        sh(Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(&self.boot)
            .arg(&f)
            .arg(format!("::{path}")));
    }

    /// The newest valid loader copy's variables (`kernel_image`, `kernel_image2`, ...), read with mtools
    /// and judged by generation (the agent's rule; the CRC trailer is checked by the agent itself).
    pub fn loader_vars(&self) -> Vec<(String, String)> {
        let mut best: Option<(u64, Vec<(String, String)>)> = None;
        for copy in ["loader.0", "loader.1"] {
            let out = Command::new("mtype")
                .arg("-i")
                .arg(&self.boot)
                .arg(format!("::{copy}/uEnv.txt"))
                .output()
                .expect("mtype (mtools)");
            if !out.status.success() {
                continue;
            }
            let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
            let vars: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let generation = vars
                .iter()
                .find(|(k, _)| k == "atomboot_generation")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            if best.as_ref().is_none_or(|(g, _)| generation > *g) {
                best = Some((generation, vars));
            }
        }
        best.expect("no loader copy on the boot partition").1
    }

    /// One loader variable of the newest copy.
    pub fn loader_var(&self, name: &str) -> String {
        self.loader_vars()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{name} is not in the loader copy"))
    }

    /// One power cycle: assembles the disk, boots it under QEMU (console in `DIR/NAME.log`), takes the
    /// partitions back.
    pub fn boot(&mut self, name: &str) -> Run {
        self.write_root();
        let disk = self.dir.join("disk.img");
        crate::disk_image(&disk, &[(0x0e, &self.boot), (0x83, &self.root)]);
        self.boots += 1;
        let run = boot_uboot(&self.dir, name, &disk, BOOTCMD, BOOT_TIMEOUT);
        extract_partition(&disk, 0, &self.boot);
        extract_partition(&disk, 1, &self.root);
        // The guest may have written its root partition.
        self.sysroot_current = false;
        let _ = std::fs::remove_file(&disk);
        run
    }

    /// Remakes the root partition from `sysroot/` when the host changed it.
    fn write_root(&mut self) {
        if self.sysroot_changed {
            let tmp = self.dir.join("root.ext4.new");
            let _ = std::fs::remove_file(&tmp);
            sh(Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "root", "-d"])
                .arg(&self.sysroot)
                .arg(&tmp)
                .arg(format!("{}k", self.root_bytes / 1024)));
            std::fs::rename(&tmp, &self.root).unwrap();
            self.sysroot_changed = false;
        }
    }

    /// A second board in `dir` whose disk is a copy of this one's (the same state, e.g. before an
    /// update, for one power-cut run each).
    pub fn copy_to(&mut self, dir: &Path) -> Device {
        self.write_root();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let boot = dir.join("boot.fat");
        let root = dir.join("root.ext4");
        std::fs::copy(&self.boot, &boot).unwrap();
        std::fs::copy(&self.root, &root).unwrap();
        Device {
            dir: dir.to_path_buf(),
            boot,
            root,
            sysroot: dir.join("sysroot"),
            root_bytes: self.root_bytes,
            sysroot_current: false,
            sysroot_changed: false,
            boots: 0,
        }
    }

    /// One power-on that may hold several boots (the guest's `reboot`, power cuts through QEMU's
    /// monitor): assembles the disk, starts QEMU with `opts` ([`Machine`]), lets `drive` watch the console
    /// and act, then waits up to `timeout` for QEMU to exit (the guest powered off; panics on a timeout),
    /// keeps the console in `DIR/NAME.log` and takes the partitions back.
    pub fn run_with(
        &mut self,
        name: &str,
        opts: &MachineOptions,
        timeout: Duration,
        drive: impl FnOnce(&mut Machine),
    ) -> Run {
        self.write_root();
        let disk = self.dir.join("disk.img");
        crate::disk_image(&disk, &[(0x0e, &self.boot), (0x83, &self.root)]);
        self.boots += 1;
        let env_img = self.dir.join(format!("{name}.env.img"));
        crate::uboot_env_flash(&env_img, &format!("bootdelay=0\nbootcmd={BOOTCMD}\n"));
        let mut m = Machine::start(&env_img, &disk, opts);
        drive(&mut m);
        let (_, timed_out) = m.wait_exit(timeout);
        let console = m.console();
        let elapsed = m.elapsed();
        drop(m);
        let log = self.dir.join(format!("{name}.log"));
        std::fs::write(&log, &console).unwrap();
        assert!(
            !timed_out,
            "QEMU run {name} timed out after {timeout:?} (log {}):\n{console}",
            log.display()
        );
        extract_partition(&disk, 0, &self.boot);
        extract_partition(&disk, 1, &self.root);
        self.sysroot_current = false;
        let _ = std::fs::remove_file(&disk);
        Run {
            console,
            elapsed,
            log,
        }
    }

    /// How many times the board was booted.
    pub fn boots(&self) -> u32 {
        self.boots
    }
}

/// The files under `root` (relative paths), regular files only.
pub fn tree_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            if ft.is_dir() {
                walk(root, &p, out);
            } else if ft.is_file() {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut v = Vec::new();
    walk(root, root, &mut v);
    v
}

/// Files of `new` whose bytes differ from `old`'s at the same path (or are new).
pub fn changed_files(old: &Path, new: &Path) -> Vec<PathBuf> {
    tree_files(new)
        .into_iter()
        .filter(|f| std::fs::read(old.join(f)).ok() != std::fs::read(new.join(f)).ok())
        .collect()
}

/// [`changed_files`]: (count, bytes).
pub fn changed(old: &Path, new: &Path) -> (usize, u64) {
    let f = changed_files(old, new);
    let bytes = f
        .iter()
        .map(|f| std::fs::metadata(new.join(f)).unwrap().len())
        .sum();
    (f.len(), bytes)
}
