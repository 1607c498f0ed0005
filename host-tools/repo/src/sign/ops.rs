//! Signing operations on a repository: sign, verify and delete commit signatures (`sign`,
//! `commit --sign`), sign the summary (`summary -u --sign`), and the checks of a remote's commits at pull
//! and deploy time.

use super::detached::Detached;
use super::keys::{PublicKey, SecretKey};
use super::trust::RemoteTrust;
use super::verify::verify;
use super::{SignError, Signed};
use crate::objects::{Checksum, ObjectType};
use crate::pull::{self, PullStats, Source};
use crate::store::Store;
use crate::RepoError;
use std::fs;
use std::io;
use std::path::Path;

/// The summary's signature file, beside `summary`.
pub const SUMMARY_SIG_FILE: &str = "summary.sig";

/// Writes a file that a web server serves (`.commitmeta`, `summary`, `summary.sig`): mode 0644, atomically
/// (temporary file, fsync, rename, fsync of the directory).
pub fn write_served(path: &Path, data: &[u8]) -> Result<(), RepoError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |what: &str, e: io::Error| RepoError::Io {
        path: path.to_path_buf(),
        what: what.into(),
        source: e,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err("create temp file", e))?;
    tmp.write_all(data)
        .and_then(|_| {
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))
        })
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| err("write", e))?;
    tmp.persist(path)
        .map_err(|e| err("rename into place", e.error))?;
    crate::store::fsync_dir(dir)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, RepoError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RepoError::Io {
            path: path.to_path_buf(),
            what: "read".into(),
            source: e,
        }),
    }
}

/// A commit's `.commitmeta` bytes, if it has one.
pub fn read_detached(store: &Store, commit: &Checksum) -> Result<Option<Vec<u8>>, RepoError> {
    read_optional(&store.object_path(commit, ObjectType::CommitMeta))
}

/// Replaces a commit's `.commitmeta` (atomically; an empty dictionary removes the file).
pub fn write_detached(store: &Store, commit: &Checksum, bytes: &[u8]) -> Result<(), RepoError> {
    let p = store.object_path(commit, ObjectType::CommitMeta);
    if bytes.is_empty() {
        return remove_if_present(&p);
    }
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir).map_err(|e| RepoError::Io {
            path: dir.to_path_buf(),
            what: "create object directory".into(),
            source: e,
        })?;
    }
    write_served(&p, bytes)
}

fn parse_detached(what: &Signed, place: &str, b: Option<&[u8]>) -> Result<Detached, RepoError> {
    Detached::parse(b.unwrap_or_default()).map_err(|reason| {
        SignError::BadMetadata {
            what: what.clone(),
            place: place.to_string(),
            reason,
        }
        .into()
    })
}

/// Appends each key's signature of `data` (one already there is not added twice).
fn append(
    d: &mut Detached,
    what: &Signed,
    data: &[u8],
    keys: &[SecretKey],
) -> Result<(), RepoError> {
    let existing = d.signatures().unwrap_or_default().unwrap_or_default();
    for k in keys {
        let sig = k.sign(data);
        if !existing.iter().any(|s| s.as_slice() == sig) {
            d.append_signature(&sig)
                .map_err(|reason| SignError::BadMetadata {
                    what: what.clone(),
                    place: "existing signatures".into(),
                    reason,
                })?;
        }
    }
    Ok(())
}

/// `sign COMMIT KEY...` / `commit --sign`: adds signatures of the commit object to its `.commitmeta`.
pub fn sign_commit(store: &Store, commit: &Checksum, keys: &[SecretKey]) -> Result<(), RepoError> {
    let data = store.read_meta(commit, ObjectType::Commit)?;
    let what = Signed::Commit(commit.to_hex());
    let old = read_detached(store, commit)?;
    let mut d = parse_detached(&what, ".commitmeta", old.as_deref())?;
    append(&mut d, &what, &data, keys)?;
    write_detached(store, commit, &d.serialize())
}

/// `sign --verify`: the key that verifies one of the commit's signatures.
pub fn verify_commit(
    store: &Store,
    commit: &Checksum,
    keys: &[PublicKey],
) -> Result<PublicKey, RepoError> {
    let data = store.read_meta(commit, ObjectType::Commit)?;
    let detached = read_detached(store, commit)?;
    Ok(verify(
        &Signed::Commit(commit.to_hex()),
        &format!("repository {}", store.path.display()),
        &data,
        detached.as_deref(),
        keys,
    )?)
}

/// `sign --delete`: removes the commit's signatures made by any of `keys`; returns how many.
pub fn delete_signatures(
    store: &Store,
    commit: &Checksum,
    keys: &[PublicKey],
) -> Result<usize, RepoError> {
    let data = store.read_meta(commit, ObjectType::Commit)?;
    let what = Signed::Commit(commit.to_hex());
    let old = read_detached(store, commit)?;
    let mut d = parse_detached(&what, ".commitmeta", old.as_deref())?;
    let sigs = d.signatures().unwrap_or_default().unwrap_or_default();
    let keep: Vec<Vec<u8>> = sigs
        .iter()
        .filter(|s| {
            !<&[u8; 64]>::try_from(s.as_slice())
                .map(|s| keys.iter().any(|k| k.verifies(&data, s)))
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    let removed = sigs.len() - keep.len();
    if removed > 0 {
        d.set_signatures(&keep);
        write_detached(store, commit, &d.serialize())?;
    }
    Ok(removed)
}

/// `summary --sign`: appends signatures of the current `summary` to `summary.sig` (as ostree; `summary -u`
/// removes a stale `summary.sig` first).
pub fn sign_summary(store: &Store, keys: &[SecretKey]) -> Result<(), RepoError> {
    let sp = store.path.join("summary");
    let summary = read_optional(&sp)?.ok_or_else(|| {
        RepoError::Usage(format!(
            "{}: no summary to sign (run `summary -u` first)",
            sp.display()
        ))
    })?;
    let what = Signed::Summary(sp.display().to_string());
    let sigp = store.path.join(SUMMARY_SIG_FILE);
    let old = read_optional(&sigp)?;
    let mut d = parse_detached(&what, SUMMARY_SIG_FILE, old.as_deref())?;
    append(&mut d, &what, &summary, keys)?;
    write_served(&sigp, &d.serialize())
}

/// Removes `summary.sig` (its summary was regenerated).
pub fn remove_summary_sig(store: &Store) -> Result<(), RepoError> {
    remove_if_present(&store.path.join(SUMMARY_SIG_FILE))
}

fn remove_if_present(p: &Path) -> Result<(), RepoError> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RepoError::Io {
            path: p.to_path_buf(),
            what: "remove".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The trust configuration of a remote of `store`.
pub fn trust_for(
    store: &Store,
    remote: &str,
) -> Result<(crate::remote::Remote, RemoteTrust), RepoError> {
    let r = crate::remote::get(store, remote)?;
    let t = RemoteTrust::for_remote(&r, &store.path.join("config"))?;
    Ok((r, t))
}

/// The deploy-time check (`admin deploy REMOTE:REF`, `admin upgrade`): the commit, already in the
/// repository, must carry a valid signature when `remote` verifies signatures. `Ok(None)` when the
/// remote does not ask for signatures (and has `gpg-verify=false`).
pub fn check_stored_commit(
    store: &Store,
    remote: &str,
    commit: &Checksum,
) -> Result<Option<PublicKey>, RepoError> {
    check_stored_commit_of(store, &crate::remote::get(store, remote)?, commit)
}

/// [`check_stored_commit`] for a remote already looked up (in `config` or `remotes.d`).
pub fn check_stored_commit_of(
    store: &Store,
    r: &crate::remote::Remote,
    commit: &Checksum,
) -> Result<Option<PublicKey>, RepoError> {
    let trust = RemoteTrust::for_remote(r, &store.path.join("config"))?;
    if trust.commit_keys.is_none() {
        return Ok(None);
    }
    let data = store.read_meta(commit, ObjectType::Commit)?;
    let detached = read_detached(store, commit)?;
    Ok(trust.check_commit(commit, &data, detached.as_deref())?)
}

/// The remote's summary, checked against `summary.sig` (the caller knows the remote verifies summaries).
fn verified_summary(
    r: &crate::remote::Remote,
    trust: &RemoteTrust,
    src: &Source,
) -> Result<Vec<crate::summary::SummaryRef>, RepoError> {
    let missing = |file| SignError::SummaryMissing {
        remote: r.name.clone(),
        url: r.url.clone(),
        file,
    };
    let summary = src
        .fetch_optional("summary")?
        .ok_or_else(|| missing("summary"))?;
    let sig = src
        .fetch_optional(SUMMARY_SIG_FILE)?
        .ok_or_else(|| missing(SUMMARY_SIG_FILE))?;
    trust.check_summary(&src.describe("summary"), &summary, Some(&sig))?;
    crate::summary::parse(&summary)
}

/// `remote refs NAME`: the refs in the remote's summary, verified when the remote has
/// `sign-verify-summary` (empty when the remote has no summary and does not require one).
pub fn remote_summary_refs(
    store: &Store,
    remote: &str,
) -> Result<Vec<crate::summary::SummaryRef>, RepoError> {
    remote_summary_refs_of(store, &crate::remote::get(store, remote)?)
}

/// [`remote_summary_refs`] for a remote already looked up (in `config` or `remotes.d`).
pub fn remote_summary_refs_of(
    store: &Store,
    r: &crate::remote::Remote,
) -> Result<Vec<crate::summary::SummaryRef>, RepoError> {
    let src = Source::from_url(&r.url)?;
    // Listing refs pulls nothing: gpg-verify does not stop it, a summary signature is still checked.
    let trust = RemoteTrust::for_remote(r, &store.path.join("config")).or_else(|e| match e {
        SignError::GpgUnsupported { .. } => Ok(RemoteTrust::none(&r.name)),
        e => Err(e),
    })?;
    if trust.summary_keys.is_some() {
        return verified_summary(r, &trust, &src);
    }
    src.summary_refs()
}

/// `pull REMOTE REF...`: pulls with the remote's checks. Refuses a remote whose `gpg-verify` cannot be
/// honoured; with `sign-verify-summary`, refs are resolved from the verified summary; with
/// `sign-verify`, each commit is checked before anything of it is written.
pub fn pull_remote(dest: &Store, remote: &str, refs: &[String]) -> Result<PullStats, RepoError> {
    let r = crate::remote::get(dest, remote)?;
    pull_remote_of(dest, &r, refs, &format!("{remote}:"), 0)
}

/// [`pull_remote`] for a remote already looked up (in `config` or `remotes.d`), storing refs under
/// `local_prefix` (`NAME:` for `refs/remotes/NAME/`, empty for `--mirror`), with up to `depth` ancestors
/// of each commit (`pull --depth`).
pub fn pull_remote_of(
    dest: &Store,
    r: &crate::remote::Remote,
    refs: &[String],
    local_prefix: &str,
    depth: i64,
) -> Result<PullStats, RepoError> {
    let trust = RemoteTrust::for_remote(r, &dest.path.join("config"))?;
    let src = Source::from_url(&r.url)?;
    src.check_mode()?;
    let resolved = if trust.summary_keys.is_some() {
        let listed = verified_summary(r, &trust, &src)?;
        refs.iter()
            .map(|name| {
                listed
                    .iter()
                    .find(|l| &l.name == name)
                    .map(|l| (name.clone(), l.commit))
                    .ok_or_else(|| {
                        RepoError::UnknownRef(format!("{name} in the signed summary of {}", r.url))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        refs.iter()
            .map(|name| Ok((name.clone(), src.resolve(name)?)))
            .collect::<Result<Vec<_>, RepoError>>()?
    };
    pull::pull_resolved_depth(dest, &src, &resolved, local_prefix, Some(&trust), depth)
}
