//! Every branch of the boot decision over real FAT images (mkfs.vfat + mtools), booted with the boot
//! script's steps (`boot_agent::script`: small files, `decide`, bounded loads, `verify`) and `fatfs` as
//! U-Boot's `fatload`.

mod common;
use boot_agent::verify::VerifyError;
use boot_agent::{Reason, Slot};
use common::*;

fn env_value(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Applies the agent's env write the way the boot script's fatwrite does, then returns the values in use.
fn persist(disk: &Disk, write: &Option<(String, Vec<u8>)>) -> Vec<(String, String)> {
    if let Some((name, block)) = write {
        disk.put(&format!("/{name}"), block);
    }
    disk.env()
}

#[test]
fn normal_boot_of_a_good_primary_writes_nothing() {
    for fat in [16, 32] {
        let disk = Disk::new(fat);
        let a = Deployment::new(1, 300);
        let b = Deployment::new(2, 200_000);
        disk.install(&a);
        disk.install(&b);
        disk.write_loader(0, 1, &b, Some(&a));
        disk.write_env(
            0,
            1,
            &[
                ("bootcount", "0"),
                ("bootlimit", "3"),
                ("upgrade_available", "0"),
            ],
        );
        disk.write_env(1, 0, &[]);
        let out = boot(&disk.bytes());
        let (slot, reason, bootargs, write) = out
            .result
            .clone()
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", out.log));
        assert_eq!((slot, reason), (Slot::Primary, Reason::Normal));
        assert!(write.is_none(), "a normal boot must not write the env");
        assert_eq!(
            bootargs,
            format!(
                "{} atomboot.slot=primary atomboot.reason=normal",
                b.bootargs
            )
        );
        out.assert_loaded(&b);
        assert!(
            out.log
                .iter()
                .any(|l| l
                    .starts_with("atomboot: loader copy 0 (generation 1) used; copy 1: missing")),
            "{:#?}",
            out.log
        );
        assert!(
            out.log.iter().any(|l| l.contains("verified primary kernel")
                && l.contains("200000 bytes sha256 ok in 7 ms")),
            "{:#?}",
            out.log
        );
    }
}

#[test]
fn trial_boots_count_up_to_the_limit_then_fall_back_and_stay() {
    let (disk, a, b) = two_deployments(&[
        ("bootcount", "0"),
        ("bootlimit", "3"),
        ("upgrade_available", "1"),
        ("other", "kept"),
    ]);
    for n in 1..=3 {
        let out = boot(&disk.bytes());
        let (slot, reason, _, write) = out.result.clone().unwrap();
        assert_eq!(slot, Slot::Primary, "boot {n}");
        assert_eq!(
            reason,
            Reason::Trial {
                bootcount: n,
                bootlimit: 3
            }
        );
        out.assert_loaded(&b);
        let env = persist(&disk, &write);
        assert_eq!(
            env_value(&env, "bootcount").as_deref(),
            Some(n.to_string().as_str())
        );
        assert_eq!(env_value(&env, "other").as_deref(), Some("kept"));
    }
    // Fourth boot: over the limit.
    let out = boot(&disk.bytes());
    let (slot, reason, bootargs, write) = out.result.clone().unwrap();
    assert_eq!(
        (slot, reason),
        (
            Slot::Fallback,
            Reason::Bootlimit {
                bootcount: 4,
                bootlimit: 3
            }
        )
    );
    assert!(bootargs.ends_with("atomboot.slot=fallback atomboot.reason=bootlimit"));
    out.assert_loaded(&a);
    let env = persist(&disk, &write);
    assert_eq!(env_value(&env, "atomboot_rollback").as_deref(), Some("1"));
    assert!(env_value(&env, "atomboot_reason")
        .unwrap()
        .contains("exceeds bootlimit 3"));
    // Later boots: still the fallback, and no more writes.
    let out = boot(&disk.bytes());
    let (slot, _, _, write) = out.result.clone().unwrap();
    assert_eq!(slot, Slot::Fallback);
    assert!(write.is_none());
}

#[test]
fn counters_default_and_garbage() {
    // No bootlimit: 3. Garbage bootcount: 0.
    let (disk, _, _) = two_deployments(&[("bootcount", "x7"), ("upgrade_available", "1")]);
    let out = boot(&disk.bytes());
    assert_eq!(
        out.result.unwrap().1,
        Reason::Trial {
            bootcount: 1,
            bootlimit: 3
        }
    );
    // Both env copies invalid: counters not used, nothing saved, primary boots.
    let (disk, _, b) = two_deployments(&[("upgrade_available", "1"), ("bootcount", "9")]);
    disk.put("/uboot.env", &[0xffu8; ENV_SIZE]);
    disk.put("/uboot-redund.env", &[0u8; ENV_SIZE]);
    let out = boot(&disk.bytes());
    let (slot, reason, _, write) = out.result.clone().unwrap();
    assert_eq!((slot, reason, write), (Slot::Primary, Reason::Normal, None));
    out.assert_loaded(&b);
    assert!(out.log.iter().any(|l| l.contains("counters not used")));
}

#[test]
fn newest_env_copy_wins_and_the_write_goes_to_the_other() {
    let (disk, _, _) = two_deployments(&[("bootcount", "1"), ("upgrade_available", "1")]);
    // uboot-redund.env newer (flags 2) with bootcount 2.
    disk.write_env(1, 2, &[("bootcount", "2"), ("upgrade_available", "1")]);
    let out = boot(&disk.bytes());
    let (_, reason, _, write) = out.result.unwrap();
    assert_eq!(
        reason,
        Reason::Trial {
            bootcount: 3,
            bootlimit: 3
        }
    );
    let (name, block) = write.unwrap();
    assert_eq!(name, "uboot.env");
    assert_eq!(block.len(), ENV_SIZE);
    assert_eq!(block[4], 3, "flags = in use + 1");
}

fn corrupt(disk: &Disk, d: &Deployment, file: &str, how: &str) {
    let path = d.path(file);
    let mut bytes = disk.get(&path);
    match how {
        "missing" => return disk.delete(&path),
        "short" => {
            bytes.truncate(bytes.len() - 1);
        }
        "corrupt" => {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x40;
        }
        _ => unreachable!(),
    }
    disk.put(&path, &bytes);
}

#[test]
fn a_bad_primary_file_falls_back_and_records_why() {
    for file in ["vmlinuz", "initramfs.img", "devicetree"] {
        for how in ["missing", "short", "corrupt"] {
            let (disk, a, b) = two_deployments(&[("bootcount", "0"), ("upgrade_available", "0")]);
            corrupt(&disk, &b, file, how);
            let out = boot(&disk.bytes());
            let (slot, reason, bootargs, write) = out
                .result
                .clone()
                .unwrap_or_else(|e| panic!("{file} {how}: {e}"));
            assert_eq!(slot, Slot::Fallback, "{file} {how}");
            assert!(
                matches!(reason, Reason::PrimaryBad { .. }),
                "{file} {how}: {reason:?}"
            );
            assert!(bootargs.contains("atomboot.reason=primary-bad"));
            out.assert_loaded(&a);
            assert!(
                out.log
                    .iter()
                    .any(|l| l.starts_with("atomboot: FAILED primary")),
                "{:#?}",
                out.log
            );
            let env = persist(&disk, &write);
            assert_eq!(
                env_value(&env, "atomboot_rollback").as_deref(),
                Some("1"),
                "{file} {how}"
            );
            assert!(
                env_value(&env, "atomboot_reason")
                    .unwrap()
                    .starts_with("primary "),
                "{env:?}"
            );
            // The same failure at the next boot writes nothing more.
            let again = boot(&disk.bytes());
            assert!(
                again.result.unwrap().3.is_none(),
                "{file} {how}: rewrote an unchanged record"
            );
        }
    }
}

#[test]
fn a_bad_fallback_when_the_counters_want_it_boots_the_verified_primary() {
    for how in ["missing", "short", "corrupt"] {
        let (disk, a, b) = two_deployments(&[
            ("bootcount", "3"),
            ("bootlimit", "3"),
            ("upgrade_available", "1"),
        ]);
        corrupt(&disk, &a, "vmlinuz", how);
        let out = boot(&disk.bytes());
        let (slot, reason, _, _) = out.result.clone().unwrap();
        assert_eq!(slot, Slot::Primary);
        assert!(
            matches!(
                reason,
                Reason::FallbackBad {
                    file: uenv::boot_config::FileRole::Kernel,
                    ..
                }
            ),
            "{reason:?}"
        );
        out.assert_loaded(&b);
    }
}

#[test]
fn both_entries_bad_is_a_failure_naming_both() {
    for how in ["missing", "short", "corrupt"] {
        let (disk, a, b) = two_deployments(&[("upgrade_available", "0")]);
        corrupt(&disk, &a, "initramfs.img", how);
        corrupt(&disk, &b, "vmlinuz", how);
        let out = boot(&disk.bytes());
        let err = out.result.clone().unwrap_err();
        assert!(
            err.starts_with("nothing verifies: primary kernel: ")
                && err.contains("; fallback ramdisk: "),
            "{err}"
        );
        assert_eq!(
            out.env.get("atomboot_step").map(String::as_str),
            Some("fail")
        );
        assert!(
            out.log
                .iter()
                .any(|l| l.contains("nothing verifies: primary kernel")),
            "{:#?}",
            out.log
        );
    }
    // A primary that fails with no fallback entry at all.
    let disk = Disk::new(16);
    let b = Deployment::new(2, 1000);
    disk.install(&b);
    disk.write_loader(0, 1, &b, None);
    corrupt(&disk, &b, "vmlinuz", "corrupt");
    let err = boot(&disk.bytes()).result.unwrap_err();
    assert_eq!(
        err,
        "nothing verifies: primary kernel: SHA-256 mismatch; no fallback entry"
    );
}

#[test]
fn loader_copies_valid_torn_or_missing() {
    let (disk, a, b) = two_deployments(&[]);
    // Both valid: the newer (copy 1, generation 5, primary B).
    let out = boot(&disk.bytes());
    assert_eq!(out.result.as_ref().unwrap().0, Slot::Primary);
    out.assert_loaded(&b);
    // Copy 1 torn: copy 0 (primary A).
    let mut torn = disk.get("/loader.1/uEnv.txt");
    torn[300..].fill(0);
    disk.put("/loader.1/uEnv.txt", &torn);
    let out = boot(&disk.bytes());
    out.assert_loaded(&a);
    assert!(
        out.log[0].contains("loader copy 0 (generation 4) used; copy 1: invalid"),
        "{:#?}",
        out.log
    );
    // Copy 1 missing too.
    disk.delete("/loader.1/uEnv.txt");
    boot(&disk.bytes()).assert_loaded(&a);
    // Copy 0 torn as well: nothing to boot.
    disk.put("/loader.0/uEnv.txt", b"kernel_image=/boot/vmlinuz\n");
    let out = boot(&disk.bytes());
    assert!(
        out.result
            .as_ref()
            .unwrap_err()
            .contains("no valid boot configuration"),
        "{:?}",
        out.result.err()
    );
    assert!(out
        .log
        .iter()
        .any(|l| l.contains("no valid boot configuration")));
}

#[test]
fn garbage_partitions_are_refused() {
    for bytes in [vec![], vec![0u8; 4096], vec![0xffu8; 1 << 20]] {
        let out = boot(&bytes);
        assert!(
            out.result
                .as_ref()
                .unwrap_err()
                .contains("no valid boot configuration"),
            "{:?}",
            out.result.err()
        );
        assert!(out.loads.is_empty(), "{:?}", out.loads);
    }
}

#[test]
fn files_larger_than_their_load_region_are_refused() {
    let disk = Disk::new(16);
    let a = Deployment::new(1, 1000);
    let big = Deployment::new(2, 300 * 1024); // the test's kernel region is 256 KiB
    disk.install(&a);
    disk.install(&big);
    disk.write_loader(0, 1, &big, Some(&a));
    let out = boot(&disk.bytes());
    let (slot, reason, _, _) = out.result.clone().unwrap();
    assert_eq!(slot, Slot::Fallback);
    assert_eq!(
        reason,
        Reason::PrimaryBad {
            file: uenv::boot_config::FileRole::Kernel,
            error: VerifyError::TooLarge {
                size: 300 * 1024,
                room: 256 * 1024
            },
        }
    );
    assert_eq!(
        reason.to_string(),
        "primary kernel: declared size 307200 exceeds its load region of 262144 bytes: not loaded"
    );
    // Judged from the loader copy before any load: the big kernel is never read.
    assert!(
        !out.loads.iter().any(|(p, _)| p == &big.path("vmlinuz")),
        "{:?}",
        out.loads
    );
    out.assert_loaded(&a);
    // The same with no fallback: nothing boots, nothing big is read.
    disk.write_loader(0, 2, &big, None);
    let out = boot(&disk.bytes());
    assert_eq!(
        out.result.unwrap_err(),
        "nothing verifies: primary kernel: declared size 307200 exceeds its load region of 262144 bytes: not loaded; no fallback entry"
    );
    assert!(!out.loads.iter().any(|(p, _)| p.contains("vmlinuz")));
}

/// A file longer than its loader copy says is read only to its declared size + 1 (the load is bounded) and
/// refused as the wrong size; the fallback's files are loaded over it and boot.
#[test]
fn loads_are_bounded_by_the_declared_size() {
    let (disk, a, b) = two_deployments(&[("upgrade_available", "0")]);
    let mut k = b.kernel.clone();
    k.extend(std::iter::repeat_n(7u8, 100_000));
    disk.put(&b.path("vmlinuz"), &k);
    let out = boot(&disk.bytes());
    assert!(
        out.loads.contains(&(b.path("vmlinuz"), b.kernel.len() + 1)),
        "{:?}",
        out.loads
    );
    let (slot, reason, _, _) = out.result.clone().unwrap();
    assert_eq!(slot, Slot::Fallback);
    assert_eq!(
        reason.to_string(),
        format!(
            "primary kernel: size {} but {} expected",
            b.kernel.len() + 1,
            b.kernel.len()
        )
    );
    out.assert_loaded(&a);
}
