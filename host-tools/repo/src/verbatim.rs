//! Pulling into an archive repository: a fetched `.filez` is stored as it came (no second deflate),
//! after the inflated content has been hashed and matched against the object's name. OSTree's pull does
//! the same. The bytes stored are exactly the bytes verified: a header that is not in canonical form,
//! or bytes after the end of the deflate stream, are refused.

use super::inflate::ExactInflate;
use super::objects::{size_prefix, Checksum, FileHeader, ObjectType};
use super::store::{io_err, Mode, Store};
use super::RepoError;
use sha2::Digest;
use std::io::{self, Read, Seek, Write};

/// A reader that copies every byte it hands out into a writer.
struct Tee<'a, R, W> {
    inner: R,
    copy: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(got) = buf.get(..n) {
            self.copy.write_all(got)?;
        }
        Ok(n)
    }
}

impl Store {
    /// Stores an archive content object received as `header_bytes` (the serialized archive header, its
    /// size prefix already consumed) followed by the raw deflate stream in `raw`. The object must have
    /// checksum `expected`; if not, or if the stream is truncated, longer than announced or followed by
    /// other bytes, nothing is stored. Only for archive repositories.
    pub fn write_archive_verbatim(
        &self,
        header: &FileHeader,
        header_bytes: &[u8],
        size: u64,
        raw: &mut dyn Read,
        expected: &Checksum,
    ) -> Result<(), RepoError> {
        if self.mode != Mode::Archive {
            return Err(RepoError::Usage(format!(
                "{}: verbatim .filez objects only go into archive repositories",
                self.path.display()
            )));
        }
        if header.serialize_archive(size) != header_bytes {
            return Err(RepoError::Corrupt(format!(
                "file object {expected}: header is not in canonical form"
            )));
        }
        let mut tmp = self.tmp_file()?;
        let tmp_path = tmp.shown().to_path_buf();
        let werr = |e| io_err(&tmp_path, "write object", e);
        let mut out = io::BufWriter::with_capacity(128 * 1024, tmp.file_mut());
        out.write_all(&size_prefix(header_bytes.len()))
            .and_then(|_| out.write_all(header_bytes))
            .map_err(werr)?;
        let mut sha = header.checksum_start();
        let mut total = 0u64;
        {
            let tee = Tee {
                inner: raw,
                copy: &mut out,
            };
            let mut content = ExactInflate::new(tee, size);
            let mut buf = vec![0u8; 128 * 1024];
            loop {
                let n = content.read(&mut buf).map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof => {
                        RepoError::Corrupt(format!("file object {expected}: {e}"))
                    }
                    _ => werr(e),
                })?;
                if n == 0 {
                    break;
                }
                total = total.saturating_add(n as u64);
                sha.update(buf.get(..n).unwrap_or_default());
            }
        }
        if total != size {
            return Err(RepoError::Corrupt(format!(
                "file object {expected}: content is {total} bytes where {size} were expected (truncated)"
            )));
        }
        let got = super::objects::finish(sha);
        if got != *expected {
            return Err(RepoError::Corrupt(format!(
                "file object {expected}: content has checksum {got}"
            )));
        }
        out.flush().map_err(werr)?;
        drop(out);
        self.sync_unless_staged(tmp.file()).map_err(werr)?;
        let len = tmp.file_mut().stream_position().map_err(werr)?;
        super::writeback::written(tmp.file(), len);
        tmp.set_mode(0o644)?;
        self.commit_tmp(tmp, expected, ObjectType::File)
    }
}
