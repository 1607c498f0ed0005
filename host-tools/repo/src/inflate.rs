//! Inflating the deflate stream of a fetched `.filez`: exactly the size its header announces, then the
//! end of the stream, then the end of the body. Reading the body to its end also lets the HTTP client
//! keep the connection for the next request.

use flate2::bufread::DeflateDecoder;
use std::io::{self, BufRead, BufReader, Read};

/// A reader of the inflated content of a `.filez` body.
pub struct ExactInflate<R: Read> {
    dec: DeflateDecoder<BufReader<R>>,
    remaining: u64,
    /// No deflate stream at all (symlinks carry none).
    empty: Option<bool>,
    done: bool,
}

impl<R: Read> ExactInflate<R> {
    /// `raw` is positioned after the header; `size` is the content size the header announces.
    pub fn new(raw: R, size: u64) -> Self {
        ExactInflate {
            dec: DeflateDecoder::new(BufReader::with_capacity(64 * 1024, raw)),
            remaining: size,
            empty: None,
            done: false,
        }
    }

    fn invalid(msg: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
    }

    /// After the announced size: the stream must end, and nothing may follow it.
    fn finish(&mut self) -> io::Result<()> {
        let mut probe = [0u8; 1];
        if self.empty != Some(true) && self.dec.read(&mut probe)? != 0 {
            return Err(Self::invalid(
                "content longer than the size its header announces",
            ));
        }
        if !self.dec.get_mut().fill_buf()?.is_empty() {
            return Err(Self::invalid("bytes after the end of the deflate stream"));
        }
        self.done = true;
        Ok(())
    }
}

impl<R: Read> Read for ExactInflate<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.empty.is_none() {
            self.empty = Some(self.dec.get_mut().fill_buf()?.is_empty());
        }
        if self.remaining == 0 {
            self.finish()?;
            return Ok(0);
        }
        if self.empty == Some(true) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no deflate stream where content was announced",
            ));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.dec.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "deflate stream ends before the size its header announces",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::DeflateEncoder, Compression};
    use std::io::Write;

    fn deflate(b: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn inflate(raw: &[u8], size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ExactInflate::new(raw, size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn exact_stream_is_read_to_its_end() {
        let data = vec![7u8; 300_000];
        let raw = deflate(&data);
        let mut cursor = io::Cursor::new(raw.clone());
        let mut out = Vec::new();
        ExactInflate::new(&mut cursor, data.len() as u64)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(cursor.position(), raw.len() as u64, "body read to its end");
        assert_eq!(inflate(&[], 0).unwrap(), b"");
        assert_eq!(inflate(&deflate(b""), 0).unwrap(), b"");
    }

    #[test]
    fn wrong_sizes_truncation_and_trailing_bytes_are_errors() {
        let raw = deflate(b"hello world");
        let err = |raw: &[u8], size| {
            let e = inflate(raw, size).unwrap_err();
            (e.kind(), e.to_string())
        };
        let (kind, msg) = err(&raw, 5);
        assert_eq!(kind, io::ErrorKind::InvalidData);
        assert!(
            msg.contains("longer than the size its header announces"),
            "{msg}"
        );
        let (kind, msg) = err(&raw, 50);
        assert_eq!(kind, io::ErrorKind::UnexpectedEof);
        assert!(
            msg.contains("ends before the size its header announces"),
            "{msg}"
        );
        let (kind, msg) = err(&raw[..raw.len() - 2], 11);
        assert_eq!(kind, io::ErrorKind::UnexpectedEof, "truncated: {msg}");
        let mut tail = raw.clone();
        tail.extend_from_slice(b"x");
        let (kind, msg) = err(&tail, 11);
        assert_eq!(kind, io::ErrorKind::InvalidData);
        assert!(msg.contains("after the end of the deflate stream"), "{msg}");
        let (kind, msg) = err(&[], 3);
        assert_eq!(kind, io::ErrorKind::UnexpectedEof);
        assert!(
            msg.contains("no deflate stream where content was announced"),
            "{msg}"
        );
    }
}
