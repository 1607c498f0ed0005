//! A minimal GVariant reader for the serialised shapes a proof holds (commit, dirtree, file header).
//!
//! It reads GLib's normal form only (what OSTree writes): framing offsets in bounds and in order, zero
//! padding, strings NUL-terminated without inner NUL, nothing left over. Anything else is [`Malformed`].
//! Every index is checked; nothing recurses.

/// The bytes are not a GVariant of the expected shape in normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// One member of a tuple: fixed size (alignment, size) or variable size (alignment).
#[derive(Debug, Clone, Copy)]
pub enum Member {
    Fixed { align: usize, size: usize },
    Var { align: usize },
}

impl Member {
    fn align(self) -> usize {
        match self {
            Member::Fixed { align, .. } | Member::Var { align } => align,
        }
    }
}

/// The size of a framing offset in a container of `len` bytes.
fn offset_size(len: usize) -> usize {
    if len <= 0xff {
        1
    } else if len <= 0xffff {
        2
    } else {
        4
    }
}

/// Reads a little-endian framing offset of `size` bytes at `at`.
fn read_offset(data: &[u8], at: usize, size: usize) -> Result<usize, Malformed> {
    let b = data
        .get(at..at.checked_add(size).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    let mut v: u32 = 0;
    for (i, byte) in b.iter().enumerate() {
        v |= u32::from(*byte) << (8 * i);
    }
    usize::try_from(v).map_err(|_| Malformed)
}

fn align_up(pos: usize, align: usize) -> Result<usize, Malformed> {
    let rem = pos % align;
    if rem == 0 {
        Ok(pos)
    } else {
        pos.checked_add(align - rem).ok_or(Malformed)
    }
}

/// Padding bytes `data[from..to]` exist and are zero.
fn zero_padding(data: &[u8], from: usize, to: usize) -> Result<(), Malformed> {
    match data.get(from..to) {
        Some(p) if p.iter().all(|b| *b == 0) => Ok(()),
        _ => Err(Malformed),
    }
}

/// Splits a tuple into its members' byte ranges. The last member must be variable-sized (true of every
/// shape a proof holds), so the tuple has no trailing padding.
pub fn tuple<const N: usize>(
    data: &[u8],
    members: &[Member; N],
) -> Result<[core::ops::Range<usize>; N], Malformed> {
    let osz = offset_size(data.len());
    let mut frame_end = data.len();
    let mut pos = 0usize;
    let mut out: [core::ops::Range<usize>; N] = core::array::from_fn(|_| 0..0);
    for (i, (m, slot)) in members.iter().zip(out.iter_mut()).enumerate() {
        let start = align_up(pos, m.align())?;
        let end = match *m {
            Member::Fixed { size, .. } => start.checked_add(size).ok_or(Malformed)?,
            Member::Var { .. } if i + 1 == N => frame_end,
            Member::Var { .. } => {
                frame_end = frame_end.checked_sub(osz).ok_or(Malformed)?;
                read_offset(data, frame_end, osz)?
            }
        };
        if start > end || end > frame_end {
            return Err(Malformed);
        }
        zero_padding(data, pos, start)?;
        *slot = start..end;
        pos = end;
    }
    if pos != frame_end || !matches!(members.last(), Some(Member::Var { .. })) {
        return Err(Malformed);
    }
    Ok(out)
}

/// An array of variable-sized elements of alignment 1 (`a(say)`, `a(sayay)`).
#[derive(Debug, Clone, Copy)]
pub struct VarArray<'a> {
    data: &'a [u8],
    osz: usize,
    /// Where the framing offsets start (the end of the last element).
    offsets_start: usize,
    len: usize,
}

impl<'a> VarArray<'a> {
    pub fn parse(data: &'a [u8]) -> Result<VarArray<'a>, Malformed> {
        if data.is_empty() {
            return Ok(VarArray {
                data,
                osz: 1,
                offsets_start: 0,
                len: 0,
            });
        }
        let osz = offset_size(data.len());
        let last = data.len().checked_sub(osz).ok_or(Malformed)?;
        let offsets_start = read_offset(data, last, osz)?;
        let table = data.len().checked_sub(offsets_start).ok_or(Malformed)?;
        if table == 0 || table % osz != 0 {
            return Err(Malformed);
        }
        Ok(VarArray {
            data,
            osz,
            offsets_start,
            len: table / osz,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`'s bytes.
    pub fn get(&self, i: usize) -> Result<&'a [u8], Malformed> {
        let off = |k: usize| -> Result<usize, Malformed> {
            let at = self
                .offsets_start
                .checked_add(k.checked_mul(self.osz).ok_or(Malformed)?)
                .ok_or(Malformed)?;
            read_offset(self.data, at, self.osz)
        };
        let start = match i.checked_sub(1) {
            None => 0,
            Some(prev) => off(prev)?,
        };
        let end = off(i)?;
        if start > end || end > self.offsets_start {
            return Err(Malformed);
        }
        self.data.get(start..end).ok_or(Malformed)
    }
}

/// A string `s`: its bytes without the terminating NUL; no inner NUL.
pub fn string(b: &[u8]) -> Result<&[u8], Malformed> {
    match b.split_last() {
        Some((0, s)) if !s.contains(&0) => Ok(s),
        _ => Err(Malformed),
    }
}

/// A 32-byte checksum stored as `ay`.
pub fn checksum(b: &[u8]) -> Result<[u8; 32], Malformed> {
    b.try_into().map_err(|_| Malformed)
}

/// `data[r]`, as a checked slice.
pub fn slice(data: &[u8], r: core::ops::Range<usize>) -> Result<&[u8], Malformed> {
    data.get(r).ok_or(Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAY: [Member; 2] = [Member::Var { align: 1 }, Member::Var { align: 1 }];

    #[test]
    fn tuple_of_string_and_bytes() {
        // ("ab", [1, 2]): "ab\0" 1 2, framing offset 3.
        let d = [b'a', b'b', 0, 1, 2, 3];
        let [s, ay] = tuple(&d, &SAY).unwrap();
        assert_eq!(string(&d[s]).unwrap(), b"ab");
        assert_eq!(&d[ay], &[1, 2]);
    }

    #[test]
    fn framing_offset_past_the_end_is_malformed() {
        let d = [b'a', b'b', 0, 1, 2, 9];
        assert_eq!(tuple(&d, &SAY), Err(Malformed));
    }

    #[test]
    fn nonzero_padding_is_malformed() {
        let m = [
            Member::Var { align: 1 },
            Member::Fixed { align: 4, size: 4 },
            Member::Var { align: 1 },
        ];
        // "a\0" pad pad u32 ... ; pad byte 1 is not zero.
        let d = [b'a', 0, 0, 1, 5, 0, 0, 0, 2];
        assert_eq!(tuple(&d, &m), Err(Malformed));
        let d = [b'a', 0, 0, 0, 5, 0, 0, 0, 2];
        assert!(tuple(&d, &m).is_ok());
    }

    #[test]
    fn empty_array_and_strings() {
        assert_eq!(VarArray::parse(&[]).unwrap().len(), 0);
        assert_eq!(string(b"x"), Err(Malformed));
        assert_eq!(string(b"a\0b\0"), Err(Malformed));
        assert_eq!(string(b"\0").unwrap(), b"");
    }
}
