//! Lower-case hexadecimal for digests, without allocation.

/// Decodes exactly 64 hex digits (either case) into 32 bytes.
pub fn decode_sha256(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (nibble(*hi)?, nibble(*lo)?),
            _ => return None,
        };
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

/// The value of one hex digit.
pub fn nibble(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Writes `bytes` as lower-case hex.
pub fn write_hex(out: &mut impl core::fmt::Write, bytes: &[u8]) -> core::fmt::Result {
    for b in bytes {
        write!(out, "{b:02x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects() {
        let text = b"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let d = decode_sha256(text).unwrap();
        assert_eq!(d[0], 0x00);
        assert_eq!(d[15], 0xff);
        assert_eq!(d[31], 0xff);
        assert!(decode_sha256(&text[1..]).is_none());
        let mut bad = *text;
        bad[3] = b'g';
        assert!(decode_sha256(&bad).is_none());
    }
}
