//! A small GVariant serialiser and parser (the "normal form" GLib writes), enough for OSTree's objects.
//!
//! Written here because the types are few and the byte layout must match GLib exactly (framing-offset
//! sizes, alignment padding, the single NUL byte of an empty non-fixed tuple of arrays). The parser never
//! panics on outside bytes: every bound is checked and reported as [`GvError`].

use std::fmt;

/// A GVariant type (the subset of the type system OSTree objects and commit metadata use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Byte,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Double,
    /// `s`, `o` and `g` (all NUL-terminated strings); the char is kept to print the signature.
    Str(char),
    Variant,
    Array(Box<Type>),
    Maybe(Box<Type>),
    Tuple(Members),
    /// `{kv}`: the key and value types, as [`Members`] of two.
    DictEntry(Members),
}

/// The member types of a tuple or dict entry, with their alignment and fixed size computed once when the
/// type is built: the parser asks for them at every level and every element, and recomputing them walks the
/// whole member type each time (a hostile signature of many members nested 128 deep then costs
/// members x depth^2 per value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    types: Vec<Type>,
    alignment: usize,
    fixed_size: Option<usize>,
}

impl Members {
    pub fn new(types: Vec<Type>) -> Members {
        let alignment = types.iter().map(Type::alignment).max().unwrap_or(1);
        let fixed_size = fixed_tuple_size(&types);
        Members {
            types,
            alignment,
            fixed_size,
        }
    }
}

impl std::ops::Deref for Members {
    type Target = [Type];
    fn deref(&self) -> &[Type] {
        &self.types
    }
}

/// Errors from parsing a type signature or serialised data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GvError {
    #[error("bad GVariant type signature {0:?}")]
    BadSignature(String),
    #[error("malformed GVariant data for type {0}: {1}")]
    Malformed(String, &'static str),
    #[error("GVariant value does not match type {0}")]
    TypeMismatch(String),
    #[error("GVariant nesting deeper than {MAX_DEPTH} levels (GLib's limit)")]
    TooDeep,
}

/// Deepest nesting of containers accepted in a type signature or a value, counting the containers inside
/// variants too: GLib's `G_VARIANT_MAX_RECURSION_DEPTH`. Parsing is recursive, so this also bounds the
/// stack a hostile object can make the parser use.
pub const MAX_DEPTH: usize = 128;

impl Type {
    /// The empty tuple `()`.
    pub fn unit() -> Type {
        Type::Tuple(Members::new(Vec::new()))
    }

    /// Parses a complete type signature such as `(a{sv}aya(say)sstayay)`.
    pub fn parse(sig: &str) -> Result<Type, GvError> {
        let bytes = sig.as_bytes();
        let (t, used) = Self::parse_one(bytes, 0, 0).map_err(|e| match e {
            SigError::TooDeep => GvError::TooDeep,
            SigError::Bad => GvError::BadSignature(sig.chars().take(64).collect()),
        })?;
        if used != bytes.len() {
            return Err(GvError::BadSignature(sig.chars().take(64).collect()));
        }
        Ok(t)
    }

    /// Nesting depth of the type: 0 for a basic type, 1 + the deepest member for a container.
    pub fn depth(&self) -> usize {
        match self {
            Type::Array(e) | Type::Maybe(e) => 1 + e.depth(),
            Type::Tuple(items) | Type::DictEntry(items) => {
                1 + items.iter().map(Type::depth).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    fn parse_one(b: &[u8], pos: usize, depth: usize) -> Result<(Type, usize), SigError> {
        let c = *b.get(pos).ok_or(SigError::Bad)?;
        let simple = match c {
            b'b' => Some(Type::Bool),
            b'y' => Some(Type::Byte),
            b'n' => Some(Type::I16),
            b'q' => Some(Type::U16),
            b'i' => Some(Type::I32),
            b'u' => Some(Type::U32),
            b'x' => Some(Type::I64),
            b't' => Some(Type::U64),
            b'd' => Some(Type::Double),
            b's' | b'o' | b'g' => Some(Type::Str(c as char)),
            b'v' => Some(Type::Variant),
            _ => None,
        };
        if let Some(t) = simple {
            return Ok((t, pos + 1));
        }
        if depth >= MAX_DEPTH {
            return Err(SigError::TooDeep);
        }
        let d = depth + 1;
        match c {
            b'a' => {
                let (e, p) = Self::parse_one(b, pos + 1, d)?;
                Ok((Type::Array(Box::new(e)), p))
            }
            b'm' => {
                let (e, p) = Self::parse_one(b, pos + 1, d)?;
                Ok((Type::Maybe(Box::new(e)), p))
            }
            b'(' => {
                let mut p = pos + 1;
                let mut items = Vec::new();
                loop {
                    if *b.get(p).ok_or(SigError::Bad)? == b')' {
                        return Ok((Type::Tuple(Members::new(items)), p + 1));
                    }
                    let (t, np) = Self::parse_one(b, p, d)?;
                    items.push(t);
                    p = np;
                }
            }
            b'{' => {
                let (k, p) = Self::parse_one(b, pos + 1, d)?;
                let (v, p) = Self::parse_one(b, p, d)?;
                if *b.get(p).ok_or(SigError::Bad)? != b'}' {
                    return Err(SigError::Bad);
                }
                Ok((Type::DictEntry(Members::new(vec![k, v])), p + 1))
            }
            _ => Err(SigError::Bad),
        }
    }

    /// Alignment in bytes.
    pub fn alignment(&self) -> usize {
        match self {
            Type::Bool | Type::Byte | Type::Str(_) => 1,
            Type::I16 | Type::U16 => 2,
            Type::I32 | Type::U32 => 4,
            Type::I64 | Type::U64 | Type::Double | Type::Variant => 8,
            Type::Array(e) | Type::Maybe(e) => e.alignment(),
            Type::Tuple(m) | Type::DictEntry(m) => m.alignment,
        }
    }

    /// Size in bytes when the type is fixed-size.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Type::Bool | Type::Byte => Some(1),
            Type::I16 | Type::U16 => Some(2),
            Type::I32 | Type::U32 => Some(4),
            Type::I64 | Type::U64 | Type::Double => Some(8),
            Type::Str(_) | Type::Variant | Type::Array(_) | Type::Maybe(_) => None,
            Type::Tuple(m) | Type::DictEntry(m) => m.fixed_size,
        }
    }
}

enum SigError {
    Bad,
    TooDeep,
}

fn fixed_tuple_size(items: &[Type]) -> Option<usize> {
    let mut size = 0usize;
    let mut align = 1usize;
    for t in items {
        let a = t.alignment();
        align = align.max(a);
        size = size.next_multiple_of(a) + t.fixed_size()?;
    }
    if items.is_empty() {
        return Some(1);
    }
    Some(size.next_multiple_of(align))
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("b"),
            Type::Byte => f.write_str("y"),
            Type::I16 => f.write_str("n"),
            Type::U16 => f.write_str("q"),
            Type::I32 => f.write_str("i"),
            Type::U32 => f.write_str("u"),
            Type::I64 => f.write_str("x"),
            Type::U64 => f.write_str("t"),
            Type::Double => f.write_str("d"),
            Type::Str(c) => write!(f, "{c}"),
            Type::Variant => f.write_str("v"),
            Type::Array(e) => write!(f, "a{e}"),
            Type::Maybe(e) => write!(f, "m{e}"),
            Type::Tuple(items) => {
                f.write_str("(")?;
                for t in items.iter() {
                    write!(f, "{t}")?;
                }
                f.write_str(")")
            }
            Type::DictEntry(m) => {
                f.write_str("{")?;
                for t in m.iter() {
                    write!(f, "{t}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A GVariant value. `ay` is kept as [`Value::Bytes`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Maybe(Option<Box<Value>>),
    Tuple(Vec<Value>),
    DictEntry(Box<Value>, Box<Value>),
    Variant(Type, Box<Value>),
}

fn offset_size_for_total(total: usize) -> usize {
    if total <= 0xff {
        1
    } else if total <= 0xffff {
        2
    } else if total as u64 <= 0xffff_ffff {
        4
    } else {
        8
    }
}

/// Offset size GLib picks when writing a container with `body` bytes and `n` framing offsets.
fn offset_size_for_body(body: usize, n: usize) -> usize {
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

fn pad(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

fn push_offsets(out: &mut Vec<u8>, offsets: impl Iterator<Item = usize>, size: usize) {
    for o in offsets {
        out.extend_from_slice(&(o as u64).to_le_bytes()[..size]);
    }
}

/// One serialised GVariant value written from typed parts (the object builders use it): its type is
/// fixed by the calls that make it, so writing cannot fail, and the bytes are GLib's normal form, the
/// same as [`serialize`] gives for that type (the objects' tests compare the two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enc {
    bytes: Vec<u8>,
    align: usize,
    fixed: bool,
}

impl Enc {
    /// `b`.
    pub fn bool(x: bool) -> Enc {
        Enc {
            bytes: vec![u8::from(x)],
            align: 1,
            fixed: true,
        }
    }

    /// `u`.
    pub fn u32(x: u32) -> Enc {
        Enc {
            bytes: x.to_le_bytes().to_vec(),
            align: 4,
            fixed: true,
        }
    }

    /// `t`.
    pub fn u64(x: u64) -> Enc {
        Enc {
            bytes: x.to_le_bytes().to_vec(),
            align: 8,
            fixed: true,
        }
    }

    /// `s`.
    pub fn str(s: &str) -> Enc {
        let mut bytes = Vec::with_capacity(s.len() + 1);
        bytes.extend_from_slice(s.as_bytes());
        bytes.push(0);
        Enc {
            bytes,
            align: 1,
            fixed: false,
        }
    }

    /// `ay`.
    pub fn bytes(b: &[u8]) -> Enc {
        Enc {
            bytes: b.to_vec(),
            align: 1,
            fixed: false,
        }
    }

    /// `aT` of `items`, each of type `T` (whose alignment and fixed size the caller names, since an
    /// empty array carries none).
    pub fn array(elem_align: usize, elem_fixed: bool, items: impl IntoIterator<Item = Enc>) -> Enc {
        let mut body = Vec::new();
        let mut ends = Vec::new();
        for it in items {
            if !elem_fixed {
                pad(&mut body, elem_align);
            }
            body.extend_from_slice(&it.bytes);
            ends.push(body.len());
        }
        if !elem_fixed {
            let osz = offset_size_for_body(body.len(), ends.len());
            push_offsets(&mut body, ends.into_iter(), osz);
        }
        Enc {
            bytes: body,
            align: elem_align,
            fixed: false,
        }
    }

    /// A tuple of `members`.
    pub fn tuple(members: Vec<Enc>) -> Enc {
        let align = members.iter().map(|m| m.align).max().unwrap_or(1);
        let fixed = members.iter().all(|m| m.fixed);
        if members.is_empty() {
            return Enc {
                bytes: vec![0],
                align,
                fixed,
            };
        }
        let last = members.len() - 1;
        let mut body = Vec::new();
        let mut ends = Vec::new();
        for (i, m) in members.into_iter().enumerate() {
            pad(&mut body, m.align);
            body.extend_from_slice(&m.bytes);
            if !m.fixed && i != last {
                ends.push(body.len());
            }
        }
        if fixed {
            pad(&mut body, align);
        } else {
            let osz = offset_size_for_body(body.len(), ends.len());
            push_offsets(&mut body, ends.into_iter().rev(), osz);
        }
        Enc {
            bytes: body,
            align,
            fixed,
        }
    }

    /// A `{kv}` dictionary entry.
    pub fn dict_entry(key: Enc, value: Enc) -> Enc {
        Enc::tuple(vec![key, value])
    }

    /// `v` holding `inner`, whose type signature is `sig` (named by the caller, who made `inner`).
    pub fn variant_of(inner: Enc, sig: &str) -> Enc {
        let mut bytes = inner.bytes;
        bytes.push(0);
        bytes.extend_from_slice(sig.as_bytes());
        Enc {
            bytes,
            align: 8,
            fixed: false,
        }
    }

    /// `v`: `value` of type `t`. The one fallible part: a value that is not of type `t`.
    pub fn variant(t: &Type, value: &Value) -> Result<Enc, GvError> {
        let mut bytes = serialize(t, value)?;
        bytes.push(0);
        bytes.extend_from_slice(t.to_string().as_bytes());
        Ok(Enc {
            bytes,
            align: 8,
            fixed: false,
        })
    }

    /// The serialised bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Serialises `v` as type `t` in GLib's normal form.
pub fn serialize(t: &Type, v: &Value) -> Result<Vec<u8>, GvError> {
    let mut out = Vec::new();
    ser(t, v, &mut out)?;
    Ok(out)
}

fn mismatch(t: &Type) -> GvError {
    GvError::TypeMismatch(t.to_string())
}

fn ser(t: &Type, v: &Value, out: &mut Vec<u8>) -> Result<(), GvError> {
    match (t, v) {
        (Type::Bool, Value::Bool(b)) => out.push(u8::from(*b)),
        (Type::Byte, Value::Byte(b)) => out.push(*b),
        (Type::I16, Value::I16(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::U16, Value::U16(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::I32, Value::I32(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::U32, Value::U32(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::I64, Value::I64(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::U64, Value::U64(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::Double, Value::Double(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::Str(_), Value::Str(s)) => {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        (Type::Variant, Value::Variant(ct, cv)) => {
            ser(ct, cv, out)?;
            out.push(0);
            out.extend_from_slice(ct.to_string().as_bytes());
        }
        (Type::Array(e), Value::Bytes(b)) if **e == Type::Byte => out.extend_from_slice(b),
        (Type::Array(e), Value::Array(items)) => {
            if let Some(_fixed) = e.fixed_size() {
                for it in items {
                    ser(e, it, out)?;
                }
            } else {
                let mut body = Vec::new();
                let mut ends = Vec::with_capacity(items.len());
                let align = e.alignment();
                for it in items {
                    pad(&mut body, align);
                    ser(e, it, &mut body)?;
                    ends.push(body.len());
                }
                let osz = offset_size_for_body(body.len(), ends.len());
                push_offsets(&mut body, ends.into_iter(), osz);
                out.extend_from_slice(&body);
            }
        }
        (Type::Maybe(e), Value::Maybe(inner)) => {
            if let Some(iv) = inner {
                ser(e, iv, out)?;
                if e.fixed_size().is_none() {
                    out.push(0);
                }
            }
        }
        (Type::Tuple(types), Value::Tuple(vals)) => ser_tuple(t, types, vals, out)?,
        (Type::DictEntry(m), Value::DictEntry(k, val)) => {
            ser_tuple(t, m, &[(**k).clone(), (**val).clone()], out)?
        }
        _ => return Err(mismatch(t)),
    }
    Ok(())
}

fn ser_tuple(t: &Type, types: &[Type], vals: &[Value], out: &mut Vec<u8>) -> Result<(), GvError> {
    if types.len() != vals.len() {
        return Err(mismatch(t));
    }
    if types.is_empty() {
        out.push(0);
        return Ok(());
    }
    let mut body = Vec::new();
    let mut ends = Vec::new();
    for (i, (ct, cv)) in types.iter().zip(vals).enumerate() {
        pad(&mut body, ct.alignment());
        ser(ct, cv, &mut body)?;
        if ct.fixed_size().is_none() && i + 1 != types.len() {
            ends.push(body.len());
        }
    }
    if let Some(size) = t.fixed_size() {
        body.resize(size, 0);
    } else {
        let osz = offset_size_for_body(body.len(), ends.len());
        push_offsets(&mut body, ends.into_iter().rev(), osz);
    }
    out.extend_from_slice(&body);
    Ok(())
}

fn read_le(b: &[u8], at: usize, size: usize, t: &Type) -> Result<usize, GvError> {
    let s = b
        .get(at..at + size)
        .ok_or_else(|| GvError::Malformed(t.to_string(), "framing offset out of range"))?;
    let mut buf = [0u8; 8];
    buf[..size].copy_from_slice(s);
    usize::try_from(u64::from_le_bytes(buf))
        .map_err(|_| GvError::Malformed(t.to_string(), "framing offset too large"))
}

fn fixed<const N: usize>(t: &Type, b: &[u8]) -> Result<[u8; N], GvError> {
    b.try_into()
        .map_err(|_| GvError::Malformed(t.to_string(), "wrong size for fixed-size value"))
}

/// Parses `b` as type `t`. Strict: rejects out-of-range framing offsets, unterminated strings and
/// wrong sizes of fixed-size values (GLib would substitute defaults; a repository must not).
pub fn parse(t: &Type, b: &[u8]) -> Result<Value, GvError> {
    if t.depth() > MAX_DEPTH {
        return Err(GvError::TooDeep);
    }
    parse_at(t, b, 0)
}

/// Parses at nesting level `depth` (the containers around this value, including those of enclosing
/// variants' types).
fn parse_at(t: &Type, b: &[u8], depth: usize) -> Result<Value, GvError> {
    let bad = |why| GvError::Malformed(t.to_string(), why);
    let inner = depth + 1;
    Ok(match t {
        Type::Bool => Value::Bool(fixed::<1>(t, b)?[0] != 0),
        Type::Byte => Value::Byte(fixed::<1>(t, b)?[0]),
        Type::I16 => Value::I16(i16::from_le_bytes(fixed(t, b)?)),
        Type::U16 => Value::U16(u16::from_le_bytes(fixed(t, b)?)),
        Type::I32 => Value::I32(i32::from_le_bytes(fixed(t, b)?)),
        Type::U32 => Value::U32(u32::from_le_bytes(fixed(t, b)?)),
        Type::I64 => Value::I64(i64::from_le_bytes(fixed(t, b)?)),
        Type::U64 => Value::U64(u64::from_le_bytes(fixed(t, b)?)),
        Type::Double => Value::Double(f64::from_le_bytes(fixed(t, b)?)),
        Type::Str(_) => Value::Str(parse_str(b)?.to_string()),
        Type::Variant => {
            let nul = b
                .iter()
                .rposition(|&c| c == 0)
                .ok_or_else(|| bad("variant without type"))?;
            let sig = std::str::from_utf8(&b[nul + 1..]).map_err(|_| bad("variant type"))?;
            let ct = Type::parse(sig)?;
            if inner + ct.depth() > MAX_DEPTH {
                return Err(GvError::TooDeep);
            }
            Value::Variant(ct.clone(), Box::new(parse_at(&ct, &b[..nul], inner)?))
        }
        Type::Array(e) => {
            if **e == Type::Byte {
                return Ok(Value::Bytes(b.to_vec()));
            }
            let mut items = Vec::new();
            for el in array_elements(t, b)? {
                items.push(parse_at(e, el, inner)?);
            }
            Value::Array(items)
        }
        Type::Maybe(e) => {
            if b.is_empty() {
                Value::Maybe(None)
            } else if e.fixed_size().is_some() {
                Value::Maybe(Some(Box::new(parse_at(e, b, inner)?)))
            } else {
                let (_, body) = b.split_last().ok_or_else(|| bad("maybe"))?;
                Value::Maybe(Some(Box::new(parse_at(e, body, inner)?)))
            }
        }
        Type::Tuple(types) => Value::Tuple(parse_tuple(t, types, b, inner)?),
        Type::DictEntry(m) => {
            let mut vals = parse_tuple(t, m, b, inner)?;
            let val = vals.pop().ok_or_else(|| bad("dict entry"))?;
            let key = vals.pop().ok_or_else(|| bad("dict entry"))?;
            Value::DictEntry(Box::new(key), Box::new(val))
        }
    })
}

fn parse_tuple(t: &Type, types: &[Type], b: &[u8], depth: usize) -> Result<Vec<Value>, GvError> {
    let members = tuple_members(t, types, b)?;
    let mut out = Vec::with_capacity(types.len());
    for (ct, m) in types.iter().zip(members) {
        out.push(parse_at(ct, m, depth)?);
    }
    Ok(out)
}

/// The serialised elements of an array `t` (`a` + element type) in `b`, framing checked, nothing
/// parsed: for walking large arrays without building a [`Value`] for each element.
pub fn array_elements<'a>(t: &Type, b: &'a [u8]) -> Result<Vec<&'a [u8]>, GvError> {
    let bad = |why| GvError::Malformed(t.to_string(), why);
    let Type::Array(e) = t else {
        return Err(mismatch(t));
    };
    let mut items = Vec::new();
    if let Some(fs) = e.fixed_size() {
        if !b.len().is_multiple_of(fs) {
            return Err(bad("array size not a multiple of element size"));
        }
        items.extend(b.chunks(fs));
    } else if !b.is_empty() {
        let osz = offset_size_for_total(b.len());
        let last = read_le(b, b.len() - osz.min(b.len()), osz, t)?;
        if last > b.len() || !(b.len() - last).is_multiple_of(osz) {
            return Err(bad("bad array framing"));
        }
        let n = (b.len() - last) / osz;
        items.reserve(n);
        let align = e.alignment();
        let mut start = 0usize;
        for i in 0..n {
            let end = read_le(b, last + i * osz, osz, t)?;
            let s = start.next_multiple_of(align);
            let el = b
                .get(s..end)
                .filter(|_| end <= last)
                .ok_or_else(|| bad("array element out of range"))?;
            items.push(el);
            start = end;
        }
    }
    Ok(items)
}

/// The serialised members of a tuple `t` whose member types are `types`, framing checked, nothing
/// parsed.
pub fn tuple_members<'a>(t: &Type, types: &[Type], b: &'a [u8]) -> Result<Vec<&'a [u8]>, GvError> {
    let bad = |why| GvError::Malformed(t.to_string(), why);
    if let Some(fs) = t.fixed_size() {
        if b.len() != fs {
            return Err(bad("wrong size for fixed-size tuple"));
        }
    }
    let osz = offset_size_for_total(b.len());
    let mut n_offsets_read = 0usize;
    let n_frames = types
        .iter()
        .enumerate()
        .filter(|(i, ct)| ct.fixed_size().is_none() && i + 1 != types.len())
        .count();
    let body_end = b
        .len()
        .checked_sub(n_frames * osz)
        .ok_or_else(|| bad("tuple too short for its framing offsets"))?;
    let mut pos = 0usize;
    let mut out = Vec::with_capacity(types.len());
    for (i, ct) in types.iter().enumerate() {
        let start = pos.next_multiple_of(ct.alignment());
        let end = if let Some(fs) = ct.fixed_size() {
            start + fs
        } else if i + 1 == types.len() {
            body_end
        } else {
            n_offsets_read += 1;
            read_le(b, b.len() - n_offsets_read * osz, osz, t)?
        };
        if start > end || end > body_end {
            return Err(bad("tuple member out of range"));
        }
        out.push(&b[start..end]);
        pos = end;
    }
    Ok(out)
}

/// A string member (`s`): NUL-terminated, no NUL inside, UTF-8.
pub fn parse_str(b: &[u8]) -> Result<&str, GvError> {
    let bad = |why| GvError::Malformed("s".into(), why);
    let (last, body) = b.split_last().ok_or_else(|| bad("empty string data"))?;
    if *last != 0 || body.contains(&0) {
        return Err(bad("string not NUL-terminated or contains NUL"));
    }
    std::str::from_utf8(body).map_err(|_| bad("string is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type 127 tuples deep whose innermost tuple holds 20,000 bytes, and an array of 50 values of it: the
    /// layout of each member is looked up, not recomputed by walking the member type again at every level
    /// and element (which made this take minutes).
    #[test]
    fn wide_and_deep_fixed_tuples_parse_with_their_cached_layout() {
        let depth = 127;
        let width = 20_000;
        let sig = format!(
            "a{}{}{}",
            "(".repeat(depth),
            "y".repeat(width),
            ")".repeat(depth)
        );
        let t = Type::parse(&sig).unwrap();
        let Type::Array(e) = &t else { unreachable!() };
        assert_eq!((e.alignment(), e.fixed_size()), (1, Some(width)));
        let data = vec![7u8; width * 50];
        let Value::Array(items) = parse(&t, &data).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(items.len(), 50);
        assert_eq!(
            (
                Type::parse("(yt)").unwrap().fixed_size(),
                Type::parse("{ty}").unwrap().alignment()
            ),
            (Some(16), 8)
        );
        assert_eq!(Type::parse("(ys)").unwrap().fixed_size(), None);
    }

    #[test]
    fn empty_dirtree_is_one_nul_byte() {
        let t = Type::parse("(a(say)a(sayay))").unwrap();
        let v = Value::Tuple(vec![Value::Array(vec![]), Value::Array(vec![])]);
        assert_eq!(serialize(&t, &v).unwrap(), vec![0u8]);
        assert_eq!(parse(&t, &[0]).unwrap(), v);
    }

    #[test]
    fn roundtrip_variant_dict() {
        let t = Type::parse("a{sv}").unwrap();
        let v = Value::Array(vec![Value::DictEntry(
            Box::new(Value::Str("k".into())),
            Box::new(Value::Variant(
                Type::Str('s'),
                Box::new(Value::Str("v".into())),
            )),
        )]);
        let b = serialize(&t, &v).unwrap();
        // GLib: "k\0" pad to 8, "v\0\0s", framing offset of key (2), entry offset (12)
        assert_eq!(b, b"k\0\0\0\0\0\0\0v\0\0s\x02\x0d".to_vec());
        assert_eq!(parse(&t, &b).unwrap(), v);
    }

    #[test]
    fn nesting_is_bounded_at_glibs_128() {
        let sig = |n: usize| format!("{}y", "a".repeat(n));
        assert_eq!(Type::parse(&sig(128)).unwrap().depth(), 128);
        assert_eq!(Type::parse(&sig(129)), Err(GvError::TooDeep));
        assert_eq!(Type::parse(&sig(100_000)), Err(GvError::TooDeep));
        assert_eq!(Type::parse(&"(".repeat(100_000)), Err(GvError::TooDeep));
        // A variant is a level: one holding a type 127 deep is 128 deep, one in an array 129.
        let mut v = vec![0u8];
        v.extend_from_slice(sig(127).as_bytes());
        assert!(
            parse(&Type::Variant, &v).is_ok(),
            "variant of depth 127 content"
        );
        let t = Type::parse("av").unwrap();
        let mut arr = v.clone();
        arr.push(v.len() as u8); // framing offset of the one element
        assert_eq!(parse(&t, &arr), Err(GvError::TooDeep));
        // Variants nested in variants (each adds a level), 200 deep.
        let mut nested = vec![7, 0, b'y'];
        for _ in 0..200 {
            nested.extend_from_slice(b"\0v");
        }
        assert_eq!(parse(&Type::Variant, &nested), Err(GvError::TooDeep));
    }

    #[test]
    fn rejects_bad_offsets() {
        let t = Type::parse("(a(say)a(sayay))").unwrap();
        assert!(
            matches!(parse(&t, &[0xff]), Err(GvError::Malformed(..))),
            "{:?}",
            parse(&t, &[0xff])
        );
        assert!(
            matches!(parse(&t, &[]), Err(GvError::Malformed(..))),
            "{:?}",
            parse(&t, &[])
        );
        let unterminated = parse(&Type::Str('s'), b"abc");
        assert!(
            matches!(unterminated, Err(GvError::Malformed(..))),
            "{unterminated:?}"
        );
    }
}
