//! `BootFs::copy_file` takes a file's bytes where they lie in the partition, one run of contiguous
//! clusters at a time: files whose clusters are scattered over the volume must come out whole and in order.
mod common;

use boot_agent::bootfs::{BootFs, FsError};
use common::Disk;

fn pattern(len: usize, tag: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + i / 251) as u8).wrapping_add(tag))
        .collect()
}

/// Copies `path` out of `disk` with the agent's reader; returns the bytes and the chunks `each` saw.
fn copy_out(disk: &Disk, path: &str, room: usize) -> (Result<Vec<u8>, FsError>, Vec<usize>) {
    let bytes = disk.bytes();
    let fs = BootFs::open(&bytes).expect("the test volume opens");
    let mut dst = vec![0u8; room];
    let mut chunks = Vec::new();
    let mut seen = Vec::new();
    let result = fs.copy_file(path, &mut dst, |chunk| {
        chunks.push(chunk.len());
        seen.extend_from_slice(chunk);
    });
    let out = result.map(|len| {
        let len = len as usize;
        // What `each` saw is exactly what landed in `dst`.
        assert_eq!(seen, dst[..len]);
        dst.truncate(len);
        dst
    });
    (out, chunks)
}

/// A volume where `/big.bin` is split in two: it fills the hole left by a deleted file, then continues
/// after a file that stayed.
fn fragmented(fat: u8) -> (Disk, Vec<u8>) {
    let disk = Disk::new(fat);
    disk.put("/hole.bin", &pattern(20_000, 1));
    disk.put("/keep.bin", &pattern(3_000, 2));
    disk.delete("/hole.bin");
    if fat == 32 {
        disk.forget_next_free_hint();
    }
    let big = pattern(200_000, 3);
    disk.put("/big.bin", &big);
    (disk, big)
}

#[test]
fn fragmented_files_are_copied_whole_and_in_order() {
    for fat in [16, 32] {
        let (disk, big) = fragmented(fat);
        // mtools agrees on the content.
        assert_eq!(disk.get("/big.bin"), big, "FAT{fat}: mtools");
        let (out, chunks) = copy_out(&disk, "/big.bin", 300_000);
        assert_eq!(out.expect("copy"), big, "FAT{fat}");
        // The file really is in (at least) two runs, so the test covers a jump between them.
        assert!(chunks.len() >= 2, "FAT{fat}: one run only: {chunks:?}");
        assert_eq!(chunks.iter().sum::<usize>(), big.len());
        // The file that stayed is intact too.
        let (keep, _) = copy_out(&disk, "/keep.bin", 3_000);
        assert_eq!(keep.expect("copy"), pattern(3_000, 2), "FAT{fat}");
    }
}

#[test]
fn a_contiguous_file_is_one_chunk_and_an_empty_file_none() {
    let disk = Disk::new(16);
    let data = pattern(123_457, 9);
    disk.put("/dir/one.bin", &data);
    disk.put("/dir/empty.bin", &[]);
    let (out, chunks) = copy_out(&disk, "/dir/one.bin", data.len());
    assert_eq!(out.expect("copy"), data);
    assert_eq!(chunks, vec![data.len()]);
    let (out, chunks) = copy_out(&disk, "/dir/empty.bin", 0);
    assert_eq!(out.expect("copy"), Vec::<u8>::new());
    assert!(chunks.is_empty());
}

#[test]
fn a_cluster_chain_shorter_than_the_directory_entry_is_corrupt() {
    // Cut /big.bin's chain after its first run by marking the run's last cluster as the chain's end.
    let (disk, _) = fragmented(16);
    let mut bytes = disk.bytes();
    let fs = BootFs::open(&bytes).expect("open");
    let mut first_run = 0usize;
    let mut dst = vec![0u8; 300_000];
    let mut calls = 0;
    fs.copy_file("/big.bin", &mut dst, |chunk| {
        if calls == 0 {
            first_run = chunk.len();
        }
        calls += 1;
    })
    .expect("copy");
    drop(fs);
    // FAT16 geometry from the boot sector.
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let sector = u16_at(&bytes, 11);
    let per_cluster = bytes[13] as usize * sector;
    let fat_at = u16_at(&bytes, 14) * sector;
    let fat_len = u16_at(&bytes, 22) * sector;
    let fats = bytes[16] as usize;
    // Follow /big.bin's chain from its directory entry to the last cluster of its first run.
    let root_at = fat_at + fats * fat_len;
    let root_len = u16_at(&bytes, 17) * 32;
    let entry = bytes[root_at..root_at + root_len]
        .chunks(32)
        .find(|e| &e[..11] == b"BIG     BIN")
        .expect("BIG.BIN in the root directory")
        .to_vec();
    let mut cluster = u16_at(&entry, 26);
    for _ in 1..first_run / per_cluster {
        cluster = u16_at(&bytes, fat_at + cluster * 2);
    }
    for copy in 0..fats {
        let at = fat_at + copy * fat_len + cluster * 2;
        bytes[at..at + 2].copy_from_slice(&0xffffu16.to_le_bytes());
    }
    let fs = BootFs::open(&bytes).expect("open");
    let err = fs.copy_file("/big.bin", &mut dst, |_| {}).unwrap_err();
    assert!(matches!(err, FsError::Corrupt(_)), "{err:?}");
}
