//! The proof's byte layout (docs/FORMATS.md, "Boot proof") and its bounded parser.
//!
//! ```text
//! magic      8 bytes  "ATBPROOF"
//! version    u8       1
//! commit     u32 len, the commit object's bytes
//! signatures u8 n (1..=8), n x 64-byte ed25519 signatures (from .commitmeta "ostree.sign.ed25519")
//! dirtrees   u8 n (1..=16), n x (u32 len, a dirtree object's bytes)
//! files      u8 n (1..=4), n x (u8 role, u16 path len, path in the commit (no leading '/'),
//!                               u32 len, the file header variant (uuuusa(ayay)) without OSTree's size prefix,
//!                               u32 len, the file's content: only for the kargs file, empty otherwise)
//! ```
//! Integers are little-endian. Nothing may follow the last file record.

use crate::{Part, ProofError, Role};

/// The first bytes of every proof.
pub const MAGIC: &[u8; 8] = b"ATBPROOF";
/// The layout version this crate reads and writes.
pub const VERSION: u8 = 1;
/// At most this many signatures are tried.
pub const MAX_SIGNATURES: usize = 8;
/// At most this many dirtree objects.
pub const MAX_DIRTREES: usize = 16;
/// At most this many path components in a file's path.
pub const MAX_DEPTH: usize = 8;
/// The kargs file's content is at most this long (Linux/ARM's command line is 1023 bytes).
pub const MAX_KARGS: usize = 1023;
/// A path in the commit is at most this long.
pub const MAX_PATH: usize = 255;
/// The length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// One file record.
#[derive(Debug, Clone, Copy)]
pub struct FileRecord<'a> {
    pub path: &'a [u8],
    pub header: &'a [u8],
    pub content: &'a [u8],
}

/// A proof split into its parts (nothing verified yet).
#[derive(Debug, Clone, Copy)]
pub struct Parsed<'a> {
    pub commit: &'a [u8],
    /// `n * 64` bytes.
    pub signatures: &'a [u8],
    pub dirtrees: [&'a [u8]; MAX_DIRTREES],
    pub n_dirtrees: usize,
    /// Indexed by [`Role::index`].
    pub files: [Option<FileRecord<'a>>; 4],
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, part: Part) -> Result<&'a [u8], ProofError> {
        let end = self.pos.checked_add(n).ok_or(ProofError::Truncated(part))?;
        let b = self
            .data
            .get(self.pos..end)
            .ok_or(ProofError::Truncated(part))?;
        self.pos = end;
        Ok(b)
    }
    fn u8(&mut self, part: Part) -> Result<u8, ProofError> {
        Ok(self.take(1, part)?.first().copied().unwrap_or(0))
    }
    fn u16(&mut self, part: Part) -> Result<usize, ProofError> {
        let b: [u8; 2] = self
            .take(2, part)?
            .try_into()
            .map_err(|_| ProofError::Truncated(part))?;
        Ok(usize::from(u16::from_le_bytes(b)))
    }
    fn u32(&mut self, part: Part) -> Result<usize, ProofError> {
        let b: [u8; 4] = self
            .take(4, part)?
            .try_into()
            .map_err(|_| ProofError::Truncated(part))?;
        usize::try_from(u32::from_le_bytes(b)).map_err(|_| ProofError::Truncated(part))
    }
    fn count(&mut self, part: Part, max: usize) -> Result<usize, ProofError> {
        match usize::from(self.u8(part)?) {
            0 => Err(ProofError::Empty(part)),
            n if n > max => Err(ProofError::TooMany(part)),
            n => Ok(n),
        }
    }
}

/// Splits a proof into its parts, checking only the layout.
pub fn parse(data: &[u8]) -> Result<Parsed<'_>, ProofError> {
    let mut c = Cursor { data, pos: 0 };
    if c.take(8, Part::Magic).ok() != Some(&MAGIC[..]) || c.u8(Part::Magic).ok() != Some(VERSION) {
        return Err(ProofError::BadMagic);
    }
    let n = c.u32(Part::Commit)?;
    let commit = c.take(n, Part::Commit)?;
    let n = c.count(Part::Signatures, MAX_SIGNATURES)?;
    let signatures = c.take(n * SIGNATURE_LEN, Part::Signatures)?;
    let n_dirtrees = c.count(Part::DirTrees, MAX_DIRTREES)?;
    let mut dirtrees: [&[u8]; MAX_DIRTREES] = [&[]; MAX_DIRTREES];
    for slot in dirtrees.iter_mut().take(n_dirtrees) {
        let n = c.u32(Part::DirTrees)?;
        *slot = c.take(n, Part::DirTrees)?;
    }
    let n_files = c.count(Part::Files, 4)?;
    let mut files: [Option<FileRecord<'_>>; 4] = [None; 4];
    for _ in 0..n_files {
        let code = c.u8(Part::Files)?;
        let role = Role::from_code(code).ok_or(ProofError::UnknownRole(code))?;
        let n = c.u16(Part::Files)?;
        let path = c.take(n, Part::Files)?;
        let n = c.u32(Part::Files)?;
        let header = c.take(n, Part::Files)?;
        let n = c.u32(Part::Files)?;
        let content = c.take(n, Part::Files)?;
        if role != Role::Kargs && !content.is_empty() {
            return Err(ProofError::UnexpectedContent(role));
        }
        let slot = files
            .get_mut(role.index())
            .ok_or(ProofError::UnknownRole(code))?;
        if slot.is_some() {
            return Err(ProofError::DuplicateRole(role));
        }
        *slot = Some(FileRecord {
            path,
            header,
            content,
        });
    }
    if c.pos != data.len() {
        return Err(ProofError::TrailingBytes);
    }
    Ok(Parsed {
        commit,
        signatures,
        dirtrees,
        n_dirtrees,
        files,
    })
}
