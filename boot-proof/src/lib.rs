//! Boot proofs: what lets the boot agent boot only bytes a vendor's ed25519-signed OSTree commit vouches for.
//!
//! A proof (format: docs/FORMATS.md, "Boot proof"; layout in [`format`]) carries a commit object, its
//! ed25519 signatures, the dirtrees from the commit's root to the boot files and each boot file's OSTree file
//! header. [`verify`] checks a signature over the commit bytes with one of the trusted keys and walks
//! commit -> root dirtree -> ... -> each file's entry, returning a [`VerifiedEntry`] (only [`verify`] makes
//! one): per boot file the OSTree content checksum the bytes must have. [`VerifiedFile::hasher`] then checks
//! the bytes at their load address in one pass; [`cmdline::build`] makes the kernel command line from
//! verified values only.
//!
//! no_std, no alloc, no panics on input, no recursion.
#![no_std]

pub mod cmdline;
pub mod format;
pub mod gvariant;
pub mod objects;
pub mod path;

use objects::{DirTreeError, Lookup};
use sha2::{Digest, Sha256};

/// A file a deployment entry boots with, or its signed base kernel arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Kernel,
    Ramdisk,
    Fdt,
    Kargs,
}

impl Role {
    /// The code of the role in the proof.
    pub const fn code(self) -> u8 {
        match self {
            Role::Kernel => 1,
            Role::Ramdisk => 2,
            Role::Fdt => 3,
            Role::Kargs => 4,
        }
    }

    pub fn from_code(c: u8) -> Option<Role> {
        Some(match c {
            1 => Role::Kernel,
            2 => Role::Ramdisk,
            3 => Role::Fdt,
            4 => Role::Kargs,
            _ => return None,
        })
    }

    /// Index into per-role arrays.
    pub const fn index(self) -> usize {
        self.code() as usize - 1
    }

    pub const ALL: [Role; 4] = [Role::Kernel, Role::Ramdisk, Role::Fdt, Role::Kargs];
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Role::Kernel => "kernel",
            Role::Ramdisk => "ramdisk",
            Role::Fdt => "fdt",
            Role::Kargs => "kargs",
        })
    }
}

/// A part of the proof's layout, named in layout errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Magic,
    Commit,
    Signatures,
    DirTrees,
    Files,
}

impl core::fmt::Display for Part {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Part::Magic => "magic",
            Part::Commit => "commit",
            Part::Signatures => "signatures",
            Part::DirTrees => "dirtrees",
            Part::Files => "file records",
        })
    }
}

/// Why a proof (or a file checked against it) is refused. `depth` counts path components from the commit's
/// root (0: the root dirtree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("not a boot proof: bad magic or version (rewrite it with `atomboot admin deploy`)")]
    BadMagic,
    #[error("boot proof truncated in its {0}")]
    Truncated(Part),
    #[error("boot proof has bytes after its last file record")]
    TrailingBytes,
    #[error("boot proof has no {0}")]
    Empty(Part),
    #[error("boot proof has too many {0}")]
    TooMany(Part),
    #[error("boot proof names unknown file role {0}")]
    UnknownRole(u8),
    #[error("boot proof has two {0} records")]
    DuplicateRole(Role),
    #[error("boot proof carries content for the {0}: only the kargs file's content is carried")]
    UnexpectedContent(Role),
    #[error("boot proof's {0} path is not an allowed place in the commit")]
    BadPath(Role),
    #[error("boot proof's boot files are not all in one usr/lib/modules/<kver>/")]
    KernelVersionMismatch,
    #[error("the loader copy boots a {0} the boot proof does not prove")]
    MissingRole(Role),
    #[error("boot proof proves a {0} the loader copy does not boot")]
    UnexpectedRole(Role),
    #[error("no signature in the boot proof verifies the commit with a trusted key")]
    NoValidSignature,
    #[error("boot proof's commit object is malformed")]
    MalformedCommit,
    #[error("{role}: no dirtree in the boot proof has the checksum named at depth {depth}")]
    MissingDirTree { role: Role, depth: usize },
    #[error("{role}: the dirtree at depth {depth} is malformed")]
    MalformedDirTree { role: Role, depth: usize },
    #[error("{role}: the dirtree at depth {depth} names an entry twice or out of order")]
    DuplicateEntry { role: Role, depth: usize },
    #[error("{role}: the dirtree at depth {depth} does not name the next path component")]
    NotFound { role: Role, depth: usize },
    #[error("{role}: path component at depth {depth} is a file, not a directory")]
    NotADirectory { role: Role, depth: usize },
    #[error("{0}: the path names a directory, not a file")]
    NotAFile(Role),
    #[error("{0}: the file header in the boot proof is malformed")]
    MalformedHeader(Role),
    #[error("{0}: the file header is not a regular file's")]
    NotRegular(Role),
    #[error("kargs: the content in the boot proof does not match the commit's checksum")]
    KargsMismatch,
    #[error("kargs: the signed kernel arguments are not printable ASCII words")]
    KargsSyntax,
    #[error("kargs: the signed kernel arguments set ostree= (the agent builds it)")]
    KargsSetsOstree,
    #[error(
        "{0}: the loaded bytes do not have the OSTree content checksum the signed commit names"
    )]
    ContentMismatch(Role),
}

/// Which boot files the loader copy's entry boots (the kernel and the kargs file are always proven).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub ramdisk: bool,
    pub fdt: bool,
}

impl Request {
    fn wants(self, role: Role) -> bool {
        match role {
            Role::Kernel | Role::Kargs => true,
            Role::Ramdisk => self.ramdisk,
            Role::Fdt => self.fdt,
        }
    }
}

/// A boot file as the signed commit names it: made only by [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedFile<'a> {
    role: Role,
    checksum: [u8; 32],
    header: &'a [u8],
}

impl<'a> VerifiedFile<'a> {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The OSTree content checksum the file's bytes must have.
    pub fn checksum(&self) -> &[u8; 32] {
        &self.checksum
    }

    /// The file header variant (without OSTree's 8-byte size prefix) hashed before the content.
    pub fn header(&self) -> &'a [u8] {
        self.header
    }

    /// Starts the content check: SHA-256 over OSTree's size prefix and the header; feed the content.
    pub fn hasher(&self) -> ContentHasher {
        ContentHasher {
            sha: header_hash(self.header),
            expected: self.checksum,
            role: self.role,
        }
    }

    /// Checks `content` (all of it, in memory) in one pass.
    pub fn verify(&self, content: &[u8]) -> Result<(), ProofError> {
        let mut h = self.hasher();
        h.update(content);
        h.finish()
    }
}

/// OSTree's content checksum in progress (`ostree_checksum_file_from_input`): SHA-256 over the header's
/// size prefix (u32 big-endian size, 4 zero bytes), the header variant, then the content.
#[derive(Clone)]
pub struct ContentHasher {
    sha: Sha256,
    expected: [u8; 32],
    role: Role,
}

impl ContentHasher {
    pub fn update(&mut self, content: &[u8]) {
        self.sha.update(content);
    }

    /// Compares with the checksum the signed commit names.
    pub fn finish(self) -> Result<(), ProofError> {
        let got: [u8; 32] = self.sha.finalize().into();
        if got == self.expected {
            Ok(())
        } else {
            Err(ProofError::ContentMismatch(self.role))
        }
    }
}

/// The 8 bytes OSTree writes before a header variant: its size as u32 big-endian, then 4 zero bytes.
pub fn size_prefix(len: usize) -> [u8; 8] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [n[0], n[1], n[2], n[3], 0, 0, 0, 0]
}

fn header_hash(header: &[u8]) -> Sha256 {
    let mut s = Sha256::new();
    s.update(size_prefix(header.len()));
    s.update(header);
    s
}

/// A deployment entry whose commit signature and chain to every boot file verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedEntry<'a> {
    commit: [u8; 32],
    key: usize,
    files: [Option<VerifiedFile<'a>>; 3],
    kargs: &'a str,
}

impl<'a> VerifiedEntry<'a> {
    /// The commit's checksum (SHA-256 of its bytes): what `ostree=` names.
    pub fn commit(&self) -> &[u8; 32] {
        &self.commit
    }

    /// Which trusted key verified the signature (index into the keys given to [`verify`]).
    pub fn key_index(&self) -> usize {
        self.key
    }

    /// The kernel, ramdisk or fdt (`None` for [`Role::Kargs`] or a file the entry does not boot).
    pub fn file(&self, role: Role) -> Option<&VerifiedFile<'a>> {
        self.files.get(role.index())?.as_ref()
    }

    /// The signed base kernel arguments (the kargs file's content: printable ASCII words, no `ostree=`).
    pub fn kargs(&self) -> &'a str {
        self.kargs
    }
}

/// Verifies a proof: a signature over the commit bytes by one of `keys`, then the chain from the commit's
/// root dirtree to each file `request` names and the kargs file. Only then is anything in the commit,
/// dirtrees or headers parsed.
pub fn verify<'a>(
    proof: &'a [u8],
    keys: &[[u8; 32]],
    request: Request,
) -> Result<VerifiedEntry<'a>, ProofError> {
    let p = format::parse(proof)?;
    let key = check_signature(p.commit, p.signatures, keys)?;
    walk(&p, key, request)
}

/// The chain walk without the signature check, for the fuzz target only (`cargo fuzz` sets `fuzzing`), so
/// that fuzzing reaches past the signature.
#[cfg(fuzzing)]
pub fn walk_unsigned(proof: &[u8], request: Request) -> Result<VerifiedEntry<'_>, ProofError> {
    walk(&format::parse(proof)?, 0, request)
}

fn check_signature(commit: &[u8], sigs: &[u8], keys: &[[u8; 32]]) -> Result<usize, ProofError> {
    for sig in sigs.chunks_exact(format::SIGNATURE_LEN) {
        let Ok(sig) = ed25519_compact::Signature::from_slice(sig) else {
            continue;
        };
        for (i, k) in keys.iter().enumerate() {
            if ed25519_compact::PublicKey::new(*k)
                .verify(commit, &sig)
                .is_ok()
            {
                return Ok(i);
            }
        }
    }
    Err(ProofError::NoValidSignature)
}

fn walk<'a>(
    p: &format::Parsed<'a>,
    key: usize,
    request: Request,
) -> Result<VerifiedEntry<'a>, ProofError> {
    let commit: [u8; 32] = Sha256::digest(p.commit).into();
    let root = objects::commit_root_tree(p.commit).map_err(|_| ProofError::MalformedCommit)?;
    let mut sums = [[0u8; 32]; format::MAX_DIRTREES];
    let trees = p.dirtrees.get(..p.n_dirtrees).unwrap_or(&[]);
    for (s, t) in sums.iter_mut().zip(trees) {
        *s = Sha256::digest(t).into();
    }
    let sums = sums.get(..trees.len()).unwrap_or(&[]);

    let mut files: [Option<VerifiedFile<'a>>; 3] = [None; 3];
    let mut kargs = "";
    let mut kver: Option<&[u8]> = None;
    for role in Role::ALL {
        let rec = match (
            p.files.get(role.index()).copied().flatten(),
            request.wants(role),
        ) {
            (Some(r), true) => r,
            (None, false) => continue,
            (None, true) => return Err(ProofError::MissingRole(role)),
            (Some(_), false) => return Err(ProofError::UnexpectedRole(role)),
        };
        let comps = path::Components::split(rec.path).ok_or(ProofError::BadPath(role))?;
        let k = path::allowed(role, &comps).ok_or(ProofError::BadPath(role))?;
        if role != Role::Kargs {
            if kver.is_some_and(|v| v != k) {
                return Err(ProofError::KernelVersionMismatch);
            }
            kver = Some(k);
        }
        let checksum = walk_path(trees, sums, root, role, comps.as_slice())?;
        match objects::file_header_is_regular(rec.header) {
            Err(_) => return Err(ProofError::MalformedHeader(role)),
            Ok(false) => return Err(ProofError::NotRegular(role)),
            Ok(true) => {}
        }
        let file = VerifiedFile {
            role,
            checksum,
            header: rec.header,
        };
        if role == Role::Kargs {
            file.verify(rec.content)
                .map_err(|_| ProofError::KargsMismatch)?;
            kargs = cmdline::signed_kargs(rec.content)?;
        } else if let Some(slot) = files.get_mut(role.index()) {
            *slot = Some(file);
        }
    }
    Ok(VerifiedEntry {
        commit,
        key,
        files,
        kargs,
    })
}

/// Follows `comps` from the root dirtree to a file entry; returns its content checksum.
fn walk_path(
    trees: &[&[u8]],
    sums: &[[u8; 32]],
    root: [u8; 32],
    role: Role,
    comps: &[&[u8]],
) -> Result<[u8; 32], ProofError> {
    let mut cur = root;
    let last = comps.len().saturating_sub(1);
    for (depth, name) in comps.iter().enumerate() {
        let tree = sums
            .iter()
            .position(|s| *s == cur)
            .and_then(|i| trees.get(i))
            .ok_or(ProofError::MissingDirTree { role, depth })?;
        let found = objects::dirtree_lookup(tree, name).map_err(|e| match e {
            DirTreeError::Malformed => ProofError::MalformedDirTree { role, depth },
            DirTreeError::Duplicate => ProofError::DuplicateEntry { role, depth },
        })?;
        match (found, depth == last) {
            (Lookup::Dir(t), false) => cur = t,
            (Lookup::File(c), true) => return Ok(c),
            (Lookup::Absent, _) => return Err(ProofError::NotFound { role, depth }),
            (Lookup::Dir(_), true) => return Err(ProofError::NotAFile(role)),
            (Lookup::File(_), false) => return Err(ProofError::NotADirectory { role, depth }),
        }
    }
    Err(ProofError::BadPath(role))
}
