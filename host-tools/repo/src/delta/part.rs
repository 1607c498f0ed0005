//! A part file: one compression byte (`0` none, `x` xz) and the payload
//! `(a(uuu)aa(ayay)ayay)` = modes (uid, gid, mode, big-endian), xattr sets, the raw data the operations
//! copy from, and the operations. The part's SHA-256 is over the whole file as stored.

use super::DeltaError;
use crate::gvariant::{self, Enc, Type, Value};
use crate::objects::{xattrs_enc, xattrs_from};
use crate::objects::{Checksum, Xattrs};
use std::io::{Read, Write};

pub const PAYLOAD_SIG: &str = "(a(uuu)aa(ayay)ayay)";
/// Largest payload a part may inflate to (a decompression bomb stops here).
pub const MAX_PAYLOAD: u64 = 1 << 30;

/// Compression of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
}

/// (uid, gid, mode) of a content object, host order.
pub type ModeEntry = (u32, u32, u32);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    pub modes: Vec<ModeEntry>,
    pub xattrs: Vec<Xattrs>,
    pub raw: Vec<u8>,
    pub ops: Vec<u8>,
}

fn ty() -> Type {
    // A constant, valid signature.
    Type::parse(PAYLOAD_SIG).unwrap_or_else(|_| Type::unit())
}

impl Payload {
    pub fn serialize(&self) -> Vec<u8> {
        let mode = |&(u, g, m): &ModeEntry| {
            Enc::tuple(vec![
                Enc::u32(u.to_be()),
                Enc::u32(g.to_be()),
                Enc::u32(m.to_be()),
            ])
        };
        Enc::tuple(vec![
            Enc::array(4, true, self.modes.iter().map(mode)),
            Enc::array(1, false, self.xattrs.iter().map(xattrs_enc)),
            Enc::bytes(&self.raw),
            Enc::bytes(&self.ops),
        ])
        .into_bytes()
    }

    pub fn parse(b: &[u8]) -> Result<Payload, DeltaError> {
        let bad = |why: &str| DeltaError::malformed("part payload", why.to_string());
        let v = gvariant::parse(&ty(), b).map_err(|e| bad(&e.to_string()))?;
        let Value::Tuple(f) = v else {
            return Err(bad("not a tuple"));
        };
        let [Value::Array(modes), Value::Array(xattrs), Value::Bytes(raw), Value::Bytes(ops)] =
            <[Value; 4]>::try_from(f).map_err(|_| bad("fields"))?
        else {
            return Err(bad("fields"));
        };
        let mut p = Payload {
            raw,
            ops,
            ..Default::default()
        };
        for m in modes {
            match m {
                Value::Tuple(t) => match t.as_slice() {
                    [Value::U32(u), Value::U32(g), Value::U32(m)] => {
                        p.modes
                            .push((u32::from_be(*u), u32::from_be(*g), u32::from_be(*m)))
                    }
                    _ => return Err(bad("mode entry")),
                },
                _ => return Err(bad("mode entry")),
            }
        }
        for set in &xattrs {
            let x = xattrs_from(set, "delta part xattr set").map_err(|e| bad(&e.to_string()))?;
            p.xattrs.push(x);
        }
        Ok(p)
    }
}

/// The bytes of a part file: compression byte + (compressed) payload. xz at ostree's preset (8), with
/// liblzma's CRC64 check.
pub fn encode(payload: &[u8], c: Compression) -> Result<Vec<u8>, DeltaError> {
    match c {
        Compression::None => {
            let mut out = Vec::with_capacity(payload.len() + 1);
            out.push(0);
            out.extend_from_slice(payload);
            Ok(out)
        }
        Compression::Xz => {
            let mut out = vec![b'x'];
            let stream =
                liblzma::stream::Stream::new_easy_encoder(8, liblzma::stream::Check::Crc64)
                    .map_err(|e| DeltaError::Compression(e.to_string()))?;
            let mut w = liblzma::write::XzEncoder::new_stream(&mut out, stream);
            w.write_all(payload)
                .and_then(|_| w.finish().map(|_| ()))
                .map_err(|e| DeltaError::Compression(e.to_string()))?;
            Ok(out)
        }
    }
}

/// Opens a part file: checks its SHA-256 when `expected` is given (not for inline parts, as ostree),
/// decompresses (at most [`MAX_PAYLOAD`] bytes, one xz stream, nothing after it) and parses the payload.
pub fn decode(
    bytes: &[u8],
    expected: Option<&Checksum>,
    what: &str,
) -> Result<Payload, DeltaError> {
    if let Some(exp) = expected {
        let got = Checksum::of(bytes);
        if got != *exp {
            return Err(DeltaError::PartChecksum {
                part: what.to_string(),
                expected: *exp,
                got,
            });
        }
    }
    let Some((&comp, body)) = bytes.split_first() else {
        return Err(DeltaError::malformed(what, "empty part".into()));
    };
    match comp {
        0 => Payload::parse(body),
        b'x' => {
            let stream = liblzma::stream::Stream::new_stream_decoder(u64::MAX, 0)
                .map_err(|e| DeltaError::Compression(e.to_string()))?;
            let mut dec = liblzma::read::XzDecoder::new_stream(body, stream);
            let mut out = Vec::new();
            (&mut dec)
                .take(MAX_PAYLOAD + 1)
                .read_to_end(&mut out)
                .map_err(|e| DeltaError::malformed(what, format!("xz: {e}")))?;
            if out.len() as u64 > MAX_PAYLOAD {
                return Err(DeltaError::malformed(
                    what,
                    format!("payload inflates past {MAX_PAYLOAD} bytes"),
                ));
            }
            if dec.total_in() != body.len() as u64 {
                return Err(DeltaError::malformed(
                    what,
                    "bytes after the xz stream".into(),
                ));
            }
            Payload::parse(&out)
        }
        c => Err(DeltaError::malformed(
            what,
            format!("unknown compression type {c}"),
        )),
    }
}

#[cfg(test)]
mod typed_tests {
    use super::*;

    #[test]
    fn typed_payload_matches_the_untyped_serialiser() {
        let x: Xattrs = vec![
            (b"user.a".to_vec(), vec![1; 300]),
            (b"user.b".to_vec(), vec![]),
        ];
        for p in [
            Payload::default(),
            Payload {
                modes: vec![(0, 0, 0o100644), (1000, 1000, 0o120777)],
                xattrs: vec![vec![], x.clone()],
                raw: vec![7; 70_000],
                ops: vec![1, 2, 3],
            },
        ] {
            let xattrs = crate::objects::tests::xattrs_value;
            let v = Value::Tuple(vec![
                Value::Array(
                    p.modes
                        .iter()
                        .map(|(u, g, m)| {
                            Value::Tuple(vec![
                                Value::U32(u.to_be()),
                                Value::U32(g.to_be()),
                                Value::U32(m.to_be()),
                            ])
                        })
                        .collect(),
                ),
                Value::Array(p.xattrs.iter().map(xattrs).collect()),
                Value::Bytes(p.raw.clone()),
                Value::Bytes(p.ops.clone()),
            ]);
            let bytes = p.serialize();
            assert_eq!(bytes, gvariant::serialize(&ty(), &v).unwrap());
            assert_eq!(Payload::parse(&bytes).unwrap(), p);
        }
    }
}
