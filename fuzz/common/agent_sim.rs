//! A simulated board for the agent's fuzz targets: two deployments' boot files in memory, both loader
//! copies and an env pair on trial, small load regions (so declared sizes can exceed them), and the boot
//! script's steps from `boot_agent::script`. The invariant every target checks: whenever the agent says
//! boot, the bytes in the load regions are exactly what the loader copy it used declares, at the sizes
//! `fatload` read.
#![allow(dead_code)]

use boot_agent::script::{Buffers, Files};
use boot_agent::vars::{file_vars, parse_hex_u32};
use boot_agent::{Clock, Console, SmallFiles};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use uenv::boot_config::{
    judge, render_padded, select_judged, BootConfig, BootFile, Entry, FileRole, Slot,
    LOADER_FILE_SIZE,
};

pub struct Quiet;
impl Console for Quiet {
    fn line(&mut self, _: &str) {}
}
pub struct Zero;
impl Clock for Zero {
    fn now_ms(&self) -> u32 {
        0
    }
}

pub use boot_agent::map_env::MapEnv;

/// The boot partition's files, by path without the leading `/`.
pub struct MemFiles(pub Vec<(String, Vec<u8>)>);

impl Files for MemFiles {
    fn load(&mut self, path: &str, max: usize, dst: &mut [u8]) -> Option<usize> {
        let path = path.trim_start_matches('/');
        let (_, bytes) = self.0.iter().find(|(p, _)| p.eq_ignore_ascii_case(path))?;
        let n = bytes.len().min(max).min(dst.len());
        dst[..n].copy_from_slice(&bytes[..n]);
        Some(n)
    }
}

pub const KERNEL_ROOM: usize = 4096;
pub const RAMDISK_ROOM: usize = 1024;
pub const FDT_ROOM: usize = 512;
pub const SMALL_ROOM: usize = 0x2000;
pub const ENV_SIZE: usize = 0x800;

/// The base files: loader.0 (generation 3: primary B, fallback A), loader.1 (generation 2: primary A,
/// fallback B), an env pair on trial, and the boot files of A and B (B's kernel 3000 bytes, A's 1500, an
/// fdt for A only).
pub fn base_files() -> &'static [(String, Vec<u8>)] {
    static BASE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (t, klen) in [(b'a', 1500u32), (b'b', 3000)] {
            let d = format!("ostree/os-{}{}", t as char, "0123456789abcdef".repeat(4));
            files.push((
                format!("{d}/vmlinuz"),
                (0..klen).map(|i| i as u8 ^ t).collect(),
            ));
            files.push((format!("{d}/initramfs.img"), vec![t; 700]));
            if t == b'a' {
                files.push((format!("{d}/board.dtb"), vec![0xd0, 0x0d, 0xfe, 0xed, t]));
            }
        }
        let bf = |i: usize| BootFile {
            path: leak(format!("/{}", files[i].0)),
            sha256: Sha256::digest(&files[i].1).into(),
            size: files[i].1.len() as u32,
        };
        let a = Entry {
            kernel: bf(0),
            ramdisk: Some(bf(1)),
            fdt: Some(bf(2)),
            bootargs: "ostree=/a",
            proof: None,
        };
        let b = Entry {
            kernel: bf(3),
            ramdisk: Some(bf(4)),
            fdt: None,
            bootargs: "ostree=/b",
            proof: None,
        };
        let mut out = Vec::new();
        for (path, generation, primary, fallback) in [
            ("loader.0/uEnv.txt", 3u64, b, a),
            ("loader.1/uEnv.txt", 2, a, b),
        ] {
            let cfg = BootConfig {
                generation,
                primary,
                fallback: Some(fallback),
            };
            let mut buf = vec![0u8; LOADER_FILE_SIZE];
            render_padded(&cfg, &mut buf).unwrap();
            out.push((path.to_string(), buf));
        }
        for (name, flags, count) in [("uboot.env", 1u8, "1"), ("uboot-redund.env", 0, "0")] {
            let mut block = vec![0u8; ENV_SIZE];
            let vars = [
                ("bootcount", count),
                ("bootlimit", "3"),
                ("upgrade_available", "1"),
            ];
            uenv::env_block::write(
                &mut block,
                uenv::env_block::Header::Redundant { flags },
                vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            )
            .unwrap();
            out.push((name.to_string(), block));
        }
        out.extend(files);
        out
    })
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The simulated board's RAM.
pub struct Board {
    pub small: [Vec<u8>; 4],
    pub env_out: Vec<u8>,
    pub kernel: Vec<u8>,
    pub ramdisk: Vec<u8>,
    pub fdt: Vec<u8>,
}

impl Board {
    pub fn new() -> Board {
        Board {
            small: [
                vec![0; SMALL_ROOM],
                vec![0; SMALL_ROOM],
                vec![0; SMALL_ROOM],
                vec![0; SMALL_ROOM],
            ],
            env_out: vec![0; 0x1000],
            kernel: vec![0; KERNEL_ROOM],
            ramdisk: vec![0; RAMDISK_ROOM],
            fdt: vec![0; FDT_ROOM],
        }
    }

    pub fn buffers(&mut self) -> Buffers<'_> {
        let [s0, s1, s2, s3] = &mut self.small;
        Buffers {
            small: [s0, s1, s2, s3],
            env_out: &mut self.env_out,
            kernel: &mut self.kernel,
            ramdisk: &mut self.ramdisk,
            fdt: &mut self.fdt,
            proof: &mut [],
        }
    }

    /// Checks a boot: the entry `slot` of the loader copy selected from the small files as loaded (sizes
    /// from the env) is exactly what lies in the regions, at the sizes recorded by the script.
    pub fn check_boot(&self, env: &MapEnv, slot: Slot) {
        let small = |i: usize| -> Option<&[u8]> {
            let n = env
                .0
                .get(boot_agent::vars::SMALL_BYTES[i])
                .and_then(|v| parse_hex_u32(v))? as usize;
            self.small[i].get(..n)
        };
        let files = SmallFiles {
            loader: [small(0), small(1)],
            env: [small(2), small(3)],
        };
        let sel = select_judged(judge(files.loader[0]), judge(files.loader[1]))
            .expect("a boot without a valid loader copy");
        let entry = sel.config.entry(slot).expect("the booted entry exists");
        for role in FileRole::ALL {
            let Some(f) = entry.file(role) else { continue };
            let region: &[u8] = match role {
                FileRole::Kernel => &self.kernel,
                FileRole::Ramdisk => &self.ramdisk,
                FileRole::Fdt => &self.fdt,
            };
            let got = env
                .0
                .get(file_vars(role).bytes)
                .and_then(|v| parse_hex_u32(v))
                .expect("size recorded");
            assert_eq!(
                got, f.size,
                "{role:?}: booted with a size other than declared"
            );
            let bytes = &region[..f.size as usize];
            assert_eq!(
                <[u8; 32]>::from(Sha256::digest(bytes)),
                f.sha256,
                "{role:?}: unverified bytes boot"
            );
        }
    }
}
