//! Builds real FAT boot partitions with mkfs.vfat and mtools (scripts/setup.sh installs them; a missing
//! tool fails the test) and runs the agent over them.
#![allow(dead_code)]

use boot_agent::script::{self, Buffers, End, Files};
use boot_agent::{Clock, Console};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use uenv::boot_config::{render_padded, BootConfig, BootFile, Entry, LOADER_FILE_SIZE};
use uenv::env_block::{self, Header};

pub const ENV_SIZE: usize = 0x4000;

pub fn sh(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}: run scripts/setup.sh (dosfstools, mtools)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A deployment's boot files.
#[derive(Clone)]
pub struct Deployment {
    pub dir: String,
    pub kernel: Vec<u8>,
    pub ramdisk: Vec<u8>,
    pub fdt: Option<Vec<u8>>,
    pub bootargs: String,
}

impl Deployment {
    pub fn new(tag: u8, kernel_len: usize) -> Self {
        let kernel: Vec<u8> = (0..kernel_len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag))
            .collect();
        let ramdisk: Vec<u8> = (0..5000).map(|i| (i as u8) ^ tag).collect();
        Deployment {
            dir: format!("/ostree/debian-{}", hex(&sha(&[tag]))),
            kernel,
            ramdisk,
            fdt: Some(vec![0xd0, 0x0d, 0xfe, 0xed, tag, 1, 2, 3]),
            bootargs: format!("ostree=/ostree/deploy/debian/deploy/{tag:02x}.0 console=ttyAMA0"),
        }
    }

    pub fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A boot partition image under construction.
pub struct Disk {
    pub dir: tempfile::TempDir,
    pub img: PathBuf,
}

impl Disk {
    /// An empty FAT volume (`fat` = 16 or 32).
    pub fn new(fat: u8) -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("boot.img");
        let kib = if fat == 32 { "40000" } else { "16384" };
        sh(Command::new("mkfs.vfat")
            .args(["-F", &fat.to_string(), "-C"])
            .arg(&img)
            .arg(kib));
        Disk { dir, img }
    }

    pub fn put(&self, path: &str, bytes: &[u8]) {
        let parent = Path::new(path).parent().unwrap().to_str().unwrap();
        let mut acc = String::new();
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            acc.push('/');
            acc.push_str(part);
            let _ = Command::new("mmd")
                .arg("-D")
                .arg("s")
                .arg("-i")
                .arg(&self.img)
                .arg(format!("::{acc}"))
                .output();
        }
        let src = self.dir.path().join("src.bin");
        std::fs::write(&src, bytes).unwrap();
        sh(Command::new("mcopy")
            .arg("-o")
            .arg("-i")
            .arg(&self.img)
            .arg(&src)
            .arg(format!("::{path}")));
    }

    pub fn delete(&self, path: &str) {
        sh(Command::new("mdel")
            .arg("-i")
            .arg(&self.img)
            .arg(format!("::{path}")));
    }

    pub fn get(&self, path: &str) -> Vec<u8> {
        let dst = self.dir.path().join("get.bin");
        sh(Command::new("mcopy")
            .arg("-o")
            .arg("-i")
            .arg(&self.img)
            .arg(format!("::{path}"))
            .arg(&dst));
        std::fs::read(dst).unwrap()
    }

    pub fn install(&self, d: &Deployment) {
        self.put(&d.path("vmlinuz"), &d.kernel);
        self.put(&d.path("initramfs.img"), &d.ramdisk);
        if let Some(fdt) = &d.fdt {
            self.put(&d.path("devicetree"), fdt);
        }
    }

    pub fn write_loader(
        &self,
        copy: usize,
        generation: u64,
        primary: &Deployment,
        fallback: Option<&Deployment>,
    ) {
        let paths = |d: &Deployment| {
            (
                d.path("vmlinuz"),
                d.path("initramfs.img"),
                d.path("devicetree"),
            )
        };
        let (pk, pr, pf) = paths(primary);
        let fb = fallback.map(paths);
        let p_entry = Entry {
            kernel: BootFile {
                path: &pk,
                sha256: sha(&primary.kernel),
                size: primary.kernel.len() as u32,
            },
            ramdisk: Some(BootFile {
                path: &pr,
                sha256: sha(&primary.ramdisk),
                size: primary.ramdisk.len() as u32,
            }),
            fdt: primary.fdt.as_ref().map(|f| BootFile {
                path: &pf,
                sha256: sha(f),
                size: f.len() as u32,
            }),
            bootargs: &primary.bootargs,
            proof: None,
        };
        let f_entry = match (fallback, &fb) {
            (Some(d), Some((k, r, f))) => Some(Entry {
                kernel: BootFile {
                    path: k,
                    sha256: sha(&d.kernel),
                    size: d.kernel.len() as u32,
                },
                ramdisk: Some(BootFile {
                    path: r,
                    sha256: sha(&d.ramdisk),
                    size: d.ramdisk.len() as u32,
                }),
                fdt: d.fdt.as_ref().map(|x| BootFile {
                    path: f,
                    sha256: sha(x),
                    size: x.len() as u32,
                }),
                bootargs: &d.bootargs,
                proof: None,
            }),
            _ => None,
        };
        let cfg = BootConfig {
            generation,
            primary: p_entry,
            fallback: f_entry,
        };
        let mut buf = vec![0u8; LOADER_FILE_SIZE];
        render_padded(&cfg, &mut buf).unwrap();
        self.put(&format!("/loader.{copy}/uEnv.txt"), &buf);
    }

    /// Writes env copy `which` (0 = uboot.env, 1 = uboot-redund.env) with `flags` and `vars`.
    pub fn write_env(&self, which: usize, flags: u8, vars: &[(&str, &str)]) {
        let mut block = vec![0u8; ENV_SIZE];
        env_block::write(
            &mut block,
            Header::Redundant { flags },
            vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        )
        .unwrap();
        self.put(["/uboot.env", "/uboot-redund.env"][which], &block);
    }

    /// The env values in use, as U-Boot/libubootenv would pick them.
    pub fn env(&self) -> Vec<(String, String)> {
        let a = self.get("/uboot.env");
        let b = self.get("/uboot-redund.env");
        let c = env_block::read_redundant(Some(&a), Some(&b), env_block::FlagScheme::Incrementing)
            .unwrap();
        let mut v: Vec<(String, String)> = c
            .block
            .vars()
            .map(|v| {
                (
                    String::from_utf8_lossy(v.name).into(),
                    String::from_utf8_lossy(v.value).into(),
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.img).unwrap()
    }

    /// mtools allocates FAT32 clusters after FSInfo's next-free hint, so it would not reuse a hole left by
    /// a deleted file: make the hint "unknown" (0xffffffff) so that its search starts at the first cluster.
    pub fn forget_next_free_hint(&self) {
        let mut bytes = self.bytes();
        let sector = u16::from_le_bytes([bytes[11], bytes[12]]) as usize;
        let fsinfo = u16::from_le_bytes([bytes[48], bytes[49]]) as usize * sector;
        assert_eq!(&bytes[fsinfo..fsinfo + 4], b"RRaA", "FSInfo signature");
        bytes[fsinfo + 488..fsinfo + 496].fill(0xff);
        std::fs::write(&self.img, bytes).unwrap();
    }
}

/// A typical disk: deployments A (fallback) and B (primary), both loader copies (B in the newer one), and
/// counters `vars` in a valid env pair.
pub fn two_deployments(vars: &[(&str, &str)]) -> (Disk, Deployment, Deployment) {
    two_deployments_on(Disk::new(16), vars)
}

/// [`two_deployments`] on a volume that may already hold other files.
pub fn two_deployments_on(disk: Disk, vars: &[(&str, &str)]) -> (Disk, Deployment, Deployment) {
    let a = Deployment::new(0xa, 70_000);
    let b = Deployment::new(0xb, 90_000);
    disk.install(&a);
    disk.install(&b);
    disk.write_loader(0, 4, &a, None);
    disk.write_loader(1, 5, &b, Some(&a));
    disk.write_env(0, 1, vars);
    disk.write_env(1, 0, &[("bootcount", "99")]);
    (disk, a, b)
}

pub struct Log(pub Vec<String>);

impl Console for Log {
    fn line(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

pub struct Tick(pub std::cell::Cell<u32>);

impl Clock for Tick {
    fn now_ms(&self) -> u32 {
        let t = self.0.get();
        self.0.set(t + 7);
        t
    }
}

/// Slot, reason, bootargs and the env write (file name, block) of a successful run.
pub type Decided = (
    boot_agent::Slot,
    boot_agent::Reason,
    String,
    Option<(String, Vec<u8>)>,
);

/// The outcome of one agent run, with copies of everything it produced.
pub struct Outcome {
    /// The decision, or the reason nothing boots (`atomboot_reason`).
    pub result: Result<Decided, String>,
    pub kernel: Vec<u8>,
    pub ramdisk: Vec<u8>,
    pub fdt: Vec<u8>,
    pub log: Vec<String>,
    pub sizes: (u32, Option<u32>, Option<u32>),
    /// Every file the script loaded and the bytes read.
    pub loads: Vec<(String, usize)>,
    /// The variables at the end.
    pub env: BTreeMap<String, String>,
}

pub use boot_agent::map_env::MapEnv;

/// `fatload` over a FAT image in memory, read with the `fatfs` crate.
pub struct FatFiles {
    pub image: std::io::Cursor<Vec<u8>>,
    /// Every (path, bytes read) loaded, in order.
    pub loads: Vec<(String, usize)>,
}

impl Files for FatFiles {
    fn load(&mut self, path: &str, max: usize, dst: &mut [u8]) -> Option<usize> {
        use std::io::Read;
        self.image.set_position(0);
        let fs = fatfs::FileSystem::new(&mut self.image, fatfs::FsOptions::new()).ok()?;
        let mut f = fs.root_dir().open_file(path.trim_start_matches('/')).ok()?;
        let room = dst.len().min(max);
        let mut n = 0;
        while n < room {
            match f.read(&mut dst[n..room]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => return None,
            }
        }
        self.loads.push((path.to_string(), n));
        Some(n)
    }
}

pub const KERNEL_ROOM: usize = 256 * 1024;

pub fn boot(partition: &[u8]) -> Outcome {
    boot_with(partition, KERNEL_ROOM)
}

/// One boot with the script's steps, the kernel region `kernel_room` bytes long.
pub fn boot_with(partition: &[u8], kernel_room: usize) -> Outcome {
    let mut kernel = vec![0u8; kernel_room];
    let mut ramdisk = vec![0u8; 64 * 1024];
    let mut fdt = vec![0u8; 4096];
    let mut small = [
        vec![0u8; 0x2000],
        vec![0u8; 0x2000],
        vec![0u8; 0x10000],
        vec![0u8; 0x10000],
    ];
    let mut env_out = vec![0u8; 0x10000];
    let mut log = Log(Vec::new());
    let clock = Tick(std::cell::Cell::new(0));
    let mut env = MapEnv::default();
    let mut files = FatFiles {
        image: std::io::Cursor::new(partition.to_vec()),
        loads: Vec::new(),
    };
    let [s0, s1, s2, s3] = &mut small;
    let mut bufs = Buffers {
        small: [s0, s1, s2, s3],
        env_out: &mut env_out,
        kernel: &mut kernel,
        ramdisk: &mut ramdisk,
        fdt: &mut fdt,
        proof: &mut [],
    };
    let end = script::run(&mut env, &mut files, &mut bufs, &mut log, &clock);
    let mut sizes = (0, None, None);
    let result = match end {
        End::Boot(plan) => {
            sizes = (
                env.0
                    .get("atomboot_kernel_bytes")
                    .map(|v| u32::from_str_radix(v, 16).unwrap())
                    .unwrap(),
                plan.ramdisk_size,
                plan.fdt_size,
            );
            Ok((
                plan.slot,
                plan.reason,
                plan.bootargs.to_string(),
                plan.env_write
                    .map(|(name, len)| (name.to_string(), env_out[..len].to_vec())),
            ))
        }
        End::Fail => Err(env.0.get("atomboot_reason").cloned().unwrap_or_default()),
    };
    Outcome {
        result,
        kernel,
        ramdisk,
        fdt,
        log: log.0,
        sizes,
        loads: files.loads,
        env: env.0,
    }
}

impl Outcome {
    /// The booted entry's files are exactly the deployment's bytes at the targets.
    pub fn assert_loaded(&self, d: &Deployment) {
        let (k, r, f) = self.sizes;
        assert_eq!(&self.kernel[..k as usize], &d.kernel[..], "kernel bytes");
        assert_eq!(
            &self.ramdisk[..r.unwrap() as usize],
            &d.ramdisk[..],
            "ramdisk bytes"
        );
        if let Some(fdt) = &d.fdt {
            assert_eq!(&self.fdt[..f.unwrap() as usize], &fdt[..], "fdt bytes");
        }
    }
}
