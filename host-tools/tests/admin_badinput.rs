//! Bad input: a clear error, and the previous state intact and bootable.

#[path = "admin_common.rs"]
mod common;

use common::*;
use host_tools::deploy::bootfs::{DirBootFs, ImageBootFs, MemStorage};
use host_tools::deploy::{verbs, Admin, DeployOptions, DeploymentId, Sysroot};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

fn opts(r: &str) -> DeployOptions {
    DeployOptions {
        refspec: r.into(),
        kargs: vec!["console=ttyS0,115200".into()],
        ..Default::default()
    }
}

/// A world with v1 deployed and marked good.
fn world_v1(kib: u32) -> (World, DeploymentId) {
    let w = World::new(kib);
    w.commit("v1", 1, 5000);
    let v1 = w.admin().deploy(&opts("v1")).unwrap();
    w.admin().mark_good().unwrap();
    (w, v1)
}

fn deployments(w: &World) -> Vec<DeploymentId> {
    Sysroot::new(&w.sysroot).deployments().unwrap()
}

fn assert_untouched(
    w: &World,
    image_before: &[u8],
    v1: &DeploymentId,
    err: &anyhow::Error,
    needle: &str,
) {
    let msg = format!("{err:#}");
    assert!(
        msg.contains(needle),
        "error {msg:?} does not mention {needle:?}"
    );
    assert_eq!(
        w.image_bytes(),
        image_before,
        "the boot image changed after: {msg}"
    );
    assert_eq!(
        deployments(w),
        vec![v1.clone()],
        "deployments changed after: {msg}"
    );
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v1.clone(), "primary"));
    let stray: Vec<_> = std::fs::read_dir(w.sysroot.join("ostree/deploy/debian/deploy"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
        .collect();
    assert!(stray.is_empty(), "staging checkout left behind");
}

#[test]
fn unknown_ref() {
    let (w, v1) = world_v1(4096);
    let before = w.image_bytes();
    let err = w.admin().deploy(&opts("origin:nope")).unwrap_err();
    assert_untouched(&w, &before, &v1, &err, "unknown ref \"origin:nope\"");
}

#[test]
fn commit_without_kernel() {
    let (w, v1) = world_v1(4096);
    let t = w.dir.path().join("nokernel");
    std::fs::create_dir_all(t.join("usr/lib/modules/6.1.0")).unwrap();
    std::fs::write(t.join("usr/lib/modules/6.1.0/initramfs.img"), b"x").unwrap();
    w.source.add_commit("nokernel", "nokernel", &t).unwrap();
    let before = w.image_bytes();
    let err = w.admin().deploy(&opts("nokernel")).unwrap_err();
    assert_untouched(&w, &before, &v1, &err, "has no kernel");
}

#[test]
fn wrong_board_and_invalid_dtb_need_force() {
    let (w, v1) = world_v1(4096);
    let t = tree(
        w.dir.path(),
        7,
        3000,
        Some(dtb(&["raspberrypi,4-model-b", "brcm,bcm2711"])),
    );
    w.source.add_commit("rpi", "rpi", &t).unwrap();
    let t = tree(w.dir.path(), 8, 3000, Some(bytes(8, 300)));
    w.source.add_commit("garbage", "garbage", &t).unwrap();
    let mut torn = dtb(&["ti,am33xx"]);
    torn.truncate(60);
    let t = tree(w.dir.path(), 9, 3000, Some(torn));
    w.source.add_commit("torn", "torn", &t).unwrap();
    let before = w.image_bytes();
    let err = w.admin().deploy(&opts("rpi")).unwrap_err();
    assert_untouched(&w, &before, &v1, &err, "not for board am335x");
    let err = w.admin().deploy(&opts("garbage")).unwrap_err();
    assert_untouched(&w, &before, &v1, &err, "not a valid DTB");
    let err = w.admin().deploy(&opts("torn")).unwrap_err();
    assert_untouched(&w, &before, &v1, &err, "not a valid DTB");
    // --force deploys it.
    let mut o = opts("rpi");
    o.force = true;
    let rpi = w.admin().deploy(&o).unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap(), (rpi, "primary"));
}

#[test]
fn full_boot_partition_real_enospc() {
    // 2.5 MiB FAT16: v1 fits, a 2 MiB kernel does not.
    let (w, v1) = world_v1(2600);
    let t = tree(w.dir.path(), 5, 2 * 1024 * 1024, None);
    w.source.add_commit("big", "big", &t).unwrap();
    let before = w.image_bytes();
    let err = w.admin().deploy(&opts("big")).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot store the boot files"), "{msg}");
    assert!(msg.contains("boot partition full"), "{msg}");
    // The partial files were removed again: the FAT may differ in freed clusters but nothing new is named.
    assert_eq!(deployments(&w), vec![v1.clone()]);
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v1.clone(), "primary"));
    let mut a = w.admin();
    assert_eq!(
        a.boot.list_dir("ostree").unwrap().len(),
        1,
        "partial boot dir left"
    );
    drop(a);
    let _ = before;
    fsck_clean(&w.image);
}

/// A write error (ENOSPC, EIO, EROFS) injected at every write of a deploy: the deploy fails with an error
/// and the partition boots the old deployment or, once the new one is fully named, the new.
#[test]
fn write_error_at_every_point_of_a_deploy() {
    let (w, v1) = world_v1(4096);
    let v2c = w.commit("v2", 2, 4000);
    let v2 = DeploymentId {
        os: "debian".into(),
        commit: v2c,
        serial: 0,
    };
    let base = w.image_bytes();
    // Count the writes of a complete deploy first (on a scratch copy of the sysroot state).
    let mut n = 0usize;
    let mut failures = 0usize;
    loop {
        let log = Rc::new(RefCell::new(Vec::new()));
        let storage = LoggingStorage {
            mem: MemStorage::new(base.clone()),
            log: log.clone(),
            fail_after: Some((n, io::ErrorKind::StorageFull)),
        };
        let boot = Box::new(ImageBootFs::new(Box::new(storage), "inject.img".into()).unwrap());
        let result = w.admin_on(boot, None).deploy(&opts("v2"));
        let ops = log.borrow().clone();
        let img = replay(&base, &ops, ops.len(), false);
        let booted = boots(&img).unwrap_or_else(|e| panic!("write error after {n} writes: {e}"));
        match result {
            Ok(_) => {
                assert_eq!(booted.0, v2);
                break;
            }
            Err(e) => {
                failures += 1;
                assert!(
                    booted.0 == v1 || booted.0 == v2,
                    "after {n} writes boots {:?}",
                    booted.0
                );
                let msg = format!("{e:#}");
                assert!(msg.contains("injected failure"), "{msg}");
                // The sysroot is restored for the next round when the boot partition kept v1.
                for d in deployments(&w) {
                    if d != v1 {
                        std::fs::remove_dir_all(Sysroot::new(&w.sysroot).deployment_dir(&d))
                            .unwrap();
                    }
                }
            }
        }
        n += 1;
        assert!(n < 5000, "deploy never finished");
    }
    eprintln!("deploy failed cleanly at {failures} injected write errors");
    assert!(failures > 20, "only {failures} write points");
}

#[test]
fn read_only_boot_partition_simulated() {
    let (w, v1) = world_v1(4096);
    w.commit("v2", 2, 4000);
    let base = w.image_bytes();
    let log = Rc::new(RefCell::new(Vec::new()));
    let storage = LoggingStorage {
        mem: MemStorage::new(base.clone()),
        log: log.clone(),
        fail_after: Some((0, io::ErrorKind::ReadOnlyFilesystem)),
    };
    let boot = Box::new(ImageBootFs::new(Box::new(storage), "ro.img".into()).unwrap());
    let err = w.admin_on(boot, None).deploy(&opts("v2")).unwrap_err();
    assert!(
        format!("{err:#}").contains("read-only") || format!("{err:#}").contains("injected"),
        "{err:#}"
    );
    assert!(
        !log.borrow().iter().any(|o| matches!(o, Op::Write { .. })),
        "something was written"
    );
    assert_eq!(w.image_bytes(), base);
    assert_eq!(deployments(&w), vec![v1]);
}

struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A real read-only mount of the boot directory (bind mount, remounted ro; needs root, as CI runs).
#[test]
fn read_only_boot_mount() {
    let w = World::new(4096);
    w.commit("v1", 1, 3000);
    w.commit("v2", 2, 3000);
    let boot = w.dir.path().join("bootdir");
    std::fs::create_dir_all(&boot).unwrap();
    verbs::init_boot(&mut DirBootFs::new(&boot)).unwrap();
    let dir_admin = || Admin {
        sysroot: Sysroot::new(&w.sysroot),
        boot: Box::new(DirBootFs::new(&boot)),
        source: Some(&w.source),
        cmdline: None,
        board: host_tools::deploy::board::lookup("am335x"),
    };
    let v1 = dir_admin().deploy(&opts("v1")).unwrap();
    let ro = w.dir.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let st = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&boot)
        .arg(&ro)
        .status()
        .unwrap();
    assert!(st.success(), "bind mount failed (this test needs root)");
    let _guard = Unmount(ro.clone());
    let st = std::process::Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&ro)
        .status()
        .unwrap();
    assert!(st.success());
    let mut a = Admin {
        boot: Box::new(DirBootFs::new(&ro)),
        ..dir_admin()
    };
    let err = a.deploy(&opts("v2")).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("Read-only file system"), "{msg}");
    assert!(
        msg.contains(&ro.display().to_string()),
        "error does not name the path: {msg}"
    );
    assert_eq!(deployments(&w), vec![v1.clone()]);
    let c = a.config().unwrap().unwrap();
    assert_eq!(c.primary.deployment(), Some(v1));
    assert!(host_tools::deploy::bootfiles::verify(&mut DirBootFs::new(&ro), &c.primary).unwrap());
}

/// Issue 6's scenario 3 on the host: the default's kernel is damaged on the boot partition, the agent falls
/// back; deploying the same commit again stores its files under a fresh name (the damaged directory is
/// still named by a loader copy and is not touched), and cleanup then removes the damaged one.
#[test]
fn damaged_boot_files_redeploy_uses_a_fresh_directory() {
    let (w, v1) = world_v1(4096);
    w.commit("v2", 2, 4000);
    let v2 = w
        .admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            Some(format!("ostree={}", v1.path())),
        )
        .deploy(&opts("v2"))
        .unwrap();
    let mut a = w.admin();
    let c = a.config().unwrap().unwrap();
    let k = c.primary.files[0].clone().unwrap();
    a.boot
        .overwrite(&k.path, &bytes(99, k.size as usize))
        .unwrap();
    drop(a);
    // The agent boots the fallback and records why (its env write applied as boot.scr would).
    let (dep, slot, args) = agent_boot(&w.image).unwrap();
    assert_eq!((dep, slot), (v1.clone(), "fallback"));
    let text = {
        let mut a = w.admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            Some(args.clone()),
        );
        host_tools::deploy::status::render_text(
            &host_tools::deploy::status::gather(&mut a).unwrap(),
        )
    };
    assert!(text.contains("BOOT FILES DAMAGED"), "{text}");
    assert!(text.contains("AUTOMATIC ROLLBACK"), "{text}");
    // The agent recorded a rollback: the same commit again needs --force (the message says why).
    let err = w
        .admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            Some(args.clone()),
        )
        .deploy(&opts("v2"))
        .unwrap_err();
    assert!(format!("{err:#}").contains("--force"), "{err:#}");
    let mut forced = opts("v2");
    forced.force = true;
    let again = w
        .admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            Some(args),
        )
        .deploy(&forced)
        .unwrap();
    assert_eq!((again.commit, again.serial), (v2.commit, 1));
    assert_eq!(boots(&w.image_bytes()).unwrap(), (again, "primary"));
    let mut a = w.admin();
    let c = a.config().unwrap().unwrap();
    assert!(
        c.primary.files[0]
            .as_ref()
            .unwrap()
            .path
            .contains("-1/vmlinuz"),
        "{:?}",
        c.primary.files[0]
    );
    let dirs = a.boot.list_dir("ostree").unwrap();
    assert_eq!(dirs.len(), 2, "damaged directory not cleaned up: {dirs:?}");
    drop(a);
    fsck_clean(&w.image);
}

/// Runs `op` with a write error injected after 0, 1, 2, ... writes until it succeeds; after each failure
/// the partition must boot one of `allowed`. Returns the number of failures.
fn error_at_every_write(
    w: &World,
    cmdline: Option<String>,
    allowed: &[&DeploymentId],
    op: impl Fn(&mut Admin<'_>) -> anyhow::Result<()>,
) -> usize {
    let base = w.image_bytes();
    let mut failures = 0;
    for n in 0.. {
        let log = Rc::new(RefCell::new(Vec::new()));
        let storage = LoggingStorage {
            mem: MemStorage::new(base.clone()),
            log: log.clone(),
            fail_after: Some((n, io::ErrorKind::Other)),
        };
        let boot = Box::new(ImageBootFs::new(Box::new(storage), "inject.img".into()).unwrap());
        let result = op(&mut w.admin_on(boot, cmdline.clone()));
        let ops = log.borrow().clone();
        let img = replay(&base, &ops, ops.len(), false);
        let (dep, slot) =
            boots(&img).unwrap_or_else(|e| panic!("write error after {n} writes: {e}"));
        assert!(
            allowed.contains(&&dep),
            "write error after {n} writes: boots {} ({slot})",
            dep.short()
        );
        match result {
            Ok(()) => break,
            Err(e) => {
                assert!(format!("{e:#}").contains("injected failure"), "{e:#}");
                failures += 1;
            }
        }
        assert!(n < 1000);
    }
    failures
}

#[test]
fn write_error_at_every_point_of_rollback_and_mark_good_after_rollback() {
    let (w, v1) = world_v1(4096);
    w.commit("v2", 2, 4000);
    let cl = |d: &DeploymentId| Some(format!("ostree={}", d.path()));
    let v2 = w
        .admin_on(host_tools::deploy::bootfs::open(&w.image).unwrap(), cl(&v1))
        .deploy(&opts("v2"))
        .unwrap();
    let a = error_at_every_write(&w, cl(&v2), &[&v1, &v2], |a| a.rollback().map(|_| ()));
    // The agent rolled back from v2 to v1: mark-good must never let v2 boot again.
    host_tools::deploy::counters::write(
        &mut *w.admin().boot,
        &[
            ("bootcount", Some("4")),
            ("atomboot_rollback", Some("1")),
            ("atomboot_reason", Some("over bootlimit")),
        ],
    )
    .unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v1.clone(), "fallback"));
    let b = error_at_every_write(&w, cl(&v1), &[&v1], |a| a.mark_good().map(|_| ()));
    eprintln!("rollback failed cleanly at {a} write errors, mark-good after rollback at {b}");
    assert!(a >= 5 && b >= 5, "{a} {b}");
}

/// Right after an automatic rollback (nothing recorded yet), deploying the commit that failed needs --force.
#[test]
fn redeploying_the_commit_just_rolled_back_needs_force() {
    let (w, v1) = world_v1(4096);
    w.commit("v2", 2, 4000);
    let cl = Some(format!("ostree={}", v1.path()));
    w.admin_on(
        host_tools::deploy::bootfs::open(&w.image).unwrap(),
        cl.clone(),
    )
    .deploy(&opts("v2"))
    .unwrap();
    host_tools::deploy::counters::write(
        &mut *w.admin().boot,
        &[
            ("bootcount", Some("4")),
            ("atomboot_rollback", Some("1")),
            ("atomboot_reason", Some("over bootlimit")),
        ],
    )
    .unwrap();
    let before = w.image_bytes();
    let err = w
        .admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            cl.clone(),
        )
        .deploy(&opts("v2"))
        .unwrap_err();
    assert!(format!("{err:#}").contains("--force"), "{err:#}");
    assert_eq!(w.image_bytes(), before);
    let mut o = opts("v2");
    o.force = true;
    let again = w
        .admin_on(host_tools::deploy::bootfs::open(&w.image).unwrap(), cl)
        .deploy(&o)
        .unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap(), (again, "primary"));
}

/// A FAT12 boot partition (which the agent cannot read) is refused with a clear error.
#[test]
fn fat12_boot_partition_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("small.img");
    fat_image_of(&img, 1024, 12);
    let err = host_tools::deploy::bootfs::open(&img)
        .err()
        .expect("FAT12 accepted");
    assert!(format!("{err:#}").contains("FAT12"), "{err:#}");
}
