//! ed25519 signatures in OSTree's format (ostree's `src/libostree/ostree-sign-ed25519.c`, `ostree-sign.c`,
//! `ostree-repo-pull-verify.c`):
//! - a commit's signatures live in its detached metadata (`objects/XX/YYY.commitmeta`, an `a{sv}`) under
//!   `ostree.sign.ed25519`, an `aay` of 64-byte ed25519 signatures over the commit object's bytes;
//! - a summary's signatures live in `summary.sig` (an `a{sv}`, same key), over the `summary` file's bytes;
//! - public keys are base64 of 32 bytes, secret keys base64 of libsodium's 64 bytes (seed, public key);
//!   key files hold one base64 key per line.
//!
//! [`keys`] reads keys, [`detached`] the `a{sv}` files, [`verify`] checks signatures, [`trust`] turns a
//! remote's configuration (`sign-verify`, `verification-ed25519-key`/`-file`, `gpg-verify`) into what a pull
//! or a deploy must check, [`ops`] signs, verifies and deletes signatures in a repository.

pub mod detached;
pub mod keys;
pub mod ops;
pub mod trust;
pub mod verify;

pub use keys::{PublicKey, SecretKey};
pub use trust::RemoteTrust;

use std::path::PathBuf;

/// The only signature type (`--sign-type`, `-s`, `sign-verify=`), as ostree names it.
pub const SIGN_TYPE: &str = "ed25519";
/// The detached-metadata key holding ed25519 signatures.
pub const METADATA_KEY: &str = "ostree.sign.ed25519";
/// Length of one ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// What a signature covers, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// A commit object, by checksum.
    Commit(String),
    /// A `summary` file, by where it came from.
    Summary(String),
}

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signed::Commit(c) => write!(f, "commit {c}"),
            Signed::Summary(s) => write!(f, "summary {s}"),
        }
    }
}

/// Why a key is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not base64 (standard alphabet with '=' padding)")]
    NotBase64,
    #[error("decodes to {got} bytes, an ed25519 {what} key has {want}")]
    WrongLength {
        what: &'static str,
        got: usize,
        want: usize,
    },
    #[error("not a valid ed25519 public key (not a point of the curve)")]
    NotAPoint,
    #[error("its last 32 bytes are not the public key of its first 32 (a libsodium secret key is seed + public key)")]
    PublicHalfMismatch,
}

/// Signing and verification errors. Each names the commit or summary, the remote and the keys tried.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{what} from {source_name} has no ed25519 signature ({METADATA_KEY} in its {place}); keys tried: {keys}; sign it on the build host (`sign COMMIT SECRET-KEY`, `summary -u --sign=SECRET-KEY`)")]
    NoSignatures {
        what: Signed,
        source_name: String,
        place: &'static str,
        keys: String,
    },
    #[error("{what} from {source_name}: none of its {count} ed25519 signature(s) verifies with the trusted keys (tried: {keys}); it was not signed by a trusted key, or it was altered")]
    Unverified {
        what: Signed,
        source_name: String,
        count: usize,
        keys: String,
    },
    #[error("{what} from {source_name}: a signature of {len} bytes in {METADATA_KEY} (ed25519 signatures have 64): truncated or not an ed25519 signature")]
    BadSignatureLength {
        what: Signed,
        source_name: String,
        len: usize,
    },
    #[error("{what}: malformed detached metadata ({place}): {reason}")]
    BadMetadata {
        what: Signed,
        place: String,
        reason: String,
    },
    #[error("{path}: line {line}: {reason}; a key file holds one base64 ed25519 key per line, nothing else (no comments or blank lines)")]
    KeyFileLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: no keys in the file; it must hold one base64 ed25519 key per line")]
    KeyFileEmpty { path: PathBuf },
    #[error("{path}: cannot read key file: {source}")]
    KeyFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {reason}")]
    BadKey { what: String, reason: KeyError },
    #[error("Requested signature type is not implemented: {0:?} (only \"ed25519\")")]
    UnknownType(String),
    #[error("remote {remote:?} in {config}: {key}={value:?} is not a boolean or a list of signature types")]
    BadOption {
        remote: String,
        config: PathBuf,
        key: String,
        value: String,
    },
    #[error("remote {remote:?} in {config}: {key} is set but no ed25519 public key is configured; add verification-ed25519-key=BASE64 or verification-ed25519-file=PATH to [remote \"{remote}\"] (or re-add it with --sign-verify=ed25519=inline:KEY)")]
    NoKeysConfigured {
        remote: String,
        config: PathBuf,
        key: &'static str,
    },
    #[error("remote {remote:?} in {config} has {key}=true{default}, and atomboot does not verify OpenPGP signatures: configure ed25519 signatures (re-add it with `remote add --sign-verify=ed25519=file:PUBLIC-KEYS-FILE`, or set sign-verify=ed25519 and verification-ed25519-file=PATH), or accept unsigned content explicitly with `remote add --no-gpg-verify` ({key}=false)")]
    GpgUnsupported {
        remote: String,
        config: PathBuf,
        key: &'static str,
        default: &'static str,
    },
    #[error("remote {remote:?} requires a signed summary (sign-verify-summary) but {url} has no {file}; run `summary -u --sign=KEY` on the server")]
    SummaryMissing {
        remote: String,
        url: String,
        file: &'static str,
    },
    #[error("cannot generate a key: no randomness from the operating system: {0}")]
    Random(String),
}

/// Keys as messages show them: base64, comma-separated.
pub(crate) fn key_list(keys: &[PublicKey]) -> String {
    if keys.is_empty() {
        return "none".into();
    }
    keys.iter()
        .map(|k| k.to_base64())
        .collect::<Vec<_>>()
        .join(", ")
}
