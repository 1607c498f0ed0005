//! `static-delta generate`: the objects of the target commit that the source commit lacks, packed into
//! parts of at most `max_chunk_size` MB of payload: metadata first, then content sorted by file name
//! extension and name (similar files side by side compress better), symlinks last. A modified file
//! (same path in the source, else same base name and a size within 30 %) is sent as a bsdiff patch
//! against the old one when that is smaller; files larger than `min_fallback_size` MB that are not
//! patched become fallback objects, fetched on their own. Objects are read and diffed in parallel, and
//! parts are compressed in parallel.

use super::apply::{
    OP_BSPATCH, OP_CLOSE, OP_OPEN, OP_OPEN_SPLICE_AND_CLOSE, OP_SET_READ_SOURCE,
    OP_UNSET_READ_SOURCE,
};
use super::name::DeltaName;
use super::part::{self, Compression, Payload};
use super::superblock::{self, Endian, Fallback, ObjRef, PartHeader, Superblock, PART_VERSION};
use super::{varint, DeltaError};
use crate::gvariant::{self, Type, Value};
use crate::objects::{Checksum, Commit, DirTree, FileHeader, ObjectType};
use crate::store::Store;
use crate::RepoError;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;

/// `static-delta generate` options (ostree's names and defaults; sizes in units of 1,000,000 bytes).
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Parts inside the superblock (`--inline`).
    pub inline: bool,
    /// Unpatched files above this many MB are fallback objects; 0: none are (`--min-fallback-size`).
    pub min_fallback_size: u64,
    /// A part's payload stops growing past this many MB (`--max-chunk-size`).
    pub max_chunk_size: u64,
    /// Files whose old + new size exceeds this many MB are not bsdiffed (`--max-bsdiff-size`).
    pub max_bsdiff_size: u64,
    /// `--disable-bsdiff` sets this false.
    pub bsdiff: bool,
    /// The superblock's timestamp (seconds since the epoch).
    pub timestamp: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            inline: false,
            min_fallback_size: 4,
            max_chunk_size: 32,
            max_bsdiff_size: 128,
            bsdiff: true,
            timestamp: 0,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct Generated {
    pub name: DeltaName,
    pub parts: usize,
    pub fallbacks: usize,
    pub bsdiffs: usize,
    /// Bytes of superblock + parts (+ fallback objects as stored).
    pub total_size: u64,
}

/// The objects a commit reaches: metadata (dirtrees, dirmetas), content with one path each, and the
/// path of every content object.
#[derive(Default)]
struct Reach {
    meta: Vec<(ObjectType, Checksum)>,
    meta_set: HashSet<Checksum>,
    files: HashMap<Checksum, String>,
    paths: HashMap<String, Checksum>,
}

fn walk(store: &Store, commit: &Checksum) -> Result<(Reach, Commit), DeltaError> {
    let data = store.read_meta(commit, ObjectType::Commit)?;
    let c =
        Commit::parse(&data).map_err(|e| RepoError::Corrupt(format!("commit {commit}: {e}")))?;
    let mut r = Reach::default();
    let mut todo = vec![(String::new(), c.root_tree, c.root_meta)];
    let mut seen_trees = HashSet::new();
    while let Some((path, t, m)) = todo.pop() {
        if r.meta_set.insert(m) {
            r.meta.push((ObjectType::DirMeta, m));
        }
        if r.meta_set.insert(t) {
            r.meta.push((ObjectType::DirTree, t));
        }
        let dt = DirTree::parse(&store.read_meta(&t, ObjectType::DirTree)?)
            .map_err(|e| RepoError::Corrupt(format!("dirtree {t}: {e}")))?;
        for (n, f) in dt.files {
            let p = format!("{path}/{n}");
            r.files.entry(f).or_insert_with(|| p.clone());
            r.paths.insert(p, f);
        }
        for (n, tc, mc) in dt.dirs {
            // A tree seen at another path still gives its files those paths for matching.
            if seen_trees.insert((tc, format!("{path}/{n}"))) {
                todo.push((format!("{path}/{n}"), tc, mc));
            }
        }
    }
    Ok((r, c))
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn delta_candidate(p: &str) -> bool {
    !(p.ends_with(".xz") || p.ends_with(".bz2"))
}

fn read_content(store: &Store, c: &Checksum) -> Result<(FileHeader, Vec<u8>), DeltaError> {
    let (h, size, mut r) = store.open_content(c)?;
    let mut v = Vec::with_capacity(size as usize);
    r.read_to_end(&mut v)
        .map_err(|e| RepoError::Corrupt(format!("file object {c}: {e}")))?;
    Ok((h, v))
}

enum Item {
    Meta(ObjRef, Vec<u8>),
    Raw(Checksum, FileHeader, Vec<u8>),
    Patch {
        checksum: Checksum,
        header: FileHeader,
        size: u64,
        from: Checksum,
        patch: Vec<u8>,
    },
    Fallback(Fallback),
}

fn ctrl(out: &mut Vec<u8>, diff: u64, extra: u64, seek: i64) {
    out.extend_from_slice(&diff.to_le_bytes());
    out.extend_from_slice(&extra.to_le_bytes());
    let s = if seek < 0 {
        seek.unsigned_abs() | (1 << 63)
    } else {
        seek as u64
    };
    out.extend_from_slice(&s.to_le_bytes());
}

/// Where the old-file position ends after a bsdiff control stream (relative to where it started).
fn final_oldpos(patch: &[u8]) -> i64 {
    let (mut pos, mut old) = (0usize, 0i64);
    while let Some(c) = patch.get(pos..pos + 24) {
        let rd = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or([0; 8]));
        let (d, e, s) = (rd(0), rd(8), rd(16));
        let seek = if s & (1 << 63) != 0 {
            -((s & !(1 << 63)) as i64)
        } else {
            s as i64
        };
        old += d as i64 + seek;
        pos += 24 + d as usize + e as usize;
    }
    old
}

/// A bsdiff patch (ostree's stream: no header, controls interleaved with diff and extra bytes) of
/// `new` against `old`. The common prefix and suffix are sent as zero diffs and only the middle is
/// bsdiffed, so a small change in a large file costs a small suffix sort.
pub fn diff(old: &[u8], new: &[u8]) -> Vec<u8> {
    let p = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let s = old[p..]
        .iter()
        .rev()
        .zip(new[p..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (om, nm) = (&old[p..old.len() - s], &new[p..new.len() - s]);
    let mut out = Vec::new();
    if p > 0 {
        ctrl(&mut out, p as u64, 0, 0);
        out.resize(out.len() + p, 0);
    }
    let mut mid = Vec::new();
    if !nm.is_empty() {
        // Writing into a Vec cannot fail.
        let _ = bsdiff::diff(om, nm, &mut mid);
    }
    let old_end = p as i64 + final_oldpos(&mid);
    out.extend_from_slice(&mid);
    if s > 0 {
        ctrl(&mut out, 0, 0, (old.len() - s) as i64 - old_end);
        ctrl(&mut out, s as u64, 0, 0);
        out.resize(out.len() + s, 0);
    }
    out
}

fn storage_size(store: &Store, c: &Checksum) -> u64 {
    fs::symlink_metadata(store.object_path(c, ObjectType::File))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Decides and computes how each new content object travels.
#[allow(clippy::too_many_arguments)]
fn content_item(
    store: &Store,
    c: &Checksum,
    path: &str,
    from: Option<&Reach>,
    from_by_name: &HashMap<&str, Vec<Checksum>>,
    o: &GenerateOptions,
) -> Result<(Item, bool), DeltaError> {
    let (h, size, _) = store.open_content(c)?;
    if h.is_symlink() {
        return Ok((Item::Raw(*c, h, Vec::new()), false));
    }
    // The old version: the same path, else the same base name and a similar size.
    let mut old: Option<Checksum> = None;
    if o.bsdiff && size > 0 && delta_candidate(path) {
        if let Some(f) = from {
            if let Some(oc) = f.paths.get(path) {
                old = Some(*oc);
            } else if let Some(cands) = from_by_name.get(basename(path)) {
                for oc in cands {
                    let (oh, osize, _) = store.open_content(oc)?;
                    if !oh.is_symlink() && osize * 10 >= size * 7 && osize * 10 <= size * 13 {
                        old = Some(*oc);
                        break;
                    }
                }
            }
        }
    }
    if let Some(oc) = old {
        let (oh, old_bytes) = read_content(store, &oc)?;
        let total = old_bytes.len() as u64 + size;
        if !oh.is_symlink() && total <= o.max_bsdiff_size * 1_000_000 {
            let (_, new_bytes) = read_content(store, c)?;
            let patch = diff(&old_bytes, &new_bytes);
            // Zero diff bytes (unchanged runs) compress to almost nothing: what the patch costs is
            // what is not zero.
            let cost = patch.iter().filter(|b| **b != 0).count() as u64;
            if cost < size {
                return Ok((
                    Item::Patch {
                        checksum: *c,
                        header: h,
                        size,
                        from: oc,
                        patch,
                    },
                    true,
                ));
            }
            return Ok((Item::Raw(*c, h, new_bytes), false));
        }
    }
    if o.min_fallback_size > 0 && size > o.min_fallback_size * 1_000_000 {
        return Ok((
            Item::Fallback(Fallback {
                obj: ObjRef {
                    objtype: ObjectType::File,
                    checksum: *c,
                },
                compressed_size: storage_size(store, c),
                uncompressed_size: size,
            }),
            false,
        ));
    }
    let (_, bytes) = read_content(store, c)?;
    Ok((Item::Raw(*c, h, bytes), false))
}

#[derive(Default)]
struct PartBuilder {
    payload: Payload,
    objects: Vec<ObjRef>,
    usize: u64,
    modes: HashMap<(u32, u32, u32), u64>,
    xattrs: HashMap<crate::objects::Xattrs, u64>,
}

impl PartBuilder {
    fn mode_xattrs(&mut self, h: &FileHeader) -> (u64, u64) {
        let key = (h.uid, h.gid, h.mode);
        let n = self.payload.modes.len() as u64;
        let m = *self.modes.entry(key).or_insert_with(|| {
            self.payload.modes.push(key);
            n
        });
        let n = self.payload.xattrs.len() as u64;
        let x = *self.xattrs.entry(h.xattrs.clone()).or_insert_with(|| {
            self.payload.xattrs.push(h.xattrs.clone());
            n
        });
        (m, x)
    }

    fn add(&mut self, item: Item) {
        let ops = |b: &mut PartBuilder, op: u8, args: &[u64]| {
            b.payload.ops.push(op);
            for a in args {
                varint::write(&mut b.payload.ops, *a);
            }
        };
        match item {
            Item::Meta(obj, data) => {
                let off = self.payload.raw.len() as u64;
                self.payload.raw.extend_from_slice(&data);
                self.usize += data.len() as u64;
                ops(self, OP_OPEN_SPLICE_AND_CLOSE, &[data.len() as u64, off]);
                self.objects.push(obj);
            }
            Item::Raw(c, h, bytes) => {
                let (m, x) = self.mode_xattrs(&h);
                let data = if h.is_symlink() {
                    h.symlink.as_bytes().to_vec()
                } else {
                    bytes
                };
                let off = self.payload.raw.len() as u64;
                self.payload.raw.extend_from_slice(&data);
                self.usize += data.len() as u64;
                ops(
                    self,
                    OP_OPEN_SPLICE_AND_CLOSE,
                    &[m, x, data.len() as u64, off],
                );
                self.objects.push(ObjRef {
                    objtype: ObjectType::File,
                    checksum: c,
                });
            }
            Item::Patch {
                checksum,
                header,
                size,
                from,
                patch,
            } => {
                let (m, x) = self.mode_xattrs(&header);
                let src = self.payload.raw.len() as u64;
                self.payload.raw.extend_from_slice(&from.0);
                ops(self, OP_SET_READ_SOURCE, &[src]);
                ops(self, OP_OPEN, &[m, x, size]);
                let off = self.payload.raw.len() as u64;
                self.payload.raw.extend_from_slice(&patch);
                ops(self, OP_BSPATCH, &[off, patch.len() as u64]);
                ops(self, OP_CLOSE, &[]);
                ops(self, OP_UNSET_READ_SOURCE, &[]);
                self.usize += size;
                self.objects.push(ObjRef {
                    objtype: ObjectType::File,
                    checksum,
                });
            }
            Item::Fallback(_) => {}
        }
    }
}

fn item_len(i: &Item) -> u64 {
    match i {
        Item::Meta(_, d) | Item::Raw(_, _, d) => d.len() as u64,
        Item::Patch { patch, .. } => patch.len() as u64 + 32,
        Item::Fallback(_) => 0,
    }
}

/// Sort key for content: extension, base name, path (symlinks last).
fn order_key(path: &str, symlink: bool) -> (bool, String, String, String) {
    let b = basename(path);
    let ext = b.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    (symlink, ext.to_string(), b.to_string(), path.to_string())
}

/// Generates the delta `from` (or from scratch) -> `to` into the repository's `deltas/` directory,
/// replacing one that exists.
pub fn generate(
    store: &Store,
    from: Option<Checksum>,
    to: Checksum,
    o: &GenerateOptions,
) -> Result<Generated, DeltaError> {
    let name = DeltaName { from, to };
    let (to_reach, _) = walk(store, &to)?;
    let from_reach = match &from {
        Some(f) => Some(walk(store, f)?.0),
        None => None,
    };
    let empty = Reach::default();
    let fr = from_reach.as_ref().unwrap_or(&empty);
    let mut from_by_name: HashMap<&str, Vec<Checksum>> = HashMap::new();
    for (p, c) in &fr.paths {
        from_by_name.entry(basename(p)).or_default().push(*c);
    }
    // New metadata, read in parallel.
    let metas: Vec<(ObjectType, Checksum)> = to_reach
        .meta
        .iter()
        .filter(|(_, c)| !fr.meta_set.contains(c))
        .copied()
        .collect();
    let mut items: Vec<Item> = metas
        .par_iter()
        .map(|(t, c)| {
            Ok(Item::Meta(
                ObjRef {
                    objtype: *t,
                    checksum: *c,
                },
                store.read_meta(c, *t)?,
            ))
        })
        .collect::<Result<_, DeltaError>>()?;
    items.sort_by_key(|i| match i {
        Item::Meta(o, _) => (superblock::objtype_byte(o.objtype), o.checksum),
        _ => (0, Checksum([0; 32])),
    });
    // New content: decided, read and diffed in parallel.
    let mut new_content: Vec<(&Checksum, &String)> = to_reach
        .files
        .iter()
        .filter(|(c, _)| !fr.files.contains_key(*c))
        .collect();
    new_content.sort_by_key(|(_, p)| order_key(p, false));
    let computed: Vec<(Item, bool, bool, String)> = new_content
        .par_iter()
        .map(|(c, p)| {
            let (item, patched) = content_item(store, c, p, from_reach.as_ref(), &from_by_name, o)?;
            let symlink = matches!(&item, Item::Raw(_, h, _) if h.is_symlink());
            Ok((item, patched, symlink, (*p).clone()))
        })
        .collect::<Result<_, DeltaError>>()?;
    let mut content: Vec<(Item, bool, bool, String)> = computed;
    content.sort_by_key(|a| order_key(&a.3, a.2));
    let bsdiffs = content.iter().filter(|c| c.1).count();
    let mut fallbacks = Vec::new();
    for (i, _, _, _) in content {
        match i {
            Item::Fallback(f) => fallbacks.push(f),
            other => items.push(other),
        }
    }
    // Parts.
    let max_chunk = o.max_chunk_size.saturating_mul(1_000_000);
    let mut builders: Vec<PartBuilder> = vec![PartBuilder::default()];
    for it in items {
        let cur = builders
            .last_mut()
            .map(|b| (b.objects.is_empty(), b.payload.raw.len() as u64));
        if let Some((false, len)) = cur {
            if len + item_len(&it) > max_chunk {
                builders.push(PartBuilder::default());
            }
        }
        if let Some(b) = builders.last_mut() {
            b.add(it);
        }
    }
    let encoded: Vec<(Vec<u8>, PartHeader)> = builders
        .into_par_iter()
        .map(|b| {
            let bytes = part::encode(&b.payload.serialize(), Compression::Xz)?;
            let h = PartHeader {
                version: PART_VERSION,
                checksum: Checksum::of(&bytes),
                size: bytes.len() as u64,
                usize: b.usize,
                objects: b.objects,
            };
            Ok((bytes, h))
        })
        .collect::<Result<_, DeltaError>>()?;
    // Superblock.
    let mut metadata: Vec<(String, Type, Value)> =
        vec![("ostree.endianness".into(), Type::Byte, Value::Byte(b'l'))];
    if o.inline {
        for (i, (bytes, _)) in encoded.iter().enumerate() {
            metadata.push(superblock::inline_entry(&name, i, bytes)?);
        }
    }
    if store.has_object(&to, ObjectType::CommitMeta) {
        let cm = store.read_meta(&to, ObjectType::CommitMeta)?;
        let t =
            Type::parse("a{sv}").map_err(|e| DeltaError::malformed("commitmeta", e.to_string()))?;
        let v = gvariant::parse(&t, &cm)
            .map_err(|e| DeltaError::malformed("commitmeta", e.to_string()))?;
        metadata.push((name.commitmeta_key(), t, v));
    }
    let commit = store.read_meta(&to, ObjectType::Commit)?;
    let sb = Superblock {
        metadata,
        timestamp: o.timestamp,
        name,
        commit,
        parts: encoded.iter().map(|(_, h)| h.clone()).collect(),
        fallbacks,
        endian: Endian::Little,
        endian_guessed: false,
    };
    let sb_bytes = sb.serialize()?;
    // The receiver hashes the embedded commit: it must come out byte for byte.
    Superblock::parse(&sb_bytes)?;
    let dir = store.path.join(name.dir());
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| RepoError::Io {
            path: dir.clone(),
            what: "remove old delta".into(),
            source: e,
        })?;
    }
    fs::create_dir_all(&dir).map_err(|e| RepoError::Io {
        path: dir.clone(),
        what: "create directory".into(),
        source: e,
    })?;
    let mut total = sb_bytes.len() as u64;
    if !o.inline {
        for (i, (bytes, _)) in encoded.iter().enumerate() {
            super::write_public(&dir.join(i.to_string()), bytes)?;
            total += bytes.len() as u64;
        }
    }
    super::write_public(&dir.join("superblock"), &sb_bytes)?;
    total += sb.fallbacks.iter().map(|f| f.compressed_size).sum::<u64>();
    Ok(Generated {
        name,
        parts: encoded.len(),
        fallbacks: sb.fallbacks.len(),
        bsdiffs,
        total_size: total,
    })
}
