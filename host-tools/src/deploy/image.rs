//! `admin image`: a flashable disk image from a commit and a board profile, made without root or loop
//! mounts: an MBR; partition 1 (bootable, FAT16 from 16 to 256 MiB, else FAT32 up to 2 GiB: the sizes the
//! boot path supports, [`check_boot_size`]) with the board files (agent,
//! boot.scr, ...), `/ostree/` boot files, both loader copies and the env pair; partition 2 (Linux, ext4
//! made with `mkfs.ext4 -d`) holding the sysroot with one deployment.

use super::board;
use super::bootfs;
use super::layout::DeploymentId;
use super::source::CommitSource;
use super::verbs::{self, Admin, DeployOptions};
use super::Sysroot;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `admin image`.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Board profile name.
    pub board: String,
    /// Stateroot.
    pub os: String,
    /// What to deploy.
    pub refspec: String,
    /// Kernel arguments.
    pub kargs: Vec<String>,
    /// Files copied into the boot partition's root (agent, boot.scr, MLO, u-boot.img, ...).
    pub boot_files: Vec<PathBuf>,
    /// Boot partition size in MiB.
    pub boot_mib: u64,
    /// Root partition size in MiB.
    pub root_mib: u64,
    /// Skip the device tree check.
    pub force: bool,
}

const MIB: u64 = 1024 * 1024;

/// Smallest FAT16 boot partition the boot path supports.
pub const BOOT_MIN_FAT16_MIB: u64 = 16;
/// Smallest FAT32 boot partition (FAT32's cluster-count minimum with mkfs.vfat's defaults).
pub const BOOT_MIN_FAT32_MIB: u64 = 33;
/// Largest boot partition of either kind.
pub const BOOT_MAX_MIB: u64 = 2048;
/// FAT16 up to here, FAT32 above (what `admin image` makes).
const FAT16_UP_TO_MIB: u64 = 256;

/// A boot partition the boot path does not support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BootSizeError {
    /// Outside FAT16 16 MiB .. 2 GiB, FAT32 33 MiB .. 2 GiB.
    #[error(
        "a FAT{bits} boot partition of {bytes} bytes is outside the supported sizes (FAT16 from \
         {BOOT_MIN_FAT16_MIB} MiB, FAT32 from {BOOT_MIN_FAT32_MIB} MiB, both up to {BOOT_MAX_MIB} MiB): \
         make it {BOOT_MIN_FAT16_MIB}..{BOOT_MAX_MIB} MiB"
    )]
    OutOfRange {
        /// 16 or 32.
        bits: u32,
        /// The partition's size.
        bytes: u64,
    },
}

/// Checks a FAT`bits` boot partition of `bytes` against the supported range.
pub fn check_boot_size(bits: u32, bytes: u64) -> Result<(), BootSizeError> {
    let min = if bits == 32 {
        BOOT_MIN_FAT32_MIB
    } else {
        BOOT_MIN_FAT16_MIB
    };
    if bytes < min * MIB || bytes > BOOT_MAX_MIB * MIB {
        return Err(BootSizeError::OutOfRange { bits, bytes });
    }
    Ok(())
}

/// The FAT kind `admin image` makes for a boot partition of `mib` MiB, after checking the size.
pub fn fat_bits_for(mib: u64) -> Result<u32, BootSizeError> {
    let bits = if mib <= FAT16_UP_TO_MIB { 16 } else { 32 };
    check_boot_size(bits, mib.saturating_mul(MIB))?;
    Ok(bits)
}

/// `admin init-fs --boot PATH`: a boot partition image (bare FAT or an MBR disk with one) must be a size
/// the boot path supports. The FAT kind and size come from the volume's boot sector. A mounted directory
/// on a FAT file system (the device's own /boot) is checked through statvfs: at most 2 GiB of data clusters;
/// a directory on another file system (a staging tree, a test) has no FAT size to check.
pub fn check_boot_volume(path: &Path) -> Result<()> {
    if path.is_dir() {
        // MSDOS_SUPER_MAGIC: vfat and msdos mounts.
        const FAT_MAGIC: i64 = 0x4d44;
        let fs = rustix::fs::statfs(path)
            .with_context(|| format!("cannot statfs the boot partition {}", path.display()))?;
        #[allow(clippy::unnecessary_cast)]
        if fs.f_type as i64 != FAT_MAGIC {
            return Ok(());
        }
        let st = rustix::fs::statvfs(path)
            .with_context(|| format!("cannot statvfs the boot partition {}", path.display()))?;
        let bytes = st.f_blocks.saturating_mul(st.f_frsize);
        if bytes > BOOT_MAX_MIB * MIB {
            bail!(
                "{}: {}",
                path.display(),
                BootSizeError::OutOfRange { bits: 32, bytes }
            );
        }
        return Ok(());
    }
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("cannot open the boot partition {}", path.display()))?;
    let mut storage = bootfs::FileStorage(f.try_clone()?);
    let (start, _) = bootfs::find_fat(&mut storage)
        .with_context(|| format!("{}: no FAT boot partition", path.display()))?;
    let mut sector = [0u8; 512];
    f.seek(SeekFrom::Start(start))?;
    f.read_exact(&mut sector)
        .with_context(|| format!("{}: cannot read the FAT boot sector", path.display()))?;
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([sector[o], sector[o + 1]]));
    let bps = u16_at(11);
    let total = match u16_at(19) {
        0 => u64::from(u32::from_le_bytes([
            sector[32], sector[33], sector[34], sector[35],
        ])),
        n => n,
    };
    // FAT32 has no 16-bit FAT size (BPB_FATSz16 = 0).
    let bits = if u16_at(22) == 0 { 32 } else { 16 };
    check_boot_size(bits, total * bps).with_context(|| path.display().to_string())?;
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what} (install it with scripts/setup.sh)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Builds the image at `output`. Returns the deployment it holds.
pub fn build(
    source: &dyn CommitSource,
    opts: &ImageOptions,
    output: &Path,
) -> Result<DeploymentId> {
    let info = board::lookup(&opts.board)
        .ok_or_else(|| anyhow!("unknown board profile {:?}", opts.board))?;
    fat_bits_for(opts.boot_mib).context("--boot-size")?;
    if opts.root_mib < 8 {
        bail!("--root-size: the root partition needs at least 8 MiB");
    }
    let work = PathBuf::from(format!("{}.work", output.display()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let result = build_in(source, opts, output, &work, info);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build_in(
    source: &dyn CommitSource,
    opts: &ImageOptions,
    output: &Path,
    work: &Path,
    info: board::BoardInfo,
) -> Result<DeploymentId> {
    let sysroot = work.join("sysroot");
    verbs::init_fs(&sysroot, Some(&opts.board))?;
    verbs::os_init(&sysroot, &opts.os)?;

    let boot_img = work.join("boot.img");
    let fat = fat_bits_for(opts.boot_mib)?.to_string();
    run(
        Command::new("mkfs.vfat")
            .args(["-F", &fat, "-n", "BOOT", "-C"])
            .arg(&boot_img)
            .arg((opts.boot_mib * 1024).to_string()),
        "mkfs.vfat",
    )?;
    let mut fs = bootfs::open(&boot_img)?;
    verbs::init_boot(fs.as_mut())?;
    for f in &opts.boot_files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("bad board file name {}", f.display()))?;
        let bytes =
            std::fs::read(f).with_context(|| format!("cannot read board file {}", f.display()))?;
        fs.create(name, &bytes)
            .with_context(|| format!("cannot copy {} to the boot partition", f.display()))?;
    }
    let id = {
        let mut admin = Admin {
            sysroot: Sysroot::new(&sysroot),
            boot: fs,
            source: Some(source),
            cmdline: None,
            board: Some(info),
        };
        let id = admin.deploy(&DeployOptions {
            os: Some(opts.os.clone()),
            refspec: opts.refspec.clone(),
            kargs: opts.kargs.clone(),
            karg_proc_cmdline: false,
            force: opts.force,
            verify: false,
        })?;
        // A factory image boots its only deployment without a trial.
        admin.mark_good()?;
        id
    };

    let root_img = work.join("root.img");
    run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "root", "-d"])
            .arg(&sysroot)
            .arg(&root_img)
            .arg(format!("{}M", opts.root_mib)),
        "mkfs.ext4 (e2fsprogs)",
    )?;

    let tmp = PathBuf::from(format!("{}.tmp", output.display()));
    let boot_start = MIB;
    let root_start = boot_start + opts.boot_mib * MIB;
    let total = root_start + opts.root_mib * MIB;
    let mut disk =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    disk.set_len(total)?;
    let mut mbr = [0u8; 512];
    let [a, b, c, d, ..] = id.commit.0;
    let seed = u32::from_be_bytes([a, b, c, d]);
    mbr[440..444].copy_from_slice(&seed.to_le_bytes());
    let part = |mbr: &mut [u8; 512], i: usize, boot: bool, kind: u8, start: u64, len: u64| {
        let e = &mut mbr[446 + 16 * i..446 + 16 * (i + 1)];
        e[0] = if boot { 0x80 } else { 0 };
        e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[4] = kind;
        e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[8..12].copy_from_slice(&((start / 512) as u32).to_le_bytes());
        e[12..16].copy_from_slice(&((len / 512) as u32).to_le_bytes());
    };
    part(
        &mut mbr,
        0,
        true,
        if fat == "16" { 0x0e } else { 0x0c },
        boot_start,
        opts.boot_mib * MIB,
    );
    part(&mut mbr, 1, false, 0x83, root_start, opts.root_mib * MIB);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    disk.write_all(&mbr)?;
    for (img, start) in [(&boot_img, boot_start), (&root_img, root_start)] {
        let mut src = std::fs::File::open(img)?;
        disk.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0u8; MIB as usize];
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            disk.write_all(&buf[..n])?;
        }
    }
    disk.sync_all()?;
    drop(disk);
    std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sizes_fat16_from_16_fat32_from_33_both_to_2_gib() {
        assert_eq!(fat_bits_for(16), Ok(16));
        assert_eq!(fat_bits_for(256), Ok(16));
        assert_eq!(fat_bits_for(257), Ok(32));
        assert_eq!(fat_bits_for(2048), Ok(32));
        assert_eq!(
            fat_bits_for(15),
            Err(BootSizeError::OutOfRange {
                bits: 16,
                bytes: 15 * MIB
            })
        );
        assert_eq!(
            fat_bits_for(2049),
            Err(BootSizeError::OutOfRange {
                bits: 32,
                bytes: 2049 * MIB
            })
        );
        assert!(check_boot_size(32, 33 * MIB).is_ok());
        assert_eq!(
            check_boot_size(32, 32 * MIB),
            Err(BootSizeError::OutOfRange {
                bits: 32,
                bytes: 32 * MIB
            })
        );
        assert_eq!(
            fat_bits_for(4).unwrap_err().to_string(),
            "a FAT16 boot partition of 4194304 bytes is outside the supported sizes (FAT16 from 16 MiB, \
             FAT32 from 33 MiB, both up to 2048 MiB): make it 16..2048 MiB"
        );
    }

    fn mkfs(dir: &Path, bits: u32, kib: u64) -> PathBuf {
        let img = dir.join(format!("fat{bits}-{kib}.img"));
        run(
            Command::new("mkfs.vfat")
                .args(["-F", &bits.to_string(), "-C"])
                .arg(&img)
                .arg(kib.to_string()),
            "mkfs.vfat",
        )
        .unwrap();
        img
    }

    #[test]
    fn init_fs_boot_checks_the_volume_in_its_boot_sector() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_boot_volume(&mkfs(dir.path(), 16, 16 * 1024)).is_ok());
        assert!(check_boot_volume(&mkfs(dir.path(), 32, 33 * 1024)).is_ok());
        assert!(check_boot_volume(&mkfs(dir.path(), 32, 2048 * 1024)).is_ok());
        for (bits, kib) in [(16, 15 * 1024), (32, 2049 * 1024)] {
            let err = check_boot_volume(&mkfs(dir.path(), bits, kib)).unwrap_err();
            // mkfs.vfat rounds the volume down to whole tracks: the size is the boot sector's.
            match err.downcast_ref::<BootSizeError>() {
                Some(&BootSizeError::OutOfRange { bits: b, bytes }) => {
                    assert_eq!(b, bits);
                    assert!(bytes <= kib * 1024 && bytes + MIB > kib * 1024, "{err:#}");
                }
                None => panic!("{err:#}"),
            }
        }
    }
}
