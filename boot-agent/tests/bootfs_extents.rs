//! `BootFs::copy_file` takes a file's bytes where they lie in the partition, one run of contiguous
//! clusters at a time, in pieces of at most `COPY_CHUNK` bytes that never span two runs: files whose
//! clusters are scattered over the volume must come out whole and in order.
mod common;

use boot_agent::bootfs::{BootFs, FsError, COPY_CHUNK};
use common::Disk;

/// The runs behind the pieces `each` saw: a run ends with a piece shorter than `COPY_CHUNK` (or with the
/// file). Every piece is checked to be at most `COPY_CHUNK`.
fn runs(chunks: &[usize]) -> Vec<usize> {
    let mut runs = Vec::new();
    let mut run = 0;
    for &chunk in chunks {
        assert!(
            chunk > 0 && chunk <= COPY_CHUNK,
            "piece of {chunk} bytes: {chunks:?}"
        );
        run += chunk;
        if chunk < COPY_CHUNK {
            runs.push(run);
            run = 0;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

/// The cluster size of the volume in `bytes` (from its boot sector).
fn cluster_bytes(bytes: &[u8]) -> usize {
    u16::from_le_bytes([bytes[11], bytes[12]]) as usize * bytes[13] as usize
}

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
        // The file really is in (at least) two runs, so the test covers a jump between them, and the
        // first run is exactly the hole: no piece ran past its end.
        let runs = runs(&chunks);
        assert!(runs.len() >= 2, "FAT{fat}: one run only: {chunks:?}");
        let cluster = cluster_bytes(&disk.bytes());
        assert_eq!(
            runs[0],
            20_000usize.div_ceil(cluster) * cluster,
            "FAT{fat}: {chunks:?}"
        );
        assert_eq!(chunks.iter().sum::<usize>(), big.len());
        // The file that stayed is intact too.
        let (keep, _) = copy_out(&disk, "/keep.bin", 3_000);
        assert_eq!(keep.expect("copy"), pattern(3_000, 2), "FAT{fat}");
    }
}

#[test]
fn a_contiguous_file_is_one_run_of_full_pieces_and_an_empty_file_none() {
    let disk = Disk::new(16);
    let data = pattern(123_457, 9);
    disk.put("/dir/one.bin", &data);
    disk.put("/dir/empty.bin", &[]);
    let (out, chunks) = copy_out(&disk, "/dir/one.bin", data.len());
    assert_eq!(out.expect("copy"), data);
    // Full pieces, then the rest: one run (embedded-sdmmc's `read` gave 16 KiB chunks of block-cache
    // copies; one `each` per cluster would show as pieces shorter than COPY_CHUNK).
    let mut expected = vec![COPY_CHUNK; data.len() / COPY_CHUNK];
    expected.push(data.len() % COPY_CHUNK);
    assert_eq!(chunks, expected);
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
    let mut chunks = Vec::new();
    let mut dst = vec![0u8; 300_000];
    fs.copy_file("/big.bin", &mut dst, |chunk| chunks.push(chunk.len()))
        .expect("copy");
    drop(fs);
    let first_run = runs(&chunks)[0];
    // FAT16 geometry from the boot sector.
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let sector = u16_at(&bytes, 11);
    let per_cluster = cluster_bytes(&bytes);
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
