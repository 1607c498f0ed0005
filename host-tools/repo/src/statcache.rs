//! What lets a commit skip reading unchanged files.
//!
//! - [`DevIno`] (`commit --link-checkout-speedup`, as ostree): a file that is a hard link of one of this
//!   repository's content objects (what `checkout -H` makes) has that object's checksum. Built per commit
//!   from the object directories' entries (`readdir` gives the inode: no `stat` per object).
//! - [`StatCache`]: the checksums of the previous commit of the same source directory, each kept with the
//!   file's device, inode, size, mode, owner, mtime and ctime; a file whose `lstat` still shows all of
//!   them is not read again. Kept in `cache/atomboot-commit/` under the repository (format:
//!   docs/FORMATS.md, "Commit stat cache"). It never makes a commit wrong:
//!   * every change to a file's content, mode, owner or xattrs sets its ctime to the current time, which
//!     a user cannot set back (restoring the mtime with `touch -d` still moves the ctime); a replaced file
//!     has a new inode;
//!   * a file whose mtime or ctime is within [`RACY_WINDOW`] of the commit's start is not cached (a
//!     change in the same clock tick as the read could leave every stamp as it was);
//!   * a checksum is used only if its object is still in the repository;
//!   * the cache belongs to one source directory and one set of `--owner-uid/--owner-gid` overrides, and
//!     a damaged file (its trailing SHA-256 does not match) is ignored.

use super::objects::Checksum;
use sha2::Digest;
use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Files changed this close to the commit's start are hashed again next time (covers file systems with
/// 1 s or 2 s timestamps, FAT's being the coarsest).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

const MAGIC: &[u8; 8] = b"ABSTAT1\n";

/// Device and inode of every content object of a bare or bare-user repository.
#[derive(Debug, Default)]
pub struct DevIno(HashMap<(u64, u64), Checksum>);

impl DevIno {
    /// Scans `objects/` (one `readdir` per object directory).
    pub fn scan(objects: &Path, ext: &str) -> DevIno {
        let mut map = HashMap::new();
        let Ok(rd) = fs::read_dir(objects) else {
            return DevIno(map);
        };
        let suffix = format!(".{ext}");
        for sub in rd.flatten() {
            let prefix = sub.file_name();
            let Some(prefix) = prefix.to_str().filter(|p| p.len() == 2) else {
                continue;
            };
            let Ok(md) = sub.metadata() else { continue };
            let dev = md.dev();
            let Ok(objs) = fs::read_dir(sub.path()) else {
                continue;
            };
            for o in objs.flatten() {
                use std::os::unix::fs::DirEntryExt;
                let name = o.file_name();
                let Some(rest) = name.to_str().and_then(|n| n.strip_suffix(&suffix)) else {
                    continue;
                };
                if let Some(c) = Checksum::from_hex(&format!("{prefix}{rest}")) {
                    map.insert((dev, o.ino()), c);
                }
            }
        }
        DevIno(map)
    }

    /// The object `md` is a hard link of, if any.
    pub fn lookup(&self, md: &fs::Metadata) -> Option<Checksum> {
        if md.nlink() < 2 {
            return None;
        }
        self.0.get(&(md.dev(), md.ino())).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a cached checksum is valid for: the file's `lstat` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl StatKey {
    pub fn of(md: &fs::Metadata) -> StatKey {
        StatKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            mtime: (md.mtime(), md.mtime_nsec()),
            ctime: (md.ctime(), md.ctime_nsec()),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.mode, self.uid, self.gid] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    const LEN: usize = 3 * 8 + 3 * 4 + 4 * 8;

    fn decode(b: &[u8]) -> Option<StatKey> {
        let u64_at = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
        let i64_at = |i: usize| Some(i64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        Some(StatKey {
            dev: u64_at(0)?,
            ino: u64_at(8)?,
            size: u64_at(16)?,
            mode: u32_at(24)?,
            uid: u32_at(28)?,
            gid: u32_at(32)?,
            mtime: (i64_at(36)?, i64_at(44)?),
            ctime: (i64_at(52)?, i64_at(60)?),
        })
    }

    /// Changed too close to `start` to be trusted next time.
    fn racy(&self, start: (i64, i64)) -> bool {
        let cutoff = (start.0 - RACY_WINDOW.as_secs() as i64, start.1);
        self.mtime >= cutoff || self.ctime >= cutoff
    }
}

/// The persistent cache of one source directory.
#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    /// What the cache was made with (`--owner-uid`, `--owner-gid`): another set starts afresh.
    options: Vec<u8>,
    old: HashMap<Vec<u8>, (StatKey, Checksum)>,
    new: Mutex<Vec<(Vec<u8>, StatKey, Checksum)>>,
    start: (i64, i64),
}

impl StatCache {
    /// Where the cache of `source` lives in the repository at `repo`.
    pub fn path_for(repo: &Path, source: &Path) -> PathBuf {
        let abs = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        let h = sha2::Sha256::digest(abs.as_os_str().as_bytes());
        let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
        repo.join("cache/atomboot-commit").join(hex)
    }

    /// Loads the cache (an absent, damaged or foreign one is empty) and notes the commit's start time.
    pub fn load(file: PathBuf, options: &[u8]) -> StatCache {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let old = fs::read(&file)
            .ok()
            .and_then(|b| Self::parse(&b, options))
            .unwrap_or_default();
        StatCache {
            file,
            options: options.to_vec(),
            old,
            new: Mutex::new(Vec::new()),
            start: (now.as_secs() as i64, i64::from(now.subsec_nanos())),
        }
    }

    fn parse(b: &[u8], options: &[u8]) -> Option<HashMap<Vec<u8>, (StatKey, Checksum)>> {
        let (body, sum) = b.split_at_checked(b.len().checked_sub(32)?)?;
        if sha2::Sha256::digest(body)[..] != *sum {
            return None;
        }
        let rest = body.strip_prefix(MAGIC)?;
        let olen = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        if rest.get(4..4 + olen)? != options {
            return None;
        }
        let mut rest = rest.get(4 + olen..)?;
        let mut map = HashMap::new();
        while !rest.is_empty() {
            let plen = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let path = rest.get(4..4 + plen)?.to_vec();
            let k = StatKey::decode(rest.get(4 + plen..)?)?;
            let at = 4 + plen + StatKey::LEN;
            let c = Checksum::from_slice(rest.get(at..at + 32)?)?;
            map.insert(path, (k, c));
            rest = rest.get(at + 32..)?;
        }
        Some(map)
    }

    /// The cached checksum of `rel` if its `lstat` is unchanged.
    pub fn lookup(&self, rel: &Path, md: &fs::Metadata) -> Option<Checksum> {
        let (k, c) = self.old.get(rel.as_os_str().as_bytes())?;
        (*k == StatKey::of(md) && !k.racy(self.start)).then_some(*c)
    }

    /// Records the checksum of `rel` as committed now (files changed just now are left out).
    pub fn record(&self, rel: &Path, md: &fs::Metadata, c: Checksum) {
        let k = StatKey::of(md);
        if k.racy(self.start) {
            return;
        }
        if let Ok(mut n) = self.new.lock() {
            n.push((rel.as_os_str().as_bytes().to_vec(), k, c));
        }
    }

    /// Writes what this commit recorded (the files it saw), replacing the old cache. A cache is a hint:
    /// write new + rename, without fsync (a torn file fails its checksum and is ignored).
    pub fn save(self) -> std::io::Result<()> {
        let entries = self.new.into_inner().unwrap_or_default();
        let mut b = Vec::with_capacity(64 + entries.len() * 120);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(self.options.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.options);
        for (p, k, c) in &entries {
            b.extend_from_slice(&(p.len() as u32).to_le_bytes());
            b.extend_from_slice(p);
            k.encode(&mut b);
            b.extend_from_slice(&c.0);
        }
        let sum = sha2::Sha256::digest(&b);
        b.extend_from_slice(&sum);
        let dir = self.file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &b)?;
        tmp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }

    /// Entries loaded from the previous commit.
    pub fn loaded(&self) -> usize {
        self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_damage_is_ignored() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("src/a");
        fs::create_dir(t.path().join("src")).unwrap();
        fs::write(&f, b"x").unwrap();
        // An old file: not racy.
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(1000))
            .unwrap();
        let md = fs::symlink_metadata(&f).unwrap();
        let cf = t.path().join("cache");
        let mut c = StatCache::load(cf.clone(), b"opts");
        // ctime is now: racy, so not recorded; pretend the commit started later.
        c.start.0 += 10;
        c.record(Path::new("a"), &md, Checksum([7; 32]));
        c.save().unwrap();
        let mut c = StatCache::load(cf.clone(), b"opts");
        c.start.0 += 10;
        assert_eq!(c.lookup(Path::new("a"), &md), Some(Checksum([7; 32])));
        assert_eq!(c.lookup(Path::new("b"), &md), None);
        assert_eq!(StatCache::load(cf.clone(), b"other").loaded(), 0);
        let mut b = fs::read(&cf).unwrap();
        let n = b.len();
        b[n / 2] ^= 1;
        fs::write(&cf, &b).unwrap();
        assert_eq!(StatCache::load(cf, b"opts").loaded(), 0);
    }

    #[test]
    fn a_file_changed_within_the_window_is_not_trusted() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("a");
        fs::write(&f, b"x").unwrap();
        let md = fs::symlink_metadata(&f).unwrap();
        let c = StatCache::load(t.path().join("cache"), b"");
        c.record(Path::new("a"), &md, Checksum([1; 32]));
        assert!(
            c.new.lock().unwrap().is_empty(),
            "just-written file recorded"
        );
    }
}
