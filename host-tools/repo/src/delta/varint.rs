//! The unsigned varints of delta operations: 7 bits a byte, least significant first, high bit set on
//! every byte but the last (protobuf's encoding, as `ostree-varint.c`); at most 10 bytes.

/// Appends `n`.
pub fn write(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads one varint from the front of `buf`: the value and the bytes it took, or `None` when `buf` ends
/// first or the varint runs past 10 bytes. Bits beyond 64 are dropped, as ostree does.
pub fn read(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_limits() {
        for n in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX] {
            let mut b = Vec::new();
            write(&mut b, n);
            assert_eq!(read(&b), Some((n, b.len())));
        }
        assert_eq!(read(&[0x80, 0x80]), None);
        assert_eq!(read(&[0xff; 11]), None);
        let mut b = Vec::new();
        write(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
    }
}
