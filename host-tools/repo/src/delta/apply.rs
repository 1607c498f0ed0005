//! Running a part: its operations are first read into a plan (which object is made from which bytes),
//! checked against the part's object list and the payload's bounds without touching the repository;
//! then every object is assembled, hashed and stored only if its checksum is the one the list names.
//!
//! Operations (opcode byte, then varints): `S` open-splice-and-close (metadata: length, offset; content:
//! mode index, xattr index, size, offset), `o` open (mode index, xattr index, size), `w` write (length,
//! offset: from the read source when one is set, else from the payload), `r` set read source (offset of
//! a 32-byte checksum in the payload), `R` unset read source, `c` close, `B` bspatch (offset, length of
//! a bsdiff patch against the read source).

use super::part::Payload;
use super::superblock::ObjRef;
use super::{varint, DeltaError};
use crate::objects::{Checksum, FileHeader, ObjectType, S_IFLNK, S_IFMT, S_IFREG};
use crate::store::Store;
use crate::RepoError;
use std::io::Read;
use std::ops::Range;

pub const OP_OPEN_SPLICE_AND_CLOSE: u8 = b'S';
pub const OP_OPEN: u8 = b'o';
pub const OP_WRITE: u8 = b'w';
pub const OP_SET_READ_SOURCE: u8 = b'r';
pub const OP_UNSET_READ_SOURCE: u8 = b'R';
pub const OP_CLOSE: u8 = b'c';
pub const OP_BSPATCH: u8 = b'B';

/// Largest content object a part may make (bounds what copies from a read source can amplify to).
pub const MAX_OBJECT: u64 = 1 << 30;

/// Where a piece of a content object comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Payload(Range<usize>),
    Source {
        source: Checksum,
        offset: u64,
        len: u64,
    },
    /// A bsdiff patch (payload range) applied to the whole read source: the object's whole content.
    Patch {
        source: Checksum,
        patch: Range<usize>,
    },
}

/// One object of a part, as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Build {
    Meta {
        obj: ObjRef,
        data: Range<usize>,
    },
    Content {
        checksum: Checksum,
        header: FileHeader,
        size: u64,
        pieces: Vec<Piece>,
    },
}

/// How many operations of each kind (for `static-delta show`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpCounts {
    pub open_splice_close: u32,
    pub open: u32,
    pub write: u32,
    pub set_read: u32,
    pub unset_read: u32,
    pub close: u32,
    pub bspatch: u32,
}

struct Ops<'a> {
    ops: &'a [u8],
    pos: usize,
}

impl Ops<'_> {
    fn varint(&mut self, op: char) -> Result<u64, DeltaError> {
        let rest = self.ops.get(self.pos..).unwrap_or_default();
        let (v, n) = varint::read(rest).ok_or_else(|| {
            DeltaError::malformed(
                "operations",
                format!("truncated varint in '{op}' at {}", self.pos),
            )
        })?;
        self.pos += n;
        Ok(v)
    }
}

fn range(p: &Payload, off: u64, len: u64, op: char) -> Result<Range<usize>, DeltaError> {
    let end = off.checked_add(len);
    match end {
        Some(e) if e <= p.raw.len() as u64 => Ok(off as usize..e as usize),
        _ => Err(DeltaError::malformed(
            "operations",
            format!(
                "'{op}' reads {len} bytes at {off}, past the payload's {} bytes",
                p.raw.len()
            ),
        )),
    }
}

fn header(
    p: &Payload,
    mode_i: u64,
    xattr_i: u64,
    what: &Checksum,
) -> Result<FileHeader, DeltaError> {
    let bad = |why: String| DeltaError::malformed("operations", format!("object {what}: {why}"));
    let (uid, gid, mode) = *usize::try_from(mode_i)
        .ok()
        .and_then(|i| p.modes.get(i))
        .ok_or_else(|| bad(format!("mode index {mode_i} out of range")))?;
    let xattrs = usize::try_from(xattr_i)
        .ok()
        .and_then(|i| p.xattrs.get(i))
        .ok_or_else(|| bad(format!("xattr index {xattr_i} out of range")))?
        .clone();
    let fmt = mode & S_IFMT;
    if fmt != S_IFREG && fmt != S_IFLNK {
        return Err(bad(format!(
            "mode {mode:o} is neither a regular file nor a symlink"
        )));
    }
    Ok(FileHeader {
        uid,
        gid,
        mode,
        symlink: String::new(),
        xattrs,
    })
}

struct Open {
    checksum: Checksum,
    header: FileHeader,
    size: u64,
    written: u64,
    pieces: Vec<Piece>,
}

/// Reads a part's operations into a plan. Every object of `objects` must be made, in order, and
/// nothing else; every offset must be inside the payload.
pub fn plan(objects: &[ObjRef], p: &Payload) -> Result<(Vec<Build>, OpCounts), DeltaError> {
    let mut o = Ops {
        ops: &p.ops,
        pos: 0,
    };
    let mut next = objects.iter();
    let mut out = Vec::new();
    let mut counts = OpCounts::default();
    let mut source: Option<Checksum> = None;
    let mut open: Option<Open> = None;
    let bad = |why: String| DeltaError::malformed("operations", why);
    while let Some(&op) = p.ops.get(o.pos) {
        o.pos += 1;
        match op {
            OP_OPEN_SPLICE_AND_CLOSE => {
                counts.open_splice_close += 1;
                if open.is_some() {
                    return Err(bad("'S' while an object is open".into()));
                }
                let obj = *next
                    .next()
                    .ok_or_else(|| bad("more objects made than the part lists".into()))?;
                if obj.objtype.is_meta() {
                    let len = o.varint('S')?;
                    let off = o.varint('S')?;
                    out.push(Build::Meta {
                        obj,
                        data: range(p, off, len, 'S')?,
                    });
                } else {
                    let m = o.varint('S')?;
                    let x = o.varint('S')?;
                    let size = o.varint('S')?;
                    let off = o.varint('S')?;
                    let mut h = header(p, m, x, &obj.checksum)?;
                    let r = range(p, off, size, 'S')?;
                    let (size, pieces) = if h.is_symlink() {
                        let t = std::str::from_utf8(p.raw.get(r).unwrap_or_default()).map_err(
                            |_| bad(format!("object {}: symlink target not UTF-8", obj.checksum)),
                        )?;
                        if t.is_empty() || t.contains('\0') {
                            return Err(bad(format!(
                                "object {}: bad symlink target",
                                obj.checksum
                            )));
                        }
                        h.symlink = t.to_string();
                        (0, Vec::new())
                    } else {
                        (size, vec![Piece::Payload(r)])
                    };
                    out.push(Build::Content {
                        checksum: obj.checksum,
                        header: h,
                        size,
                        pieces,
                    });
                }
                source = None;
            }
            OP_OPEN => {
                counts.open += 1;
                if open.is_some() {
                    return Err(bad("'o' while an object is open".into()));
                }
                let obj = *next
                    .next()
                    .ok_or_else(|| bad("more objects made than the part lists".into()))?;
                if obj.objtype != ObjectType::File {
                    return Err(bad(format!(
                        "'o' for {} object {}",
                        obj.objtype.name(),
                        obj.checksum
                    )));
                }
                let m = o.varint('o')?;
                let x = o.varint('o')?;
                let size = o.varint('o')?;
                let header = header(p, m, x, &obj.checksum)?;
                if header.is_symlink() {
                    return Err(bad(format!("'o' for symlink {}", obj.checksum)));
                }
                if size > MAX_OBJECT {
                    return Err(bad(format!("object {} of {size} bytes", obj.checksum)));
                }
                open = Some(Open {
                    checksum: obj.checksum,
                    header,
                    size,
                    written: 0,
                    pieces: Vec::new(),
                });
            }
            OP_WRITE => {
                counts.write += 1;
                let len = o.varint('w')?;
                let off = o.varint('w')?;
                let cur = open
                    .as_mut()
                    .ok_or_else(|| bad("'w' with no object open".into()))?;
                cur.written = cur.written.saturating_add(len);
                if cur.written > cur.size {
                    return Err(bad(format!(
                        "object {}: writes past its size {}",
                        cur.checksum, cur.size
                    )));
                }
                cur.pieces.push(match source {
                    Some(s) => Piece::Source {
                        source: s,
                        offset: off,
                        len,
                    },
                    None => Piece::Payload(range(p, off, len, 'w')?),
                });
            }
            OP_SET_READ_SOURCE => {
                counts.set_read += 1;
                let off = o.varint('r')?;
                let r = range(p, off, 32, 'r')?;
                source = Checksum::from_slice(p.raw.get(r).unwrap_or_default());
            }
            OP_UNSET_READ_SOURCE => {
                counts.unset_read += 1;
                source = None;
            }
            OP_CLOSE => {
                counts.close += 1;
                let cur = open
                    .take()
                    .ok_or_else(|| bad("'c' with no object open".into()))?;
                if cur.written != cur.size {
                    return Err(bad(format!(
                        "object {}: {} bytes written of {}",
                        cur.checksum, cur.written, cur.size
                    )));
                }
                out.push(Build::Content {
                    checksum: cur.checksum,
                    header: cur.header,
                    size: cur.size,
                    pieces: cur.pieces,
                });
                source = None;
            }
            OP_BSPATCH => {
                counts.bspatch += 1;
                let off = o.varint('B')?;
                let len = o.varint('B')?;
                let cur = open
                    .as_mut()
                    .ok_or_else(|| bad("'B' with no object open".into()))?;
                let s = source.ok_or_else(|| bad("'B' with no read source".into()))?;
                if cur.written != 0 {
                    return Err(bad(format!("object {}: 'B' after writes", cur.checksum)));
                }
                cur.written = cur.size;
                cur.pieces.push(Piece::Patch {
                    source: s,
                    patch: range(p, off, len, 'B')?,
                });
            }
            other => {
                return Err(bad(format!("unknown opcode {other} at {}", o.pos - 1)));
            }
        }
    }
    if let Some(cur) = open {
        return Err(bad(format!("object {} is never closed", cur.checksum)));
    }
    if next.next().is_some() {
        return Err(bad(
            "the operations make fewer objects than the part lists".into()
        ));
    }
    Ok((out, counts))
}

fn source_content(store: &Store, c: &Checksum) -> Result<Vec<u8>, DeltaError> {
    let (h, size, mut r) = store.open_content(c).map_err(|e| match e {
        RepoError::MissingObject(_) => DeltaError::MissingSource(*c),
        o => DeltaError::Repo(o),
    })?;
    if h.is_symlink() || size > MAX_OBJECT {
        return Err(DeltaError::malformed(
            "operations",
            format!("read source {c} is not a regular file the size a delta may read"),
        ));
    }
    let mut v = Vec::with_capacity(size as usize);
    r.read_to_end(&mut v)
        .map_err(|e| DeltaError::Repo(RepoError::Corrupt(format!("read source {c}: {e}"))))?;
    Ok(v)
}

/// The content a planned object is made of.
fn assemble(
    store: &Store,
    raw: &[u8],
    checksum: &Checksum,
    size: u64,
    pieces: &[Piece],
) -> Result<Vec<u8>, DeltaError> {
    let mut out = Vec::with_capacity(size.min(64 << 20) as usize);
    let mut cached: Option<(Checksum, Vec<u8>)> = None;
    for piece in pieces {
        match piece {
            Piece::Payload(r) => out.extend_from_slice(raw.get(r.clone()).unwrap_or_default()),
            Piece::Source {
                source,
                offset,
                len,
            } => {
                if cached.as_ref().map(|c| c.0) != Some(*source) {
                    cached = Some((*source, source_content(store, source)?));
                }
                let src = cached.as_ref().map(|c| c.1.as_slice()).unwrap_or_default();
                let got = offset
                    .checked_add(*len)
                    .and_then(|e| src.get(*offset as usize..e as usize))
                    .ok_or_else(|| {
                        DeltaError::malformed(
                            "operations",
                            format!("object {checksum}: reads {len} bytes at {offset} past the end of source {source}"),
                        )
                    })?;
                out.extend_from_slice(got);
            }
            Piece::Patch { source, patch } => {
                let old = source_content(store, source)?;
                let mut p = raw.get(patch.clone()).unwrap_or_default();
                bsdiff::patch(&old, &mut p, &mut out).map_err(|e| {
                    DeltaError::malformed("bsdiff patch", format!("object {checksum}: {e}"))
                })?;
            }
        }
    }
    if out.len() as u64 != size {
        return Err(DeltaError::malformed(
            "operations",
            format!(
                "object {checksum}: made {} bytes where {size} were announced",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn checked(e: RepoError, obj: &Checksum) -> DeltaError {
    match e {
        RepoError::Corrupt(m) => DeltaError::ObjectChecksum {
            object: *obj,
            detail: m,
        },
        o => DeltaError::Repo(o),
    }
}

/// An object assembled and verified, ready to be stored.
enum Made<'a> {
    Meta(ObjRef, &'a [u8]),
    Content(Checksum, &'a FileHeader, u64, Vec<u8>),
}

/// Stores the objects of a planned part that `store` lacks. Every object is assembled and checked
/// against its checksum first (in parallel); only when all of them match is any of them stored, so a
/// part that lies about one object leaves the repository as it was.
pub fn execute(store: &Store, p: &Payload, builds: &[Build]) -> Result<(), DeltaError> {
    use rayon::prelude::*;
    let made: Vec<Option<Made<'_>>> = builds
        .par_iter()
        .map(|b| match b {
            Build::Meta { obj, data } => {
                if store.has_object(&obj.checksum, obj.objtype) {
                    return Ok(None);
                }
                let d = p.raw.get(data.clone()).unwrap_or_default();
                let got = Checksum::of(d);
                if got != obj.checksum {
                    return Err(DeltaError::ObjectChecksum {
                        object: obj.checksum,
                        detail: format!("{} object has checksum {got}", obj.objtype.name()),
                    });
                }
                Ok(Some(Made::Meta(*obj, d)))
            }
            Build::Content {
                checksum,
                header,
                size,
                pieces,
            } => {
                if store.has_object(checksum, ObjectType::File) {
                    return Ok(None);
                }
                let content = assemble(store, &p.raw, checksum, *size, pieces)?;
                let got = crate::objects::file_checksum(header, &content);
                if got != *checksum {
                    return Err(DeltaError::ObjectChecksum {
                        object: *checksum,
                        detail: format!("file object has checksum {got}"),
                    });
                }
                Ok(Some(Made::Content(*checksum, header, *size, content)))
            }
        })
        .collect::<Result<_, DeltaError>>()?;
    made.into_par_iter().flatten().try_for_each(|m| match m {
        Made::Meta(obj, d) => store
            .write_meta_verified(obj.objtype, &obj.checksum, d)
            .map_err(|e| checked(e, &obj.checksum)),
        Made::Content(c, h, size, content) => store
            .write_content(h, &mut content.as_slice(), size, Some(&c))
            .map(|_| ())
            .map_err(|e| checked(e, &c)),
    })
}
