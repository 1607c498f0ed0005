//! A FAT file system inside an image, through `fatfs` with a sector cache and an ordered flush.

use super::storage::Storage;
use super::{clean, find_fat, BootFs};
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

/// Cache granularity: the 512-byte sector every FAT device has.
const SECTOR: u64 = 512;

/// Sectors written during one operation, kept in memory until the operation ends (see
/// [`ImageBootFs`]: they are then written in a power-safe order).
#[derive(Default)]
struct Cache {
    sectors: std::collections::BTreeMap<u64, Vec<u8>>,
}

/// The FAT partition inside a shared storage, seen through the operation's sector cache.
struct Window {
    inner: Shared,
    cache: Rc<RefCell<Cache>>,
    start: u64,
    len: u64,
    pos: u64,
}

type Shared = Rc<RefCell<Box<dyn Storage>>>;

fn read_sector(inner: &Shared, start: u64, index: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; SECTOR as usize];
    let mut st = inner.borrow_mut();
    st.seek(SeekFrom::Start(start + index * SECTOR))?;
    st.read_exact(&mut buf)?;
    Ok(buf)
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let index = self.pos / SECTOR;
        let within = (self.pos % SECTOR) as usize;
        let n = n.min(SECTOR as usize - within);
        let cache = self.cache.borrow();
        if let Some(sector) = cache.sectors.get(&index) {
            buf[..n].copy_from_slice(&sector[within..within + n]);
        } else {
            drop(cache);
            let mut st = self.inner.borrow_mut();
            st.seek(SeekFrom::Start(self.start + self.pos))?;
            st.read_exact(&mut buf[..n])?;
        }
        self.pos += n as u64;
        Ok(n)
    }
}
impl Write for Window {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the FAT partition",
            ));
        }
        let index = self.pos / SECTOR;
        let within = (self.pos % SECTOR) as usize;
        let n = n.min(SECTOR as usize - within);
        let mut cache = self.cache.borrow_mut();
        let sector = match cache.sectors.entry(index) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(read_sector(&self.inner, self.start, index)?)
            }
        };
        sector[within..within + n].copy_from_slice(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Seek for Window {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if new < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the partition start",
            ));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}

#[derive(Debug)]
struct FixedTime;

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 2020,
            month: 1,
            day: 1,
        }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FIXED_TIME: FixedTime = FixedTime;

/// A FAT file system inside an image, written power-safely although the FAT library writes piecemeal.
///
/// Every operation mounts, acts and unmounts with all writes held in a sector cache; then the changed
/// sectors (those whose bytes differ from the storage) are written whole, in an order that keeps every
/// intermediate state consistent, with a sync after each group:
/// - creating: first sectors of clusters that were free before the operation (new file data, new
///   directories: nothing references them yet), then the FAT copies (the clusters become allocated), then
///   the rest (the directory entries that name the new files; at most a leak of clusters before this);
/// - removing: first the directory sectors (the entries disappear), then the FAT (the clusters are freed);
///   never a FAT freeing clusters that an entry still names;
/// - overwriting in place: only the file's own sectors change (its directory entry is rewritten with the
///   same bytes, since timestamps are a fixed date, and so is not written at all).
pub struct ImageBootFs {
    storage: Shared,
    start: u64,
    len: u64,
    geo: Geometry,
    name: String,
}

/// Where the FAT regions are, in 512-byte sectors from the partition start.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    fat_start: u64,
    fat_end: u64,
    data_start: u64,
    sectors_per_cluster: u64,
    fat_bits: u8,
    /// FAT32's root directory cluster (0 on FAT12/16).
    root_cluster: u64,
}

impl Geometry {
    fn parse(bpb: &[u8; 64]) -> Option<Geometry> {
        let u16at = |o: usize| u16::from_le_bytes([bpb[o], bpb[o + 1]]) as u64;
        let u32at =
            |o: usize| u32::from_le_bytes([bpb[o], bpb[o + 1], bpb[o + 2], bpb[o + 3]]) as u64;
        let bps = u16at(11);
        let spc = bpb[13] as u64;
        let reserved = u16at(14);
        let fats = bpb[16] as u64;
        let root_entries = u16at(17);
        let total = if u16at(19) != 0 { u16at(19) } else { u32at(32) };
        let fat_size = if u16at(22) != 0 { u16at(22) } else { u32at(36) };
        if !matches!(bps, 512 | 1024 | 2048 | 4096) || spc == 0 || fats == 0 {
            return None;
        }
        let first_data = reserved + fats * fat_size + (root_entries * 32).div_ceil(bps);
        let clusters = total.checked_sub(first_data)? / spc;
        let fat_bits = if clusters < 4085 {
            12
        } else if clusters < 65525 {
            16
        } else {
            32
        };
        let k = bps / SECTOR;
        Some(Geometry {
            fat_start: reserved * k,
            fat_end: (reserved + fats * fat_size) * k,
            data_start: first_data * k,
            sectors_per_cluster: spc * k,
            fat_bits,
            root_cluster: if fat_bits == 32 { u32at(44) } else { 0 },
        })
    }

    /// The cluster holding `sector`, if it is in the data region.
    fn cluster_of(&self, sector: u64) -> Option<u64> {
        sector
            .checked_sub(self.data_start)
            .map(|d| d / self.sectors_per_cluster + 2)
    }
}

/// Which changes go first (see [`ImageBootFs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Create,
    Remove,
    ReadOnly,
}

type Fs = fatfs::FileSystem<Window>;
type FatDir<'a> = fatfs::Dir<'a, Window>;

impl ImageBootFs {
    /// A FAT image (bare or behind an MBR) in `storage`.
    pub fn new(mut storage: Box<dyn Storage>, name: String) -> Result<ImageBootFs> {
        let (start, len) =
            find_fat(storage.as_mut()).with_context(|| format!("boot image {name}"))?;
        let mut bpb = [0u8; 64];
        storage.seek(SeekFrom::Start(start))?;
        storage
            .read_exact(&mut bpb)
            .with_context(|| format!("boot image {name}: cannot read the boot sector"))?;
        let geo = Geometry::parse(&bpb)
            .with_context(|| format!("boot image {name}: not a FAT boot sector"))?;
        if geo.fat_bits == 12 {
            anyhow::bail!(
                "boot image {name} is FAT12, which the boot agent cannot read: make the boot partition FAT16 or FAT32 (mkfs.vfat -F 16)"
            );
        }
        Ok(ImageBootFs {
            storage: Rc::new(RefCell::new(storage)),
            start,
            len,
            geo,
            name,
        })
    }

    /// True when `cluster` is free in the FAT as stored (before this operation's writes).
    fn was_free(&self, cluster: u64) -> io::Result<bool> {
        let (byte, width) = match self.geo.fat_bits {
            12 => (cluster * 3 / 2, 2),
            16 => (cluster * 2, 2),
            _ => (cluster * 4, 4),
        };
        let mut buf = [0u8; 4];
        let mut st = self.storage.borrow_mut();
        st.seek(SeekFrom::Start(
            self.start + self.geo.fat_start * SECTOR + byte,
        ))?;
        st.read_exact(&mut buf[..width])?;
        let v = u32::from_le_bytes(buf);
        let entry = match self.geo.fat_bits {
            12 if cluster % 2 == 1 => v >> 4,
            12 => v & 0xfff,
            16 => v & 0xffff,
            _ => v & 0x0fff_ffff,
        };
        Ok(entry == 0)
    }

    fn with_fs<R>(
        &mut self,
        what: &str,
        order: Order,
        f: impl FnOnce(&Fs) -> io::Result<R>,
    ) -> Result<R> {
        let cache = Rc::new(RefCell::new(Cache::default()));
        let window = Window {
            inner: self.storage.clone(),
            cache: cache.clone(),
            start: self.start,
            len: self.len,
            pos: 0,
        };
        let opts = fatfs::FsOptions::new()
            .update_accessed_date(false)
            .time_provider(&FIXED_TIME);
        let fs = fatfs::FileSystem::new(window, opts)
            .with_context(|| format!("{}: not a FAT file system that can be read", self.name))?;
        let result = f(&fs);
        let unmounted = fs.unmount();
        // A failed operation still writes what it did (for example the removal of a partial file after
        // ENOSPC), in the same safe order.
        let sectors = std::mem::take(&mut cache.borrow_mut().sectors);
        if order != Order::ReadOnly {
            self.flush(sectors, order)
                .with_context(|| format!("{}: cannot write after {what}", self.name))?;
        }
        let value = result.with_context(|| format!("{}: {what}", self.name))?;
        unmounted.with_context(|| format!("{}: cannot unmount after {what}", self.name))?;
        Ok(value)
    }

    fn flush(
        &mut self,
        mut sectors: std::collections::BTreeMap<u64, Vec<u8>>,
        order: Order,
    ) -> io::Result<()> {
        fix_dot_entries(&self.geo, &mut sectors);
        let mut new_data = Vec::new();
        let mut fat = Vec::new();
        let mut rest = Vec::new();
        for (index, bytes) in sectors {
            if read_sector(&self.storage, self.start, index)? == bytes {
                continue;
            }
            if index >= self.geo.fat_start && index < self.geo.fat_end {
                fat.push((index, bytes));
            } else if match self.geo.cluster_of(index) {
                Some(c) => self.was_free(c)?,
                None => false,
            } {
                new_data.push((index, bytes));
            } else {
                rest.push((index, bytes));
            }
        }
        let groups = match order {
            Order::Create | Order::ReadOnly => [new_data, fat, rest],
            Order::Remove => [rest, fat, new_data],
        };
        for group in groups {
            if group.is_empty() {
                continue;
            }
            let mut st = self.storage.borrow_mut();
            for (index, bytes) in group {
                st.seek(SeekFrom::Start(self.start + index * SECTOR))?;
                st.write_all(&bytes)?;
            }
            st.sync()?;
        }
        Ok(())
    }
}

/// fatfs 0.3 writes a long-name entry before the `.` and `..` entries of a directory it creates, so `.` is
/// not in slot 0 and `..` not in slot 1, as the FAT specification and fsck.vfat require. In the sectors an
/// operation wrote, this finds a cluster start with exactly that layout (LFN, `.`, LFN, `..`: only a
/// directory created by this operation looks so) and rewrites its first four slots as `.`, `..`, deleted,
/// deleted (deleted, not end markers: entries created after them in the same operation stay visible).
fn fix_dot_entries(geo: &Geometry, sectors: &mut std::collections::BTreeMap<u64, Vec<u8>>) {
    for (index, head) in sectors.iter_mut() {
        let at_cluster_start = index
            .checked_sub(geo.data_start)
            .is_some_and(|d| d % geo.sectors_per_cluster == 0);
        if !at_cluster_start || head.len() < 128 {
            continue;
        }
        let is_lfn = |e: &[u8]| e[11] == 0x0f;
        let dot = head[32..64].to_vec();
        let dotdot = head[96..128].to_vec();
        if is_lfn(&head[0..32])
            && is_lfn(&head[64..96])
            && &dot[0..11] == b".          "
            && &dotdot[0..11] == b"..         "
            && dot[11] & 0x10 != 0
            && dotdot[11] & 0x10 != 0
        {
            let mut fixed = [0u8; 128];
            fixed[0..32].copy_from_slice(&dot);
            fixed[32..64].copy_from_slice(&dotdot);
            // `..` of a directory in the root names cluster 0 (the FAT specification), also on FAT32
            // where fatfs writes the root's real cluster.
            let parent = u64::from(u16::from_le_bytes([dotdot[20], dotdot[21]])) << 16
                | u64::from(u16::from_le_bytes([dotdot[26], dotdot[27]]));
            if geo.root_cluster != 0 && parent == geo.root_cluster {
                fixed[32 + 20..32 + 22].fill(0);
                fixed[32 + 26..32 + 28].fill(0);
            }
            fixed[64] = 0xe5;
            fixed[96] = 0xe5;
            head[..128].copy_from_slice(&fixed);
        }
    }
}

fn open_parent<'a>(fs: &'a Fs, path: &str, create: bool) -> io::Result<(FatDir<'a>, String)> {
    let mut dir = fs.root_dir();
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let last = parts.pop().unwrap_or("").to_string();
    for p in parts {
        dir = match dir.open_dir(p) {
            Ok(d) => d,
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => dir.create_dir(p)?,
            Err(e) => return Err(e),
        };
    }
    Ok((dir, last))
}

fn find_entry<'a>(dir: &FatDir<'a>, name: &str) -> io::Result<Option<fatfs::DirEntry<'a, Window>>> {
    for e in dir.iter() {
        let e = e?;
        if e.file_name().eq_ignore_ascii_case(name) {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// Boot directories are two levels deep; deeper means a damaged directory (for example an entry pointing
/// back at an ancestor after a torn write): stop with an error instead of recursing forever.
const MAX_DEPTH: usize = 8;

fn remove_tree(dir: &FatDir<'_>, name: &str, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(
            "directory nesting too deep: the FAT looks damaged here; check it with fsck.vfat",
        ));
    }
    let Some(entry) = find_entry(dir, name)? else {
        return Ok(());
    };
    if entry.is_dir() {
        let sub = entry.to_dir();
        let names: Vec<String> = sub
            .iter()
            .filter_map(|e| e.ok())
            .filter(|e| {
                let short = e.short_file_name_as_bytes();
                short != b"." && short != b".."
            })
            .map(|e| e.file_name())
            .filter(|n| n != "." && n != "..")
            .collect();
        for n in names {
            remove_tree(&sub, &n, depth + 1)?;
        }
    }
    dir.remove(name)
}

impl BootFs for ImageBootFs {
    fn describe(&self) -> String {
        if self.start == 0 {
            self.name.clone()
        } else {
            format!("{} (FAT partition at byte {})", self.name, self.start)
        }
    }

    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let path = clean(path)?;
        self.with_fs(&format!("cannot read {path}"), Order::ReadOnly, |fs| {
            let (dir, name) = match open_parent(fs, &path, false) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            match find_entry(&dir, &name)? {
                Some(e) if e.is_file() => {
                    let mut bytes = Vec::new();
                    e.to_file().read_to_end(&mut bytes)?;
                    Ok(Some(bytes))
                }
                _ => Ok(None),
            }
        })
    }

    fn create(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let path = clean(path)?;
        self.with_fs(&format!("cannot write {path}"), Order::Create, |fs| {
            let (dir, name) = open_parent(fs, &path, true)?;
            if find_entry(&dir, &name)?.is_some() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
            }
            let mut f = dir.create_file(&name)?;
            let written = f.write_all(data).and_then(|()| f.flush());
            if let Err(e) = written {
                drop(f);
                // Give back the clusters of the partial file (best effort): nothing names it.
                let _ = dir.remove(&name);
                let kind = if fs.stats().map(|s| s.free_clusters() == 0).unwrap_or(false) {
                    io::ErrorKind::StorageFull
                } else {
                    e.kind()
                };
                return Err(io::Error::new(
                    kind,
                    format!("{e} (boot partition full? free space with `atomboot admin cleanup`)"),
                ));
            }
            Ok(())
        })
    }

    fn overwrite(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let path = clean(path)?;
        self.with_fs(
            &format!("cannot overwrite {path} in place"),
            Order::Create,
            |fs| {
                let (dir, name) = open_parent(fs, &path, false)?;
                let entry = find_entry(&dir, &name)?.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "missing (run `atomboot admin init-fs --boot` on this partition)",
                    )
                })?;
                if entry.len() != data.len() as u64 {
                    return Err(io::Error::other(format!(
                        "has {} bytes, expected its fixed size {}",
                        entry.len(),
                        data.len()
                    )));
                }
                let mut f = entry.to_file();
                f.write_all(data)?;
                f.flush()
            },
        )
    }

    fn remove_dir_all(&mut self, path: &str) -> Result<()> {
        let path = clean(path)?;
        self.with_fs(&format!("cannot remove {path}"), Order::Remove, |fs| {
            let (dir, name) = match open_parent(fs, &path, false) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            remove_tree(&dir, &name, 0)
        })
    }

    fn list_dir(&mut self, path: &str) -> Result<Vec<String>> {
        let path = clean(path)?;
        self.with_fs(&format!("cannot list {path}"), Order::ReadOnly, |fs| {
            let dir = if path.is_empty() {
                fs.root_dir()
            } else {
                match fs.root_dir().open_dir(&path) {
                    Ok(d) => d,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            };
            let mut names: Vec<String> = dir
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| n != "." && n != "..")
                .collect();
            names.sort();
            Ok(names)
        })
    }

    fn create_dir_all(&mut self, path: &str) -> Result<()> {
        let path = clean(path)?;
        if path.is_empty() {
            return Ok(());
        }
        self.with_fs(
            &format!("cannot create directory {path}"),
            Order::Create,
            |fs| {
                let mut dir = fs.root_dir();
                for p in path.split('/') {
                    dir = match dir.open_dir(p) {
                        Ok(d) => d,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => dir.create_dir(p)?,
                        Err(e) => return Err(e),
                    };
                }
                Ok(())
            },
        )
    }
}
