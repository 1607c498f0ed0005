//! The `summary` file: `(a(s(taya{sv}))a{sv})` — refs sorted by name with (commit size, commit checksum,
//! {ostree.commit.version?, ostree.commit.timestamp (BE)}), then repository metadata.

use super::gvariant::{self, Type, Value};
use super::objects::{Checksum, ObjectType};
use super::store::Store;
use super::RepoError;

pub const SUMMARY_SIG: &str = "(a(s(taya{sv}))a{sv})";
/// The summary metadata key listing static deltas: `a{sv}`, delta name -> `ay` SHA-256 of its superblock.
pub const STATIC_DELTAS: &str = "ostree.static-deltas";

/// One ref as listed in a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRef {
    pub name: String,
    pub commit_size: u64,
    pub commit: Checksum,
    pub timestamp: Option<u64>,
    pub version: Option<String>,
}

fn entry(k: &str, t: Type, v: Value) -> Value {
    Value::DictEntry(
        Box::new(Value::Str(k.into())),
        Box::new(Value::Variant(t, Box::new(v))),
    )
}

/// Serialises a summary for these refs (sorted by name here) and static deltas (name, SHA-256 of the
/// superblock), listed under `ostree.static-deltas` as ostree does when there are any.
pub fn build(
    refs: &[SummaryRef],
    deltas: &[(String, Checksum)],
    mode: &str,
    last_modified: u64,
) -> Vec<u8> {
    let mut refs = refs.to_vec();
    refs.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let items = refs
        .iter()
        .map(|r| {
            let mut meta = Vec::new();
            if let Some(v) = &r.version {
                meta.push(entry(
                    "ostree.commit.version",
                    Type::Str('s'),
                    Value::Str(v.clone()),
                ));
            }
            if let Some(ts) = r.timestamp {
                meta.push(entry(
                    "ostree.commit.timestamp",
                    Type::U64,
                    Value::U64(ts.to_be()),
                ));
            }
            Value::Tuple(vec![
                Value::Str(r.name.clone()),
                Value::Tuple(vec![
                    Value::U64(r.commit_size),
                    Value::Bytes(r.commit.0.to_vec()),
                    Value::Array(meta),
                ]),
            ])
        })
        .collect();
    let mut meta = Vec::new();
    if !deltas.is_empty() {
        let items = deltas
            .iter()
            .map(|(n, d)| {
                entry(
                    n,
                    Type::Array(Box::new(Type::Byte)),
                    Value::Bytes(d.0.to_vec()),
                )
            })
            .collect();
        let t = Type::parse("a{sv}").unwrap_or_else(|_| Type::unit());
        meta.push(entry(STATIC_DELTAS, t, Value::Array(items)));
    }
    meta.extend([
        entry(
            "ostree.summary.mode",
            Type::Str('s'),
            Value::Str(mode.into()),
        ),
        entry(
            "ostree.summary.last-modified",
            Type::U64,
            Value::U64(last_modified.to_be()),
        ),
        entry(
            "ostree.summary.tombstone-commits",
            Type::Bool,
            Value::Bool(false),
        ),
        entry(
            "ostree.summary.indexed-deltas",
            Type::Bool,
            Value::Bool(true),
        ),
    ]);
    let t = Type::parse(SUMMARY_SIG).unwrap_or_else(|_| Type::unit());
    gvariant::serialize(
        &t,
        &Value::Tuple(vec![Value::Array(items), Value::Array(meta)]),
    )
    .unwrap_or_default()
}

/// Parses a summary's ref list.
pub fn parse(b: &[u8]) -> Result<Vec<SummaryRef>, RepoError> {
    let bad = |s: &str| RepoError::Corrupt(format!("summary: {s}"));
    let t = Type::parse(SUMMARY_SIG).map_err(|e| bad(&e.to_string()))?;
    let v = gvariant::parse(&t, b).map_err(|e| bad(&e.to_string()))?;
    let Value::Tuple(top) = v else {
        return Err(bad("not a tuple"));
    };
    let Some(Value::Array(items)) = top.first() else {
        return Err(bad("no refs"));
    };
    let mut out = Vec::new();
    for it in items {
        let Value::Tuple(p) = it else {
            return Err(bad("ref entry"));
        };
        let [Value::Str(name), Value::Tuple(inner)] = p.as_slice() else {
            return Err(bad("ref entry"));
        };
        let [Value::U64(size), Value::Bytes(c), Value::Array(meta)] = inner.as_slice() else {
            return Err(bad("ref entry"));
        };
        let mut r = SummaryRef {
            name: name.clone(),
            commit_size: *size,
            commit: Checksum::from_slice(c).ok_or_else(|| bad("checksum"))?,
            timestamp: None,
            version: None,
        };
        for m in meta {
            if let Value::DictEntry(k, v) = m {
                match (&**k, &**v) {
                    (Value::Str(k), Value::Variant(_, v)) if k == "ostree.commit.timestamp" => {
                        if let Value::U64(t) = **v {
                            r.timestamp = Some(u64::from_be(t));
                        }
                    }
                    (Value::Str(k), Value::Variant(_, v)) if k == "ostree.commit.version" => {
                        if let Value::Str(s) = &**v {
                            r.version = Some(s.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// `summary -u`: regenerates `summary` from the local refs (heads only, as OSTree) and static deltas.
pub fn update(store: &Store, now: u64) -> Result<(), RepoError> {
    let mut refs = Vec::new();
    for (name, c) in store.list_refs()? {
        if name.contains(':') {
            continue;
        }
        let data = store.read_meta(&c, ObjectType::Commit)?;
        let cm = super::objects::Commit::parse(&data)
            .map_err(|e| RepoError::Corrupt(format!("commit {c}: {e}")))?;
        refs.push(SummaryRef {
            name,
            commit_size: data.len() as u64,
            commit: c,
            timestamp: Some(cm.timestamp),
            version: cm.metadata_string("version").map(str::to_string),
        });
    }
    let mut deltas = Vec::new();
    for n in crate::delta::list(store).map_err(|e| RepoError::Delta(Box::new(e)))? {
        let p = store.path.join(n.superblock_path());
        let b = std::fs::read(&p).map_err(|e| RepoError::Io {
            path: p.clone(),
            what: "read".into(),
            source: e,
        })?;
        deltas.push((n.to_string(), Checksum::of(&b)));
    }
    let b = build(&refs, &deltas, store.mode.config_name(), now);
    // The old summary's signatures do not cover the new one (ostree unlinks summary.sig too).
    super::sign::ops::remove_summary_sig(store)?;
    super::sign::ops::write_served(&store.path.join("summary"), &b)
}

/// The static deltas a summary lists (name, SHA-256 of the superblock); names that are not
/// `FROM-TO`/`TO` checksums and digests that are not 32 bytes are refused.
pub fn parse_deltas(b: &[u8]) -> Result<Vec<(crate::delta::DeltaName, Checksum)>, RepoError> {
    let bad = |s: &str| RepoError::Corrupt(format!("summary: {s}"));
    let t = Type::parse(SUMMARY_SIG).map_err(|e| bad(&e.to_string()))?;
    let v = gvariant::parse(&t, b).map_err(|e| bad(&e.to_string()))?;
    let Value::Tuple(top) = v else {
        return Err(bad("not a tuple"));
    };
    let Some(Value::Array(meta)) = top.get(1) else {
        return Err(bad("no metadata"));
    };
    let mut out = Vec::new();
    for m in meta {
        let Value::DictEntry(k, v) = m else { continue };
        let (Value::Str(k), Value::Variant(_, v)) = (&**k, &**v) else {
            continue;
        };
        if k != STATIC_DELTAS {
            continue;
        }
        let Value::Array(items) = &**v else {
            return Err(bad("ostree.static-deltas is not a dictionary"));
        };
        for it in items {
            let Value::DictEntry(n, d) = it else {
                return Err(bad("static delta entry"));
            };
            let (Value::Str(n), Value::Variant(_, d)) = (&**n, &**d) else {
                return Err(bad("static delta entry"));
            };
            let name = crate::delta::DeltaName::parse(n).map_err(|e| bad(&e.to_string()))?;
            let Value::Bytes(d) = &**d else {
                return Err(bad("static delta digest"));
            };
            let d = Checksum::from_slice(d).ok_or_else(|| bad("static delta digest length"))?;
            out.push((name, d));
        }
    }
    Ok(out)
}
