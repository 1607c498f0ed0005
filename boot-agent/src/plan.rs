//! The decision both `go` calls derive from the same small files: the loader copy, the counters, the entry
//! the counters prefer and why. Deterministic: the second call finds what the first found, so no decision
//! state has to survive between the calls except what happened to loaded files ([`crate::vars`]).

use crate::counters::{decide, CounterDecision, Counters};
use crate::report::{say, Console};
use crate::verify::VerifyError;
use uenv::boot_config::{
    judge, select_judged, BootConfig, FileRole, LoaderCopy, NoValidCopy, Slot,
};
use uenv::env_block::{self, Chosen, FlagScheme};

/// The two loader copies and the env pair as the script loaded them (`None`: `fatload` failed).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmallFiles<'m> {
    /// `loader.0/uEnv.txt`, `loader.1/uEnv.txt`.
    pub loader: [Option<&'m [u8]>; 2],
    /// `uboot.env`, `uboot-redund.env`.
    pub env: [Option<&'m [u8]>; 2],
}

/// The env pair's file names in the partition root (U-Boot's ENV_FAT_FILE and ENV_FAT_FILE_REDUND).
pub use uenv::counter_names::ENV_FILES;

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
            } => write!(f, "update on trial, boot {bootcount} of {bootlimit}"),
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

    /// The reason for booting the second entry tried, after the `preferred` one failed with `failure`.
    pub fn after_failure(preferred: Slot, failure: (FileRole, VerifyError)) -> Reason {
        let (file, error) = failure;
        match preferred {
            Slot::Primary => Reason::PrimaryBad { file, error },
            Slot::Fallback => Reason::FallbackBad { file, error },
        }
    }
}

/// Why nothing can boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Neither loader copy is valid.
    NoLoaderCopy(NoValidCopy),
    /// No entry verifies.
    NothingBootable {
        /// What failed in the primary.
        primary: (FileRole, VerifyError),
        /// What failed in the fallback, if there is one.
        fallback: Option<(FileRole, VerifyError)>,
    },
    /// A variable between the calls does not hold what the agent left there (named), or the `go`
    /// arguments are wrong.
    BadState(&'static str),
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
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
            Failure::BadState(what) => write!(
                f,
                "{what}: not what the agent set; run the board's boot.scr unchanged"
            ),
        }
    }
}

/// The decision, before any boot file is loaded.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'m> {
    /// The loader copy used.
    pub copy: LoaderCopy,
    /// Its content.
    pub config: BootConfig<'m>,
    /// The env copy in use (`None`: neither is valid; the counters are not used and nothing is saved).
    pub env: Option<Chosen<'m>>,
    /// The counters read.
    pub before: Counters,
    /// What the counters say.
    pub decision: CounterDecision,
    /// The entry the counters prefer.
    pub preferred: Slot,
    /// Why, if it verifies.
    pub reason: Reason,
}

impl<'m> Plan<'m> {
    /// Derives the decision from the small files, saying on `console` what it found.
    pub fn derive(files: SmallFiles<'m>, console: &mut dyn Console) -> Result<Plan<'m>, Failure> {
        let [l0, l1] = files.loader;
        let selection = select_judged(judge(l0), judge(l1)).map_err(|e| {
            say(console, format_args!("{e}"));
            Failure::NoLoaderCopy(e)
        })?;
        let config = selection.config;
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

        let [e0, e1] = files.env;
        let env = match env_block::read_redundant(e0, e1, FlagScheme::Incrementing) {
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
                Some(c)
            }
            Err(e) => {
                say(
                    console,
                    format_args!("env: {e}; counters not used, nothing will be saved"),
                );
                None
            }
        };
        let before = env
            .as_ref()
            .map_or_else(Counters::default, |c| Counters::from_env(&c.block));
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
        let (preferred, reason) = if decision.limit_exceeded {
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
        Ok(Plan {
            copy: selection.copy,
            config,
            env,
            before,
            decision,
            preferred,
            reason,
        })
    }

    /// The entries in the order they are tried: the preferred one, then the other when it exists.
    pub fn order(&self) -> [Option<Slot>; 2] {
        let other = self.preferred.other();
        [
            Some(self.preferred),
            self.config.entry(other).is_some().then_some(other),
        ]
    }
}
