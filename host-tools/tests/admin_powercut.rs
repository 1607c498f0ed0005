//! Power-cut tests: deploy, mark-good, rollback and cleanup run against a real FAT16 image (mkfs.vfat)
//! whose every write and sync is logged; the image is then rebuilt as it would be after a cut at each
//! point (after each write, after each sync, and in the middle of each write) and must boot the old or
//! the new deployment, with every file named by the selected loader copy verifying.

#[path = "admin_common.rs"]
mod common;

use common::*;
use host_tools::deploy::{counters, loader, Admin, DeployOptions, DeploymentId};
use std::cell::RefCell;
use std::rc::Rc;

/// Runs `op` on the world's image with logging, checks every cut point, stores the final image back.
/// Returns the number of cut points checked.
fn cut_points(
    world: &World,
    cmdline: Option<String>,
    what: &str,
    allowed: &[&DeploymentId],
    op: impl FnOnce(&mut Admin<'_>),
) -> usize {
    let base = world.image_bytes();
    let before = boots(&base).unwrap_or_else(|e| panic!("{what}: state before does not boot: {e}"));
    assert!(
        allowed.contains(&&before.0),
        "{what}: before boots {:?}",
        before.0
    );
    let log = Rc::new(RefCell::new(Vec::new()));
    {
        let mut admin = world.admin_on(logged(base.clone(), log.clone()), cmdline);
        op(&mut admin);
    }
    let ops = log.borrow().clone();
    let writes = ops.iter().filter(|o| matches!(o, Op::Write { .. })).count();
    assert!(writes > 0, "{what}: wrote nothing");
    let mut points = 0;
    for k in 0..=ops.len() {
        // Every write torn in its middle, byte-exact: stricter than sector-atomic devices.
        for torn in [false, true] {
            if torn && !matches!(ops.get(k), Some(Op::Write { data, .. }) if data.len() > 1) {
                continue;
            }
            let img = replay_with(&base, &ops, k, if torn { Tear::Half } else { Tear::None });
            let (dep, slot) = boots(&img).unwrap_or_else(|e| {
                panic!("{what}: cut after op {k}/{} (torn {torn}): {e}", ops.len())
            });
            assert!(
                allowed.contains(&&dep),
                "{what}: cut after op {k} (torn {torn}) boots {} ({slot}), allowed {:?}",
                dep.short(),
                allowed.iter().map(|d| d.short()).collect::<Vec<_>>()
            );
            assert!(
                all_named_files_verify(&img),
                "{what}: cut after op {k} (torn {torn}): the selected copy names a file that does not verify"
            );
            points += 1;
        }
    }
    // Between two syncs the kernel may write back in any order: for each write, the state where it alone
    // (of its group) reached the disk after everything up to the previous sync.
    let mut group_start = 0;
    for (k, op) in ops.iter().enumerate() {
        match op {
            Op::Sync => group_start = k + 1,
            Op::Write { offset, data } => {
                if k == group_start {
                    continue; // the same state as the prefix cut above
                }
                let mut img = replay(&base, &ops, group_start, false);
                let o = *offset as usize;
                img[o..o + data.len()].copy_from_slice(data);
                let (dep, slot) = boots(&img).unwrap_or_else(|e| {
                    panic!("{what}: only write {k} of the group from {group_start}: {e}")
                });
                assert!(
                    allowed.contains(&&dep),
                    "{what}: only write {k} of the group from {group_start} boots {} ({slot})",
                    dep.short()
                );
                assert!(all_named_files_verify(&img), "{what}: reordered write {k}");
                points += 1;
            }
        }
    }
    let fin = replay(&base, &ops, ops.len(), false);
    std::fs::write(&world.image, &fin).unwrap();
    fsck_clean(&world.image);
    eprintln!(
        "{what}: {} writes, {} syncs, {points} cut points",
        writes,
        ops.len() - writes
    );
    points
}

fn deploy(admin: &mut Admin<'_>, r: &str) -> DeploymentId {
    admin
        .deploy(&DeployOptions {
            refspec: r.into(),
            kargs: vec!["console=ttyS0,115200".into()],
            ..Default::default()
        })
        .unwrap()
}

fn cmdline(d: &DeploymentId) -> Option<String> {
    Some(format!("ostree={} console=ttyS0,115200", d.path()))
}

#[test]
fn every_cut_point_boots_old_or_new() {
    let w = World::new(4096);
    w.commit("v1", 1, 5000);
    w.commit("v2", 2, 7000);
    w.commit("v3", 3, 3000);
    let v1 = deploy(&mut w.admin(), "v1");
    w.admin().mark_good().unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v1.clone(), "primary"));
    let mut total = 0;

    // deploy v2 while v1 runs.
    let v2 = DeploymentId {
        os: "debian".into(),
        commit: w.source_resolve("v2"),
        serial: 0,
    };
    total += cut_points(&w, cmdline(&v1), "deploy v2", &[&v1, &v2], |a| {
        assert_eq!(deploy(a, "v2"), v2);
    });
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v2.clone(), "primary"));
    total += cut_points(&w, cmdline(&v2), "mark-good v2", &[&v2], |a| {
        a.mark_good().unwrap();
    });
    assert_eq!(
        counters::read(&mut *w.admin().boot)
            .unwrap()
            .get("upgrade_available"),
        Some("0")
    );

    // deploy v3 while v2 runs: v1's boot files and deployment are removed at the end.
    let v3_id = DeploymentId {
        os: "debian".into(),
        commit: w.source_resolve("v3"),
        serial: 0,
    };
    total += cut_points(&w, cmdline(&v2), "deploy v3", &[&v2, &v3_id], |a| {
        assert_eq!(deploy(a, "v3"), v3_id);
    });
    let mut a = w.admin();
    let c = a.config().unwrap().unwrap();
    assert_eq!(c.primary.deployment(), Some(v3_id.clone()));
    assert_eq!(
        c.fallback.as_ref().and_then(|f| f.deployment()),
        Some(v2.clone())
    );
    assert!(
        !w.sysroot.join(v1.path().trim_start_matches('/')).exists(),
        "v1 deployment not cleaned up"
    );
    let dirs = a.boot.list_dir("ostree").unwrap();
    assert_eq!(dirs.len(), 2, "boot dirs after deploy v3: {dirs:?}");
    drop(a);

    // user rollback: v2 default again, v3 fallback.
    total += cut_points(&w, cmdline(&v3_id), "rollback", &[&v2, &v3_id], |a| {
        a.rollback().unwrap();
    });
    assert_eq!(boots(&w.image_bytes()).unwrap().0, v2);
    // and back to v3 (not logged), then the agent's automatic rollback: v3 failed its health check.
    w.admin().rollback().unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap().0, v3_id);
    counters::write(
        &mut *w.admin().boot,
        &[
            ("bootcount", Some("4")),
            ("atomboot_rollback", Some("1")),
            ("atomboot_slot", Some("fallback")),
            ("atomboot_reason", Some("bootcount 4 over bootlimit 3")),
        ],
    )
    .unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v2.clone(), "fallback"));

    // mark-good on the fallback after the rollback: v2 becomes the default; v3 must never boot again.
    total += cut_points(&w, cmdline(&v2), "mark-good after rollback", &[&v2], |a| {
        a.mark_good().unwrap();
    });
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v2.clone(), "primary"));
    let failed = host_tools::deploy::Sysroot::new(&w.sysroot).failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, v3_id.commit);
    let err = w
        .admin()
        .deploy(&DeployOptions {
            refspec: "v3".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("--force"), "{err:#}");

    // cleanup when the two loader copies differ (a copy naming v3 was replaced by one without fallback).
    {
        let mut a = w.admin();
        let c = a.config().unwrap().unwrap();
        loader::write(&mut *a.boot, &c.primary, None).unwrap();
    }
    total += cut_points(&w, cmdline(&v2), "cleanup", &[&v2], |a| {
        let removed = a.cleanup().unwrap();
        assert!(
            removed.iter().any(|r| r.contains(&v3_id.commit.to_hex())),
            "{removed:?}"
        );
    });
    assert_eq!(w.admin().boot.list_dir("ostree").unwrap().len(), 1);

    eprintln!("total cut points: {total}");
    assert!(total > 300, "only {total} cut points");
}

trait Resolve {
    fn source_resolve(&self, r: &str) -> atomboot_repo::Checksum;
}
impl Resolve for World {
    fn source_resolve(&self, r: &str) -> atomboot_repo::Checksum {
        use host_tools::deploy::source::CommitSource;
        self.source.resolve(r).unwrap()
    }
}

/// Deploying while the agent has rolled back (the default failed, its fallback runs): at no cut may the
/// failed deployment boot; the new one takes over only with the good one as its fallback.
#[test]
fn deploy_after_automatic_rollback_never_boots_the_failed_one() {
    let w = World::new(4096);
    w.commit("v1", 1, 4000);
    w.commit("v2", 2, 4500);
    let v3c = w.commit("v3", 3, 3500);
    let v1 = deploy(&mut w.admin(), "v1");
    w.admin().mark_good().unwrap();
    let v2 = w
        .admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            cmdline(&v1),
        )
        .deploy(&DeployOptions {
            refspec: "v2".into(),
            ..Default::default()
        });
    let v2 = v2.unwrap();
    counters::write(
        &mut *w.admin().boot,
        &[
            ("bootcount", Some("4")),
            ("atomboot_rollback", Some("1")),
            ("atomboot_slot", Some("fallback")),
            ("atomboot_reason", Some("bootcount 4 over bootlimit 3")),
        ],
    )
    .unwrap();
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v1.clone(), "fallback"));
    let v3 = DeploymentId {
        os: "debian".into(),
        commit: v3c,
        serial: 0,
    };
    let n = cut_points(
        &w,
        cmdline(&v1),
        "deploy v3 after rollback",
        &[&v1, &v3],
        |a| {
            assert_eq!(deploy(a, "v3"), v3);
        },
    );
    let c = w.admin().config().unwrap().unwrap();
    assert_eq!(c.primary.deployment(), Some(v3));
    assert_eq!(c.fallback.and_then(|f| f.deployment()), Some(v1));
    assert!(host_tools::deploy::Sysroot::new(&w.sysroot)
        .failed()
        .iter()
        .any(|(c, _)| *c == v2.commit));
    eprintln!("deploy after rollback: {n} cut points");
}

/// After a cut anywhere in a deploy, the next deploy and cleanup work from the state the cut left (torn
/// loader or env copy, half-written boot directory) and end in a clean configuration.
#[test]
fn next_deploy_recovers_from_any_cut() {
    use host_tools::deploy::source::copy_tree;
    let w = World::new(4096);
    w.commit("v1", 1, 4000);
    let v2c = w.commit("v2", 2, 5000);
    w.commit("v3", 3, 3000);
    let v1 = deploy(&mut w.admin(), "v1");
    w.admin().mark_good().unwrap();
    let sysroot_before = w.dir.path().join("sysroot-before");
    copy_tree(&w.sysroot, &sysroot_before).unwrap();
    let base = w.image_bytes();
    let log = Rc::new(RefCell::new(Vec::new()));
    let v2 = deploy(
        &mut w.admin_on(logged(base.clone(), log.clone()), cmdline(&v1)),
        "v2",
    );
    assert_eq!(v2.commit, v2c);
    let ops = log.borrow().clone();
    let mut recovered = 0;
    for (k, tear) in (0..=ops.len()).flat_map(|k| [(k, Tear::None), (k, Tear::Half)]) {
        if tear == Tear::Half && !matches!(ops.get(k), Some(Op::Write { .. })) {
            continue;
        }
        let img = replay_with(&base, &ops, k, tear);
        let (booted, _) = boots(&img).unwrap();
        // The sysroot as at the cut: before + the new deployment (moved in place before any boot write).
        let _ = std::fs::remove_dir_all(&w.sysroot);
        copy_tree(&sysroot_before, &w.sysroot).unwrap();
        let rel = v2.path();
        let rel = rel.trim_start_matches('/');
        copy_tree(
            &sysroot_before.join("..").join("sysroot-final").join(rel),
            &w.sysroot.join(rel),
        )
        .ok();
        std::fs::write(&w.image, &img).unwrap();
        let v3 = deploy(
            &mut w.admin_on(
                host_tools::deploy::bootfs::open(&w.image).unwrap(),
                cmdline(&booted),
            ),
            "v3",
        );
        let mut a = w.admin();
        let c = a.config().unwrap().unwrap();
        assert_eq!(c.primary.deployment(), Some(v3.clone()), "cut {k}");
        assert_eq!(
            c.fallback.as_ref().and_then(|f| f.deployment()),
            Some(booted.clone()),
            "cut {k}"
        );
        assert!(all_named_files_verify(&w.image_bytes()), "cut {k}");
        // Only named boot directories remain.
        let dirs = a.boot.list_dir("ostree").unwrap();
        assert_eq!(dirs.len(), 2, "cut {k}: {dirs:?}");
        drop(a);
        assert_eq!(boots(&w.image_bytes()).unwrap(), (v3, "primary"), "cut {k}");
        recovered += 1;
    }
    eprintln!("recovered from {recovered} cut states");
    assert!(recovered > 50, "only {recovered}");
}

/// set-default and undeploy under the same cut model.
#[test]
fn set_default_and_undeploy_cut_points() {
    let w = World::new(4096);
    w.commit("v1", 1, 4000);
    w.commit("v2", 2, 4500);
    let v1 = deploy(&mut w.admin(), "v1");
    w.admin().mark_good().unwrap();
    let v2 = w
        .admin_on(
            host_tools::deploy::bootfs::open(&w.image).unwrap(),
            cmdline(&v1),
        )
        .deploy(&DeployOptions {
            refspec: "v2".into(),
            ..Default::default()
        })
        .unwrap();
    let mut n = cut_points(&w, cmdline(&v2), "set-default 1", &[&v1, &v2], |a| {
        a.set_default(1, false).unwrap();
    });
    assert_eq!(boots(&w.image_bytes()).unwrap(), (v1.clone(), "primary"));
    n += cut_points(&w, cmdline(&v1), "undeploy 1", &[&v1], |a| {
        a.undeploy(1).unwrap();
    });
    let c = w.admin().config().unwrap().unwrap();
    assert_eq!(c.primary.deployment(), Some(v1));
    assert!(c.fallback.is_none());
    assert_eq!(w.admin().boot.list_dir("ostree").unwrap().len(), 1);
    eprintln!("set-default + undeploy: {n} cut points");
}

/// The same cut model on FAT32 (the ordered flush reads each FAT width; the agent reads FAT16 and FAT32).
#[test]
fn deploy_cut_points_on_fat32() {
    let bits = 32u8;
    let w = World::new_fat(40 * 1024, bits);
    w.commit("v1", 1, 3000);
    let v2c = w.commit("v2", 2, 3500);
    let v1 = deploy(&mut w.admin(), "v1");
    w.admin().mark_good().unwrap();
    let v2 = DeploymentId {
        os: "debian".into(),
        commit: v2c,
        serial: 0,
    };
    let n = cut_points(
        &w,
        cmdline(&v1),
        &format!("FAT{bits} deploy v2"),
        &[&v1, &v2],
        |a| {
            assert_eq!(deploy(a, "v2"), v2);
        },
    );
    let n2 = cut_points(
        &w,
        cmdline(&v2),
        &format!("FAT{bits} rollback"),
        &[&v1, &v2],
        |a| {
            a.rollback().unwrap();
        },
    );
    assert!(n + n2 > 40);
}
