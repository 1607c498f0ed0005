//! Builds a deployment's boot proof (format: docs/FORMATS.md, "Boot proof"; verified by the `boot-proof`
//! crate) from the repository: the commit object, its ed25519 signatures from `.commitmeta`, the dirtrees on
//! the paths from the commit's root to the boot files and to the kargs file, each file's header, and the
//! kargs file's content. Every object is copied as stored, so the checksums the agent computes are OSTree's.

use atomboot_repo::gvariant::{self, Type, Value};
use atomboot_repo::{Checksum, ObjectType, Repo, RepoError};
use boot_proof::format::{MAGIC, MAX_DIRTREES, MAX_KARGS, MAX_SIGNATURES, VERSION};
use boot_proof::path::KARGS_PATH;
use boot_proof::Role;
use std::io::Read;

/// The `.commitmeta` key holding ed25519 signatures (`aay`), as OSTree's ed25519 signer writes it.
pub const ED25519_KEY: &str = "ostree.sign.ed25519";

/// Why a proof cannot be built. Each names the commit.
#[derive(Debug, thiserror::Error)]
pub enum ProofBuildError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("commit {0} is not signed: its .commitmeta is missing or has no {ED25519_KEY} (sign it with the vendor's ed25519 key)")]
    NotSigned(Checksum),
    #[error("commit {commit}: .commitmeta is malformed: {reason}")]
    BadCommitMeta { commit: Checksum, reason: String },
    #[error("commit {commit} has no kernel: expected usr/lib/modules/<kver>/vmlinuz in its tree")]
    NoKernel { commit: Checksum },
    #[error("commit {commit} has several kernels in usr/lib/modules ({kvers:?}); keep one")]
    SeveralKernels {
        commit: Checksum,
        kvers: Vec<String>,
    },
    #[error(
        "commit {commit} has no {KARGS_PATH} (the signed base kernel arguments; may be empty)"
    )]
    NoKargs { commit: Checksum },
    #[error("commit {commit}: {path} is not a regular file")]
    NotRegular { commit: Checksum, path: String },
    #[error("commit {commit}: {KARGS_PATH} is longer than {MAX_KARGS} bytes")]
    KargsTooLong { commit: Checksum },
    #[error("commit {commit}: the proof would need more than {what}")]
    TooLarge { commit: Checksum, what: String },
}

/// The proof's file name beside the boot files: it names the commit, so two commits sharing a kernel keep
/// separate proofs.
pub fn file_name(commit: &Checksum) -> String {
    format!("proof-{commit}")
}

/// The ed25519 signatures in a commit's `.commitmeta` (`a{sv}`, key [`ED25519_KEY`] -> `aay`).
pub fn signatures(repo: &Repo, commit: &Checksum) -> Result<Vec<[u8; 64]>, ProofBuildError> {
    if !repo.store.has_object(commit, ObjectType::CommitMeta) {
        return Err(ProofBuildError::NotSigned(*commit));
    }
    let meta = repo.store.read_meta(commit, ObjectType::CommitMeta)?;
    let bad = |reason: &str| ProofBuildError::BadCommitMeta {
        commit: *commit,
        reason: reason.into(),
    };
    let ty = Type::parse("a{sv}").map_err(|_| bad("type"))?;
    let Value::Array(entries) = gvariant::parse(&ty, &meta).map_err(|e| bad(&e.to_string()))?
    else {
        return Err(bad("not an a{sv}"));
    };
    let sigs = entries.iter().find_map(|e| match e {
        Value::DictEntry(k, v) if **k == Value::Str(ED25519_KEY.into()) => Some(v),
        _ => None,
    });
    let Some(v) = sigs else {
        return Err(ProofBuildError::NotSigned(*commit));
    };
    let Value::Variant(t, v) = &**v else {
        return Err(bad("value is not a variant"));
    };
    let (true, Value::Array(list)) = (t.to_string() == "aay", &**v) else {
        return Err(bad(&format!("{ED25519_KEY} is not of type aay")));
    };
    let mut out = Vec::new();
    for s in list {
        let Value::Bytes(b) = s else {
            return Err(bad("signature is not bytes"));
        };
        out.push(
            <[u8; 64]>::try_from(b.as_slice())
                .map_err(|_| bad(&format!("a signature of {} bytes (ed25519: 64)", b.len())))?,
        );
    }
    if out.is_empty() {
        return Err(ProofBuildError::NotSigned(*commit));
    }
    Ok(out)
}

/// Collects dirtree objects (raw, deduplicated) and answers lookups.
struct Trees<'r> {
    repo: &'r Repo,
    commit: Checksum,
    raw: Vec<(Checksum, Vec<u8>)>,
}

impl Trees<'_> {
    /// Walks `path` from the root dirtree, recording every dirtree read; the file's content checksum.
    fn file(&mut self, root: Checksum, path: &str) -> Result<Option<Checksum>, ProofBuildError> {
        let comps: Vec<&str> = path.split('/').collect();
        let mut cur = root;
        for (i, name) in comps.iter().enumerate() {
            if !self.raw.iter().any(|(c, _)| *c == cur) {
                let bytes = self.repo.store.read_meta(&cur, ObjectType::DirTree)?;
                self.raw.push((cur, bytes));
            }
            let tree = self.repo.read_dirtree(&cur)?;
            if i + 1 == comps.len() {
                return Ok(tree.files.iter().find(|f| f.0 == *name).map(|f| f.1));
            }
            match tree.dirs.iter().find(|d| d.0 == *name) {
                Some(d) => cur = d.1,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The kernel version directories under usr/lib/modules holding a vmlinuz.
    fn kvers(&self, root: Checksum) -> Result<Vec<String>, ProofBuildError> {
        let mut cur = root;
        for name in ["usr", "lib", "modules"] {
            match self
                .repo
                .read_dirtree(&cur)?
                .dirs
                .iter()
                .find(|d| d.0 == name)
            {
                Some(d) => cur = d.1,
                None => return Ok(Vec::new()),
            }
        }
        let mut out = Vec::new();
        for (name, t, _) in self.repo.read_dirtree(&cur)?.dirs {
            if self
                .repo
                .read_dirtree(&t)?
                .files
                .iter()
                .any(|f| f.0 == "vmlinuz")
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn check_limit(&self) -> Result<(), ProofBuildError> {
        if self.raw.len() > MAX_DIRTREES {
            return Err(ProofBuildError::TooLarge {
                commit: self.commit,
                what: format!("{MAX_DIRTREES} dirtrees"),
            });
        }
        Ok(())
    }
}

/// A proof's contents before encoding (one record per [`ProofParts::files`] entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofParts {
    /// The commit object's bytes.
    pub commit: Vec<u8>,
    /// ed25519 signatures over `commit`.
    pub signatures: Vec<[u8; 64]>,
    /// Dirtree objects' bytes, in the order first met.
    pub dirtrees: Vec<Vec<u8>>,
    /// Role, path in the commit, header variant (no size prefix), content (kargs only).
    pub files: Vec<(Role, String, Vec<u8>, Vec<u8>)>,
}

impl ProofParts {
    /// The proof's bytes (layout: `boot_proof::format`). Counts and lengths beyond the format's fields are
    /// refused by [`build_parts`]; here they are truncated to the field width, which tests use to make
    /// malformed proofs.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u32le = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        u32le(&mut out, self.commit.len());
        out.extend_from_slice(&self.commit);
        out.push(self.signatures.len() as u8);
        for s in &self.signatures {
            out.extend_from_slice(s);
        }
        out.push(self.dirtrees.len() as u8);
        for t in &self.dirtrees {
            u32le(&mut out, t.len());
            out.extend_from_slice(t);
        }
        out.push(self.files.len() as u8);
        for (role, path, header, content) in &self.files {
            out.push(role.code());
            out.extend_from_slice(&(path.len() as u16).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            u32le(&mut out, header.len());
            out.extend_from_slice(header);
            u32le(&mut out, content.len());
            out.extend_from_slice(content);
        }
        out
    }
}

/// Builds the proof for `commit` (see [`build_parts`]) and encodes it.
pub fn build(
    repo: &Repo,
    commit: &Checksum,
    dtb_name: Option<&str>,
) -> Result<Vec<u8>, ProofBuildError> {
    Ok(build_parts(repo, commit, dtb_name)?.encode())
}

/// Collects the proof for `commit`: kernel, initramfs (if present) and device tree (`devicetree`, else
/// `dtb/<dtb_name>` if given and present) in its one `usr/lib/modules/<kver>/`, and the kargs file.
pub fn build_parts(
    repo: &Repo,
    commit: &Checksum,
    dtb_name: Option<&str>,
) -> Result<ProofParts, ProofBuildError> {
    let commit_bytes = repo.store.read_meta(commit, ObjectType::Commit)?;
    let mut sigs = signatures(repo, commit)?;
    sigs.truncate(MAX_SIGNATURES);
    let root = repo.read_commit(commit)?.root_tree;
    let mut trees = Trees {
        repo,
        commit: *commit,
        raw: Vec::new(),
    };
    let kver = match trees.kvers(root)?.as_slice() {
        [] => return Err(ProofBuildError::NoKernel { commit: *commit }),
        [k] => k.clone(),
        kvers => {
            return Err(ProofBuildError::SeveralKernels {
                commit: *commit,
                kvers: kvers.to_vec(),
            })
        }
    };
    let dir = format!("usr/lib/modules/{kver}");
    let mut found: Vec<(Role, String, Checksum)> = Vec::new();
    let kernel = format!("{dir}/vmlinuz");
    let c = trees
        .file(root, &kernel)?
        .ok_or(ProofBuildError::NoKernel { commit: *commit })?;
    found.push((Role::Kernel, kernel, c));
    let ramdisk = format!("{dir}/initramfs.img");
    if let Some(c) = trees.file(root, &ramdisk)? {
        found.push((Role::Ramdisk, ramdisk, c));
    }
    let mut fdt_paths = vec![format!("{dir}/devicetree")];
    fdt_paths.extend(dtb_name.map(|n| format!("{dir}/dtb/{n}")));
    for p in fdt_paths {
        if let Some(c) = trees.file(root, &p)? {
            found.push((Role::Fdt, p, c));
            break;
        }
    }
    let c = trees
        .file(root, KARGS_PATH)?
        .ok_or(ProofBuildError::NoKargs { commit: *commit })?;
    found.push((Role::Kargs, KARGS_PATH.into(), c));
    trees.check_limit()?;
    let too_large = |what: &str| ProofBuildError::TooLarge {
        commit: *commit,
        what: what.into(),
    };
    if commit_bytes.len() > u32::MAX as usize
        || trees.raw.iter().any(|(_, t)| t.len() > u32::MAX as usize)
    {
        return Err(too_large("4 GiB in one object"));
    }

    let mut files = Vec::new();
    for (role, path, csum) in found {
        let (header, _, mut reader) = repo.store.open_content(&csum)?;
        if header.is_symlink() {
            return Err(ProofBuildError::NotRegular {
                commit: *commit,
                path,
            });
        }
        let mut content = Vec::new();
        if role == Role::Kargs {
            reader
                .by_ref()
                .take(MAX_KARGS as u64 + 1)
                .read_to_end(&mut content)
                .map_err(|e| RepoError::Io {
                    path: repo.store.object_path(&csum, ObjectType::File),
                    what: "read".into(),
                    source: e,
                })?;
            if content.len() > MAX_KARGS {
                return Err(ProofBuildError::KargsTooLong { commit: *commit });
            }
        }
        if path.len() > boot_proof::format::MAX_PATH {
            return Err(too_large("a path of 255 bytes"));
        }
        files.push((role, path, header.serialize(), content));
    }
    Ok(ProofParts {
        commit: commit_bytes,
        signatures: sigs,
        dirtrees: trees.raw.into_iter().map(|(_, t)| t).collect(),
        files,
    })
}
