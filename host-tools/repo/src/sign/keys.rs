//! ed25519 keys as ostree reads them: public keys are base64 of 32 bytes; secret keys base64 of
//! libsodium's 64-byte form (32-byte seed, then the 32-byte public key); key files one base64 key a line.
//!
//! Stricter than ostree 2022.7, which skips a line that does not decode to a key as long as another line
//! does (README, "Differences from ostree"): here every line must be a key, so a damaged file is refused
//! with its path and line number instead of silently trusting fewer keys.

use super::{KeyError, SignError, SIGNATURE_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::path::Path;

/// A public key (`verification-ed25519-key=`, a line of `verification-ed25519-file=`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A secret key (`--sign=`, a line of `sign --keys-file`). Never printed: its Debug shows the public key.
pub struct SecretKey(SigningKey);

fn decode(s: &str) -> Result<Vec<u8>, KeyError> {
    STANDARD.decode(s.trim()).map_err(|_| KeyError::NotBase64)
}

impl PublicKey {
    /// Parses a base64 public key.
    pub fn from_base64(s: &str) -> Result<PublicKey, KeyError> {
        let b = decode(s)?;
        let arr: [u8; 32] = b.as_slice().try_into().map_err(|_| KeyError::WrongLength {
            what: "public",
            got: b.len(),
            want: 32,
        })?;
        VerifyingKey::from_bytes(&arr)
            .map(PublicKey)
            .map_err(|_| KeyError::NotAPoint)
    }

    /// The base64 form ostree's configuration holds.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }

    /// The key in hex, as ostree prints it (`Signature verified successfully with key '...'`).
    pub fn to_hex(&self) -> String {
        self.0
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `sig` is this key's signature of `data` (libsodium's checks: canonical S, no small-order
    /// key or R).
    pub fn verifies(&self, data: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
        self.0
            .verify_strict(data, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl SecretKey {
    /// Parses a base64 libsodium secret key (seed + public key); the public half must match the seed.
    pub fn from_base64(s: &str) -> Result<SecretKey, KeyError> {
        let b = zeroize::Zeroizing::new(decode(s)?);
        let arr: &[u8; 64] = b.as_slice().try_into().map_err(|_| KeyError::WrongLength {
            what: "secret",
            got: b.len(),
            want: 64,
        })?;
        SigningKey::from_keypair_bytes(arr)
            .map(SecretKey)
            .map_err(|_| KeyError::PublicHalfMismatch)
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, SignError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(|e| SignError::Random(e.to_string()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// The base64 libsodium form (what `--sign=` and key files take).
    pub fn to_base64(&self) -> zeroize::Zeroizing<String> {
        let kp = zeroize::Zeroizing::new(self.0.to_keypair_bytes());
        zeroize::Zeroizing::new(STANDARD.encode(kp.as_slice()))
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The ed25519 signature of `data` (deterministic, as libsodium's `crypto_sign_detached`).
    pub fn sign(&self, data: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(data).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", self.public().to_base64())
    }
}

/// The lines of a key file: every line one key (a final newline ends the last line; CRLF is accepted).
fn key_lines<T>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, KeyError>,
) -> Result<Vec<T>, SignError> {
    let bytes = std::fs::read(path).map_err(|e| SignError::KeyFileRead {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bytes = zeroize::Zeroizing::new(bytes);
    let text = std::str::from_utf8(&bytes).map_err(|e| SignError::KeyFileLine {
        path: path.to_path_buf(),
        line: 1 + bytes
            .iter()
            .take(e.valid_up_to())
            .filter(|&&b| b == b'\n')
            .count(),
        reason: "not UTF-8 text".into(),
    })?;
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Err(SignError::KeyFileEmpty {
            path: path.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bad = |reason: String| SignError::KeyFileLine {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        if line.is_empty() {
            return Err(bad("blank line".into()));
        }
        if line.trim() != line {
            return Err(bad("spaces around the key".into()));
        }
        out.push(parse(line).map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}

/// Reads a public key file (`verification-ed25519-file=`, `sign --verify --keys-file`).
pub fn read_public_keys(path: &Path) -> Result<Vec<PublicKey>, SignError> {
    key_lines(path, PublicKey::from_base64)
}

/// Reads a secret key file (`sign --keys-file`).
pub fn read_secret_keys(path: &Path) -> Result<Vec<SecretKey>, SignError> {
    key_lines(path, SecretKey::from_base64)
}

/// Parses a secret key given on the command line or in a file line, naming where it came from.
pub fn secret_key(s: &str, what: &str) -> Result<SecretKey, SignError> {
    SecretKey::from_base64(s).map_err(|reason| SignError::BadKey {
        what: what.to_string(),
        reason,
    })
}

/// Parses a public key, naming where it came from.
pub fn public_key(s: &str, what: &str) -> Result<PublicKey, SignError> {
    PublicKey::from_base64(s).map_err(|reason| SignError::BadKey {
        what: what.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trip_and_public_half() {
        let k = SecretKey::generate().unwrap();
        let s = k.to_base64();
        let k2 = SecretKey::from_base64(&s).unwrap();
        assert_eq!(k.public(), k2.public());
        let sig = k.sign(b"data");
        assert!(k2.public().verifies(b"data", &sig));
        assert!(!k2.public().verifies(b"datb", &sig));
        // seed of one key with the public half of another
        let other = SecretKey::generate().unwrap();
        let mut b = STANDARD.decode(s.as_str()).unwrap();
        b[32..].copy_from_slice(other.public().0.as_bytes());
        assert_eq!(
            SecretKey::from_base64(&STANDARD.encode(&b)).unwrap_err(),
            KeyError::PublicHalfMismatch
        );
    }

    #[test]
    fn public_key_errors() {
        assert_eq!(
            PublicKey::from_base64("@@@").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            PublicKey::from_base64(&STANDARD.encode([1u8; 31])).unwrap_err(),
            KeyError::WrongLength {
                what: "public",
                got: 31,
                want: 32
            }
        );
    }
}
