//! The QEMU harness: disk images made without root (MBR written here, FAT by mkfs.vfat + mtools), Debian's
//! U-Boot under `qemu-system-arm -M virt`, the serial console captured with a timeout and kept on disk.
//! A missing tool is a failure: scripts/setup.sh installs them all.

pub mod device;
pub mod http;
pub mod machine;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's U-Boot for QEMU's virt machine.
pub const UBOOT_BIN: &str = "/usr/lib/u-boot/qemu_arm/u-boot.bin";
/// First sector of partition 1.
pub const PART_START: u64 = 2048;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a command, panicking with its stderr on failure.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}: run scripts/setup.sh"));
    succeeded(&format!("{cmd:?}"), &out)
}

/// The stdout of a finished command `what`; panics with its output when it failed.
#[track_caller]
pub fn succeeded(what: &str, out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the agent and boot script for `board` (scripts/build-agent.sh; fast when up to date) and returns
/// the directory holding atomboot-agent.bin and boot.scr.
pub fn board_files(board: &str) -> PathBuf {
    // One build per board and test process (the script also locks against other processes).
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let root = repo_root();
    if built.iter().any(|b| b == board) {
        return root.join("target/board").join(board);
    }
    sh(Command::new("bash")
        .arg(root.join("scripts/build-agent.sh"))
        .arg(board)
        .current_dir(&root));
    built.push(board.to_string());
    root.join("target/board").join(board)
}

/// The tests' vendor key pair (`atomboot sign-keygen`; test use only): `.secret` signs the test commits,
/// `.pub` is compiled into the signed agent.
pub fn test_vendor_key() -> (PathBuf, PathBuf) {
    let base = repo_root().join("qemu-tests/assets/test-vendor");
    (base.with_extension("secret"), base.with_extension("pub"))
}

/// Builds the signed agent for `board` with the tests' vendor key (`scripts/build-agent.sh BOARD --signed
/// qemu-tests/assets/test-vendor.pub`) and returns its directory (`target/board/BOARD-signed`).
pub fn signed_board_files(board: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let root = repo_root();
    let dir = root.join("target/board").join(format!("{board}-signed"));
    if !built.iter().any(|b| b == board) {
        sh(Command::new("bash")
            .arg(root.join("scripts/build-agent.sh"))
            .arg(board)
            .arg("--signed")
            .arg(test_vendor_key().1)
            .current_dir(&root));
        built.push(board.to_string());
    }
    dir
}

/// A FAT file system image being filled with mtools.
pub struct Fat {
    pub path: PathBuf,
}

impl Fat {
    /// A new FAT16 volume of `mib` MiB.
    pub fn new(path: PathBuf, mib: u32) -> Fat {
        Fat::with_bits(path, mib, 16)
    }

    /// A new FAT`bits` (16 or 32) volume of `mib` MiB (a sparse file: mkfs.vfat writes only metadata).
    pub fn with_bits(path: PathBuf, mib: u32, bits: u32) -> Fat {
        let _ = std::fs::remove_file(&path);
        sh(Command::new("mkfs.vfat")
            .args(["-F", &bits.to_string(), "-n", "BOOT", "-C"])
            .arg(&path)
            .arg((mib * 1024).to_string()));
        Fat { path }
    }

    /// Copies `bytes` to `dst` (absolute, parents created).
    pub fn put(&self, dst: &str, bytes: &[u8]) {
        let parent = Path::new(dst)
            .parent()
            .and_then(Path::to_str)
            .unwrap_or("/");
        let mut acc = String::new();
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            acc.push('/');
            acc.push_str(part);
            let _ = Command::new("mmd")
                .args(["-D", "s", "-i"])
                .arg(&self.path)
                .arg(format!("::{acc}"))
                .output();
        }
        let tmp = self.path.with_extension("put");
        std::fs::write(&tmp, bytes).unwrap();
        sh(Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(&self.path)
            .arg(&tmp)
            .arg(format!("::{dst}")));
        let _ = std::fs::remove_file(tmp);
    }

    /// Reads `src` back.
    pub fn get(&self, src: &str) -> Vec<u8> {
        let tmp = self.path.with_extension("get");
        sh(Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(&self.path)
            .arg(format!("::{src}"))
            .arg(&tmp));
        let bytes = std::fs::read(&tmp).unwrap();
        let _ = std::fs::remove_file(tmp);
        bytes
    }
}

/// Writes an MBR disk image with the given partitions (type, image file) laid out from sector 2048.
pub fn disk_image(out: &Path, parts: &[(u8, &Path)]) {
    let mut mbr = [0u8; 512];
    let mut lba = PART_START;
    let mut f = std::fs::File::create(out).unwrap();
    let mut layout = Vec::new();
    for (i, (kind, img)) in parts.iter().enumerate() {
        let len = std::fs::metadata(img).unwrap().len();
        assert_eq!(
            len % 512,
            0,
            "{} is not a whole number of sectors",
            img.display()
        );
        let sectors = len / 512;
        let e = 446 + 16 * i;
        mbr[e + 1..e + 4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        mbr[e + 4] = *kind;
        mbr[e + 5..e + 8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        mbr[e + 8..e + 12].copy_from_slice(&(lba as u32).to_le_bytes());
        mbr[e + 12..e + 16].copy_from_slice(&(sectors as u32).to_le_bytes());
        layout.push((lba, img.to_path_buf()));
        lba += sectors.div_ceil(2048) * 2048;
    }
    mbr[440..444].copy_from_slice(&0x61746f6du32.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    f.write_all(&mbr).unwrap();
    drop(f);
    for (start, img) in &layout {
        dd_sparse(img, out, 0, start * 512, None);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(out)
        .unwrap()
        .set_len(lba * 512)
        .unwrap();
}

/// `dd conv=sparse,notrunc` of `len` bytes (all when `None`) from byte `from` of `src` to byte `to` of
/// `dst`: zero blocks stay holes, so multi-GiB sparse partition images stay sparse and fast to copy.
fn dd_sparse(src: &Path, dst: &Path, from: u64, to: u64, len: Option<u64>) {
    let mut cmd = Command::new("dd");
    cmd.arg(format!("if={}", src.display()))
        .arg(format!("of={}", dst.display()))
        .args([
            "bs=1M",
            "conv=sparse,notrunc",
            "iflag=skip_bytes,count_bytes",
            "oflag=seek_bytes",
            "status=none",
        ])
        .arg(format!("skip={from}"))
        .arg(format!("seek={to}"));
    if let Some(l) = len {
        cmd.arg(format!("count={l}"));
    }
    sh(&mut cmd);
}

/// Copies partition `index` (0-based) of a disk image made by [`disk_image`] back out to `out`.
pub fn extract_partition(disk: &Path, index: usize, out: &Path) {
    let mut src = std::fs::File::open(disk).unwrap();
    let mut mbr = [0u8; 512];
    src.read_exact(&mut mbr).unwrap();
    let e = 446 + 16 * index;
    let start = u64::from(u32::from_le_bytes(mbr[e + 8..e + 12].try_into().unwrap())) * 512;
    let len = u64::from(u32::from_le_bytes(mbr[e + 12..e + 16].try_into().unwrap())) * 512;
    drop(src);
    std::fs::File::create(out).unwrap();
    dd_sparse(disk, out, start, 0, Some(len));
    std::fs::OpenOptions::new()
        .write(true)
        .open(out)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// One run of U-Boot (and whatever it boots) under QEMU.
pub struct Run {
    /// Everything the serial console printed (CR removed).
    pub console: String,
    /// Wall time from start to exit.
    pub elapsed: Duration,
    /// Where the console log was kept.
    pub log: PathBuf,
}

impl Run {
    /// Panics, printing the console, unless `text` was printed.
    pub fn expect(&self, text: &str) -> &Self {
        assert!(
            self.console.contains(text),
            "console lacks {text:?} (log {}):\n{}",
            self.log.display(),
            self.console
        );
        self
    }

    /// Panics, printing the console, if `text` was printed.
    pub fn expect_not(&self, text: &str) -> &Self {
        assert!(
            !self.console.contains(text),
            "console has {text:?} (log {}):\n{}",
            self.log.display(),
            self.console
        );
        self
    }

    /// The `atomboot:` lines.
    pub fn agent_lines(&self) -> Vec<&str> {
        self.console
            .lines()
            .filter(|l| l.starts_with("atomboot: "))
            .collect()
    }
}

/// U-Boot's environment on QEMU's pflash unit 1: `vars` (one `name=value` a line) made into an env image
/// by mkenvimage, padded to the 64 MiB of a virt flash bank. This env replaces U-Boot's default one.
pub fn uboot_env_flash(out: &Path, vars: &str) {
    let txt = out.with_extension("txt");
    std::fs::write(&txt, vars).unwrap();
    sh(Command::new("mkenvimage")
        .args(["-s", "0x40000", "-o"])
        .arg(out)
        .arg(&txt));
    std::fs::OpenOptions::new()
        .write(true)
        .open(out)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
}

/// What one run of `qemu-system-arm -M virt` printed.
pub struct QemuRun {
    /// Serial console and QEMU's own messages (stdout then stderr as they came, CR removed).
    pub console: String,
    /// Wall time from start to exit (or to the kill).
    pub elapsed: Duration,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// Exited by itself with status 0.
    pub success: bool,
}

/// Runs Debian's U-Boot under `qemu-system-arm -M virt` (512 MiB, no network, no reboot) with `flash` as
/// pflash unit 1 (its env, see [`uboot_env_flash`]) and `disk` as virtio disk 0; kills QEMU after `timeout`.
pub fn run_qemu(flash: &Path, disk: &Path, timeout: Duration) -> QemuRun {
    assert!(
        Path::new(UBOOT_BIN).exists(),
        "{UBOOT_BIN} is missing: run scripts/setup.sh (u-boot-qemu)"
    );
    let started = Instant::now();
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-M",
            "virt",
            "-m",
            "512",
            "-nographic",
            "-no-reboot",
            "-net",
            "none",
            "-bios",
            UBOOT_BIN,
        ])
        .arg("-drive")
        .arg(format!(
            "if=pflash,unit=1,format=raw,file={}",
            flash.display()
        ))
        .arg("-drive")
        .arg(format!("if=none,format=raw,id=d0,file={}", disk.display()))
        .args(["-device", "virtio-blk-device,drive=d0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm: run scripts/setup.sh");
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let streams: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let buf = std::sync::Arc::clone(&buf);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stream.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]);
                }
            })
        })
        .collect();
    let (timed_out, success) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (false, status.success());
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break (true, false);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    for r in readers {
        let _ = r.join();
    }
    let bytes = buf.lock().unwrap_or_else(|p| p.into_inner()).clone();
    QemuRun {
        console: String::from_utf8_lossy(&bytes).replace('\r', ""),
        elapsed,
        timed_out,
        success,
    }
}

/// Boots `disk` under QEMU with U-Boot driven by `bootcmd` (stored, with `bootdelay=0`, in a pflash env
/// image); kills QEMU after `timeout`. The console is kept in `workdir/<name>.log`.
pub fn boot_uboot(
    workdir: &Path,
    name: &str,
    disk: &Path,
    bootcmd: &str,
    timeout: Duration,
) -> Run {
    let env_img = workdir.join(format!("{name}.env.img"));
    uboot_env_flash(&env_img, &format!("bootdelay=0\nbootcmd={bootcmd}\n"));
    let r = run_qemu(&env_img, disk, timeout);
    let log = workdir.join(format!("{name}.log"));
    std::fs::write(&log, &r.console).unwrap();
    assert!(
        !r.timed_out,
        "QEMU run {name} timed out after {timeout:?} (log {}):\n{}",
        log.display(),
        r.console
    );
    Run {
        console: r.console,
        elapsed: r.elapsed,
        log,
    }
}

/// A tiny "kernel" for the agent tests: qemu-tests/assets/fake-zimage.S assembled, a valid zImage that
/// prints `FAKE-KERNEL <tag>` when U-Boot's bootz runs it, padded with `filler` bytes derived from `tag`.
pub fn fake_kernel(dir: &Path, tag: u8, filler: usize) -> Vec<u8> {
    let obj = dir.join("fz.o");
    let bin = dir.join("fz.bin");
    let src = repo_root().join("qemu-tests/assets/fake-zimage.S");
    sh(Command::new("llvm-mc")
        .args([
            "-triple=armv7a-none-eabi",
            "-mcpu=cortex-a15",
            "-filetype=obj",
        ])
        .arg(&src)
        .arg("-o")
        .arg(&obj));
    sh(Command::new("llvm-objcopy")
        .args(["-O", "binary"])
        .arg(&obj)
        .arg(&bin));
    let mut bytes = std::fs::read(&bin).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"FAKE-KERNEL X")
        .unwrap()
        + 12;
    bytes[at] = tag;
    bytes.extend((0..filler).map(|i| (i as u8).wrapping_mul(17) ^ tag));
    bytes
}
