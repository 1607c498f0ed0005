//! Fixtures shared by the admin_* tests (included with `#[path]`; no tests of its own).
#![allow(dead_code)]

use host_tools::deploy::bootfs::{BootFs, ImageBootFs, MemStorage, Storage};
use host_tools::deploy::source::TreeSource;
use host_tools::deploy::{verbs, Admin, DeploymentId, Sysroot};
use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

/// Runs `cmd`, which must succeed (its stderr is shown if not): its output.
pub fn succeeds(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `atomboot admin --board BOARD --boot BOOT init-fs SYSROOT`, which must succeed.
pub fn init_fs(board: &str, boot: &Path, sysroot: &Path) {
    succeeds(
        Command::new(env!("CARGO_BIN_EXE_atomboot"))
            .args(["admin", "--board", board, "--boot"])
            .arg(boot)
            .arg("init-fs")
            .arg(sysroot),
    );
}

/// Deterministic bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A minimal flattened device tree whose root has `compatible`.
pub fn dtb(compatible: &[&str]) -> Vec<u8> {
    let be = |v: u32| v.to_be_bytes();
    let mut value = Vec::new();
    for c in compatible {
        value.extend_from_slice(c.as_bytes());
        value.push(0);
    }
    let strings = b"compatible\0".to_vec();
    let mut st = Vec::new();
    st.extend_from_slice(&be(1)); // BEGIN_NODE ""
    st.extend_from_slice(&[0, 0, 0, 0]);
    st.extend_from_slice(&be(3)); // PROP
    st.extend_from_slice(&be(value.len() as u32));
    st.extend_from_slice(&be(0));
    st.extend_from_slice(&value);
    while st.len() % 4 != 0 {
        st.push(0);
    }
    st.extend_from_slice(&be(2)); // END_NODE
    st.extend_from_slice(&be(9)); // END
    let off_rsv = 40u32;
    let off_struct = off_rsv + 16;
    let off_strings = off_struct + st.len() as u32;
    let total = off_strings + strings.len() as u32;
    let mut out = Vec::new();
    for v in [
        0xd00d_feed,
        total,
        off_struct,
        off_strings,
        off_rsv,
        17,
        16,
        0,
        strings.len() as u32,
        st.len() as u32,
    ] {
        out.extend_from_slice(&be(v));
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&st);
    out.extend_from_slice(&strings);
    out
}

/// A commit tree with boot files under usr/lib/modules/<kver>/.
pub fn tree(dir: &Path, seed: u64, kernel_len: usize, fdt: Option<Vec<u8>>) -> PathBuf {
    let t = dir.join(format!("tree-{seed}"));
    let m = t.join("usr/lib/modules/6.1.0-test");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("vmlinuz"), bytes(seed, kernel_len)).unwrap();
    std::fs::write(
        m.join("initramfs.img"),
        bytes(seed + 1000, kernel_len / 2 + 7),
    )
    .unwrap();
    if let Some(f) = fdt {
        std::fs::write(m.join("devicetree"), f).unwrap();
    }
    std::fs::create_dir_all(t.join("etc")).unwrap();
    std::fs::write(t.join("etc/os-release"), format!("VERSION_ID={seed}\n")).unwrap();
    t
}

/// A real FAT16 image made by mkfs.vfat (dosfstools); a missing tool fails the test.
pub fn fat_image(path: &Path, kib: u32) {
    fat_image_of(path, kib, 16)
}

/// A real FAT12/16/32 image made by mkfs.vfat with 512-byte clusters.
pub fn fat_image_of(path: &Path, kib: u32, bits: u8) {
    let out = Command::new("mkfs.vfat")
        .args(["-F", &bits.to_string(), "-s", "1", "-n", "BOOT", "-C"])
        .arg(path)
        .arg(kib.to_string())
        .output()
        .expect("mkfs.vfat (dosfstools) must be installed: scripts/setup.sh");
    assert!(
        out.status.success(),
        "mkfs.vfat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test world: sysroot, stand-in repository, FAT boot image.
pub struct World {
    pub dir: tempfile::TempDir,
    pub sysroot: PathBuf,
    pub image: PathBuf,
    pub source: TreeSource,
}

impl World {
    pub fn new(kib: u32) -> World {
        World::new_fat(kib, 16)
    }

    pub fn new_fat(kib: u32, bits: u8) -> World {
        let dir = tempfile::tempdir().unwrap();
        let sysroot = dir.path().join("sysroot");
        verbs::init_fs(&sysroot, Some("am335x")).unwrap();
        verbs::os_init(&sysroot, "debian").unwrap();
        let image = dir.path().join("boot.img");
        fat_image_of(&image, kib, bits);
        let mut fs = host_tools::deploy::bootfs::open(&image).unwrap();
        verbs::init_boot(fs.as_mut()).unwrap();
        let source = TreeSource::new(&dir.path().join("repo"));
        World {
            dir,
            sysroot,
            image,
            source,
        }
    }

    /// Adds commit `name` (seed) with an am335x device tree.
    pub fn commit(&self, name: &str, seed: u64, kernel_len: usize) -> atomboot_repo::Checksum {
        let t = tree(
            self.dir.path(),
            seed,
            kernel_len,
            Some(dtb(&["ti,am335x-bone-black", "ti,am33xx"])),
        );
        self.source.add_commit(name, name, &t).unwrap()
    }

    pub fn admin_on(&self, boot: Box<dyn BootFs>, cmdline: Option<String>) -> Admin<'_> {
        Admin {
            sysroot: Sysroot::new(&self.sysroot),
            boot,
            source: Some(&self.source),
            cmdline,
            board: host_tools::deploy::board::lookup("am335x"),
        }
    }

    pub fn admin(&self) -> Admin<'_> {
        self.admin_on(host_tools::deploy::bootfs::open(&self.image).unwrap(), None)
    }

    pub fn image_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.image).unwrap()
    }
}

/// One logged storage operation.
#[derive(Debug, Clone)]
pub enum Op {
    Write { offset: u64, data: Vec<u8> },
    Sync,
}

/// Storage that applies writes to memory and logs every write and sync.
pub struct LoggingStorage {
    pub mem: MemStorage,
    pub log: Rc<RefCell<Vec<Op>>>,
    /// Fail every write after this many writes (ENOSPC / EROFS simulation), with this error kind.
    pub fail_after: Option<(usize, io::ErrorKind)>,
}

impl Read for LoggingStorage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.mem.read(buf)
    }
}
impl Write for LoggingStorage {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let writes = self
            .log
            .borrow()
            .iter()
            .filter(|o| matches!(o, Op::Write { .. }))
            .count();
        if let Some((n, kind)) = self.fail_after {
            if writes >= n {
                return Err(io::Error::new(kind, "injected failure"));
            }
        }
        let offset = self.mem.stream_position()?;
        let n = self.mem.write(buf)?;
        self.log.borrow_mut().push(Op::Write {
            offset,
            data: buf[..n].to_vec(),
        });
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Seek for LoggingStorage {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.mem.seek(pos)
    }
}
impl Storage for LoggingStorage {
    fn sync(&mut self) -> io::Result<()> {
        self.log.borrow_mut().push(Op::Sync);
        Ok(())
    }
}

/// A boot fs over a copy of `image` whose writes are logged into `log`.
pub fn logged(image: Vec<u8>, log: Rc<RefCell<Vec<Op>>>) -> Box<dyn BootFs> {
    Box::new(
        ImageBootFs::new(
            Box::new(LoggingStorage {
                mem: MemStorage::new(image),
                log,
                fail_after: None,
            }),
            "logged.img".into(),
        )
        .unwrap(),
    )
}

/// `base` with the first `k` logged ops applied; with `torn`, op `k` (a write) applied up to the sector
/// boundary nearest its middle (a device may tear a multi-sector write between sectors; a write inside one
/// sector is taken as atomic). A write that does not cross a sector boundary has no torn variant.
pub fn replay(base: &[u8], ops: &[Op], k: usize, torn: bool) -> Vec<u8> {
    replay_with(base, ops, k, if torn { Tear::Sector } else { Tear::None })
}

/// How the write after the cut point is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Not at all.
    None,
    /// Up to the sector boundary nearest its middle (see [`tear_point`]).
    Sector,
    /// Its first half, byte-exact: stricter than any device (sub-sector writes torn too).
    Half,
}

/// [`replay`] with a choice of tearing model.
pub fn replay_with(base: &[u8], ops: &[Op], k: usize, tear: Tear) -> Vec<u8> {
    let mut img = base.to_vec();
    let apply = |img: &mut Vec<u8>, offset: u64, data: &[u8]| {
        let o = offset as usize;
        img[o..o + data.len()].copy_from_slice(data);
    };
    for op in &ops[..k] {
        if let Op::Write { offset, data } = op {
            apply(&mut img, *offset, data);
        }
    }
    if let Some(Op::Write { offset, data }) = ops.get(k) {
        let cut = match tear {
            Tear::None => None,
            Tear::Sector => tear_point(*offset, data.len()),
            Tear::Half => (data.len() > 1).then_some(data.len() / 2),
        };
        if let Some(cut) = cut {
            apply(&mut img, *offset, &data[..cut]);
        }
    }
    img
}

/// Where a write of `len` bytes at `offset` can tear: the sector boundary nearest its middle, if any.
pub fn tear_point(offset: u64, len: usize) -> Option<usize> {
    let start = offset;
    let end = offset + len as u64;
    let mid = start + len as u64 / 2;
    let boundary = (mid / 512) * 512;
    let boundary = if boundary <= start {
        boundary + 512
    } else {
        boundary
    };
    (boundary > start && boundary < end).then(|| (boundary - start) as usize)
}

/// What boots from a partition image, decided by the agent library itself: the boot script's steps
/// (`boot_agent::script`: the small files, `decide`, bounded loads of the chosen entry's files, `verify`
/// in place) with the files read from the image through the deployer's `fatfs` reader, as U-Boot's
/// `fatload` reads them. Returns the deployment its bootargs name, and the slot.
pub fn boots(image: &[u8]) -> Result<(DeploymentId, &'static str), String> {
    let (dep, slot, _, _) = script_boot(image)?;
    Ok((dep, slot))
}

/// One boot of the partition image at `path`, as U-Boot runs it: the agent decides, and when it asks for
/// an env save its block is written over the named file in place (what boot.scr's `fatwrite` does).
/// Returns the deployment, the slot and the bootargs.
pub fn agent_boot(path: &Path) -> Result<(DeploymentId, &'static str, String), String> {
    let image = std::fs::read(path).unwrap();
    let (dep, slot, bootargs, write) = script_boot(&image)?;
    if let Some((name, block)) = write {
        let mut fs = host_tools::deploy::bootfs::open(path).map_err(|e| format!("{e:#}"))?;
        fs.overwrite(&name, &block).map_err(|e| format!("{e:#}"))?;
    }
    Ok((dep, slot, bootargs))
}

/// The script's steps over `image`; the env write, if any, as (file, block).
#[allow(clippy::type_complexity)]
fn script_boot(
    image: &[u8],
) -> Result<
    (
        DeploymentId,
        &'static str,
        String,
        Option<(String, Vec<u8>)>,
    ),
    String,
> {
    let mut files = ImageFiles(
        ImageBootFs::new(Box::new(MemStorage::new(image.to_vec())), "boot.img".into())
            .map_err(|e| format!("{e:#}"))?,
    );
    AGENT_BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (kernel, rest) = b.split_at_mut(AGENT_REGION);
        let (ramdisk, rest) = rest.split_at_mut(AGENT_REGION);
        let (fdt, rest) = rest.split_at_mut(AGENT_REGION);
        let (env_out, rest) = rest.split_at_mut(SMALL_ROOM);
        let (s0, rest) = rest.split_at_mut(SMALL_ROOM);
        let (s1, rest) = rest.split_at_mut(SMALL_ROOM);
        let (s2, s3) = rest.split_at_mut(SMALL_ROOM);
        let mut bufs = boot_agent::script::Buffers {
            small: [s0, s1, s2, s3],
            env_out,
            kernel,
            ramdisk,
            fdt,
            proof: &mut [],
        };
        let mut console = Lines(Vec::new());
        let mut env = MapEnv::default();
        match boot_agent::script::run(&mut env, &mut files, &mut bufs, &mut console, &NoClock) {
            boot_agent::script::End::Boot(plan) => {
                let slot = match plan.slot {
                    boot_agent::Slot::Primary => "primary",
                    boot_agent::Slot::Fallback => "fallback",
                };
                let dep = DeploymentId::from_cmdline(&plan.bootargs).ok_or_else(|| {
                    format!("agent booted {:?} without ostree=", plan.bootargs.as_str())
                })?;
                let write = plan
                    .env_write
                    .map(|(name, len)| (name.to_string(), bufs.env_out[..len].to_vec()));
                Ok((dep, slot, plan.bootargs.to_string(), write))
            }
            boot_agent::script::End::Fail => Err(format!(
                "agent: {}; console: {}",
                env.0.get("atomboot_reason").cloned().unwrap_or_default(),
                console.0.join(" | ")
            )),
        }
    })
}

/// U-Boot's `fatload` over the deployer's `fatfs` reader: at most `max` bytes of the file.
struct ImageFiles(ImageBootFs);

impl boot_agent::script::Files for ImageFiles {
    fn load(&mut self, path: &str, max: usize, dst: &mut [u8]) -> Option<usize> {
        let bytes = self.0.read(path).ok().flatten()?;
        let n = bytes.len().min(max).min(dst.len());
        dst[..n].copy_from_slice(&bytes[..n]);
        Some(n)
    }
}

pub use boot_agent::map_env::MapEnv;

/// Each load region the tests give the agent.
const AGENT_REGION: usize = 4 << 20;
/// Each small file's room, and the env block's.
const SMALL_ROOM: usize = 0x1_0000;

thread_local! {
    static AGENT_BUFFERS: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 3 * AGENT_REGION + 5 * SMALL_ROOM]);
}

struct Lines(Vec<String>);
impl boot_agent::Console for Lines {
    fn line(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

struct NoClock;
impl boot_agent::Clock for NoClock {
    fn now_ms(&self) -> u32 {
        0
    }
}

/// Every file named by every entry of the selected copy verifies.
pub fn all_named_files_verify(image: &[u8]) -> bool {
    let mut fs =
        ImageBootFs::new(Box::new(MemStorage::new(image.to_vec())), "cut.img".into()).unwrap();
    let Ok(Some(config)) = host_tools::deploy::loader::read(&mut fs) else {
        return false;
    };
    let entries = [Some(config.primary), config.fallback];
    entries
        .iter()
        .flatten()
        .all(|e| host_tools::deploy::bootfiles::verify(&mut fs, e).unwrap_or(false))
}

/// fsck.vfat -n finds nothing to repair.
pub fn fsck_clean(image: &Path) {
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(image)
        .output()
        .expect("fsck.vfat (dosfstools)");
    assert!(
        out.status.success(),
        "fsck.vfat -n {}: {}{}",
        image.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
