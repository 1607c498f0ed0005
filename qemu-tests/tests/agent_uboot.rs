//! The real atomboot-agent.bin under Debian's real U-Boot (qemu-system-arm -M virt), started by the real
//! board/qemu-virt/boot.cmd, on disk images made here. The "kernels" are tiny programs with a valid zImage
//! header that print which deployment they are: seeing one proves bootz ran the bytes the agent verified.

use qemu_tests::{board_files, boot_uboot, disk_image, extract_partition, fake_kernel, Fat, Run};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use uenv::boot_config::{render_padded, BootConfig, BootFile, Entry, LOADER_FILE_SIZE};
use uenv::env_block::{self, FlagScheme, Header};

const BOOTCMD: &str = "fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000";
const ENV_SIZE: usize = 0x4000;

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
        Scenario::on(32, 16, vars)
    }

    /// [`Scenario::new`] on a FAT`bits` boot partition of `mib` MiB.
    fn on(mib: u32, bits: u32, vars: &[(&str, &str)]) -> Scenario {
        let board = board_files("qemu-virt");
        let dir = tempfile::tempdir().unwrap();
        let fat = Fat::with_bits(dir.path().join("boot.fat"), mib, bits);
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
        self.loader_with(copy, generation, with_fallback, &self.b.kernel);
    }

    /// A loader copy whose primary kernel is `kernel` (its size and hash), at B's kernel path.
    fn loader_with(&self, copy: usize, generation: u64, with_fallback: bool, kernel: &[u8]) {
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
                kernel: file(&kb, kernel),
                ramdisk: Some(file(&rb, &self.b.ramdisk)),
                fdt: None,
                bootargs: &self.b.bootargs,
                proof: None,
            },
            fallback: with_fallback.then(|| Entry {
                kernel: file(&ka, &self.a.kernel),
                ramdisk: Some(file(&ra, &self.a.ramdisk)),
                fdt: None,
                bootargs: &self.a.bootargs,
                proof: None,
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

/// The newest loader copy (generation 6) names B's kernel as `kernel`, written at B's kernel path.
fn replace_primary_kernel(s: &Scenario, kernel: &[u8]) {
    s.fat.put(&format!("{}/vmlinuz", s.b.dir), kernel);
    s.loader_with(0, 6, true, kernel);
}

/// A 400 MiB FAT16 boot partition (wave 1 read the whole partition into RAM and hung at this size): the
/// primary boots, reading only the files that boot; then a primary kernel larger than the kernel region
/// (60 MiB; qemu-virt's region is 59 MiB) is refused from its size in the loader copy, before any load,
/// and the fallback boots with the reason recorded.
#[test]
fn a_400_mib_fat16_partition_boots_and_refuses_an_oversized_kernel() {
    let s = Scenario::on(400, 16, &[("bootcount", "0"), ("upgrade_available", "0")]);
    s.boot("fat16-400-primary")
        .expect("atomboot: entry primary: normal boot")
        .expect("atomboot: verified primary kernel")
        .expect("FAKE-KERNEL B started")
        .expect_not("FAKE-KERNEL A");
    let big = fake_kernel(s.dir.path(), b'B', 60 << 20);
    replace_primary_kernel(&s, &big);
    let room = board::QEMU_VIRT.kernel.len;
    let why = format!(
        "primary kernel: declared size {} exceeds its load region of {room} bytes: not loaded",
        big.len()
    );
    let run = s.boot("fat16-400-oversized");
    run.expect(&format!("atomboot: REFUSED {why}"))
        .expect("atomboot: load fallback files")
        .expect(&format!("atomboot: boot fallback ({why})"))
        .expect("atomboot: saving uboot-redund.env")
        .expect("FAKE-KERNEL A started")
        .expect_not("FAKE-KERNEL B");
    // The 60 MiB kernel was never read: U-Boot's loads were boot.scr, the agent, the four small files and
    // the fallback's kernel and ramdisk (its "N bytes read" lines), nothing of 60 MiB.
    let reads: Vec<&str> = run
        .console
        .lines()
        .filter(|l| l.contains(" bytes read in "))
        .collect();
    assert_eq!(reads.len(), 8, "{reads:#?}");
    assert!(
        !reads
            .iter()
            .any(|l| l.starts_with(&format!("{} ", big.len()))),
        "{reads:#?}"
    );
    assert_eq!(s.var("atomboot_rollback").as_deref(), Some("1"));
    assert_eq!(s.var("atomboot_reason").as_deref(), Some(why.as_str()));
}

/// A 2 GiB FAT32 boot partition (the largest `admin image` accepts): the primary boots; a corrupted
/// primary kernel is loaded, fails its hash in place, and the fallback's files are loaded over it and boot.
#[test]
fn a_2_gib_fat32_partition_boots_and_falls_back() {
    let s = Scenario::on(2048, 32, &[("bootcount", "0"), ("upgrade_available", "0")]);
    s.boot("fat32-2g-primary")
        .expect("atomboot: verified primary kernel")
        .expect("FAKE-KERNEL B started");
    let mut k = s.fat.get(&format!("{}/vmlinuz", s.b.dir));
    k[200_000] ^= 0x01;
    s.fat.put(&format!("{}/vmlinuz", s.b.dir), &k);
    s.boot("fat32-2g-corrupt")
        .expect("atomboot: FAILED primary kernel")
        .expect("atomboot: trying the fallback entry")
        .expect("atomboot: verified fallback kernel")
        .expect("atomboot: boot fallback (primary kernel: SHA-256 mismatch)")
        .expect("FAKE-KERNEL A started")
        .expect_not("FAKE-KERNEL B");
    assert_eq!(s.var("atomboot_rollback").as_deref(), Some("1"));
}
