//! How the agent checks an entry's loaded files, chosen when the agent is built (docs/FORMATS.md, "Boot
//! agent and boot script", "Signed mode"):
//!
//! - [`Unsigned`] (development boards): each file's size and SHA-256 as the loader copy records them; the
//!   kernel command line is the loader copy's `bootargs`.
//! - [`Signed`] (production boards): the entry's boot proof must carry an ed25519 signature over its commit
//!   by one of the keys compiled into the agent, and the chain from the commit to each boot file; each file
//!   is checked once, by its OSTree content checksum, in one pass over its bytes where they were loaded (the
//!   loader copy's SHA-256 is not used); the command line is rebuilt from verified pieces
//!   (`boot_proof::cmdline::build`: `ostree=`, the signed kargs file, the board's allow-list).
//!
//! The result, [`VerifiedFiles`], can only be made here, by a policy's [`Policy::check`]; a boot plan is
//! only made from one. Generic rather than dynamic, so the unsigned agent links none of the signed code.

use crate::report::{say, Clock, Console};
use crate::verify::{loaded_bytes, verify_loaded, VerifyError};
use boot_proof::cmdline::{self, MAX_CMDLINE};
use boot_proof::{ProofError, Request, Role};
use uenv::boot_config::{Entry, FileRole, Slot};

/// An entry's files after the script loaded them, as the policy sees them.
pub struct Loaded<'a, 'e> {
    /// Which entry.
    pub slot: Slot,
    /// Its loader-copy entry.
    pub entry: &'a Entry<'e>,
    /// Kernel, ramdisk and fdt regions (as [`FileRole::ALL`]).
    pub regions: [&'a [u8]; 3],
    /// Bytes `fatload` read for each role (`None`: not loaded).
    pub loaded: [Option<u32>; 3],
    /// The boot proof as loaded (`None`: not loaded).
    pub proof: Option<&'a [u8]>,
}

/// The kernel command line a verified entry boots with.
pub type Cmdline = heapless::String<{ MAX_CMDLINE + 1 }>;

/// An entry whose every file verified: the sizes and the kernel command line. Made only by a
/// [`Policy::check`].
#[derive(Debug)]
pub struct VerifiedFiles {
    sizes: [Option<u32>; 3],
    cmdline: Cmdline,
}

impl VerifiedFiles {
    /// Bytes of each file (kernel, ramdisk, fdt) that verified; `None` when the entry has no such file.
    pub fn sizes(&self) -> [Option<u32>; 3] {
        self.sizes
    }

    /// The command line: the loader copy's (unsigned) or the one rebuilt from verified pieces (signed).
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }
}

/// A way of checking loaded entries.
pub trait Policy {
    /// `unsigned` or `signed`, printed on the console.
    const LABEL: &'static str;
    /// Whether an entry must name a boot proof (checked before anything is loaded).
    const NEEDS_PROOF: bool;
    /// Checks the loaded files of one entry; the first failure with the file concerned.
    fn check(
        &self,
        files: &Loaded<'_, '_>,
        console: &mut dyn Console,
        clock: &dyn Clock,
    ) -> Result<VerifiedFiles, (FileRole, VerifyError)>;
}

/// Development boards: the loader copy's SHA-256 and size of each file.
pub struct Unsigned;

impl Policy for Unsigned {
    const LABEL: &'static str = "unsigned";
    const NEEDS_PROOF: bool = false;

    fn check(
        &self,
        files: &Loaded<'_, '_>,
        console: &mut dyn Console,
        clock: &dyn Clock,
    ) -> Result<VerifiedFiles, (FileRole, VerifyError)> {
        let mut sizes = [None; 3];
        for (((role, size), region), loaded) in FileRole::ALL
            .into_iter()
            .zip(sizes.iter_mut())
            .zip(files.regions)
            .zip(files.loaded)
        {
            let Some(file) = files.entry.file(role) else {
                continue;
            };
            let start = clock.now_ms();
            let n = verify_loaded(file, region, loaded).map_err(|e| {
                failed(console, files.slot, role, file.path, &e);
                (role, e)
            })?;
            let ms = clock.now_ms().wrapping_sub(start);
            say(
                console,
                format_args!(
                    "verified {} {} {} {n} bytes sha256 ok in {ms} ms",
                    files.slot.name(),
                    role.name(),
                    file.path
                ),
            );
            *size = Some(n);
        }
        let mut cmdline = Cmdline::new();
        cmdline
            .push_str(files.entry.bootargs)
            .map_err(|_| (FileRole::Kernel, VerifyError::Cmdline))?;
        Ok(VerifiedFiles { sizes, cmdline })
    }
}

/// Production boards: boot proofs against the vendor's keys (compiled into the agent).
pub struct Signed<'k> {
    /// The trusted ed25519 public keys.
    pub keys: &'k [[u8; 32]],
    /// Kernel arguments the loader copy may add unsigned (the board profile's allow-list).
    pub allow: &'k [&'k str],
}

fn failed(console: &mut dyn Console, slot: Slot, role: FileRole, path: &str, e: &VerifyError) {
    say(
        console,
        format_args!("FAILED {} {} {path}: {e}", slot.name(), role.name()),
    );
}

/// The boot file a proof error is about (the kernel for the proof as a whole and its kargs).
fn role_of(e: &ProofError) -> FileRole {
    let role = match e {
        ProofError::DuplicateRole(r)
        | ProofError::UnexpectedContent(r)
        | ProofError::BadPath(r)
        | ProofError::MissingRole(r)
        | ProofError::UnexpectedRole(r)
        | ProofError::NotAFile(r)
        | ProofError::MalformedHeader(r)
        | ProofError::NotRegular(r)
        | ProofError::ContentMismatch(r) => *r,
        ProofError::MissingDirTree { role, .. }
        | ProofError::MalformedDirTree { role, .. }
        | ProofError::DuplicateEntry { role, .. }
        | ProofError::NotFound { role, .. }
        | ProofError::NotADirectory { role, .. } => *role,
        _ => Role::Kernel,
    };
    match role {
        Role::Ramdisk => FileRole::Ramdisk,
        Role::Fdt => FileRole::Fdt,
        Role::Kernel | Role::Kargs => FileRole::Kernel,
    }
}

fn proof_role(role: FileRole) -> Role {
    match role {
        FileRole::Kernel => Role::Kernel,
        FileRole::Ramdisk => Role::Ramdisk,
        FileRole::Fdt => Role::Fdt,
    }
}

/// The first 8 hex digits of a checksum, for the console.
struct Short<'a>(&'a [u8; 32]);

impl core::fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Policy for Signed<'_> {
    const LABEL: &'static str = "signed";
    const NEEDS_PROOF: bool = true;

    fn check(
        &self,
        files: &Loaded<'_, '_>,
        console: &mut dyn Console,
        clock: &dyn Clock,
    ) -> Result<VerifiedFiles, (FileRole, VerifyError)> {
        let slot = files.slot.name();
        let entry = files.entry;
        let refuse = |console: &mut dyn Console, e: ProofError| {
            say(console, format_args!("REFUSED {slot}: {e}"));
            (role_of(&e), VerifyError::Proof(e))
        };
        let Some(proof) = files.proof else {
            say(
                console,
                format_args!(
                    "REFUSED {slot}: boot proof {} could not be loaded",
                    entry.proof.unwrap_or("(none named)")
                ),
            );
            return Err((FileRole::Kernel, VerifyError::Unproven));
        };
        let start = clock.now_ms();
        let request = Request {
            ramdisk: entry.ramdisk.is_some(),
            fdt: entry.fdt.is_some(),
        };
        let verified =
            boot_proof::verify(proof, self.keys, request).map_err(|e| refuse(console, e))?;
        let ms = clock.now_ms().wrapping_sub(start);
        say(
            console,
            format_args!(
                "proof {slot}: commit {} signed by key {}, chain to every boot file checked in {ms} ms",
                Short(verified.commit()),
                verified.key_index()
            ),
        );
        let mut sizes = [None; 3];
        for (((role, size), region), loaded) in FileRole::ALL
            .into_iter()
            .zip(sizes.iter_mut())
            .zip(files.regions)
            .zip(files.loaded)
        {
            let Some(file) = entry.file(role) else {
                continue;
            };
            let start = clock.now_ms();
            let bytes = loaded_bytes(file, region, loaded).map_err(|e| {
                failed(console, files.slot, role, file.path, &e);
                (role, e)
            })?;
            let Some(vf) = verified.file(proof_role(role)) else {
                // `verify` proves exactly the roles requested.
                return Err(refuse(console, ProofError::MissingRole(proof_role(role))));
            };
            // One pass over the bytes where they lie: OSTree's header, then the content.
            let mut h = vf.hasher();
            h.update(bytes);
            h.finish().map_err(|e| {
                let err = VerifyError::Proof(e);
                failed(console, files.slot, role, file.path, &err);
                (role, err)
            })?;
            let ms = clock.now_ms().wrapping_sub(start);
            say(
                console,
                format_args!(
                    "verified {slot} {} {} {} bytes ostree content checksum ok in {ms} ms",
                    role.name(),
                    file.path,
                    bytes.len()
                ),
            );
            *size = Some(file.size);
        }
        let mut buf = [0u8; MAX_CMDLINE + 1];
        let line =
            cmdline::build(&verified, entry.bootargs, self.allow, &mut buf).map_err(|e| {
                say(console, format_args!("REFUSED {slot}: {e}"));
                (FileRole::Kernel, VerifyError::Cmdline)
            })?;
        say(console, format_args!("command line {slot}: {line}"));
        let mut out = Cmdline::new();
        out.push_str(line)
            .map_err(|_| (FileRole::Kernel, VerifyError::Cmdline))?;
        Ok(VerifiedFiles {
            sizes,
            cmdline: out,
        })
    }
}
