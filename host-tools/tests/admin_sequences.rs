//! Random sequences of admin verbs and agent decisions on a real FAT image; after every step the partition
//! boots a deployment whose files verify, the boot configuration and the sysroot agree, nothing unnamed is
//! left on the partition, and fsck.vfat finds nothing to repair.

#[path = "admin_common.rs"]
mod common;

use common::*;
use host_tools::deploy::{counters, DeployOptions, DeploymentId, Sysroot};

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn check(w: &World, step: &str) -> DeploymentId {
    let img = w.image_bytes();
    let (booted, _) = boots(&img).unwrap_or_else(|e| panic!("{step}: {e}"));
    assert!(
        all_named_files_verify(&img),
        "{step}: a named file does not verify"
    );
    let mut a = w.admin();
    let c = a.config().unwrap().unwrap();
    let named: Vec<String> = [Some(&c.primary), c.fallback.as_ref()]
        .into_iter()
        .flatten()
        .flat_map(|e| e.dirs())
        .collect();
    let mut on_disk: Vec<String> = a
        .boot
        .list_dir("ostree")
        .unwrap()
        .into_iter()
        .map(|d| format!("ostree/{d}"))
        .collect();
    on_disk.sort();
    let mut named_sorted = named.clone();
    named_sorted.sort();
    named_sorted.dedup();
    assert_eq!(on_disk, named_sorted, "{step}: boot directories vs named");
    let deps = Sysroot::new(&w.sysroot).deployments().unwrap();
    for e in [Some(&c.primary), c.fallback.as_ref()]
        .into_iter()
        .flatten()
    {
        let d = e.deployment().unwrap();
        assert!(
            deps.contains(&d),
            "{step}: {} named but not on disk",
            d.short()
        );
    }
    drop(a);
    fsck_clean(&w.image);
    booted
}

#[test]
fn random_sequences_keep_every_invariant() {
    let mut steps_run = 0;
    for seed in [1u64, 7, 42] {
        let w = World::new(8192);
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let commits = 5u64;
        for i in 0..commits {
            // Commits 0 and 1 share their boot files (same kernel seed): shared directories.
            let t = tree(w.dir.path(), 100 * seed + i, 0, None);
            let m = t.join("usr/lib/modules/6.1.0-test");
            let kseed = if i == 1 { 0 } else { i };
            std::fs::write(m.join("vmlinuz"), bytes(kseed, 3000 + 500 * kseed as usize)).unwrap();
            std::fs::write(m.join("initramfs.img"), bytes(kseed + 50, 1000)).unwrap();
            std::fs::write(m.join("devicetree"), dtb(&["ti,am33xx"])).unwrap();
            w.source
                .add_commit(&format!("c{i}"), &format!("seed{seed}-c{i}"), &t)
                .unwrap();
        }
        let mut booted = {
            let mut a = w.admin();
            a.deploy(&DeployOptions {
                refspec: "c0".into(),
                ..Default::default()
            })
            .unwrap()
        };
        check(&w, "first deploy");
        for step in 0..30 {
            let cmd = Some(format!("ostree={} console=ttyS0", booted.path()));
            let mut a = w.admin_on(host_tools::deploy::bootfs::open(&w.image).unwrap(), cmd);
            let what = match rng.next(7) {
                0 | 1 => {
                    let r = format!("c{}", rng.next(commits));
                    match a.deploy(&DeployOptions {
                        refspec: r.clone(),
                        force: rng.next(2) == 0,
                        ..Default::default()
                    }) {
                        Ok(_) => format!("deploy {r}"),
                        Err(e) => {
                            assert!(format!("{e:#}").contains("--force"), "deploy {r}: {e:#}");
                            format!("deploy {r} refused (failed before)")
                        }
                    }
                }
                2 => {
                    a.mark_good().unwrap();
                    "mark-good".into()
                }
                3 => match a.rollback() {
                    Ok(_) => "rollback".into(),
                    Err(e) => {
                        assert!(format!("{e:#}").contains("no fallback"), "{e:#}");
                        "rollback refused (no fallback)".into()
                    }
                },
                4 => {
                    a.cleanup().unwrap();
                    "cleanup".into()
                }
                5 => {
                    // The agent: the default on trial exceeded bootlimit, the fallback booted.
                    let c = counters::read(&mut *a.boot).unwrap();
                    let cfg = a.config().unwrap().unwrap();
                    if c.get("upgrade_available") == Some("1") && cfg.fallback.is_some() {
                        counters::write(
                            &mut *a.boot,
                            &[
                                ("bootcount", Some("4")),
                                ("atomboot_rollback", Some("1")),
                                ("atomboot_reason", Some("over bootlimit")),
                            ],
                        )
                        .unwrap();
                        "agent rolls back".into()
                    } else {
                        "agent boots normally".into()
                    }
                }
                _ => match a.set_default(1, true) {
                    Ok(m) => format!("set-default 1: {m}"),
                    Err(e) => format!("set-default 1 refused: {e:#}"),
                },
            };
            drop(a);
            eprintln!("seed {seed} step {step}: {what}");
            booted = check(&w, &format!("seed {seed} step {step}: {what}"));
            steps_run += 1;
        }
    }
    eprintln!("{steps_run} random steps checked");
}
