//! The CRC-32 of U-Boot's environment and of the loader-copy trailer (IEEE 802.3 / zlib polynomial).

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 as computed by zlib's `crc32(0, data, len)`, which U-Boot and libubootenv use.
pub fn crc32(data: &[u8]) -> u32 {
    CRC32.checksum(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_zlib_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
    }
}
