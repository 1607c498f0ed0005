//! Compression of archive-mode content (`.filez` bodies: raw deflate, RFC 1951), hashing the
//! uncompressed bytes on the way (object checksums are over the uncompressed content, so the choice of
//! compressor changes no checksum).
//!
//! Files up to [`WHOLE_BUFFER_MAX`] are read whole and compressed in one call by libdeflate (the
//! `libdeflater` crate): measured on a Debian bookworm minbase `/usr` (4,671 files, 116 MB, one core,
//! 2026-11-30), libdeflate level 3 writes 1.3 % fewer bytes than zlib level 6 (ostree's default, the level
//! `flate2`/zlib-rs reproduces) in half the time; level 6 of libdeflate is only 1.2x faster than zlib's.
//! Larger files are streamed through zlib-rs (`flate2`) at ostree's level 6, so memory stays bounded: at
//! most two buffers of [`WHOLE_BUFFER_MAX`] per worker thread.

use flate2::write::DeflateEncoder;
use sha2::Digest;
use std::cell::RefCell;
use std::io::{self, Read, Write};

/// Files up to this size are compressed whole (libdeflate); larger ones are streamed (zlib-rs).
pub const WHOLE_BUFFER_MAX: u64 = 4 * 1024 * 1024;

/// libdeflate's level for whole-buffer compression (see the module comment for the measurement).
pub const WHOLE_BUFFER_LEVEL: i32 = 3;

/// zlib-rs' level for streamed files: ostree's default (`OSTREE_ARCHIVE_DEFAULT_COMPRESSION_LEVEL`).
pub const STREAM_LEVEL: u32 = 6;

struct Whole {
    compressor: libdeflater::Compressor,
    input: Vec<u8>,
    output: Vec<u8>,
}

thread_local! {
    static WHOLE: RefCell<Option<Whole>> = const { RefCell::new(None) };
}

/// Reads exactly `size` bytes of `content` (fewer if it ends early), feeds them to `sha`, writes their
/// raw deflate to `out`. Returns the number of content bytes read (the caller compares it with `size`).
pub fn write_deflated(
    content: &mut dyn Read,
    size: u64,
    sha: &mut sha2::Sha256,
    out: &mut dyn Write,
) -> io::Result<u64> {
    if size <= WHOLE_BUFFER_MAX {
        whole(content, size, sha, out)
    } else {
        stream(content, sha, out)
    }
}

fn whole(
    content: &mut dyn Read,
    size: u64,
    sha: &mut sha2::Sha256,
    out: &mut dyn Write,
) -> io::Result<u64> {
    WHOLE.with_borrow_mut(|w| {
        let w = w.get_or_insert_with(|| Whole {
            compressor: libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(WHOLE_BUFFER_LEVEL)
                    .unwrap_or_else(|_| libdeflater::CompressionLvl::default()),
            ),
            input: Vec::new(),
            output: Vec::new(),
        });
        w.input.clear();
        // One byte more than announced: a file that grew while being read is caught by the size check.
        content.take(size + 1).read_to_end(&mut w.input)?;
        sha.update(&w.input);
        let bound = w.compressor.deflate_compress_bound(w.input.len());
        w.output.resize(bound, 0);
        let n = w
            .compressor
            .deflate_compress(&w.input, &mut w.output)
            .map_err(|e| io::Error::other(format!("libdeflate: {e:?}")))?;
        out.write_all(&w.output[..n])?;
        Ok(w.input.len() as u64)
    })
}

fn stream(content: &mut dyn Read, sha: &mut sha2::Sha256, out: &mut dyn Write) -> io::Result<u64> {
    let mut enc = DeflateEncoder::new(out, flate2::Compression::new(STREAM_LEVEL));
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        enc.write_all(&buf[..n])?;
        total += n as u64;
    }
    enc.finish()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;

    fn roundtrip(data: &[u8]) {
        let mut sha = sha2::Sha256::new();
        let mut out = Vec::new();
        let n = write_deflated(&mut &data[..], data.len() as u64, &mut sha, &mut out).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(sha.finalize()[..], sha2::Sha256::digest(data)[..]);
        let mut back = Vec::new();
        DeflateDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    /// Both paths write raw deflate that zlib (flate2) inflates back, and hash the uncompressed bytes.
    #[test]
    fn whole_and_streamed_round_trip() {
        roundtrip(b"");
        roundtrip(b"hello hello hello hello");
        let big: Vec<u8> = (0..(WHOLE_BUFFER_MAX as usize + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        roundtrip(&big[..1000]);
        roundtrip(&big);
    }

    /// A file that grew after its size was taken reads one byte more than announced (the store refuses it).
    #[test]
    fn whole_reads_past_a_stale_size() {
        let data = b"0123456789";
        let mut sha = sha2::Sha256::new();
        let n = write_deflated(&mut &data[..], 5, &mut sha, &mut Vec::new()).unwrap();
        assert_eq!(n, 6);
    }
}
