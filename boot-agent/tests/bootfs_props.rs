//! Property tests of the agent's FAT reader (`BootFs`) over real volumes made by mkfs.vfat and mtools:
//! scattered files come out whole, a file without room is refused before a byte is written, and hostile
//! bytes anywhere in the volume give a typed error or bytes that match what `each` saw, never a panic.
mod common;

use boot_agent::bootfs::{BootFs, FsError};
use common::Disk;
use proptest::prelude::*;

fn pattern(len: usize, tag: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ tag ^ (i >> 9) as u8)
        .collect()
}

/// Holes and keepers written alternately, the holes deleted, then `/big.bin` written over them: its
/// clusters fill the holes first, so it is scattered when they are smaller than it.
fn scattered(fat: u8, holes: &[usize], big_len: usize, tag: u8) -> (Disk, Vec<u8>) {
    let disk = Disk::new(fat);
    for (i, &len) in holes.iter().enumerate() {
        disk.put(&format!("/h{i}.bin"), &pattern(len, 1));
        disk.put(&format!("/k{i}.bin"), &pattern(100 + i, 2));
    }
    for i in 0..holes.len() {
        disk.delete(&format!("/h{i}.bin"));
    }
    if fat == 32 {
        disk.forget_next_free_hint();
    }
    let big = pattern(big_len, tag);
    disk.put("/big.bin", &big);
    (disk, big)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn scattered_files_come_out_whole(
        fat in prop::sample::select(vec![16u8, 32]),
        holes in prop::collection::vec(1usize..12_000, 0..5),
        big_len in 0usize..60_000,
        tag: u8,
    ) {
        let (disk, big) = scattered(fat, &holes, big_len, tag);
        let bytes = disk.bytes();
        let fs = BootFs::open(&bytes).unwrap();
        let mut dst = vec![0xaau8; big_len + 17];
        let mut seen = Vec::new();
        let len = fs.copy_file("/big.bin", &mut dst, |c| seen.extend_from_slice(c)).unwrap();
        prop_assert_eq!(len as usize, big_len);
        prop_assert_eq!(&dst[..big_len], &big[..]);
        prop_assert_eq!(&seen[..], &big[..]);
        // Past the file, `dst` is untouched.
        prop_assert!(dst[big_len..].iter().all(|&b| b == 0xaa));
        if big_len > 0 {
            // One byte short of room: refused before anything is written.
            let mut small = vec![0x55u8; big_len - 1];
            let err = fs.copy_file("/big.bin", &mut small, |_| {}).unwrap_err();
            prop_assert_eq!(err, FsError::TooLarge { size: big_len as u32, room: big_len - 1 });
            prop_assert!(small.iter().all(|&b| b == 0x55));
        }
    }

    #[test]
    fn hostile_bytes_never_panic(
        patches in prop::collection::vec((0usize..40_000, any::<u8>()), 1..40),
    ) {
        static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let base = BASE.get_or_init(|| scattered(16, &[3_000, 5_000], 20_000, 7).0.bytes());
        let mut bytes = base.clone();
        for (at, b) in patches {
            // Most of the metadata (boot sector, FATs, root directory) is in the first 40 KB.
            let at = at % bytes.len();
            bytes[at] = b;
        }
        if let Ok(fs) = BootFs::open(&bytes) {
            let mut dst = vec![0u8; 32_768];
            let mut seen = Vec::new();
            if let Ok(len) = fs.copy_file("/big.bin", &mut dst, |c| seen.extend_from_slice(c)) {
                prop_assert_eq!(&seen[..], &dst[..len as usize]);
            }
        }
    }
}
