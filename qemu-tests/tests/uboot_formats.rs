//! The `uenv` formats against Debian's real U-Boot under qemu-system-arm (no mock):
//! - a loader copy rendered by `uenv` imports with `env import -t` (what stock uEnv.txt scripts do);
//! - an env block written by `uenv` imports with `env import -c`;
//! - a block exported by U-Boot (`env export -c` + `fatwrite`) reads with `uenv` and `atomboot env print`.
//!
//! A missing qemu-system-arm, u-boot-qemu, mkenvimage or mtools fails the test (scripts/setup.sh installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use uenv::boot_config::{render_padded, BootConfig, BootFile, Entry, LOADER_FILE_SIZE};
use uenv::env_block::{self, Header, Layout};

const UBOOT: &str = "/usr/lib/u-boot/qemu_arm/u-boot.bin";
const ENV_SIZE: usize = 0x4000;

fn require(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(p.exists(), "{path} is missing: run scripts/setup.sh");
    p
}

fn sh(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/setup.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// RAM address for loads (the pflash env replaces U-Boot's default one, so `${loadaddr}` is not defined).
const LOAD: &str = "0x40200000";

/// Boots U-Boot with the FAT image as a virtio disk and runs `steps` in order; returns the console.
/// Each step is its own env variable run with `run`, because hush expands a whole command line (for
/// example `${filesize}`) before running any of it.
fn run_uboot(dir: &Path, fat: &Path, steps: &[&str]) -> String {
    require(UBOOT);
    let mut text = String::from("bootdelay=0\n");
    let mut names = Vec::new();
    for (i, step) in steps.iter().chain(["poweroff"].iter()).enumerate() {
        text.push_str(&format!("s{i}={}\n", step.replace("LOAD", LOAD)));
        names.push(format!("s{i}"));
    }
    text.push_str(&format!("bootcmd=run {}\n", names.join(" ")));
    let env_img = dir.join("pflash-env.img");
    qemu_tests::uboot_env_flash(&env_img, &text);
    let run = qemu_tests::run_qemu(&env_img, fat, Duration::from_secs(60));
    let (console, timed_out) = (run.console, run.timed_out);
    assert!(!timed_out, "QEMU timed out after 60 s; console:\n{console}");
    assert!(
        console.contains("poweroff"),
        "U-Boot did not reach poweroff; console:\n{console}"
    );
    console
}

fn fat_image(dir: &Path) -> PathBuf {
    let img = dir.join("boot.img");
    sh(Command::new(require("/usr/sbin/mkfs.vfat"))
        .args(["-C"])
        .arg(&img)
        .arg("16384"));
    img
}

fn mcopy_in(img: &Path, src: &Path, dst: &str) {
    sh(Command::new(require("/usr/bin/mcopy"))
        .arg("-o")
        .arg("-i")
        .arg(img)
        .arg(src)
        .arg(format!("::{dst}")));
}

#[test]
fn u_boot_imports_a_rendered_loader_copy_with_env_import_t() {
    let dir = tempfile::tempdir().unwrap();
    let fat = fat_image(dir.path());
    let config = BootConfig {
        generation: 41,
        primary: Entry {
            kernel: BootFile {
                path: "/ostree/debian-aa/vmlinuz",
                sha256: [0xab; 32],
                size: 5_242_880,
            },
            ramdisk: Some(BootFile {
                path: "/ostree/debian-aa/initramfs.img",
                sha256: [0xcd; 32],
                size: 123,
            }),
            fdt: None,
            bootargs: "ostree=/ostree/boot.1/debian/aa/0 console=ttyAMA0 panic=-1",
            proof: None,
        },
        fallback: Some(Entry {
            kernel: BootFile {
                path: "/ostree/debian-bb/vmlinuz",
                sha256: [0xef; 32],
                size: 42,
            },
            ramdisk: None,
            fdt: None,
            bootargs: "ostree=/ostree/boot.1/debian/bb/1",
            proof: None,
        }),
    };
    let mut buf = vec![0u8; LOADER_FILE_SIZE];
    render_padded(&config, &mut buf).unwrap();
    let file = dir.path().join("uEnv.txt");
    std::fs::write(&file, &buf).unwrap();
    sh(Command::new("mmd").arg("-i").arg(&fat).arg("::loader.0"));
    mcopy_in(&fat, &file, "loader.0/uEnv.txt");
    let console = run_uboot(
        dir.path(),
        &fat,
        &[
            "fatload virtio 0 LOAD loader.0/uEnv.txt",
            "env import -t LOAD ${filesize}",
            "echo K=${kernel_image}; echo R=${ramdisk_image_size}; echo A=${bootargs}",
            "echo K2=${kernel_image2}; echo S2=${kernel_image2_sha256}; echo G=${atomboot_generation}",
        ],
    );
    for want in [
        "K=/ostree/debian-aa/vmlinuz\n",
        "R=123\n",
        "A=ostree=/ostree/boot.1/debian/aa/0 console=ttyAMA0 panic=-1\n",
        "K2=/ostree/debian-bb/vmlinuz\n",
        &format!("S2={}\n", "ef".repeat(32)),
        "G=41\n",
    ] {
        assert!(
            console.contains(want),
            "missing {want:?} in console:\n{console}"
        );
    }
}

#[test]
fn env_blocks_cross_between_u_boot_and_uenv_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let fat = fat_image(dir.path());
    // A single-layout block written by uenv, for U-Boot to import.
    let mut ours = vec![0u8; ENV_SIZE];
    env_block::write(
        &mut ours,
        Header::Single,
        [
            (&b"bootcount"[..], &b"2"[..]),
            (&b"bootlimit"[..], &b"3"[..]),
            (&b"upgrade_available"[..], &b"1"[..]),
        ],
    )
    .unwrap();
    let ours_path = dir.path().join("ours.env");
    std::fs::write(&ours_path, &ours).unwrap();
    mcopy_in(&fat, &ours_path, "ours.env");
    // The file U-Boot overwrites in place must exist at its size (fatwrite of the same size: see QEMU.md).
    let blank = dir.path().join("blank.env");
    std::fs::write(&blank, vec![0u8; ENV_SIZE]).unwrap();
    mcopy_in(&fat, &blank, "theirs.env");
    let console = run_uboot(
        dir.path(),
        &fat,
        &[
            "fatload virtio 0 LOAD ours.env",
            "env import -c LOAD 0x4000 bootcount bootlimit upgrade_available",
            "echo BC=${bootcount} BL=${bootlimit} UA=${upgrade_available}",
            "setenv bootcount 3; setenv atomboot_reason checksum",
            "env export -c -s 0x4000 LOAD bootcount bootlimit upgrade_available atomboot_reason",
            "fatwrite virtio 0 LOAD theirs.env 0x4000",
        ],
    );
    assert!(
        console.contains("BC=2 BL=3 UA=1"),
        "U-Boot did not import our block; console:\n{console}"
    );
    // Read U-Boot's export back on the host.
    let theirs_path = dir.path().join("theirs.out");
    sh(Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(&fat)
        .arg("::theirs.env")
        .arg(&theirs_path));
    let theirs = std::fs::read(&theirs_path).unwrap();
    assert_eq!(theirs.len(), ENV_SIZE);
    let (env, _) =
        env_block::read(&theirs, Layout::Single).expect("U-Boot's export reads with uenv");
    assert_eq!(env.get_str("bootcount"), Some("3"));
    assert_eq!(env.get_str("bootlimit"), Some("3"));
    assert_eq!(env.get_str("upgrade_available"), Some("1"));
    assert_eq!(env.get_str("atomboot_reason"), Some("checksum"));
}
