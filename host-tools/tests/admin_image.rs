//! `atomboot admin image`: MBR + FAT boot partition + ext4 root, checked with our reader, fsck.vfat,
//! mtools, e2fsck and debugfs.

#[path = "admin_common.rs"]
mod common;

use common::*;
use std::process::Command;

fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool missing (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn image_boots_its_deployment_and_passes_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let src = host_tools::deploy::source::TreeSource::new(&repo);
    let t = tree(
        dir.path(),
        1,
        9000,
        Some(dtb(&["ti,am335x-bone-black", "ti,am33xx"])),
    );
    let commit = src.add_commit("os/stable", "v1", &t).unwrap();
    let agent = dir.path().join("atomboot-agent.bin");
    std::fs::write(&agent, bytes(77, 1234)).unwrap();
    let scr = dir.path().join("boot.scr");
    std::fs::write(&scr, b"fake boot script").unwrap();
    let board_dir = dir.path().join("board");
    std::fs::create_dir_all(&board_dir).unwrap();
    std::fs::write(board_dir.join("MLO"), bytes(5, 100)).unwrap();
    let disk = dir.path().join("disk.img");
    succeeds(
        Command::new(env!("CARGO_BIN_EXE_atomboot"))
            .args(["admin", "--board", "am335x", "--tree-source"])
            .arg(&repo)
            .args([
                "image",
                "--boot-size",
                "16",
                "--root-size",
                "16",
                "--karg",
                "console=ttyS0,115200",
            ])
            .arg("--agent")
            .arg(&agent)
            .arg("--boot-scr")
            .arg(&scr)
            .arg("--board-dir")
            .arg(&board_dir)
            .arg("os/stable")
            .arg(&disk),
    );
    let bytes_ = std::fs::read(&disk).unwrap();
    assert_eq!(bytes_.len(), (1 + 16 + 16) * 1024 * 1024);
    assert_eq!(&bytes_[510..512], &[0x55, 0xaa]);
    assert_eq!(bytes_[446], 0x80, "boot partition not active");

    // The boot partition (found through the MBR) boots the deployment, files verified.
    let (dep, slot) = boots(&bytes_).unwrap();
    assert_eq!((dep.commit, dep.serial, slot), (commit, 0, "primary"));

    // Partitions extracted: fsck.vfat, mtools, e2fsck, debugfs.
    let mib = 1024 * 1024;
    let boot = dir.path().join("p1.img");
    std::fs::write(&boot, &bytes_[mib..17 * mib]).unwrap();
    fsck_clean(&boot);
    let listing = tool(
        Command::new("mdir")
            .args(["-b", "-i"])
            .arg(&boot)
            .arg("::/"),
    );
    for name in [
        "atomboot-agent.bin",
        "boot.scr",
        "MLO",
        "uboot.env",
        "uboot-redund.env",
        "loader.0",
        "loader.1",
        "ostree",
    ] {
        assert!(
            listing.contains(name),
            "{name} missing from the boot partition: {listing}"
        );
    }
    let copied = dir.path().join("agent.out");
    tool(
        Command::new("mcopy")
            .arg("-i")
            .arg(&boot)
            .arg("::/atomboot-agent.bin")
            .arg(&copied),
    );
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(&agent).unwrap()
    );
    let root = dir.path().join("p2.img");
    std::fs::write(&root, &bytes_[17 * mib..]).unwrap();
    tool(Command::new("e2fsck").arg("-fn").arg(&root));
    let ls = tool(
        Command::new("debugfs")
            .arg("-R")
            .arg("ls -p /ostree/deploy/debian/deploy")
            .arg(&root),
    );
    assert!(ls.contains(&format!("{commit}.0")), "{ls}");
    let ls = tool(
        Command::new("debugfs")
            .arg("-R")
            .arg(format!(
                "ls -p /ostree/deploy/debian/deploy/{commit}.0/usr/lib/modules/6.1.0-test"
            ))
            .arg(&root),
    );
    assert!(ls.contains("vmlinuz"), "{ls}");

    // Offline status straight on the disk image (no sysroot at hand).
    let out = succeeds(
        Command::new(env!("CARGO_BIN_EXE_atomboot"))
            .args(["admin", "status", "--json", "--sysroot"])
            .arg(dir.path().join("nonexistent"))
            .arg("--boot")
            .arg(&disk),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deployments"][0]["commit"], commit.to_hex());
    assert_eq!(v["deployments"][0]["boot_files_ok"], true);
    assert_eq!(v["last_boot"]["upgrade_available"], "0");
}
