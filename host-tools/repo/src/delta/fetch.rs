//! The pull's use of static deltas: when the source's summary lists a delta to the commit being pulled
//! from a commit this repository has complete (the newest such), or from scratch when the ref is not
//! here yet, the superblock is fetched and checked against the summary's digest ([`find_delta`]); then
//! the parts whose objects are missing are fetched, checked and run, and the target commit (which the
//! superblock carries) is stored, marked partial ([`apply_delta`]).
//! The pull's tree walk then fetches whatever is still missing (fallback objects) and completes the
//! commit. An interrupted delta pull leaves only verified objects; the next pull skips the parts whose
//! objects are all present.

use super::name::DeltaName;
use super::superblock::Superblock;
use super::{apply_parts, DeltaError};
use crate::objects::{Checksum, Commit, ObjectType};
use crate::pull::Source;
use crate::store::{write_atomic, Store};
use crate::RepoError;
use std::io::Read;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Largest summary read when looking for deltas.
const MAX_SUMMARY: u64 = 64 << 20;

fn partial_marker(store: &Store, c: &Checksum) -> std::path::PathBuf {
    store.path.join("state").join(format!("{c}.commitpartial"))
}

fn complete(store: &Store, c: &Checksum) -> bool {
    store.has_object(c, ObjectType::Commit) && !partial_marker(store, c).exists()
}

/// Picks the delta to use for `to` among those the summary lists.
fn choose(
    dest: &Store,
    listed: &[(DeltaName, Checksum)],
    local_ref: &str,
    to: &Checksum,
) -> Option<(DeltaName, Checksum)> {
    let mut best: Option<(u64, DeltaName, Checksum)> = None;
    let mut scratch = None;
    for (n, digest) in listed.iter().filter(|(n, _)| n.to == *to) {
        match &n.from {
            Some(f) if complete(dest, f) => {
                let ts = dest
                    .read_meta(f, ObjectType::Commit)
                    .ok()
                    .and_then(|d| Commit::parse(&d).ok())
                    .map(|c| c.timestamp)
                    .unwrap_or(0);
                if best.as_ref().is_none_or(|b| ts > b.0) {
                    best = Some((ts, *n, *digest));
                }
            }
            Some(_) => {}
            None => scratch = Some((*n, *digest)),
        }
    }
    if let Some((_, n, d)) = best {
        return Some((n, d));
    }
    // From scratch only for a ref this repository does not have yet (as ostree: a few commits behind,
    // objects cost less than a whole tree).
    match dest.read_ref(local_ref) {
        Ok(None) => scratch,
        _ => None,
    }
}

/// A delta the source lists for a commit being pulled, its superblock fetched and checked (against the
/// summary's digest and the name it claims); nothing stored yet.
pub struct FoundDelta {
    pub name: DeltaName,
    superblock: Superblock,
}

impl FoundDelta {
    /// The target commit object the superblock carries, when its checksum is `to` (a superblock naming
    /// `to` with other bytes is refused when the delta is applied).
    pub fn commit(&self, to: &Checksum) -> Option<&[u8]> {
        (Checksum::of(&self.superblock.commit) == *to).then_some(self.superblock.commit.as_slice())
    }
}

/// Looks for a static delta to `to` in the source's summary (see the module notes) and fetches and
/// checks its superblock. `None` when there is none to use (the pull then fetches objects). Nothing is
/// written: a pull that checks signatures reads the commit from the superblock before it writes.
pub fn find_delta(
    dest: &Store,
    src: &Source,
    local_ref: &str,
    to: &Checksum,
    bytes: &Arc<AtomicU64>,
) -> Result<Option<FoundDelta>, RepoError> {
    if matches!(src, Source::Local(_)) || complete(dest, to) {
        return Ok(None);
    }
    let Some(mut r) = src.get("summary", bytes)? else {
        return Ok(None);
    };
    let mut summary = Vec::new();
    r.by_ref()
        .take(MAX_SUMMARY)
        .read_to_end(&mut summary)
        .map_err(|e| RepoError::Fetch(format!("summary: {e}")))?;
    let listed = crate::summary::parse_deltas(&summary)?;
    let Some((name, digest)) = choose(dest, &listed, local_ref, to) else {
        return Ok(None);
    };
    let boxed = |e: DeltaError| RepoError::Delta(Box::new(e));
    let sb_bytes = src.get_bytes(&name.superblock_path(), "static delta superblock", bytes)?;
    let got = Checksum::of(&sb_bytes);
    if got != digest {
        return Err(boxed(DeltaError::SuperblockChecksum {
            name: Box::new(name),
            expected: digest,
            got,
        }));
    }
    let superblock = Superblock::parse(&sb_bytes).map_err(boxed)?;
    if superblock.name != name {
        return Err(boxed(DeltaError::WrongTarget {
            expected: Box::new(name),
            found: Box::new(superblock.name),
        }));
    }
    Ok(Some(FoundDelta { name, superblock }))
}

/// Applies a delta [`find_delta`] found: the parts whose objects are missing are fetched, checked and
/// run, and the target commit is stored (marked partial). Returns the delta used, or `None` when the
/// commit it starts from is no longer complete here (the pull then fetches objects).
pub fn apply_delta(
    dest: &Store,
    src: &Source,
    found: &FoundDelta,
    bytes: &Arc<AtomicU64>,
) -> Result<Option<DeltaName>, RepoError> {
    let (name, sb) = (found.name, &found.superblock);
    let to = name.to;
    if name.from.is_some_and(|f| !complete(dest, &f)) {
        return Ok(None);
    }
    let boxed = |e: DeltaError| RepoError::Delta(Box::new(e));
    let fetch = |i: usize| -> Result<Vec<u8>, DeltaError> {
        let size = sb.parts.get(i).map(|h| h.size).unwrap_or(0);
        let rel = name.part_path(i);
        let mut r = src.get_required(&rel, "static delta part", bytes)?;
        let mut v = Vec::new();
        r.by_ref()
            .take(size.saturating_add(1))
            .read_to_end(&mut v)
            .map_err(|e| RepoError::Fetch(format!("{rel}: {e}")))?;
        // Read to the end so the connection can be reused; the checksum judges the bytes.
        std::io::copy(&mut r, &mut std::io::sink()).ok();
        Ok(v)
    };
    apply_parts(dest, sb, &fetch).map_err(boxed)?;
    std::fs::create_dir_all(dest.path.join("state")).ok();
    write_atomic(&partial_marker(dest, &to), b"")?;
    dest.write_meta_verified(ObjectType::Commit, &to, &sb.commit)?;
    if let Some(cm) = sb.commitmeta() {
        super::write_commitmeta(dest, &to, &cm)?;
    }
    Ok(Some(name))
}
