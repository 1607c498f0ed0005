//! The whole decision path (FAT reader, loader copies, env pair, counters, copy + SHA-256) on hostile
//! partitions: either the raw input, or a real FAT16 image (made once with mkfs.vfat + mtools) with the
//! input's byte patches applied. Invariant: an Ok plan's bytes at the targets hash to what the selected
//! loader copy declares for the booted entry; nothing panics.
#![no_main]
use boot_agent::{run, Clock, Console, Slot, Targets};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::process::Command;
use std::sync::OnceLock;
use uenv::boot_config::{render_padded, select, BootConfig, BootFile, Entry, FileRole, LOADER_FILE_SIZE, LOADER_PATHS};

struct Quiet;
impl Console for Quiet {
    fn line(&mut self, _: &str) {}
}
struct Zero;
impl Clock for Zero {
    fn now_ms(&self) -> u32 {
        0
    }
}

fn sh(cmd: &mut Command) {
    assert!(cmd.status().expect("mkfs.vfat/mtools (scripts/setup.sh)").success(), "{cmd:?}");
}

/// A small FAT16 boot partition: two deployments, both loader copies, a valid env pair on trial.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("atomboot-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("boot.img");
        let _ = std::fs::remove_file(&img);
        sh(Command::new("mkfs.vfat").args(["-F", "16", "-s", "1", "-C"]).arg(&img).arg("2200"));
        let put = |path: &str, bytes: &[u8]| {
            let src = dir.join("src");
            std::fs::write(&src, bytes).unwrap();
            let parent = std::path::Path::new(path).parent().unwrap().to_str().unwrap().to_string();
            if parent != "/" {
                let _ = Command::new("mmd").args(["-D", "s", "-i"]).arg(&img).arg(format!("::{parent}")).output();
            }
            sh(Command::new("mcopy").args(["-o", "-i"]).arg(&img).arg(&src).arg(format!("::{path}")));
        };
        let _ = Command::new("mmd").args(["-i"]).arg(&img).arg("::ostree").output();
        let files: Vec<(String, Vec<u8>)> = [b'a', b'b']
            .iter()
            .flat_map(|&t| {
                let d = format!("/ostree/os-{}{}", t as char, "0123456789abcdef".repeat(4));
                vec![
                    (format!("{d}/vmlinuz"), (0..3000u32).map(|i| i as u8 ^ t).collect()),
                    (format!("{d}/initramfs.img"), vec![t; 700]),
                ]
            })
            .collect();
        for (p, b) in &files {
            put(p, b);
        }
        let bf = |i: usize| BootFile { path: &files[i].0, sha256: Sha256::digest(&files[i].1).into(), size: files[i].1.len() as u32 };
        for (copy, generation, primary) in [(0usize, 3u64, 2usize), (1, 2, 0)] {
            let fb = 2 - primary;
            let cfg = BootConfig {
                generation,
                primary: Entry { kernel: bf(primary), ramdisk: Some(bf(primary + 1)), fdt: None, bootargs: "ostree=/x" },
                fallback: Some(Entry { kernel: bf(fb), ramdisk: Some(bf(fb + 1)), fdt: None, bootargs: "ostree=/y" }),
            };
            let mut buf = vec![0u8; LOADER_FILE_SIZE];
            render_padded(&cfg, &mut buf).unwrap();
            put(&format!("/{}", LOADER_PATHS[copy]), &buf);
        }
        for (name, flags, count) in [("uboot.env", 1u8, "1"), ("uboot-redund.env", 0, "0")] {
            let mut block = vec![0u8; 0x4000];
            let vars = [("bootcount", count), ("bootlimit", "3"), ("upgrade_available", "1")];
            uenv::env_block::write(&mut block, uenv::env_block::Header::Redundant { flags }, vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))).unwrap();
            put(&format!("/{name}"), &block);
        }
        let bytes = std::fs::read(&img).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    })
}

/// Byte patches (offset, xor mask) decoded from the input, biased towards the volume's metadata.
fn patches(data: &[u8], len: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
    data.get(1..).unwrap_or(&[]).chunks_exact(5).map(move |patch| {
        let at = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize;
        let at = if at & 1 == 0 { (at >> 1) % 65536.min(len) } else { (at >> 1) % len };
        (at, patch[4])
    })
}

thread_local! {
    /// The base image, patched in place and restored after each input (XOR is its own inverse): copying
    /// 2 MiB per input would cost more than the decision path under test.
    static IMAGE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(base().to_vec());
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, raw)) => check(raw),
        _ => IMAGE.with(|cell| {
            let mut image = cell.borrow_mut();
            let len = image.len();
            for (at, x) in patches(data, len) {
                image[at] ^= x;
            }
            check(&image);
            for (at, x) in patches(data, len) {
                image[at] ^= x;
            }
        }),
    }
});

/// Runs the agent on one partition and checks the invariant.
fn check(partition: &[u8]) {
    let mut kernel = vec![0u8; 8192];
    let mut ramdisk = vec![0u8; 4096];
    let mut fdt = vec![0u8; 1024];
    let mut scratch = vec![0u8; boot_agent::SCRATCH_MIN];
    let result = run(partition, Targets { kernel: &mut kernel, ramdisk: &mut ramdisk, fdt: &mut fdt }, &mut scratch, &mut Quiet, &Zero);
    let Ok(plan) = result else { return };
    let (slot, (copy, generation), ks, rs) = (plan.slot, plan.loader, plan.kernel_size, plan.ramdisk_size);
    drop(plan);
    // Re-read the loader copy the agent used and check the booted bytes against it.
    let fs = boot_agent::bootfs::BootFs::open(partition).expect("opened once already");
    let mut b0 = vec![0u8; 8192];
    let mut b1 = vec![0u8; 8192];
    let c0 = fs.read_optional(LOADER_PATHS[0], &mut b0).ok().flatten();
    let c1 = fs.read_optional(LOADER_PATHS[1], &mut b1).ok().flatten();
    let sel = select(c0, c1).expect("the agent found a valid copy");
    assert_eq!((sel.copy, sel.config.generation), (copy, generation));
    let entry = match slot {
        Slot::Primary => sel.config.primary,
        Slot::Fallback => sel.config.fallback.expect("booted fallback exists"),
    };
    let k = entry.file(FileRole::Kernel).unwrap();
    assert_eq!(k.size, ks);
    assert_eq!(<[u8; 32]>::from(Sha256::digest(&kernel[..ks as usize])), k.sha256, "unverified kernel bytes");
    if let (Some(r), Some(rs)) = (entry.file(FileRole::Ramdisk), rs) {
        assert_eq!(<[u8; 32]>::from(Sha256::digest(&ramdisk[..rs as usize])), r.sha256, "unverified ramdisk");
    }
}
