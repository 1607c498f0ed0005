//! `admin image`: a flashable disk image from a commit and a board profile, made without root or loop
//! mounts: an MBR; partition 1 (bootable, FAT16 up to 256 MiB, else FAT32) with the board files (agent,
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
    if opts.boot_mib < 4 || opts.root_mib < 8 {
        bail!("boot partition needs at least 4 MiB and root at least 8 MiB");
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
    let fat = if opts.boot_mib <= 256 { "16" } else { "32" };
    run(
        Command::new("mkfs.vfat")
            .args(["-F", fat, "-n", "BOOT", "-C"])
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
    let seed = u32::from_str_radix(&id.commit[..8], 16).unwrap_or(0x41544f4d);
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
