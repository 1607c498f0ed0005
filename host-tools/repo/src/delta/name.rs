//! Delta names and where a delta lives: `FROM-TO` (or `TO` from scratch) in hex on the command line and
//! in the summary; on disk `deltas/<2>/<41>-<43>/` (from) or `deltas/<2>/<41>/` (scratch), each checksum
//! in OSTree's modified base64 (standard alphabet, `/` spelled `_`, no padding): 43 characters.

use super::DeltaError;
use crate::objects::Checksum;
use base64::alphabet::Alphabet;
use base64::engine::{general_purpose::NO_PAD, GeneralPurpose};
use base64::Engine;
use std::fmt;

fn engine() -> GeneralPurpose {
    // The alphabet is a constant of 64 distinct printable characters: `new` cannot fail for it.
    let a = Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_")
        .unwrap_or(base64::alphabet::STANDARD);
    GeneralPurpose::new(&a, NO_PAD)
}

/// A checksum in OSTree's modified base64 (43 characters).
pub fn to_b64(c: &Checksum) -> String {
    engine().encode(c.0)
}

/// Parses 43 characters of modified base64 back into a checksum.
pub fn from_b64(s: &str) -> Option<Checksum> {
    if s.len() != 43 {
        return None;
    }
    let v = engine().decode(s).ok()?;
    Checksum::from_slice(&v)
}

/// Which delta: from a commit (or from scratch) to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeltaName {
    pub from: Option<Checksum>,
    pub to: Checksum,
}

impl DeltaName {
    /// Parses `FROM-TO` or `TO` (64 hex digits each), as `static-delta show/delete` and the summary spell it.
    pub fn parse(s: &str) -> Result<DeltaName, DeltaError> {
        let bad = || DeltaError::BadName(s.to_string());
        match s.split_once('-') {
            Some((f, t)) => Ok(DeltaName {
                from: Some(Checksum::from_hex(f).ok_or_else(bad)?),
                to: Checksum::from_hex(t).ok_or_else(bad)?,
            }),
            None => Ok(DeltaName {
                from: None,
                to: Checksum::from_hex(s).ok_or_else(bad)?,
            }),
        }
    }

    /// The directory relative to the repository: `deltas/Ab/cd...-EF...` or `deltas/EF/gh...`.
    pub fn dir(&self) -> String {
        let to = to_b64(&self.to);
        match &self.from {
            Some(f) => {
                let from = to_b64(f);
                format!("deltas/{}/{}-{}", &from[..2], &from[2..], to)
            }
            None => format!("deltas/{}/{}", &to[..2], &to[2..]),
        }
    }

    pub fn superblock_path(&self) -> String {
        format!("{}/superblock", self.dir())
    }

    /// A part's file (and, for inline parts, its key in the superblock's metadata).
    pub fn part_path(&self, i: usize) -> String {
        format!("{}/{i}", self.dir())
    }

    /// The superblock metadata key holding the target's detached metadata.
    pub fn commitmeta_key(&self) -> String {
        format!("{}/commitmeta", self.dir())
    }

    /// The name from the two directory levels under `deltas/` (as `static-delta list` reads them).
    pub fn from_dirs(first: &str, second: &str) -> Option<DeltaName> {
        let joined = format!("{first}{second}");
        match joined.split_once('-') {
            Some((f, t)) => Some(DeltaName {
                from: Some(from_b64(f)?),
                to: from_b64(t)?,
            }),
            None => Some(DeltaName {
                from: None,
                to: from_b64(&joined)?,
            }),
        }
    }
}

impl fmt::Display for DeltaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) => write!(f, "{from}-{}", self.to),
            None => write!(f, "{}", self.to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_ostree_spells_them() {
        // b64 of 32 bytes 0xff..: 42 '/' then '8' -> '_' x42 + '8'.
        let to = Checksum([0xff; 32]);
        let from = Checksum([0; 32]);
        assert_eq!(to_b64(&to), format!("{}8", "_".repeat(42)));
        let n = DeltaName {
            from: Some(from),
            to,
        };
        assert_eq!(
            n.dir(),
            format!("deltas/AA/{}-{}8", "A".repeat(41), "_".repeat(42))
        );
        let s = DeltaName { from: None, to };
        assert_eq!(s.dir(), format!("deltas/__/{}8", "_".repeat(40)));
        assert_eq!(
            DeltaName::from_dirs("__", &format!("{}8", "_".repeat(40))),
            Some(s)
        );
        assert_eq!(DeltaName::parse(&n.to_string()).unwrap(), n);
        assert!(DeltaName::parse("abc").is_err());
    }
}
