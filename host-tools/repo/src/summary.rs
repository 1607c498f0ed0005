//! The `summary` file: `(a(s(taya{sv}))a{sv})` — refs sorted by name with (commit size, commit checksum,
//! {ostree.commit.version?, ostree.commit.timestamp (BE)}), then repository metadata.

use super::gvariant::{self, Type, Value};
use super::objects::{Checksum, ObjectType};
use super::store::Store;
use super::RepoError;

pub const SUMMARY_SIG: &str = "(a(s(taya{sv}))a{sv})";

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

/// Serialises a summary for these refs (the caller sorts nothing: we sort by name).
pub fn build(refs: &[SummaryRef], mode: &str, last_modified: u64) -> Vec<u8> {
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
    let meta = vec![
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
    ];
    let t = Type::parse(SUMMARY_SIG).unwrap_or(Type::Tuple(vec![]));
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

/// `summary -u`: regenerates `summary` from the local refs (heads only, as OSTree).
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
    let b = build(&refs, store.mode.config_name(), now);
    // The old summary's signatures do not cover the new one (ostree unlinks summary.sig too).
    super::sign::ops::remove_summary_sig(store)?;
    super::sign::ops::write_served(&store.path.join("summary"), &b)
}
