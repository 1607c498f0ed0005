//! The kernel command line in signed mode: `ostree=` rebuilt from verified values, then the signed base
//! arguments (the commit's kargs file), then the per-device arguments the board allows unsigned.

use crate::{ProofError, VerifiedEntry};

/// Linux/ARM's command line holds at most this many bytes.
pub const MAX_CMDLINE: usize = 1023;

/// Why a command line is refused in signed mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError<'a> {
    #[error("bootargs has no ostree= argument")]
    NoOstree,
    #[error("bootargs has more than one ostree= argument")]
    TwoOstree,
    #[error("ostree={0}: not /ostree/deploy/<os>/deploy/<commit>.<serial> or /ostree/boot.<0|1>/<os>/<bootcsum>/<serial>")]
    BadOstree(&'a str),
    #[error("ostree={0}: names a commit other than the signed one")]
    CommitMismatch(&'a str),
    #[error("kernel argument {0:?} is not signed and not in the board's allow-list")]
    NotAllowed(&'a str),
    #[error("kernel argument {0:?} holds a byte that is not printable ASCII")]
    Unprintable(&'a str),
    #[error("the kernel command line would be longer than {MAX_CMDLINE} bytes")]
    TooLong,
}

/// Checks the kargs file's content: at most [`crate::format::MAX_KARGS`] bytes of printable ASCII words
/// separated by spaces, tabs or newlines, none of them `ostree=...`.
pub fn signed_kargs(content: &[u8]) -> Result<&str, ProofError> {
    if content.len() > crate::format::MAX_KARGS
        || !content
            .iter()
            .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n'))
    {
        return Err(ProofError::KargsSyntax);
    }
    let s = core::str::from_utf8(content).map_err(|_| ProofError::KargsSyntax)?;
    if s.split_ascii_whitespace().any(|w| w.starts_with("ostree=")) {
        return Err(ProofError::KargsSetsOstree);
    }
    Ok(s)
}

/// Whether `word` is allowed unsigned: an allow-list entry ending in `=` allows every word starting with it
/// (`console=` allows `console=ttyS0,115200`); any other entry allows exactly that word (`quiet`).
pub fn allowed(word: &str, allow: &[&str]) -> bool {
    allow.iter().any(|a| {
        if a.ends_with('=') {
            word.starts_with(a)
        } else {
            word == *a
        }
    })
}

struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Out<'_> {
    fn push(&mut self, s: &[u8]) -> Result<(), CmdlineError<'static>> {
        let end = self.len.checked_add(s.len()).ok_or(CmdlineError::TooLong)?;
        if end > MAX_CMDLINE {
            return Err(CmdlineError::TooLong);
        }
        self.buf
            .get_mut(self.len..end)
            .ok_or(CmdlineError::TooLong)?
            .copy_from_slice(s);
        self.len = end;
        Ok(())
    }
    fn word(&mut self, w: &[u8]) -> Result<(), CmdlineError<'static>> {
        if self.len > 0 {
            self.push(b" ")?;
        }
        self.push(w)
    }
}

/// Builds the command line into `out` from the verified entry and the loader copy's `bootargs`:
/// `ostree=` rebuilt from its os name, serial (and bootcsum) after syntax checks, with the commit taken from
/// the verified entry (the loader's must match it); then the signed kargs; then the loader's other words,
/// each of which must be [`allowed`] by `allow`.
pub fn build<'a, 'b>(
    entry: &VerifiedEntry<'_>,
    bootargs: &'a str,
    allow: &[&str],
    out: &'b mut [u8],
) -> Result<&'b str, CmdlineError<'a>> {
    let mut target = None;
    for w in bootargs.split_ascii_whitespace() {
        if !w.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CmdlineError::Unprintable(w));
        }
        if let Some(v) = w.strip_prefix("ostree=") {
            if target.is_some() {
                return Err(CmdlineError::TwoOstree);
            }
            target = Some(v);
        } else if !allowed(w, allow) {
            return Err(CmdlineError::NotAllowed(w));
        }
    }
    let target = target.ok_or(CmdlineError::NoOstree)?;
    let mut o = Out { buf: out, len: 0 };
    push_ostree(&mut o, target, entry.commit()).map_err(|e| match e {
        Rebuild::Bad => CmdlineError::BadOstree(target),
        Rebuild::Commit => CmdlineError::CommitMismatch(target),
        Rebuild::TooLong => CmdlineError::TooLong,
    })?;
    for w in entry.kargs().split_ascii_whitespace() {
        o.word(w.as_bytes())?;
    }
    for w in bootargs.split_ascii_whitespace() {
        if !w.starts_with("ostree=") {
            o.word(w.as_bytes())?;
        }
    }
    let len = o.len;
    let s = out.get(..len).ok_or(CmdlineError::TooLong)?;
    core::str::from_utf8(s).map_err(|_| CmdlineError::TooLong)
}

enum Rebuild {
    Bad,
    Commit,
    TooLong,
}

impl From<CmdlineError<'static>> for Rebuild {
    fn from(_: CmdlineError<'static>) -> Self {
        Rebuild::TooLong
    }
}

/// An os name (stateroot): 1-64 of `[A-Za-z0-9._-]`, not `.` or `..`.
fn os_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A deployment serial: decimal u32 without leading zeros.
fn serial(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 10
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.parse::<u32>().is_ok()
}

/// 64 lower-case hex digits.
fn hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lower-case hex of a checksum.
fn hex(b: &[u8; 32]) -> [u8; 64] {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, x) in out.chunks_exact_mut(2).zip(b) {
        pair.copy_from_slice(&[H[usize::from(x >> 4)], H[usize::from(x & 15)]]);
    }
    out
}

/// Writes `ostree=...` rebuilt from the parsed, checked pieces of `v`.
fn push_ostree(o: &mut Out<'_>, v: &str, commit: &[u8; 32]) -> Result<(), Rebuild> {
    if let Some(rest) = v.strip_prefix("/ostree/deploy/") {
        let (os, rest) = rest.split_once('/').ok_or(Rebuild::Bad)?;
        let name = rest.strip_prefix("deploy/").ok_or(Rebuild::Bad)?;
        let (c, ser) = name.split_once('.').ok_or(Rebuild::Bad)?;
        if !os_name(os) || !hex64(c) || !serial(ser) {
            return Err(Rebuild::Bad);
        }
        let expect = hex(commit);
        if c.as_bytes() != expect {
            return Err(Rebuild::Commit);
        }
        o.push(b"ostree=/ostree/deploy/")?;
        o.push(os.as_bytes())?;
        o.push(b"/deploy/")?;
        o.push(&expect)?;
        o.push(b".")?;
        o.push(ser.as_bytes())?;
        return Ok(());
    }
    let rest = v.strip_prefix("/ostree/boot.").ok_or(Rebuild::Bad)?;
    let (n, rest) = rest.split_once('/').ok_or(Rebuild::Bad)?;
    let (os, rest) = rest.split_once('/').ok_or(Rebuild::Bad)?;
    let (bootcsum, ser) = rest.split_once('/').ok_or(Rebuild::Bad)?;
    if !matches!(n, "0" | "1") || !os_name(os) || !hex64(bootcsum) || !serial(ser) {
        return Err(Rebuild::Bad);
    }
    for p in ["ostree=/ostree/boot.", n, "/", os, "/", bootcsum, "/", ser] {
        o.push(p.as_bytes())?;
    }
    Ok(())
}
