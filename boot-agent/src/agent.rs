//! One boot decision: loader copy -> counters -> entry -> verified copies -> plan (or a failure).

use crate::bootfs::{BootFs, FsError};
use crate::counters::{decide, Counters};
use crate::report::{say, Clock, Console};
use crate::verify::{copy_and_verify, VerifyError};
use core::fmt::Write;
use uenv::boot_config::{
    judge, select_judged, BootConfig, CopyState, Entry, FileRole, LoaderCopy, NoValidCopy,
    ParseError, ParseErrorKind, Slot, LOADER_PATHS,
};
use uenv::env_block::{self, FlagScheme, Header, Which};

/// Room read for each loader copy (they are 4096 bytes; anything larger is refused).
const LOADER_ROOM: usize = 8 * 1024;
/// The env pair's file names in the partition root (U-Boot's ENV_FAT_FILE and ENV_FAT_FILE_REDUND).
pub const ENV_FILES: [&str; 2] = ["uboot.env", "uboot-redund.env"];
/// Smallest scratch area [`run`] accepts: both loader copies plus three env blocks of 16 KiB.
pub const SCRATCH_MIN: usize = 2 * LOADER_ROOM + 3 * 0x4000;

/// Where the boot files go: the memory at the load addresses, each slice as long as its region.
pub struct Targets<'t> {
    /// At `kernel_addr_r`.
    pub kernel: &'t mut [u8],
    /// At `ramdisk_addr_r`.
    pub ramdisk: &'t mut [u8],
    /// At the board's fdt load address.
    pub fdt: &'t mut [u8],
}

/// Why this entry boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No update on trial: the default boots.
    Normal,
    /// The default is on trial: boot number `bootcount` of at most `bootlimit`.
    Trial {
        /// Boots counted, this one included.
        bootcount: u32,
        /// Boots allowed.
        bootlimit: u32,
    },
    /// The default used up its boots without being marked good.
    Bootlimit {
        /// Boots counted.
        bootcount: u32,
        /// Boots allowed.
        bootlimit: u32,
    },
    /// The default's file did not verify.
    PrimaryBad {
        /// Which file.
        file: FileRole,
        /// What was wrong.
        error: VerifyError,
    },
    /// The counters asked for the fallback, but it did not verify: the (verified) default boots.
    FallbackBad {
        /// Which file of the fallback.
        file: FileRole,
        /// What was wrong.
        error: VerifyError,
    },
    /// The counters asked for the fallback but the loader copy has none.
    NoFallback,
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Reason::Normal => f.write_str("normal boot"),
            Reason::Trial {
                bootcount,
                bootlimit,
            } => {
                write!(f, "update on trial, boot {bootcount} of {bootlimit}")
            }
            Reason::Bootlimit {
                bootcount,
                bootlimit,
            } => write!(
                f,
                "bootcount {bootcount} exceeds bootlimit {bootlimit}: default never marked good"
            ),
            Reason::PrimaryBad { file, error } => write!(f, "primary {}: {error}", file.name()),
            Reason::FallbackBad { file, error } => write!(
                f,
                "fallback {}: {error}; booting the verified primary",
                file.name()
            ),
            Reason::NoFallback => f.write_str("bootlimit exceeded but there is no fallback entry"),
        }
    }
}

impl Reason {
    /// One word for the kernel command line (`atomboot.reason=`).
    pub fn token(&self) -> &'static str {
        match self {
            Reason::Normal => "normal",
            Reason::Trial { .. } => "trial",
            Reason::Bootlimit { .. } => "bootlimit",
            Reason::PrimaryBad { .. } => "primary-bad",
            Reason::FallbackBad { .. } => "fallback-bad",
            Reason::NoFallback => "no-fallback",
        }
    }
}

/// A new environment block that the boot script must write over `file_name` (with `fatwrite`).
#[derive(Debug, PartialEq, Eq)]
pub struct EnvWrite<'a> {
    /// `uboot.env` or `uboot-redund.env`: always the copy not in use.
    pub file_name: &'static str,
    /// The whole block (redundant layout, flags = in use + 1).
    pub block: &'a [u8],
}

/// What to boot.
#[derive(Debug)]
pub struct BootPlan<'a> {
    /// The entry booted.
    pub slot: Slot,
    /// Why.
    pub reason: Reason,
    /// The loader copy used and its generation.
    pub loader: (LoaderCopy, u64),
    /// Bytes of kernel at the kernel target.
    pub kernel_size: u32,
    /// Bytes of ramdisk, when the entry has one.
    pub ramdisk_size: Option<u32>,
    /// Bytes of device tree, when the entry has one (else the board's own is used).
    pub fdt_size: Option<u32>,
    /// The kernel command line: the entry's, plus `atomboot.slot=` and `atomboot.reason=`.
    pub bootargs: heapless::String<1200>,
    /// The env block to save, when the counters or the rollback record changed.
    pub env_write: Option<EnvWrite<'a>>,
}

/// Why nothing can boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The scratch area is smaller than [`SCRATCH_MIN`].
    ScratchTooSmall {
        /// Bytes given.
        have: usize,
    },
    /// The boot partition cannot be read.
    Partition(FsError),
    /// Neither loader copy is valid.
    NoLoaderCopy(NoValidCopy),
    /// No entry verifies.
    NothingBootable {
        /// What failed in the primary.
        primary: (FileRole, VerifyError),
        /// What failed in the fallback, if there is one.
        fallback: Option<(FileRole, VerifyError)>,
    },
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::ScratchTooSmall { have } => {
                write!(f, "scratch area of {have} bytes is below {SCRATCH_MIN}")
            }
            Failure::Partition(e) => write!(f, "boot partition unreadable: {e}"),
            Failure::NoLoaderCopy(e) => write!(f, "{e}"),
            Failure::NothingBootable { primary, fallback } => {
                write!(
                    f,
                    "nothing verifies: primary {}: {}",
                    primary.0.name(),
                    primary.1
                )?;
                match fallback {
                    Some((role, e)) => write!(f, "; fallback {}: {e}", role.name()),
                    None => f.write_str("; no fallback entry"),
                }
            }
        }
    }
}

/// Sizes of a verified entry.
struct Verified {
    kernel: u32,
    ramdisk: Option<u32>,
    fdt: Option<u32>,
}

fn verify_entry(
    fs: &BootFs<'_>,
    slot: Slot,
    entry: &Entry<'_>,
    targets: &mut Targets<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Result<Verified, (FileRole, VerifyError)> {
    let mut sizes = [None; 3];
    for (role, size) in FileRole::ALL.into_iter().zip(sizes.iter_mut()) {
        let Some(file) = entry.file(role) else {
            continue;
        };
        let dst: &mut [u8] = match role {
            FileRole::Kernel => targets.kernel,
            FileRole::Ramdisk => targets.ramdisk,
            FileRole::Fdt => targets.fdt,
        };
        let start = clock.now_ms();
        match copy_and_verify(fs, file, dst) {
            Ok(n) => {
                let ms = clock.now_ms().wrapping_sub(start);
                say(
                    console,
                    format_args!(
                        "verified {} {} {} {n} bytes sha256 ok in {ms} ms",
                        slot.name(),
                        role.name(),
                        file.path
                    ),
                );
                *size = Some(n);
            }
            Err(e) => {
                say(
                    console,
                    format_args!("FAILED {} {} {}: {e}", slot.name(), role.name(), file.path),
                );
                return Err((role, e));
            }
        }
    }
    let [kernel, ramdisk, fdt] = sizes;
    Ok(Verified {
        kernel: kernel.unwrap_or(0),
        ramdisk,
        fdt,
    })
}

fn read_loader<'b>(fs: &BootFs<'_>, path: &str, buf: &'b mut [u8]) -> CopyState<'b> {
    match fs.read_optional(path, buf) {
        Ok(bytes) => judge(bytes),
        Err(FsError::TooLarge { size, .. }) => CopyState::Invalid(ParseError {
            line: 0,
            kind: ParseErrorKind::TooLarge {
                len: usize::try_from(size).unwrap_or(usize::MAX),
            },
        }),
        Err(_) => CopyState::Invalid(ParseError {
            line: 0,
            kind: ParseErrorKind::NoTrailer,
        }),
    }
}

/// Decides what to boot from the boot partition `partition` (a bare FAT volume in RAM), copying the boot
/// files into `targets`. `scratch` holds the loader copies and env blocks while deciding, and the env block
/// to save afterwards; it must be at least [`SCRATCH_MIN`] bytes (env files up to a third of the rest).
pub fn run<'a>(
    partition: &[u8],
    mut targets: Targets<'_>,
    scratch: &'a mut [u8],
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Result<BootPlan<'a>, Failure> {
    if scratch.len() < SCRATCH_MIN {
        return Err(Failure::ScratchTooSmall {
            have: scratch.len(),
        });
    }
    let (loader_bufs, env_area) = scratch.split_at_mut(2 * LOADER_ROOM);
    let (loader0, loader1) = loader_bufs.split_at_mut(LOADER_ROOM);
    let env_room = env_area.len() / 3;
    let (env_in, out) = env_area.split_at_mut(env_room.saturating_mul(2));
    let (env0, env1) = env_in.split_at_mut(env_room);

    let fs = BootFs::open(partition).map_err(|e| {
        say(console, format_args!("boot partition unreadable: {e}"));
        Failure::Partition(e)
    })?;

    // 1. The loader copy.
    let [path0, path1] = LOADER_PATHS;
    let state0 = read_loader(&fs, path0, loader0);
    let state1 = read_loader(&fs, path1, loader1);
    let selection = select_judged(state0, state1).map_err(|e| {
        say(console, format_args!("{e}"));
        Failure::NoLoaderCopy(e)
    })?;
    let config: BootConfig<'_> = selection.config;
    say(
        console,
        format_args!(
            "loader copy {} (generation {}) used; copy {}: {}",
            selection.copy.index(),
            config.generation,
            selection.copy.other().index(),
            selection.other
        ),
    );

    // 2. The counters.
    let [env_name0, env_name1] = ENV_FILES;
    let raw0 = fs.read_optional(env_name0, env0).ok().flatten();
    let raw1 = fs.read_optional(env_name1, env1).ok().flatten();
    let chosen = env_block::read_redundant(raw0, raw1, FlagScheme::Incrementing);
    let before = match &chosen {
        Ok(c) => {
            say(
                console,
                format_args!(
                    "env {} (flags {}) used; other copy: {}",
                    ENV_FILES.get(c.which.index()).copied().unwrap_or("?"),
                    c.flags,
                    match c.other {
                        Ok(_) => "valid, older",
                        Err(_) => "invalid or missing",
                    }
                ),
            );
            Counters::from_env(&c.block)
        }
        Err(e) => {
            say(
                console,
                format_args!("env: {e}; counters not used, nothing will be saved"),
            );
            Counters::default()
        }
    };
    let decision = decide(before);
    say(
        console,
        format_args!(
            "counters bootcount {}->{} bootlimit {} upgrade_available {}",
            before.bootcount,
            decision.after.bootcount,
            before.bootlimit,
            u8::from(before.upgrade_available)
        ),
    );

    // 3. The entry the counters prefer, and its reason.
    let (preferred, mut reason) = if decision.limit_exceeded {
        if config.fallback.is_some() {
            (
                Slot::Fallback,
                Reason::Bootlimit {
                    bootcount: decision.after.bootcount,
                    bootlimit: before.bootlimit,
                },
            )
        } else {
            (Slot::Primary, Reason::NoFallback)
        }
    } else if before.upgrade_available {
        (
            Slot::Primary,
            Reason::Trial {
                bootcount: decision.after.bootcount,
                bootlimit: before.bootlimit,
            },
        )
    } else {
        (Slot::Primary, Reason::Normal)
    };
    say(
        console,
        format_args!("entry {}: {reason}", preferred.name()),
    );

    // 4. Verify it; on failure, the other entry.
    let mut slot = preferred;
    let mut record_failure = false;
    let verified = match config
        .entry(preferred)
        .map(|e| verify_entry(&fs, preferred, e, &mut targets, console, clock))
    {
        Some(Ok(v)) => v,
        Some(Err(first)) => {
            let other = preferred.other();
            let Some(other_entry) = config.entry(other) else {
                let f = Failure::NothingBootable {
                    primary: first,
                    fallback: None,
                };
                say(console, format_args!("{f}"));
                return Err(f);
            };
            say(console, format_args!("trying the {} entry", other.name()));
            match verify_entry(&fs, other, other_entry, &mut targets, console, clock) {
                Ok(v) => {
                    slot = other;
                    reason = match preferred {
                        Slot::Primary => {
                            record_failure = true;
                            Reason::PrimaryBad {
                                file: first.0,
                                error: first.1,
                            }
                        }
                        Slot::Fallback => Reason::FallbackBad {
                            file: first.0,
                            error: first.1,
                        },
                    };
                    v
                }
                Err(second) => {
                    let (primary, fallback) = match preferred {
                        Slot::Primary => (first, second),
                        Slot::Fallback => (second, first),
                    };
                    let f = Failure::NothingBootable {
                        primary,
                        fallback: Some(fallback),
                    };
                    say(console, format_args!("{f}"));
                    return Err(f);
                }
            }
        }
        None => {
            // The preferred entry is always present (fallback only chosen when it exists).
            let f = Failure::NoLoaderCopy(NoValidCopy {
                copy0: uenv::boot_config::CopyProblem::Missing,
                copy1: uenv::boot_config::CopyProblem::Missing,
            });
            return Err(f);
        }
    };
    let entry = config.entry(slot).copied().unwrap_or(config.primary);

    // 5. The env to save: counters changed, or a primary failure to record.
    let mut reason_text: heapless::String<256> = heapless::String::new();
    let _ = write!(reason_text, "{reason}");
    let env_write = match &chosen {
        Ok(c) => {
            let want_rollback = decision.after.rolled_back || record_failure;
            let counters_changed = decision.after != before;
            let record_changed = (record_failure || decision.limit_exceeded)
                && (c.block.get_str("atomboot_reason") != Some(reason_text.as_str())
                    || !before.rolled_back);
            if counters_changed || record_changed {
                let (target, flags) = c.next_write(FlagScheme::Incrementing);
                let file_name = match target {
                    Which::First => env_name0,
                    Which::Second => env_name1,
                };
                let size = match target {
                    Which::First => raw0.map(<[u8]>::len),
                    Which::Second => raw1.map(<[u8]>::len),
                }
                .filter(|&n| n > env_block::REDUNDANT_HEADER)
                .unwrap_or(match c.which {
                    Which::First => raw0.map_or(0, <[u8]>::len),
                    Which::Second => raw1.map_or(0, <[u8]>::len),
                });
                let mut count: heapless::String<12> = heapless::String::new();
                let _ = write!(count, "{}", decision.after.bootcount);
                let ours: [(&[u8], &[u8]); 3] = [
                    (b"bootcount", count.as_bytes()),
                    (
                        b"atomboot_rollback",
                        if want_rollback { b"1" } else { b"0" },
                    ),
                    (
                        b"atomboot_reason",
                        if record_failure || decision.limit_exceeded {
                            reason_text.as_bytes()
                        } else {
                            c.block.get(b"atomboot_reason").unwrap_or(b"")
                        },
                    ),
                ];
                let kept = c
                    .block
                    .vars()
                    .filter(|v| !ours.iter().any(|(n, _)| *n == v.name))
                    .map(|v| (v.name, v.value));
                let vars = kept.chain(ours.into_iter().filter(|(_, v)| !v.is_empty()));
                match out.get_mut(..size) {
                    Some(block) => match env_block::write(block, Header::Redundant { flags }, vars)
                    {
                        Ok(()) => {
                            say(
                                console,
                                format_args!("save env to {file_name} (flags {flags})"),
                            );
                            Some(EnvWrite { file_name, block })
                        }
                        Err(e) => {
                            say(console, format_args!("env not saved: {e}"));
                            None
                        }
                    },
                    None => {
                        say(
                            console,
                            format_args!("env not saved: {size} bytes exceed the scratch area"),
                        );
                        None
                    }
                }
            } else {
                None
            }
        }
        Err(_) => None,
    };

    // 6. The command line.
    let mut bootargs: heapless::String<1200> = heapless::String::new();
    let _ = write!(
        bootargs,
        "{} atomboot.slot={} atomboot.reason={}",
        entry.bootargs,
        slot.name(),
        reason.token()
    );
    say(console, format_args!("boot {} ({reason})", slot.name()));
    Ok(BootPlan {
        slot,
        reason,
        loader: (selection.copy, config.generation),
        kernel_size: verified.kernel,
        ramdisk_size: verified.ramdisk,
        fdt_size: verified.fdt,
        bootargs,
        env_write,
    })
}
