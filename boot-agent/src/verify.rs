//! Copying one boot file to its load address while hashing it, and checking it against its entry.

use crate::bootfs::{BootFs, FsError};
use sha2::{Digest, Sha256};
use uenv::boot_config::BootFile;

/// Why a boot file does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// It could not be read (missing, too large for its load region, corrupt FAT).
    Read(FsError),
    /// Its size differs from the size in the loader copy.
    Size {
        /// Size in the loader copy.
        declared: u32,
        /// Size on the partition.
        actual: u32,
    },
    /// Its SHA-256 differs from the loader copy's.
    Checksum,
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VerifyError::Read(e) => write!(f, "unreadable: {e}"),
            VerifyError::Size { declared, actual } => {
                write!(f, "size {actual} but {declared} expected")
            }
            VerifyError::Checksum => f.write_str("SHA-256 mismatch"),
        }
    }
}

impl VerifyError {
    /// A one-word name for the kernel command line and the env.
    pub fn token(&self) -> &'static str {
        match self {
            VerifyError::Read(FsError::NotFound) => "missing",
            VerifyError::Read(_) => "unreadable",
            VerifyError::Size { .. } => "size",
            VerifyError::Checksum => "checksum",
        }
    }
}

/// Copies `file` into `dst` and checks its size and SHA-256 in the same pass over the bytes.
pub fn copy_and_verify(
    fs: &BootFs<'_>,
    file: &BootFile<'_>,
    dst: &mut [u8],
) -> Result<u32, VerifyError> {
    let mut hasher = Sha256::new();
    let actual = fs
        .copy_file(file.path, dst, |chunk| hasher.update(chunk))
        .map_err(VerifyError::Read)?;
    if actual != file.size {
        return Err(VerifyError::Size {
            declared: file.size,
            actual,
        });
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if digest != file.sha256 {
        return Err(VerifyError::Checksum);
    }
    Ok(actual)
}
