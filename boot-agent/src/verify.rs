//! Checks of one boot file: before loading, its declared size against its load region; after loading, the
//! bytes `fatload` read and their SHA-256, where they lie (no copy: what is hashed is what boots).

use boot_proof::ProofError;
use sha2::{Digest, Sha256};
use uenv::boot_config::BootFile;

/// Why a boot file does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The loader copy declares more bytes than the file's load region holds: never loaded.
    TooLarge {
        /// Size in the loader copy.
        size: u32,
        /// Bytes in the load region.
        room: u32,
    },
    /// The script could not load it (`fatload` failed: missing file or read error).
    NotLoaded,
    /// `fatload` read another number of bytes than the loader copy declares.
    Size {
        /// Size in the loader copy.
        declared: u32,
        /// Bytes read (at most the declared size + 1: the load is bounded).
        actual: u32,
    },
    /// Its SHA-256 differs from the loader copy's.
    Checksum,
    /// Signed mode: the entry names no boot proof (found before loading).
    NoProof,
    /// Signed mode: the boot proof, or the file's bytes against it, did not verify (the reason, in the
    /// call that found it; [`VerifyError::Unproven`] when read back from the failure record).
    Proof(ProofError),
    /// Signed mode: not proven by the signed commit (the record of a [`VerifyError::Proof`]).
    Unproven,
    /// Signed mode: the loader copy's kernel arguments are not allowed unsigned.
    Cmdline,
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VerifyError::TooLarge { size, room } => write!(
                f,
                "declared size {size} exceeds its load region of {room} bytes: not loaded"
            ),
            VerifyError::NotLoaded => f.write_str("could not be loaded (missing or unreadable)"),
            VerifyError::Size { declared, actual } => {
                write!(f, "size {actual} but {declared} expected")
            }
            VerifyError::Checksum => f.write_str("SHA-256 mismatch"),
            VerifyError::NoProof => {
                f.write_str("no boot proof named: signed mode boots only signed commits")
            }
            VerifyError::Proof(e) => write!(f, "not proven by the signed commit: {e}"),
            VerifyError::Unproven => f.write_str("not proven by the signed commit"),
            VerifyError::Cmdline => {
                f.write_str("kernel arguments not signed and not allowed by the board")
            }
        }
    }
}

impl VerifyError {
    /// A one-word name for the kernel command line and the env.
    pub fn token(&self) -> &'static str {
        match self {
            VerifyError::TooLarge { .. } => "too-large",
            VerifyError::NotLoaded => "missing",
            VerifyError::Size { .. } => "size",
            VerifyError::Checksum => "checksum",
            VerifyError::NoProof => "no-proof",
            VerifyError::Proof(_) | VerifyError::Unproven => "unproven",
            VerifyError::Cmdline => "cmdline",
        }
    }

    /// Found from the loader copy before anything is loaded (so found again by every call, never
    /// recorded between them).
    pub fn before_load(&self) -> bool {
        matches!(self, VerifyError::TooLarge { .. } | VerifyError::NoProof)
    }
}

/// Before loading: the file's declared size fits a region of `room` bytes.
pub fn fits(file: &BootFile<'_>, room: usize) -> Result<(), VerifyError> {
    let room32 = u32::try_from(room).unwrap_or(u32::MAX);
    match usize::try_from(file.size) {
        Ok(size) if size <= room => Ok(()),
        _ => Err(VerifyError::TooLarge {
            size: file.size,
            room: room32,
        }),
    }
}

/// The bound for `fatload` of `file` into a region of `room` bytes: one byte more than declared (so a
/// longer file shows as a wrong size), never more than the region.
pub fn load_bound(file: &BootFile<'_>, room: usize) -> u32 {
    let room32 = u32::try_from(room).unwrap_or(u32::MAX);
    file.size.saturating_add(1).min(room32)
}

/// After loading: `loaded` bytes were read into `region` (`None`: the load failed); they must be the
/// declared size and hash to the declared SHA-256, hashed where they lie. Returns the size.
pub fn verify_loaded(
    file: &BootFile<'_>,
    region: &[u8],
    loaded: Option<u32>,
) -> Result<u32, VerifyError> {
    let bytes = loaded_bytes(file, region, loaded)?;
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    if digest != file.sha256 {
        return Err(VerifyError::Checksum);
    }
    Ok(file.size)
}

/// After loading: the file's bytes where they lie, when `loaded` (what `fatload` read; `None`: the load
/// failed) is the declared size and fits the region.
pub fn loaded_bytes<'r>(
    file: &BootFile<'_>,
    region: &'r [u8],
    loaded: Option<u32>,
) -> Result<&'r [u8], VerifyError> {
    fits(file, region.len())?;
    let actual = loaded.ok_or(VerifyError::NotLoaded)?;
    if actual != file.size {
        return Err(VerifyError::Size {
            declared: file.size,
            actual,
        });
    }
    let bytes = usize::try_from(actual)
        .ok()
        .and_then(|n| region.get(..n))
        .ok_or(VerifyError::TooLarge {
            size: actual,
            room: u32::try_from(region.len()).unwrap_or(u32::MAX),
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> BootFile<'static> {
        BootFile {
            path: "/k",
            sha256: Sha256::digest(bytes).into(),
            size: bytes.len() as u32,
        }
    }

    #[test]
    fn in_place_checks() {
        let mut region = [0u8; 64];
        region[..10].copy_from_slice(b"0123456789");
        let f = file(b"0123456789");
        assert_eq!(verify_loaded(&f, &region, Some(10)), Ok(10));
        assert_eq!(
            verify_loaded(&f, &region, Some(11)),
            Err(VerifyError::Size {
                declared: 10,
                actual: 11
            })
        );
        assert_eq!(
            verify_loaded(&f, &region, None),
            Err(VerifyError::NotLoaded)
        );
        region[3] ^= 1;
        assert_eq!(
            verify_loaded(&f, &region, Some(10)),
            Err(VerifyError::Checksum)
        );
        assert_eq!(
            verify_loaded(&f, &region[..9], Some(10)),
            Err(VerifyError::TooLarge { size: 10, room: 9 })
        );
        assert_eq!(load_bound(&f, 64), 11);
        assert_eq!(load_bound(&f, 10), 10);
        let huge = BootFile {
            size: u32::MAX,
            ..f
        };
        assert_eq!(load_bound(&huge, usize::MAX), u32::MAX);
    }
}
