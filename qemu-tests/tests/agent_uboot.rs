//! The real atomboot-agent.bin under Debian's real U-Boot (qemu-system-arm -M virt), started by the real
//! board/qemu-virt/boot.cmd, on disk images made here. The "kernels" are tiny programs with a valid zImage
//! header that print which deployment they are: seeing one proves bootz ran the bytes the agent verified.

use qemu_tests::{board_files, boot_uboot, disk_image, extract_partition, repo_root, sh, Fat, Run};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use uenv::boot_config::{render_padded, BootConfig, BootFile, Entry, LOADER_FILE_SIZE};
use uenv::env_block::{self, FlagScheme, Header};

const BOOTCMD: &str = "fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000";
const ENV_SIZE: usize = 0x4000;

fn fake_kernel(dir: &Path, tag: u8, filler: usize) -> Vec<u8> {
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

struct Dep {
    dir: String,
    kernel: Vec<u8>,
    ramdisk: Vec<u8>,
    bootargs: String,
}

fn file<'a>(path: &'a str, bytes: &[u8]) -> BootFile<'a> {
    BootFile {
        path,
        sha256: Sha256::digest(bytes).into(),
        size: bytes.len() as u32,
    }
}

struct Scenario {
    dir: tempfile::TempDir,
    fat: Fat,
    a: Dep,
    b: Dep,
}

impl Scenario {
    /// Boot partition with the agent, boot.scr, deployments A (fallback) and B (primary), counters `vars`.
    fn new(vars: &[(&str, &str)]) -> Scenario {
        let board = board_files("qemu-virt");
        let dir = tempfile::tempdir().unwrap();
        let fat = Fat::new(dir.path().join("boot.fat"), 32);
        fat.put(
            "/atomboot-agent.bin",
            &std::fs::read(board.join("atomboot-agent.bin")).unwrap(),
        );
        fat.put("/boot.scr", &std::fs::read(board.join("boot.scr")).unwrap());
        let mk = |tag: u8| Dep {
            dir: format!("/ostree/demo-{}", hex::<8>(&Sha256::digest([tag]))),
            kernel: fake_kernel(dir.path(), tag, 300_000),
            ramdisk: (0..20_000u32).map(|i| (i as u8) ^ tag).collect(),
            bootargs: format!(
                "ostree=/ostree/deploy/demo/deploy/{}.0 console=ttyAMA0",
                tag as char
            ),
        };
        let (a, b) = (mk(b'A'), mk(b'B'));
        for d in [&a, &b] {
            fat.put(&format!("{}/vmlinuz", d.dir), &d.kernel);
            fat.put(&format!("{}/initramfs.img", d.dir), &d.ramdisk);
        }
        let s = Scenario { dir, fat, a, b };
        s.loader(0, 6, true);
        s.loader(1, 5, false);
        s.env(0, 1, vars);
        s.env(1, 0, &[("bootcount", "42")]);
        s
    }

    fn loader(&self, copy: usize, generation: u64, with_fallback: bool) {
        let (kb, rb) = (
            format!("{}/vmlinuz", self.b.dir),
            format!("{}/initramfs.img", self.b.dir),
        );
        let (ka, ra) = (
            format!("{}/vmlinuz", self.a.dir),
            format!("{}/initramfs.img", self.a.dir),
        );
        let cfg = BootConfig {
            generation,
            primary: Entry {
                kernel: file(&kb, &self.b.kernel),
                ramdisk: Some(file(&rb, &self.b.ramdisk)),
                fdt: None,
                bootargs: &self.b.bootargs,
            },
            fallback: with_fallback.then(|| Entry {
                kernel: file(&ka, &self.a.kernel),
                ramdisk: Some(file(&ra, &self.a.ramdisk)),
                fdt: None,
                bootargs: &self.a.bootargs,
            }),
        };
        let mut buf = vec![0u8; LOADER_FILE_SIZE];
        render_padded(&cfg, &mut buf).unwrap();
        self.fat.put(&format!("/loader.{copy}/uEnv.txt"), &buf);
    }

    fn env(&self, which: usize, flags: u8, vars: &[(&str, &str)]) {
        let mut block = vec![0u8; ENV_SIZE];
        env_block::write(
            &mut block,
            Header::Redundant { flags },
            vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        )
        .unwrap();
        self.fat
            .put(["/uboot.env", "/uboot-redund.env"][which], &block);
    }

    fn disk(&self) -> PathBuf {
        let disk = self.dir.path().join("disk.img");
        disk_image(&disk, &[(0x0e, &self.fat.path)]);
        disk
    }

    /// Boots once; the partition (with whatever U-Boot wrote) is copied back into the FAT image.
    fn boot(&self, name: &str) -> Run {
        let disk = self.disk();
        let run = boot_uboot(
            self.dir.path(),
            name,
            &disk,
            BOOTCMD,
            Duration::from_secs(90),
        );
        extract_partition(&disk, 0, &self.fat.path);
        eprintln!("{name}: {:.1} s", run.elapsed.as_secs_f64());
        run
    }

    fn env_now(&self) -> Vec<(String, String)> {
        let a = self.fat.get("/uboot.env");
        let b = self.fat.get("/uboot-redund.env");
        let c = env_block::read_redundant(Some(&a), Some(&b), FlagScheme::Incrementing)
            .expect("env pair readable");
        c.block
            .vars()
            .map(|v| {
                (
                    String::from_utf8_lossy(v.name).into(),
                    String::from_utf8_lossy(v.value).into(),
                )
            })
            .collect()
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env_now()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

fn hex<const N: usize>(b: &[u8]) -> String {
    b.iter().take(N).map(|x| format!("{x:02x}")).collect()
}

#[test]
fn primary_good_boots_the_primary_kernel() {
    let s = Scenario::new(&[
        ("bootcount", "0"),
        ("bootlimit", "3"),
        ("upgrade_available", "0"),
    ]);
    let run = s.boot("primary-good");
    run.expect("atomboot: loader copy 0 (generation 6) used; copy 1: older generation 5")
        .expect("atomboot: entry primary: normal boot")
        .expect("atomboot: verified primary kernel")
        .expect("atomboot: boot primary (normal boot)")
        .expect("FAKE-KERNEL B started")
        .expect_not("FAKE-KERNEL A")
        .expect_not("atomboot: saving");
    assert!(
        run.console
            .contains("atomboot: bootz 0x40400000 0x44000000:0x4e20 0x"),
        "{}",
        run.console
    );
}

#[test]
fn corrupted_primary_kernel_boots_the_fallback_and_records_why() {
    let s = Scenario::new(&[("bootcount", "0"), ("upgrade_available", "0")]);
    let mut k = s.fat.get(&format!("{}/vmlinuz", s.b.dir));
    k[100_000] ^= 0xff;
    s.fat.put(&format!("{}/vmlinuz", s.b.dir), &k);
    let run = s.boot("primary-corrupt");
    run.expect("atomboot: FAILED primary kernel")
        .expect("SHA-256 mismatch")
        .expect("atomboot: boot fallback (primary kernel: SHA-256 mismatch)")
        .expect("atomboot: saving uboot-redund.env")
        .expect("FAKE-KERNEL A started")
        .expect_not("FAKE-KERNEL B");
    assert_eq!(s.var("atomboot_rollback").as_deref(), Some("1"));
    assert!(s
        .var("atomboot_reason")
        .unwrap()
        .contains("SHA-256 mismatch"));
}

#[test]
fn counters_over_the_limit_fall_back_and_it_persists_across_reboots() {
    let s = Scenario::new(&[
        ("bootcount", "2"),
        ("bootlimit", "3"),
        ("upgrade_available", "1"),
    ]);
    // Boot 3 of 3: still the primary, count saved by fatwrite.
    s.boot("trial-3")
        .expect("atomboot: counters bootcount 2->3")
        .expect("FAKE-KERNEL B started");
    assert_eq!(s.var("bootcount").as_deref(), Some("3"));
    // Boot 4: over the limit.
    s.boot("over-limit")
        .expect("atomboot: counters bootcount 3->4 bootlimit 3 upgrade_available 1")
        .expect("atomboot: entry fallback: bootcount 4 exceeds bootlimit 3")
        .expect("FAKE-KERNEL A started");
    assert_eq!(s.var("bootcount").as_deref(), Some("4"));
    assert_eq!(s.var("atomboot_rollback").as_deref(), Some("1"));
    // A fresh QEMU: the saved state keeps it on the fallback, with nothing more written.
    s.boot("after-reboot")
        .expect("atomboot: entry fallback")
        .expect("FAKE-KERNEL A started")
        .expect_not("atomboot: saving");
}

#[test]
fn both_entries_bad_boots_nothing() {
    let s = Scenario::new(&[("upgrade_available", "0")]);
    for d in [&s.a, &s.b] {
        let mut k = s.fat.get(&format!("{}/initramfs.img", d.dir));
        k.truncate(100);
        s.fat.put(&format!("{}/initramfs.img", d.dir), &k);
    }
    s.boot("both-bad")
        .expect("atomboot: nothing verifies: primary ramdisk: size 100 but 20000 expected; fallback ramdisk")
        .expect("atomboot: nothing verified: refusing to boot")
        .expect("atomboot: no verified entry booted")
        .expect_not("atomboot: bootz")
        .expect_not("FAKE-KERNEL");
}
