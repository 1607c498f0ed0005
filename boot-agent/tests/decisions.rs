//! Every branch of the boot decision over real FAT images (mkfs.vfat + mtools).

mod common;
use boot_agent::{Failure, Reason, Slot};
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
        match err {
            Failure::NothingBootable {
                primary,
                fallback: Some(fallback),
            } => {
                assert_eq!(primary.0, uenv::boot_config::FileRole::Kernel);
                assert_eq!(fallback.0, uenv::boot_config::FileRole::Ramdisk);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            out.log
                .last()
                .unwrap()
                .contains("nothing verifies: primary kernel"),
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
    assert!(matches!(
        boot(&disk.bytes()).result,
        Err(Failure::NothingBootable { fallback: None, .. })
    ));
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
    assert!(matches!(out.result, Err(Failure::NoLoaderCopy(_))));
    assert!(out
        .log
        .last()
        .unwrap()
        .contains("no valid boot configuration"));
}

#[test]
fn garbage_partitions_are_refused() {
    for bytes in [vec![], vec![0u8; 4096], vec![0xffu8; 1 << 20]] {
        let out = boot(&bytes);
        assert!(
            matches!(
                out.result,
                Err(Failure::Partition(_)) | Err(Failure::NoLoaderCopy(_))
            ),
            "{:?}",
            out.result.err()
        );
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
    let (slot, reason, _, _) = out.result.unwrap();
    assert_eq!(slot, Slot::Fallback);
    assert!(matches!(
        reason,
        Reason::PrimaryBad {
            error: boot_agent::verify::VerifyError::Read(
                boot_agent::bootfs::FsError::TooLarge { .. }
            ),
            ..
        }
    ));
}

/// Regression (found by the fuzz target agent_run): a long-file-name entry whose first UTF-16 unit is a
/// lone surrogate, followed by a full 13-character entry, made the FAT crate's LFN decoder panic
/// ("Vec was full?!"). The lookup must go on, and the boot with it.
#[test]
fn a_lone_surrogate_in_a_long_file_name_does_not_panic() {
    // The long-named file comes first in the root directory, so every lookup walks over it.
    let disk = Disk::new(16);
    // 26 characters: exactly two LFN entries of 13, neither with a terminator.
    let name = "abcdefghijklmnopqrstuvwxyz";
    disk.put(&format!("/{name}"), b"x");
    let (disk, _a, b) = two_deployments_on(disk, &[("bootcount", "0"), ("upgrade_available", "0")]);
    let mut bytes = disk.bytes();
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    // The entry holding characters 14..26 ("nopqr" at offset 1) is stored first and decoded first.
    let mut entry_start = vec![0x42u8]; // sequence 2, last
    entry_start.extend(utf16("nopqr"));
    let at = 1 + bytes
        .windows(entry_start.len())
        .position(|w| w == entry_start.as_slice())
        .expect("the LFN entry of the long name");
    // Its first character becomes a lone low surrogate.
    bytes[at..at + 2].copy_from_slice(&0xdc00u16.to_le_bytes());
    let out = boot(&bytes);
    let (slot, ..) = out.result.as_ref().expect("the boot goes on");
    assert_eq!(*slot, Slot::Primary);
    out.assert_loaded(&b);
}

/// Regression (found by the fuzz target agent_run): a directory whose cluster chain loops back on itself,
/// with no end-of-directory entry in it, made the FAT crate walk it forever: the board would hang in
/// U-Boot. The walk is bounded; the copy in that directory is missing and the other one boots.
#[test]
fn a_directory_cluster_chain_that_loops_is_refused_not_walked_forever() {
    let (disk, _a, b) = two_deployments(&[("bootcount", "0"), ("upgrade_available", "0")]);
    let mut bytes = disk.bytes();
    let u16_at = |b: &[u8], o: usize| usize::from(u16::from_le_bytes([b[o], b[o + 1]]));
    let (bps, spc) = (u16_at(&bytes, 11), usize::from(bytes[13]));
    let (reserved, fats) = (u16_at(&bytes, 14), usize::from(bytes[16]));
    let (root_entries, fat_sectors) = (u16_at(&bytes, 17), u16_at(&bytes, 22));
    let root = (reserved + fats * fat_sectors) * bps;
    let data = root + root_entries * 32;
    // loader.0's directory entry in the root (short name "LOADER  0  ") and its first cluster.
    let entry = (0..root_entries)
        .map(|i| root + i * 32)
        .find(|&e| &bytes[e..e + 11] == b"LOADER  0  ")
        .expect("loader.0 in the root directory");
    let cluster = u16_at(&bytes, entry + 26);
    let start = data + (cluster - 2) * spc * bps;
    // No end marker and nothing to find in the directory: every entry but "." and ".." (uEnv.txt and its
    // long-name entries, the free ones) becomes a deleted one...
    for e in (start..start + spc * bps).step_by(32).skip(2) {
        bytes[e] = 0xe5;
    }
    // ...and its cluster chain points back at itself, in both FATs.
    for f in 0..fats {
        let at = (reserved + f * fat_sectors) * bps + cluster * 2;
        bytes[at..at + 2].copy_from_slice(&u16::try_from(cluster).unwrap().to_le_bytes());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = boot(&bytes);
        let _ = tx.send((out.result.map(|r| r.0), out.log));
    });
    let (slot, log) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the agent hangs on a looping directory chain");
    assert_eq!(slot.expect("copy 1 boots"), Slot::Primary, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("loader copy 1")),
        "copy 1 is the one used: {log:?}"
    );
    let _ = b;
}

/// Regression (found by the fuzz target agent_run): a boot sector claiming zero sectors per cluster made
/// the FAT crate divide by zero, a panic in every build. It is a bad partition, nothing more.
#[test]
fn a_boot_sector_with_zero_sectors_per_cluster_is_refused() {
    let (disk, _a, _b) = two_deployments(&[("bootcount", "0")]);
    let mut bytes = disk.bytes();
    bytes[13] = 0;
    let out = boot(&bytes);
    assert!(
        matches!(out.result, Err(Failure::Partition(_))),
        "{:?}",
        out.result.err()
    );
}
