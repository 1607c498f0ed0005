//! The `summary` file: `(a(s(taya{sv}))a{sv})` — refs sorted by name with (commit size, commit checksum,
//! {ostree.commit.version?, ostree.commit.timestamp (BE)}), then repository metadata.

use super::gvariant::{self, Enc, Type, Value};
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

/// `{sv}`: `key` and `inner` (of type `sig`) in a variant.
fn entry(key: &str, inner: Enc, sig: &str) -> Enc {
    Enc::dict_entry(Enc::str(key), Enc::variant_of(inner, sig))
}

/// `a{sv}` of `entries`.
fn dict(entries: Vec<Enc>) -> Enc {
    Enc::array(8, false, entries)
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
    let items = refs.iter().map(|r| {
        let mut meta = Vec::new();
        if let Some(v) = &r.version {
            meta.push(entry("ostree.commit.version", Enc::str(v), "s"));
        }
        if let Some(ts) = r.timestamp {
            meta.push(entry("ostree.commit.timestamp", Enc::u64(ts.to_be()), "t"));
        }
        Enc::tuple(vec![
            Enc::str(&r.name),
            Enc::tuple(vec![
                Enc::u64(r.commit_size),
                Enc::bytes(&r.commit.0),
                dict(meta),
            ]),
        ])
    });
    let items = Enc::array(8, false, items);
    let mut meta = Vec::new();
    if !deltas.is_empty() {
        let items = deltas
            .iter()
            .map(|(n, d)| entry(n, Enc::bytes(&d.0), "ay"))
            .collect();
        meta.push(entry(STATIC_DELTAS, dict(items), "a{sv}"));
    }
    meta.extend([
        entry("ostree.summary.mode", Enc::str(mode), "s"),
        entry(
            "ostree.summary.last-modified",
            Enc::u64(last_modified.to_be()),
            "t",
        ),
        entry("ostree.summary.tombstone-commits", Enc::bool(false), "b"),
        entry("ostree.summary.indexed-deltas", Enc::bool(true), "b"),
    ]);
    Enc::tuple(vec![items, dict(meta)]).into_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_value(k: &str, t: &str, v: Value) -> Value {
        Value::DictEntry(
            Box::new(Value::Str(k.into())),
            Box::new(Value::Variant(Type::parse(t).unwrap(), Box::new(v))),
        )
    }

    /// The typed builder writes what the untyped serialiser writes for the same summary (how the
    /// summary was built before), with and without versions, timestamps and deltas.
    #[test]
    fn typed_summary_matches_the_untyped_serialiser() {
        let refs: Vec<SummaryRef> = (0..40u8)
            .map(|i| SummaryRef {
                name: format!("os/{}/{}", 40 - i, "x".repeat(usize::from(i) * 7)),
                commit_size: u64::from(i) * 1000,
                commit: Checksum([i; 32]),
                timestamp: (i % 2 == 0).then_some(1_700_000_000 + u64::from(i)),
                version: (i % 3 == 0).then(|| format!("v{i}")),
            })
            .collect();
        for (refs, deltas) in [
            (&refs[..0], vec![]),
            (&refs[..3], vec![]),
            (&refs[..], vec![("a-b".to_string(), Checksum([5; 32]))]),
        ] {
            let mut sorted = refs.to_vec();
            sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            let items = sorted
                .iter()
                .map(|r| {
                    let mut meta = Vec::new();
                    if let Some(v) = &r.version {
                        meta.push(entry_value(
                            "ostree.commit.version",
                            "s",
                            Value::Str(v.clone()),
                        ));
                    }
                    if let Some(ts) = r.timestamp {
                        meta.push(entry_value(
                            "ostree.commit.timestamp",
                            "t",
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
                let d = deltas
                    .iter()
                    .map(|(n, c)| entry_value(n, "ay", Value::Bytes(c.0.to_vec())))
                    .collect();
                meta.push(entry_value(STATIC_DELTAS, "a{sv}", Value::Array(d)));
            }
            meta.extend([
                entry_value("ostree.summary.mode", "s", Value::Str("archive-z2".into())),
                entry_value(
                    "ostree.summary.last-modified",
                    "t",
                    Value::U64(7u64.to_be()),
                ),
                entry_value("ostree.summary.tombstone-commits", "b", Value::Bool(false)),
                entry_value("ostree.summary.indexed-deltas", "b", Value::Bool(true)),
            ]);
            let want = gvariant::serialize(
                &Type::parse(SUMMARY_SIG).unwrap(),
                &Value::Tuple(vec![Value::Array(items), Value::Array(meta)]),
            )
            .unwrap();
            let got = build(refs, &deltas, "archive-z2", 7);
            assert_eq!(got, want, "{} refs", refs.len());
            assert_eq!(parse(&got).unwrap(), sorted);
        }
    }
}
