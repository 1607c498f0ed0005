//! What a remote's configuration asks a pull or a deploy to check, read as ostree's
//! `_signapi_init_for_remote` reads it:
//! - `sign-verify` / `sign-verify-summary`: `true`/`1` (every signature type with keys configured),
//!   `false`/`0`/empty (off), or a `;`-separated list of types (`remote add --sign-verify` writes
//!   `ed25519`); only ed25519 exists;
//! - keys: `verification-ed25519-key=` (one inline base64 key) and `verification-ed25519-file=` (a key
//!   file), both loaded when both are set;
//! - `gpg-verify` (default true, as ostree) and `gpg-verify-summary` (default false): atomboot has no
//!   OpenPGP, so a remote that asks for it without ed25519 verification is refused rather than pulled
//!   unverified.

use super::keys::{public_key, read_public_keys, PublicKey};
use super::verify::verify;
use super::{SignError, Signed, SIGN_TYPE};
use crate::objects::Checksum;
use crate::remote::Remote;
use std::path::{Path, PathBuf};

/// The checks a remote requires.
#[derive(Debug, Clone)]
pub struct RemoteTrust {
    /// The remote's name.
    pub remote: String,
    /// Keys every commit must be signed with (one valid signature from one key), if `sign-verify`.
    pub commit_keys: Option<Vec<PublicKey>>,
    /// Keys the summary must be signed with, if `sign-verify-summary`.
    pub summary_keys: Option<Vec<PublicKey>>,
}

fn option<'a>(r: &'a Remote, key: &str) -> Option<&'a str> {
    r.options
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// GKeyFile's booleans.
fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

impl RemoteTrust {
    /// No checks (pull-local, a repository without remotes).
    pub fn none(remote: &str) -> RemoteTrust {
        RemoteTrust {
            remote: remote.to_string(),
            commit_keys: None,
            summary_keys: None,
        }
    }

    /// Reads a remote's trust configuration; `config` is the file it came from (for messages), relative
    /// key file paths are taken as they are (relative to the working directory, as ostree).
    pub fn for_remote(r: &Remote, config: &Path) -> Result<RemoteTrust, SignError> {
        let commit_keys = Self::keys_for(r, config, "sign-verify")?;
        let summary_keys = Self::keys_for(r, config, "sign-verify-summary")?;
        let bad = |key: &str, value: &str| SignError::BadOption {
            remote: r.name.clone(),
            config: config.to_path_buf(),
            key: key.to_string(),
            value: value.to_string(),
        };
        let gpg_option = option(r, "gpg-verify");
        let gpg = match gpg_option {
            None => true,
            Some(v) => boolean(v).ok_or_else(|| bad("gpg-verify", v))?,
        };
        if gpg && commit_keys.is_none() {
            return Err(SignError::GpgUnsupported {
                remote: r.name.clone(),
                config: config.to_path_buf(),
                key: "gpg-verify",
                default: if gpg_option.is_none() {
                    " (the default when a remote is added without --no-gpg-verify)"
                } else {
                    ""
                },
            });
        }
        if let Some(v) = option(r, "gpg-verify-summary") {
            match boolean(v) {
                Some(true) if summary_keys.is_none() => {
                    return Err(SignError::GpgUnsupported {
                        remote: r.name.clone(),
                        config: config.to_path_buf(),
                        key: "gpg-verify-summary",
                        default: "",
                    })
                }
                Some(_) => {}
                None => return Err(bad("gpg-verify-summary", v)),
            }
        }
        Ok(RemoteTrust {
            remote: r.name.clone(),
            commit_keys,
            summary_keys,
        })
    }

    fn keys_for(
        r: &Remote,
        config: &Path,
        key: &'static str,
    ) -> Result<Option<Vec<PublicKey>>, SignError> {
        let Some(value) = option(r, key).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match boolean(value) {
            Some(false) => return Ok(None),
            Some(true) => {}
            None => {
                for t in value.split([';', ',']).filter(|t| !t.trim().is_empty()) {
                    if t.trim() != SIGN_TYPE {
                        return Err(SignError::UnknownType(t.trim().to_string()));
                    }
                }
            }
        }
        let mut keys = Vec::new();
        if let Some(file) = option(r, "verification-ed25519-file") {
            keys.extend(read_public_keys(&PathBuf::from(file))?);
        }
        if let Some(inline) = option(r, "verification-ed25519-key") {
            let k = public_key(
                inline,
                &format!(
                    "remote {:?} in {}: verification-ed25519-key",
                    r.name,
                    config.display()
                ),
            )?;
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if keys.is_empty() {
            return Err(SignError::NoKeysConfigured {
                remote: r.name.clone(),
                config: config.to_path_buf(),
                key,
            });
        }
        Ok(Some(keys))
    }

    /// Checks a commit about to be pulled or deployed: `data` is the commit object, `detached` its
    /// `.commitmeta` if there is one. `Ok(None)` when the remote does not verify commits.
    pub fn check_commit(
        &self,
        commit: &Checksum,
        data: &[u8],
        detached: Option<&[u8]>,
    ) -> Result<Option<PublicKey>, SignError> {
        let Some(keys) = &self.commit_keys else {
            return Ok(None);
        };
        verify(
            &Signed::Commit(commit.to_hex()),
            &format!("remote {:?}", self.remote),
            data,
            detached,
            keys,
        )
        .map(Some)
    }

    /// Checks a summary fetched from `url`. `Ok(None)` when the remote does not verify summaries.
    pub fn check_summary(
        &self,
        url: &str,
        summary: &[u8],
        sig: Option<&[u8]>,
    ) -> Result<Option<PublicKey>, SignError> {
        let Some(keys) = &self.summary_keys else {
            return Ok(None);
        };
        verify(
            &Signed::Summary(url.to_string()),
            &format!("remote {:?}", self.remote),
            summary,
            sig,
            keys,
        )
        .map(Some)
    }
}
