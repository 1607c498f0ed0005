//! Detached metadata files (`.commitmeta`, `summary.sig`): a GVariant `a{sv}`.
//!
//! Read without recursion: the dictionary's framing is walked by hand and each value kept as the raw
//! bytes of its variant (value, NUL, type string). Only the `ostree.sign.ed25519` entry of type `aay` is
//! decoded, so hostile nesting in other entries costs nothing and other entries are written back
//! unchanged. Written in GLib's normal form (framing offsets as small as they fit).

use super::{METADATA_KEY, SIGNATURE_LEN};
use crate::gvariant::{self, Type, Value};

/// An `a{sv}`: (key, raw variant bytes) in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detached {
    entries: Vec<(String, Vec<u8>)>,
}

/// The signature type `ostree.sign.ed25519` must have.
const SIG_TYPE: &str = "aay";

/// Offset size GLib uses to read a container of `total` bytes.
fn offset_size(total: usize) -> usize {
    match total {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        _ if total as u64 <= 0xffff_ffff => 4,
        _ => 8,
    }
}

/// Offset size GLib picks when writing a container of `body` bytes with `n` framing offsets.
fn offset_size_for(body: usize, n: usize) -> usize {
    if body + n <= 0xff {
        1
    } else if body + 2 * n <= 0xffff {
        2
    } else if (body + 4 * n) as u64 <= 0xffff_ffff {
        4
    } else {
        8
    }
}

fn read_offset(b: &[u8], at: usize, size: usize) -> Result<usize, String> {
    let bytes = at
        .checked_add(size)
        .and_then(|end| b.get(at..end))
        .ok_or("framing offset out of range")?;
    let mut v = [0u8; 8];
    v[..size].copy_from_slice(bytes);
    usize::try_from(u64::from_le_bytes(v)).map_err(|_| "framing offset too large".to_string())
}

fn align8(n: usize) -> usize {
    n.next_multiple_of(8)
}

fn push_offset(out: &mut Vec<u8>, v: usize, size: usize) {
    out.extend_from_slice(&(v as u64).to_le_bytes()[..size]);
}

impl Detached {
    /// Parses an `a{sv}` (an empty file is an empty dictionary).
    pub fn parse(b: &[u8]) -> Result<Detached, String> {
        let mut entries = Vec::new();
        if b.is_empty() {
            return Ok(Detached { entries });
        }
        let osz = offset_size(b.len());
        let last_end = read_offset(b, b.len().saturating_sub(osz), osz)?;
        if last_end > b.len() || !(b.len() - last_end).is_multiple_of(osz) {
            return Err("bad dictionary framing".into());
        }
        let n = (b.len() - last_end) / osz;
        let mut start = 0usize;
        for i in 0..n {
            let end = read_offset(b, last_end + i * osz, osz)?;
            let s = align8(start);
            if s > end || end > last_end {
                return Err(format!("dictionary entry {i} out of range"));
            }
            entries.push(Self::parse_entry(&b[s..end]).map_err(|e| format!("entry {i}: {e}"))?);
            start = end;
        }
        Ok(Detached { entries })
    }

    /// One `{sv}`: key, padding to 8, variant, then the key's end as a framing offset.
    fn parse_entry(e: &[u8]) -> Result<(String, Vec<u8>), String> {
        let osz = offset_size(e.len());
        if e.len() < osz {
            return Err("truncated".into());
        }
        let vend = e.len() - osz;
        let key_end = read_offset(e, vend, osz)?;
        if key_end == 0 || key_end > vend {
            return Err("key out of range".into());
        }
        let (nul, key) = e[..key_end].split_last().ok_or("empty key")?;
        if *nul != 0 || key.contains(&0) {
            return Err("key not NUL-terminated".into());
        }
        let key = std::str::from_utf8(key).map_err(|_| "key is not UTF-8")?;
        let vstart = align8(key_end);
        if vstart > vend {
            return Err("value out of range".into());
        }
        let v = &e[vstart..vend];
        if !v.contains(&0) {
            return Err(format!("value of {key:?} is not a variant (no type)"));
        }
        Ok((key.to_string(), v.to_vec()))
    }

    /// Serialises in GLib's normal form.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ends = Vec::with_capacity(self.entries.len());
        for (k, v) in &self.entries {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            let mut e = Vec::with_capacity(k.len() + v.len() + 16);
            e.extend_from_slice(k.as_bytes());
            e.push(0);
            let key_end = e.len();
            while !e.len().is_multiple_of(8) {
                e.push(0);
            }
            e.extend_from_slice(v);
            let osz = offset_size_for(e.len(), 1);
            push_offset(&mut e, key_end, osz);
            out.extend_from_slice(&e);
            ends.push(out.len());
        }
        if ends.is_empty() {
            return out;
        }
        let osz = offset_size_for(out.len(), ends.len());
        for end in ends {
            push_offset(&mut out, end, osz);
        }
        out
    }

    /// The ed25519 signatures: `None` when there is no `ostree.sign.ed25519` of type `aay` (as GLib's
    /// `g_variant_lookup_value` with that type: the first entry with the key decides).
    pub fn signatures(&self) -> Result<Option<Vec<Vec<u8>>>, String> {
        let Some((_, raw)) = self.entries.iter().find(|(k, _)| k == METADATA_KEY) else {
            return Ok(None);
        };
        let nul = raw.iter().rposition(|&c| c == 0).unwrap_or(0);
        if &raw[nul + 1..] != SIG_TYPE.as_bytes() {
            return Ok(None);
        }
        let t = Type::parse(SIG_TYPE).map_err(|e| e.to_string())?;
        match gvariant::parse(&t, &raw[..nul]).map_err(|e| format!("{METADATA_KEY}: {e}"))? {
            Value::Array(items) => Ok(Some(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Bytes(b) => b,
                        _ => Vec::new(),
                    })
                    .collect(),
            )),
            _ => Err(format!("{METADATA_KEY}: not an array")),
        }
    }

    /// Replaces the ed25519 signatures (an empty list removes the entry).
    pub fn set_signatures(&mut self, sigs: &[Vec<u8>]) {
        let pos = self.entries.iter().position(|(k, _)| k == METADATA_KEY);
        if sigs.is_empty() {
            if let Some(p) = pos {
                self.entries.remove(p);
            }
            return;
        }
        let value = Value::Array(sigs.iter().map(|s| Value::Bytes(s.clone())).collect());
        let mut raw = Type::parse(SIG_TYPE)
            .ok()
            .and_then(|t| gvariant::serialize(&t, &value).ok())
            .unwrap_or_default();
        raw.push(0);
        raw.extend_from_slice(SIG_TYPE.as_bytes());
        match pos {
            Some(p) => self.entries[p].1 = raw,
            None => self.entries.push((METADATA_KEY.to_string(), raw)),
        }
    }

    /// Adds one signature after the existing ones (as ostree's `_sign_detached_metadata_append`).
    pub fn append_signature(&mut self, sig: &[u8; SIGNATURE_LEN]) -> Result<(), String> {
        let mut sigs = self.signatures()?.unwrap_or_default();
        sigs.push(sig.to_vec());
        self.set_signatures(&sigs);
        Ok(())
    }

    /// Keys present, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same dictionary built by the general GVariant serialiser (whose output matches GLib's).
    fn reference(entries: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
        let t = Type::parse("a{sv}").unwrap();
        let aay = Type::parse("aay").unwrap();
        let v = Value::Array(
            entries
                .iter()
                .map(|(k, sigs)| {
                    Value::DictEntry(
                        Box::new(Value::Str(k.to_string())),
                        Box::new(Value::Variant(
                            aay.clone(),
                            Box::new(Value::Array(
                                sigs.iter().map(|s| Value::Bytes(s.clone())).collect(),
                            )),
                        )),
                    )
                })
                .collect(),
        );
        gvariant::serialize(&t, &v).unwrap()
    }

    #[test]
    fn matches_the_general_serialiser_and_round_trips() {
        for n in [1usize, 2, 5, 40] {
            let sigs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 64]).collect();
            let mut d = Detached::default();
            d.set_signatures(&sigs);
            let b = d.serialize();
            assert_eq!(
                b,
                reference(&[(METADATA_KEY, sigs.clone())]),
                "{n} signatures"
            );
            let back = Detached::parse(&b).unwrap();
            assert_eq!(back.signatures().unwrap().unwrap(), sigs);
            assert_eq!(back.serialize(), b);
        }
    }

    #[test]
    fn other_entries_survive_and_empty_removes() {
        let b = reference(&[
            ("ostree.gpgsigs", vec![vec![7; 300]]),
            (METADATA_KEY, vec![vec![1; 64]]),
        ]);
        let mut d = Detached::parse(&b).unwrap();
        assert_eq!(d.serialize(), b);
        d.append_signature(&[2; 64]).unwrap();
        let d2 = Detached::parse(&d.serialize()).unwrap();
        assert_eq!(
            d2.signatures().unwrap().unwrap(),
            vec![vec![1; 64], vec![2; 64]]
        );
        d.set_signatures(&[]);
        assert_eq!(d.keys().collect::<Vec<_>>(), vec!["ostree.gpgsigs"]);
        assert_eq!(Detached::parse(&[]).unwrap().signatures().unwrap(), None);
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        for b in [&[0xffu8][..], &[0, 0, 0, 9], &[b'a', 0, 1], &[1, 1]] {
            let _ = Detached::parse(b);
        }
        // a key with a value of another type is not a signature list
        let mut raw = b"x\0".to_vec();
        raw.extend_from_slice(b"s");
        let d = Detached {
            entries: vec![(METADATA_KEY.into(), raw)],
        };
        assert_eq!(d.signatures().unwrap(), None);
    }
}
