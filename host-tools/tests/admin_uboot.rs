//! What `atomboot admin image` writes, read and written by Debian's real U-Boot (qemu_arm, virtio disk):
//! U-Boot finds the MBR's FAT partition, imports the newest loader copy with `env import -t`, loads the
//! entry's kernel and initramfs by their long `/ostree/<os>-<bootcsum>/` paths with the sizes the copy
//! records, and `fatwrite`s an env copy over the preallocated file the way the boot script does; the host
//! side then still reads the env pair, selects the same deployment, and fsck.vfat finds nothing to repair.
//! A missing qemu-system-arm or u-boot-qemu fails the test (scripts/setup.sh installs them).

#[path = "admin_common.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UBOOT: &str = "/usr/lib/u-boot/qemu_arm/u-boot.bin";
const LOAD: &str = "0x40200000";

fn require(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(p.exists(), "{path} is missing: run scripts/setup.sh");
    p
}

/// Boots U-Boot with `disk` as a virtio disk, runs `steps` (one env variable each), powers off.
fn run_uboot(dir: &Path, disk: &Path, steps: &[&str]) -> String {
    require(UBOOT);
    let vars = dir.join("pflash-env.txt");
    let mut text = String::from("bootdelay=0\n");
    let mut names = Vec::new();
    for (i, step) in steps.iter().chain(["poweroff"].iter()).enumerate() {
        text.push_str(&format!("s{i}={}\n", step.replace("LOAD", LOAD)));
        names.push(format!("s{i}"));
    }
    text.push_str(&format!("bootcmd=run {}\n", names.join(" ")));
    std::fs::write(&vars, text).unwrap();
    let env_img = dir.join("pflash-env.img");
    let out = Command::new(require("/usr/bin/mkenvimage"))
        .args(["-s", "0x40000", "-o"])
        .arg(&env_img)
        .arg(&vars)
        .output()
        .unwrap();
    assert!(out.status.success());
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&env_img)
        .unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    let child = Command::new(require("/usr/bin/qemu-system-arm"))
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
            UBOOT,
        ])
        .arg("-drive")
        .arg(format!(
            "if=pflash,unit=1,format=raw,file={}",
            env_img.display()
        ))
        .arg("-drive")
        .arg(format!("if=none,format=raw,id=d0,file={}", disk.display()))
        .args(["-device", "virtio-blk-device,drive=d0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm");
    let started = Instant::now();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(90) {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return false;
            }
        }
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        true
    });
    let out = child.wait_with_output().unwrap();
    let timed_out = watchdog.join().unwrap();
    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(!timed_out, "QEMU timed out; console:\n{console}");
    assert!(
        console.contains("poweroff"),
        "U-Boot did not reach poweroff; console:\n{console}"
    );
    console
}

#[test]
fn uboot_loads_deployed_files_and_fatwrites_the_env() {
    let dir = tempfile::tempdir().unwrap();
    let src = host_tools::deploy::source::TreeSource::new(&dir.path().join("repo"));
    let t = tree(dir.path(), 11, 300_000, None);
    let commit = src.add_commit("os/stable", "v1", &t).unwrap();
    let disk = dir.path().join("disk.img");
    let id = host_tools::deploy::image::build(
        &src,
        &host_tools::deploy::image::ImageOptions {
            board: "qemu-virt".into(),
            os: "debian".into(),
            refspec: "os/stable".into(),
            kargs: vec!["console=ttyAMA0".into()],
            boot_files: vec![],
            boot_mib: 16,
            root_mib: 8,
            force: false,
        },
        &disk,
    )
    .unwrap();
    assert_eq!(id.commit, commit);
    let before = std::fs::read(&disk).unwrap();
    let (dep, _) = boots(&before).unwrap();
    assert_eq!(dep, id);
    // The newest copy after an image build is loader.1 (generation 2).
    let mut fs = host_tools::deploy::bootfs::open(&disk).unwrap();
    let config = host_tools::deploy::loader::read(fs.as_mut())
        .unwrap()
        .unwrap();
    assert_eq!(config.copy, 1);
    let kernel = config.primary.files[0].clone().unwrap();
    let ramdisk = config.primary.files[1].clone().unwrap();
    drop(fs);

    let console = run_uboot(
        dir.path(),
        &disk,
        &[
            "fatload virtio 0:1 LOAD loader.1/uEnv.txt",
            "env import -t LOAD ${filesize}",
            "echo GEN=${atomboot_generation}",
            "fatload virtio 0:1 LOAD ${kernel_image}",
            "echo KSIZE=${filesize} WANT=${kernel_image_size}",
            "fatload virtio 0:1 LOAD ${ramdisk_image}",
            "echo RSIZE=${filesize}",
            "fatload virtio 0:1 LOAD uboot.env",
            "fatwrite virtio 0:1 LOAD uboot-redund.env 0x4000",
        ],
    );
    assert!(console.contains("GEN=2"), "{console}");
    let ksize = format!("KSIZE={:x} WANT={}", kernel.size, kernel.size);
    assert!(
        console.contains(&ksize),
        "expected {ksize}; console:\n{console}"
    );
    assert!(
        console.contains(&format!("RSIZE={:x}", ramdisk.size)),
        "{console}"
    );
    assert!(!console.contains("Error"), "{console}");

    // The host still reads everything, boots the same deployment, and the FAT is clean.
    let after = std::fs::read(&disk).unwrap();
    assert_eq!(boots(&after).unwrap(), (id, "primary"));
    let mut fs = host_tools::deploy::bootfs::open(&disk).unwrap();
    let c = host_tools::deploy::counters::read(fs.as_mut()).unwrap();
    assert_eq!(c.get("bootlimit"), Some("3"));
    let mib = 1024 * 1024;
    let p1 = dir.path().join("p1.img");
    std::fs::write(&p1, &after[mib..17 * mib]).unwrap();
    fsck_clean(&p1);
    // U-Boot's fatwrite of the same size rewrote only that file's data (QEMU.md): nothing else changed
    // outside the file's clusters and its directory entry.
    let changed: Vec<usize> = (0..before.len() / 512)
        .filter(|i| before[i * 512..(i + 1) * 512] != after[i * 512..(i + 1) * 512])
        .collect();
    eprintln!(
        "U-Boot fatwrite changed {} sectors: {changed:?}",
        changed.len()
    );
    assert!(
        !changed.is_empty() && changed.len() <= 34,
        "U-Boot changed sectors {changed:?}"
    );
}
