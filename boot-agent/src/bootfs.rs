//! The FAT boot partition held in RAM, read with `embedded-sdmmc` (FAT16/FAT32, long file names).
//!
//! The partition is a bare FAT volume (the boot script reads just partition 1 into RAM). embedded-sdmmc
//! expects a disk with an MBR, so block 0 of the block device is a synthesised MBR whose only partition
//! starts at block 1 and covers the volume.

use core::ops::ControlFlow;
use embedded_sdmmc::{
    Block, BlockCount, BlockDevice, BlockIdx, DirEntry, Mode, RawDirectory, RawFile, RawVolume,
    ShortFileName, TimeSource, Timestamp, VolumeIdx, VolumeManager,
};

const BLOCK: usize = Block::LEN;

/// The largest piece of a boot file copied to its load address before `each` (the hash) reads it back.
/// Copy and hash take turns on 8 KiB, so the hash reads what the copy just wrote from the data cache
/// (the am335x's Cortex-A8 has 32 KiB of L1 data cache): the bytes come from DRAM once, not twice.
pub const COPY_CHUNK: usize = 8 * 1024;

/// A read attempt outside the volume, or a write (the volume is read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfVolume;

impl core::fmt::Display for OutOfVolume {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("access outside the boot partition")
    }
}

impl core::error::Error for OutOfVolume {}

/// Where byte `offset` of disk block `block` lies in the volume: block 0 is the synthesised MBR, block 1
/// the volume's first. `None` for block 0 or an offset that does not fit a `usize`.
fn volume_offset(block: u32, offset: usize) -> Option<usize> {
    block
        .checked_sub(1)
        .and_then(|b| usize::try_from(b).ok())
        .and_then(|b| b.checked_mul(BLOCK))
        .and_then(|b| b.checked_add(offset))
}

/// A bare FAT volume in RAM, seen as a disk with one partition.
pub struct RamVolume<'a> {
    bytes: &'a [u8],
}

impl RamVolume<'_> {
    fn volume_blocks(&self) -> u32 {
        u32::try_from(self.bytes.len() / BLOCK).unwrap_or(u32::MAX.saturating_sub(1))
    }

    fn fake_mbr(&self, out: &mut [u8; BLOCK]) {
        out.fill(0);
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(dst) = out.get_mut(at..at.saturating_add(bytes.len())) {
                dst.copy_from_slice(bytes);
            }
        };
        put(446, &[0x00]); // not bootable
        put(450, &[0x0c]); // FAT32 LBA; embedded-sdmmc detects FAT16/32 from the boot sector itself
        put(454, &1u32.to_le_bytes());
        put(458, &self.volume_blocks().to_le_bytes());
        put(510, &[0x55, 0xaa]);
    }
}

impl BlockDevice for RamVolume<'_> {
    type Error = OutOfVolume;

    fn read(&self, blocks: &mut [Block], start_block_idx: BlockIdx) -> Result<(), OutOfVolume> {
        for (i, block) in blocks.iter_mut().enumerate() {
            let idx = u32::try_from(i)
                .ok()
                .and_then(|i| start_block_idx.0.checked_add(i))
                .ok_or(OutOfVolume)?;
            if idx == 0 {
                self.fake_mbr(&mut block.contents);
                continue;
            }
            let start = volume_offset(idx, 0).ok_or(OutOfVolume)?;
            let src = self
                .bytes
                .get(start..start.saturating_add(BLOCK))
                .ok_or(OutOfVolume)?;
            block.contents.copy_from_slice(src);
        }
        Ok(())
    }

    fn write(&self, _blocks: &[Block], _start: BlockIdx) -> Result<(), OutOfVolume> {
        Err(OutOfVolume)
    }

    fn num_blocks(&self) -> Result<BlockCount, OutOfVolume> {
        Ok(BlockCount(self.volume_blocks().saturating_add(1)))
    }
}

/// Timestamps are never written; any value will do.
pub struct NoClock;

impl TimeSource for NoClock {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp {
            year_since_1970: 50,
            zero_indexed_month: 0,
            zero_indexed_day: 0,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }
}

/// Why a file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    /// The partition is not a FAT16/FAT32 volume embedded-sdmmc can open.
    NotFat(&'static str),
    /// A path component does not exist.
    NotFound,
    /// A path component is a file where a directory is needed, or the other way round.
    WrongKind,
    /// The path is not absolute or has an empty component.
    BadPath,
    /// The file is larger than the room given for it.
    TooLarge {
        /// The file's size.
        size: u32,
        /// The room.
        room: usize,
    },
    /// The FAT structures are inconsistent (for example a cluster chain that ends early).
    Corrupt(&'static str),
}

impl core::fmt::Display for FsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FsError::NotFat(why) => write!(f, "boot partition is not a FAT16/32 volume ({why})"),
            FsError::NotFound => f.write_str("not found"),
            FsError::WrongKind => {
                f.write_str("is a directory where a file is needed (or the reverse)")
            }
            FsError::BadPath => f.write_str("bad path"),
            FsError::TooLarge { size, room } => {
                write!(f, "{size} bytes do not fit the {room} bytes of room")
            }
            FsError::Corrupt(why) => write!(f, "FAT is corrupt ({why})"),
        }
    }
}

fn map_err(e: embedded_sdmmc::Error<OutOfVolume>) -> FsError {
    use embedded_sdmmc::Error as E;
    match e {
        E::NotFound => FsError::NotFound,
        E::OpenedDirAsFile | E::OpenedFileAsDir => FsError::WrongKind,
        E::FilenameError(_) => FsError::BadPath,
        E::FormatError(why) => FsError::Corrupt(why),
        E::DeviceError(_) => FsError::Corrupt("reference outside the partition"),
        E::EndOfFile => FsError::Corrupt("file shorter than its directory entry"),
        E::BadCluster => FsError::Corrupt("bad cluster"),
        E::ConversionError => FsError::Corrupt("conversion error"),
        _ => FsError::Corrupt("unexpected state"),
    }
}

/// Room for one long file name as UTF-8 (255 UTF-16 units).
const LFN_ROOM: usize = 255 * 3;

/// The boot partition, opened.
pub struct BootFs<'a> {
    /// The whole volume, for reading file contents where they lie.
    partition: &'a [u8],
    mgr: VolumeManager<RamVolume<'a>, NoClock, 2, 2, 1>,
    volume: RawVolume,
}

impl<'a> BootFs<'a> {
    /// Opens the bare FAT volume `partition`.
    pub fn open(partition: &'a [u8]) -> Result<Self, FsError> {
        let mgr = VolumeManager::new_with_limits(RamVolume { bytes: partition }, NoClock, 1);
        let volume = mgr.open_raw_volume(VolumeIdx(0)).map_err(|e| match e {
            embedded_sdmmc::Error::FormatError(why) => FsError::NotFat(why),
            other => map_err(other),
        })?;
        Ok(BootFs {
            partition,
            mgr,
            volume,
        })
    }

    /// Finds `name` (long or short name, ASCII case-insensitive) in `dir`.
    fn find(&self, dir: RawDirectory, name: &str) -> Result<DirEntry, FsError> {
        let mut storage = [0u8; LFN_ROOM];
        let mut lfn = embedded_sdmmc::LfnBuffer::new(&mut storage);
        let mut found: Option<DirEntry> = None;
        self.mgr
            .iterate_dir_lfn(dir, &mut lfn, |entry, long| {
                let matches = long.is_some_and(|l| l.eq_ignore_ascii_case(name))
                    || short_name_matches(&entry.name, name);
                if matches && !entry.attributes.is_volume() {
                    found = Some(entry.clone());
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(map_err)?;
        found.ok_or(FsError::NotFound)
    }

    /// Opens the file at absolute `path` for reading; returns it and its length.
    fn open_file(&self, path: &str) -> Result<(RawFile, u32), FsError> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let mut parts = rest.split('/').peekable();
        let mut dir = self.mgr.open_root_dir(self.volume).map_err(map_err)?;
        let result = loop {
            let Some(part) = parts.next() else {
                break Err(FsError::BadPath);
            };
            if part.is_empty() {
                break Err(FsError::BadPath);
            }
            let entry = match self.find(dir, part) {
                Ok(e) => e,
                Err(e) => break Err(e),
            };
            if parts.peek().is_none() {
                if entry.attributes.is_directory() {
                    break Err(FsError::WrongKind);
                }
                break self
                    .mgr
                    .open_file_in_dir(dir, entry.name, Mode::ReadOnly)
                    .map(|f| (f, entry.size))
                    .map_err(map_err);
            }
            if !entry.attributes.is_directory() {
                break Err(FsError::WrongKind);
            }
            match self.mgr.open_dir(dir, entry.name) {
                Ok(next) => {
                    let _ = self.mgr.close_dir(dir);
                    dir = next;
                }
                Err(e) => break Err(map_err(e)),
            }
        };
        let _ = self.mgr.close_dir(dir);
        result
    }

    /// Copies the file at `path` into `dst` (which must have room for all of it), calling `each` on every
    /// copied chunk where it landed in `dst`. Returns the file's length.
    ///
    /// The file's bytes are taken where they lie in the in-RAM partition, one run of contiguous clusters
    /// at a time (embedded-sdmmc's `next_extent`), so each byte is read once from the partition, written
    /// once to `dst` and read once more by `each`; going through `read` would copy every 512-byte block
    /// twice more (into the block cache, then out of it). Each run is handed over in pieces of at most
    /// [`COPY_CHUNK`] bytes, each copied and then passed to `each` while it is still in the cache; a
    /// piece never spans two runs.
    pub fn copy_file(
        &self,
        path: &str,
        dst: &mut [u8],
        mut each: impl FnMut(&[u8]),
    ) -> Result<u32, FsError> {
        let (file, size) = self.open_file(path)?;
        let room = dst.len();
        let result = (|| {
            let too_large = FsError::TooLarge { size, room };
            let len = usize::try_from(size).map_err(|_| too_large)?;
            let mut rest = dst.get_mut(..len).ok_or(too_large)?;
            // The run being gathered: its start in the partition and its length.
            let mut run: Option<(usize, usize)> = None;
            loop {
                let extent = self.mgr.next_extent(file).map_err(map_err)?;
                let next = match extent {
                    Some((block, offset, n)) => Some((
                        volume_offset(block.0, offset)
                            .ok_or(FsError::Corrupt("reference outside the partition"))?,
                        usize::try_from(n).map_err(|_| too_large)?,
                    )),
                    None => None,
                };
                match (run, next) {
                    (Some((start, n)), Some((at, more))) if start.checked_add(n) == Some(at) => {
                        run = Some((start, n.saturating_add(more)));
                        continue;
                    }
                    _ => {}
                }
                if let Some((start, n)) = run {
                    rest = self.copy_run(start, n, rest, &mut each)?;
                }
                run = next;
                if run.is_none() {
                    break;
                }
            }
            if !rest.is_empty() {
                return Err(FsError::Corrupt("file shorter than its directory entry"));
            }
            Ok(size)
        })();
        let _ = self.mgr.close_file(file);
        result
    }

    /// Copies `n` partition bytes from `start` to the front of `dst`, [`COPY_CHUNK`] bytes at a time,
    /// hands each piece to `each` where it landed, and returns the rest of `dst`.
    fn copy_run<'d>(
        &self,
        start: usize,
        n: usize,
        dst: &'d mut [u8],
        each: &mut impl FnMut(&[u8]),
    ) -> Result<&'d mut [u8], FsError> {
        let src = start
            .checked_add(n)
            .and_then(|end| self.partition.get(start..end))
            .ok_or(FsError::Corrupt("reference outside the partition"))?;
        let (head, tail) = dst
            .split_at_mut_checked(n)
            .ok_or(FsError::Corrupt("file longer than its directory entry"))?;
        // Both sides are `n` bytes long, so the pieces pair up one to one, with equal lengths.
        for (to, from) in head.chunks_mut(COPY_CHUNK).zip(src.chunks(COPY_CHUNK)) {
            to.copy_from_slice(from);
            each(to);
        }
        Ok(tail)
    }

    /// Reads a whole small file into `buf`; `Ok(None)` when it does not exist.
    pub fn read_optional<'b>(
        &self,
        path: &str,
        buf: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, FsError> {
        match self.copy_file(path, buf, |_| {}) {
            Ok(len) => Ok(buf.get(..usize::try_from(len).unwrap_or(0))),
            Err(FsError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Compares a short name (`NAME.EXT`) with `name`, ASCII case-insensitively.
fn short_name_matches(short: &ShortFileName, name: &str) -> bool {
    let base = trim(short.base_name());
    let ext = trim(short.extension());
    let (want_base, want_ext) = match name.rsplit_once('.') {
        Some((b, e)) if !ext.is_empty() => (b, e),
        _ if ext.is_empty() => (name, ""),
        _ => return false,
    };
    base.eq_ignore_ascii_case(want_base.as_bytes()) && ext.eq_ignore_ascii_case(want_ext.as_bytes())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(0, |p| p.saturating_add(1));
    bytes.get(..end).unwrap_or(&[])
}
