//! The superblock (`deltas/.../superblock`): `(a{sv}tayay(COMMIT)aya(uayttay)a(yaytt))` =
//! metadata, timestamp (big-endian), from (empty from scratch), to, the target commit object, the
//! parent deltas (always empty), one header per part, the fallback objects. Part sizes and the part
//! version are in the byte order named by the metadata key `ostree.endianness` (`l` or `B`); without it,
//! ostree's heuristic (a part more than 1.2 times larger than what it makes means swapped).

use super::name::DeltaName;
use super::DeltaError;
use crate::gvariant::{self, Type, Value};
use crate::objects::{Checksum, ObjectType, COMMIT_SIG};

pub const SUPERBLOCK_SIG: &str = "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))";
/// A part file: `(yay)` = compression byte, then the payload.
pub const PART_SIG: &str = "(yay)";
/// The delta part version ostree writes and reads.
pub const PART_VERSION: u32 = 0;

/// OSTree's object type numbers, as in delta object lists.
pub fn objtype_byte(t: ObjectType) -> u8 {
    match t {
        ObjectType::File => 1,
        ObjectType::DirTree => 2,
        ObjectType::DirMeta => 3,
        ObjectType::Commit => 4,
        ObjectType::CommitMeta => 6,
    }
}

/// The object type of a delta object-list byte (file, dirtree, dirmeta, commit; others are refused).
pub fn objtype_from_byte(b: u8) -> Option<ObjectType> {
    match b {
        1 => Some(ObjectType::File),
        2 => Some(ObjectType::DirTree),
        3 => Some(ObjectType::DirMeta),
        4 => Some(ObjectType::Commit),
        _ => None,
    }
}

/// One object a part makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjRef {
    pub objtype: ObjectType,
    pub checksum: Checksum,
}

/// A part's entry in the superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeader {
    pub version: u32,
    /// SHA-256 of the part file (not checked for inline parts, as ostree).
    pub checksum: Checksum,
    /// Size of the part file.
    pub size: u64,
    /// Total size of the objects it makes, uncompressed.
    pub usize: u64,
    pub objects: Vec<ObjRef>,
}

/// An object fetched on its own instead of through a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub obj: ObjRef,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
}

/// Byte order of the part headers' numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Superblock {
    /// `a{sv}` entries in stored order (endianness, inline parts, detached commit metadata, ...).
    pub metadata: Vec<(String, Type, Value)>,
    /// Seconds since the epoch.
    pub timestamp: u64,
    pub name: DeltaName,
    /// The target commit object, byte for byte.
    pub commit: Vec<u8>,
    pub parts: Vec<PartHeader>,
    pub fallbacks: Vec<Fallback>,
    pub endian: Endian,
    /// Whether `endian` came from ostree's heuristic (no `ostree.endianness` key).
    pub endian_guessed: bool,
}

fn ty(sig: &str) -> Type {
    // The signatures of this module are constants and valid.
    Type::parse(sig).unwrap_or_else(|_| Type::unit())
}

fn entry(k: &str, t: Type, v: Value) -> Value {
    Value::DictEntry(
        Box::new(Value::Str(k.into())),
        Box::new(Value::Variant(t, Box::new(v))),
    )
}

fn objects_bytes(objs: &[ObjRef]) -> Vec<u8> {
    let mut b = Vec::with_capacity(objs.len() * 33);
    for o in objs {
        b.push(objtype_byte(o.objtype));
        b.extend_from_slice(&o.checksum.0);
    }
    b
}

/// Parses a part's object list: 33 bytes each (type, checksum).
pub fn parse_objects(b: &[u8]) -> Result<Vec<ObjRef>, DeltaError> {
    if !b.len().is_multiple_of(33) {
        return Err(DeltaError::malformed(
            "part header",
            format!("object list of {} bytes is not a multiple of 33", b.len()),
        ));
    }
    b.chunks(33)
        .map(|c| {
            let (t, sum) = c.split_first().unwrap_or((&0, &[]));
            Ok(ObjRef {
                objtype: objtype_from_byte(*t).ok_or_else(|| {
                    DeltaError::malformed("part header", format!("unsupported object type {t}"))
                })?,
                checksum: Checksum::from_slice(sum)
                    .ok_or_else(|| DeltaError::malformed("part header", "checksum".into()))?,
            })
        })
        .collect()
}

impl Superblock {
    fn swap32(&self, v: u32) -> u32 {
        if self.endian == Endian::Big {
            v.swap_bytes()
        } else {
            v
        }
    }
    fn swap64(&self, v: u64) -> u64 {
        if self.endian == Endian::Big {
            v.swap_bytes()
        } else {
            v
        }
    }

    /// Serialises (GVariant normal form, little-endian numbers).
    pub fn serialize(&self) -> Result<Vec<u8>, DeltaError> {
        let commit_t = ty(COMMIT_SIG);
        let commit = gvariant::parse(&commit_t, &self.commit)
            .map_err(|e| DeltaError::malformed("target commit", e.to_string()))?;
        let meta = Value::Array(
            self.metadata
                .iter()
                .map(|(k, t, v)| entry(k, t.clone(), v.clone()))
                .collect(),
        );
        let parts = Value::Array(
            self.parts
                .iter()
                .map(|p| {
                    Value::Tuple(vec![
                        Value::U32(self.swap32(p.version)),
                        Value::Bytes(p.checksum.0.to_vec()),
                        Value::U64(self.swap64(p.size)),
                        Value::U64(self.swap64(p.usize)),
                        Value::Bytes(objects_bytes(&p.objects)),
                    ])
                })
                .collect(),
        );
        let fallbacks = Value::Array(
            self.fallbacks
                .iter()
                .map(|f| {
                    Value::Tuple(vec![
                        Value::Byte(objtype_byte(f.obj.objtype)),
                        Value::Bytes(f.obj.checksum.0.to_vec()),
                        Value::U64(self.swap64(f.compressed_size)),
                        Value::U64(self.swap64(f.uncompressed_size)),
                    ])
                })
                .collect(),
        );
        let v = Value::Tuple(vec![
            meta,
            Value::U64(self.timestamp.to_be()),
            Value::Bytes(self.name.from.map(|c| c.0.to_vec()).unwrap_or_default()),
            Value::Bytes(self.name.to.0.to_vec()),
            commit,
            Value::Bytes(Vec::new()),
            parts,
            fallbacks,
        ]);
        let out = gvariant::serialize(&ty(SUPERBLOCK_SIG), &v)
            .map_err(|e| DeltaError::malformed("superblock", e.to_string()))?;
        Ok(out)
    }

    /// Parses and checks a superblock: checksums of 32 bytes, known object types, and the embedded
    /// commit object hashing to the `to` checksum it names.
    pub fn parse(b: &[u8]) -> Result<Superblock, DeltaError> {
        let bad = |why: String| DeltaError::malformed("superblock", why);
        let v = gvariant::parse(&ty(SUPERBLOCK_SIG), b).map_err(|e| bad(e.to_string()))?;
        let Value::Tuple(top) = v else {
            return Err(bad("not a tuple".into()));
        };
        let [Value::Array(meta), Value::U64(ts), Value::Bytes(from), Value::Bytes(to), commit, _parents, Value::Array(parts), Value::Array(fallbacks)] =
            top.as_slice()
        else {
            return Err(bad("fields".into()));
        };
        let mut metadata = Vec::new();
        for e in meta {
            match e {
                Value::DictEntry(k, val) => match (&**k, &**val) {
                    (Value::Str(k), Value::Variant(t, v)) => {
                        metadata.push((k.clone(), t.clone(), (**v).clone()))
                    }
                    _ => return Err(bad("metadata entry".into())),
                },
                _ => return Err(bad("metadata entry".into())),
            }
        }
        let from = if from.is_empty() {
            None
        } else {
            Some(Checksum::from_slice(from).ok_or_else(|| bad("from checksum".into()))?)
        };
        let to = Checksum::from_slice(to).ok_or_else(|| bad("to checksum".into()))?;
        let commit = gvariant::serialize(&ty(COMMIT_SIG), commit)
            .map_err(|e| bad(format!("target commit: {e}")))?;
        let got = Checksum::of(&commit);
        if got != to {
            return Err(DeltaError::CommitMismatch { to, got });
        }
        let explicit = metadata.iter().find_map(|(k, _, v)| match v {
            Value::Byte(c) if k == "ostree.endianness" => Some(*c),
            _ => None,
        });
        let mut sb = Superblock {
            metadata,
            timestamp: u64::from_be(*ts),
            name: DeltaName { from, to },
            commit,
            parts: Vec::new(),
            fallbacks: Vec::new(),
            endian: Endian::Little,
            endian_guessed: explicit.is_none(),
        };
        sb.endian = match explicit {
            Some(b'l') => Endian::Little,
            Some(b'B') => Endian::Big,
            Some(c) => return Err(bad(format!("unknown ostree.endianness {c:?}"))),
            None => Endian::Little,
        };
        let mut raw_parts = Vec::new();
        for p in parts {
            let Value::Tuple(f) = p else {
                return Err(bad("part header".into()));
            };
            let [Value::U32(ver), Value::Bytes(c), Value::U64(size), Value::U64(usize), Value::Bytes(objs)] =
                f.as_slice()
            else {
                return Err(bad("part header".into()));
            };
            raw_parts.push((*ver, c, *size, *usize, parse_objects(objs)?));
        }
        if sb.endian_guessed && swapped_by_heuristic(&raw_parts) {
            sb.endian = Endian::Big;
        }
        for (ver, c, size, usize, objects) in raw_parts {
            let version = sb.swap32(ver);
            if version > PART_VERSION {
                return Err(bad(format!(
                    "part version {version} is newer than {PART_VERSION}"
                )));
            }
            sb.parts.push(PartHeader {
                version,
                checksum: Checksum::from_slice(c).ok_or_else(|| bad("part checksum".into()))?,
                size: sb.swap64(size),
                usize: sb.swap64(usize),
                objects,
            });
        }
        for f in fallbacks {
            let Value::Tuple(f) = f else {
                return Err(bad("fallback entry".into()));
            };
            let [Value::Byte(t), Value::Bytes(c), Value::U64(cs), Value::U64(us)] = f.as_slice()
            else {
                return Err(bad("fallback entry".into()));
            };
            let objtype =
                objtype_from_byte(*t).ok_or_else(|| bad(format!("fallback object type {t}")))?;
            if objtype != ObjectType::File {
                return Err(bad("a fallback object that is not a file object".into()));
            }
            sb.fallbacks.push(Fallback {
                obj: ObjRef {
                    objtype,
                    checksum: Checksum::from_slice(c)
                        .ok_or_else(|| bad("fallback checksum".into()))?,
                },
                compressed_size: sb.swap64(*cs),
                uncompressed_size: sb.swap64(*us),
            });
        }
        Ok(sb)
    }

    /// An inline part's bytes (`(yay)` in the metadata under the part's path), if the delta has it inline.
    pub fn inline_part(&self, i: usize) -> Option<Vec<u8>> {
        let key = self.name.part_path(i);
        self.metadata.iter().find_map(|(k, t, v)| {
            if *k == key && *t == ty(PART_SIG) {
                gvariant::serialize(t, v).ok()
            } else {
                None
            }
        })
    }

    /// The detached metadata of the target commit carried in the superblock (`a{sv}` bytes).
    pub fn commitmeta(&self) -> Option<Vec<u8>> {
        let key = self.name.commitmeta_key();
        self.metadata.iter().find_map(|(k, t, v)| {
            if *k == key {
                gvariant::serialize(t, v).ok()
            } else {
                None
            }
        })
    }
}

/// ostree's guess when a superblock names no endianness: a part much larger than what it makes, or an
/// average object over 4 GiB, means the numbers are byte-swapped.
/// A part header as read, before byte order is settled: version, checksum, size, usize, objects.
type RawPart<'a> = (u32, &'a Vec<u8>, u64, u64, Vec<ObjRef>);

fn swapped_by_heuristic(parts: &[RawPart<'_>]) -> bool {
    let (mut total, mut objects) = (0u64, 0u64);
    for (_, _, size, usize, objs) in parts {
        if size > usize && (*size as f64) / (*usize as f64) > 1.2 {
            return true;
        }
        total = total.saturating_add(*size);
        objects += objs.len() as u64;
    }
    objects > 0 && total / objects > u64::from(u32::MAX)
}

/// A new inline-part metadata entry.
pub fn inline_entry(
    name: &DeltaName,
    i: usize,
    part: &[u8],
) -> Result<(String, Type, Value), DeltaError> {
    let t = ty(PART_SIG);
    let v = gvariant::parse(&t, part).map_err(|e| DeltaError::malformed("part", e.to_string()))?;
    Ok((name.part_path(i), t, v))
}
