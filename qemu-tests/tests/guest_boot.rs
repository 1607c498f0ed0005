//! The guest side of the end-to-end tests, without the boot agent: the sample OS from
//! scripts/build-guest-os.sh, in a hand-made sysroot on an ext4 root partition, its kernel and initramfs on a
//! FAT boot partition, booted by Debian's U-Boot under qemu-system-arm (a plain fatload + bootz bootcmd).
//! Proves prepare-root (modules, root, ostree=, /usr read-only, /var, /boot, switch_root), the OS's
//! /sbin/init (marker, health check, mark-good through the armhf atomboot) and that the guest's env write
//! lands on the FAT partition where the host (and U-Boot) read it.

mod guest_common;

use guest_common::*;
use std::fs;
use uenv::env_block::Which;

fn bootargs(ostree: &str) -> String {
    format!("ostree={ostree} console=ttyAMA0 panic=-1")
}

/// A fresh disk holding one deployment of `version`; returns (dir, disk, ostree= path, commit).
fn setup(
    name: &str,
    version: &str,
    health_fail: bool,
) -> (std::path::PathBuf, Disk, String, String) {
    let dir = scratch(name);
    let tree = build_os(version, health_fail, &dir.join("tree"));
    let commit = fake_commit(name);
    let sysroot = dir.join("sysroot");
    let ostree = make_sysroot(&sysroot, &tree, &commit);
    let disk = make_disk(&dir, &tree, &sysroot);
    (dir, disk, ostree, commit)
}

#[test]
fn guest_boots_its_deployment_read_only_usr_and_marks_good() {
    let (dir, disk, ostree, commit) = setup("marks-good", "1.0", false);
    let flash = make_uboot_flash(&dir, &bootargs(&ostree));
    let b = boot(&dir, &disk, &flash);
    b.check(b.exited && b.success, "QEMU did not power off cleanly");
    b.expect_line(&format!("prepare-root: deployment {ostree} (os {OS})"));
    b.expect_line(&format!(
        "atomboot-guest: booted version=1.0 commit={commit} deployment={ostree} ostree={ostree} "
    ));
    b.expect_line("atomboot-guest: usr=ro var=mounted boot=vfat");
    b.expect_line("atomboot-guest: health=ok");
    b.check(
        b.lines("atomboot-guest: mark-good:")
            .iter()
            .any(|l| l.ends_with("rc=0")),
        "mark-good did not report rc=0",
    );
    b.expect_line("atomboot-guest: env: bootcount=0 upgrade_available=0 bootlimit=3");
    b.expect_line("atomboot-guest: poweroff");
    b.check(
        b.lines("prepare-root: error").is_empty(),
        "prepare-root error",
    );
    b.check(
        !b.console.contains("warning"),
        "a warning on the console (mark-good must run clean)",
    );

    // On the host after QEMU exited: the guest wrote the other copy (the second: both started with equal
    // flags, so the first was in use), in one write; the first copy is untouched.
    let Counters {
        which, vars, first, ..
    } = read_counters(&disk, &dir);
    b.check(
        which == Which::Second,
        "the guest's env write is not the copy in use",
    );
    b.check(
        var(&vars, "bootcount") == Some("0"),
        "bootcount is not 0 on the boot partition",
    );
    b.check(
        var(&vars, "upgrade_available") == Some("0"),
        "upgrade_available is not 0 on the boot partition",
    );
    b.check(var(&vars, "bootlimit") == Some("3"), "bootlimit was lost");
    let orig = fs::read(dir.join("uboot.env")).expect("initial uboot.env");
    b.check(
        first == orig,
        "uboot.env (the copy that was in use) changed",
    );
}

#[test]
fn guest_failing_health_check_does_not_mark_good() {
    let (dir, disk, ostree, commit) = setup("health-fail", "3.0", true);
    let flash = make_uboot_flash(&dir, &bootargs(&ostree));
    let b = boot(&dir, &disk, &flash);
    b.check(b.exited && b.success, "QEMU did not power off cleanly");
    b.expect_line(&format!(
        "atomboot-guest: booted version=3.0 commit={commit}"
    ));
    b.expect_line("atomboot-guest: health=fail");
    b.check(
        b.lines("atomboot-guest: mark-good").is_empty(),
        "mark-good ran although the health check failed",
    );
    b.expect_line("atomboot-guest: poweroff");
    let Counters {
        which,
        vars,
        first,
        second,
    } = read_counters(&disk, &dir);
    b.check(which == Which::First, "an env copy was written");
    b.check(var(&vars, "bootcount") == Some("2"), "bootcount changed");
    b.check(
        var(&vars, "upgrade_available") == Some("1"),
        "upgrade_available changed",
    );
    let orig = fs::read(dir.join("uboot-redund.env")).expect("initial uboot-redund.env");
    b.check(
        second == orig && first.len() == 0x4000,
        "the env files changed",
    );
}

#[test]
fn guest_accepts_ostree_boot_symlink_form_and_unlocked_usr() {
    // OSTree's form: ostree=/ostree/boot.1/<os>/<bootcsum>/0 -> ../../../deploy/<os>/deploy/<commit>.0,
    // and a deployment unlocked with `admin unlock --hotfix` (overlay on /usr, writable).
    let dir = scratch("boot-symlink");
    let tree = build_os("2.0", false, &dir.join("tree"));
    let commit = fake_commit("boot-symlink");
    let sysroot = dir.join("sysroot");
    let deploy = make_sysroot(&sysroot, &tree, &commit);
    let bootcsum = fake_commit("bootcsum");
    let link_dir = sysroot.join(format!("ostree/boot.1/{OS}/{bootcsum}"));
    fs::create_dir_all(&link_dir).expect("mkdir boot.1");
    std::os::unix::fs::symlink(
        format!("../../../deploy/{OS}/deploy/{commit}.0"),
        link_dir.join("0"),
    )
    .expect("symlink");
    fs::write(
        sysroot.join(format!("{}.unlocked", &deploy[1..])),
        "hotfix\n",
    )
    .expect("unlock marker");
    let disk = make_disk(&dir, &tree, &sysroot);
    let ostree = format!("/ostree/boot.1/{OS}/{bootcsum}/0");
    let flash = make_uboot_flash(&dir, &bootargs(&ostree));
    let b = boot(&dir, &disk, &flash);
    b.check(b.exited && b.success, "QEMU did not power off cleanly");
    b.expect_line(&format!("prepare-root: deployment {deploy} (os {OS})"));
    b.expect_line("prepare-root: /usr unlocked (hotfix): overlay, writable");
    b.expect_line(&format!(
        "atomboot-guest: booted version=2.0 commit={commit} deployment={deploy} ostree={ostree} "
    ));
    b.expect_line("atomboot-guest: usr=rw");
    b.expect_line("atomboot-guest: health=ok");
    let Counters { vars, .. } = read_counters(&disk, &dir);
    b.check(
        var(&vars, "upgrade_available") == Some("0"),
        "not marked good",
    );
}

#[test]
fn guest_prepare_root_needs_ostree_on_the_command_line() {
    let (dir, disk, _ostree, _commit) = setup("no-ostree-arg", "1.0", false);
    let flash = make_uboot_flash(&dir, "console=ttyAMA0 panic=-1");
    let b = boot(&dir, &disk, &flash);
    b.check(
        b.exited,
        "QEMU did not exit (prepare-root must power off on errors)",
    );
    b.expect_line("prepare-root: error: no ostree= on the kernel command line");
    b.expect_line("prepare-root: powering off");
    b.check(
        b.lines("atomboot-guest:").is_empty(),
        "the OS started without ostree=",
    );
}

#[test]
fn guest_prepare_root_reports_a_missing_deployment_and_powers_off() {
    let (dir, disk, _ostree, _commit) = setup("missing-deployment", "1.0", false);
    let wrong = format!("/ostree/deploy/{OS}/deploy/{}.0", fake_commit("nowhere"));
    let flash = make_uboot_flash(&dir, &bootargs(&wrong));
    let b = boot(&dir, &disk, &flash);
    b.check(
        b.exited,
        "QEMU did not exit (prepare-root must power off on errors)",
    );
    b.expect_line(&format!(
        "prepare-root: error: ostree={wrong}: no such deployment on /dev/vda2"
    ));
    b.expect_line("prepare-root: powering off");
    b.check(
        b.lines("atomboot-guest:").is_empty(),
        "the OS started although the deployment does not exist",
    );
    let Counters { which, vars, .. } = read_counters(&disk, &dir);
    b.check(
        which == Which::First && var(&vars, "bootcount") == Some("2"),
        "the env changed",
    );
}
