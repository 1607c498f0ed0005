//! Choosing between the two loader copies, and where the next write goes. Both halves use these functions,
//! so the deployer and the agent always agree on which copy is valid and newest.

use super::model::{BootConfig, LOADER_PATHS};
use super::parse::{parse, ParseError};

/// One of the two loader copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderCopy {
    /// `loader.0/uEnv.txt`
    Zero,
    /// `loader.1/uEnv.txt`
    One,
}

impl LoaderCopy {
    /// 0 or 1.
    pub fn index(self) -> usize {
        match self {
            LoaderCopy::Zero => 0,
            LoaderCopy::One => 1,
        }
    }

    /// The copy's path relative to the boot partition's root.
    pub fn path(self) -> &'static str {
        match self {
            LoaderCopy::Zero => LOADER_PATHS[0],
            LoaderCopy::One => LOADER_PATHS[1],
        }
    }

    /// The other copy.
    pub fn other(self) -> LoaderCopy {
        match self {
            LoaderCopy::Zero => LoaderCopy::One,
            LoaderCopy::One => LoaderCopy::Zero,
        }
    }
}

/// How one copy was judged.
// The valid variant is large, but there is no allocator on the agent's path to box it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyState<'a> {
    /// The file does not exist.
    Missing,
    /// The file exists but is not a valid copy.
    Invalid(ParseError),
    /// A valid copy.
    Valid(BootConfig<'a>),
}

/// Judges one copy: `None` means the file is missing.
pub fn judge(bytes: Option<&[u8]>) -> CopyState<'_> {
    match bytes {
        None => CopyState::Missing,
        Some(bytes) => match parse(bytes) {
            Ok(config) => CopyState::Valid(config),
            Err(e) => CopyState::Invalid(e),
        },
    }
}

/// What was wrong with a copy that was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyProblem {
    /// The file does not exist.
    Missing,
    /// The file is not a valid copy.
    Invalid(ParseError),
}

impl core::fmt::Display for CopyProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CopyProblem::Missing => f.write_str("missing"),
            CopyProblem::Invalid(e) => write!(f, "invalid: {e}"),
        }
    }
}

/// The state of the copy that was not selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherCopy {
    /// The file does not exist.
    Missing,
    /// The file is not a valid copy.
    Invalid(ParseError),
    /// A valid copy with a lower generation.
    Older {
        /// Its generation.
        generation: u64,
    },
    /// A valid copy with the same generation (never written by atomboot; copy 0 wins).
    SameGeneration,
}

impl core::fmt::Display for OtherCopy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OtherCopy::Missing => f.write_str("missing"),
            OtherCopy::Invalid(e) => write!(f, "invalid: {e}"),
            OtherCopy::Older { generation } => write!(f, "older generation {generation}"),
            OtherCopy::SameGeneration => f.write_str("same generation"),
        }
    }
}

/// The copy to boot from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection<'a> {
    /// Which copy.
    pub copy: LoaderCopy,
    /// Its content.
    pub config: BootConfig<'a>,
    /// What the other copy was.
    pub other: OtherCopy,
}

/// Neither copy is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoValidCopy {
    /// Why copy 0 is not usable.
    pub copy0: CopyProblem,
    /// Why copy 1 is not usable.
    pub copy1: CopyProblem,
}

impl core::fmt::Display for NoValidCopy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "no valid boot configuration: {} {}; {} {}",
            LOADER_PATHS[0], self.copy0, LOADER_PATHS[1], self.copy1
        )
    }
}

fn problem(state: CopyState<'_>) -> Option<CopyProblem> {
    match state {
        CopyState::Missing => Some(CopyProblem::Missing),
        CopyState::Invalid(e) => Some(CopyProblem::Invalid(e)),
        CopyState::Valid(_) => None,
    }
}

/// Picks the valid copy with the highest generation (copy 0 on a tie). Either input may be missing
/// (`None`), torn, garbage or huge.
pub fn select<'a>(
    copy0: Option<&'a [u8]>,
    copy1: Option<&'a [u8]>,
) -> Result<Selection<'a>, NoValidCopy> {
    select_judged(judge(copy0), judge(copy1))
}

/// [`select`] over copies already judged.
pub fn select_judged<'a>(
    state0: CopyState<'a>,
    state1: CopyState<'a>,
) -> Result<Selection<'a>, NoValidCopy> {
    let other_of = |state: CopyState<'_>, winner: u64| match state {
        CopyState::Missing => OtherCopy::Missing,
        CopyState::Invalid(e) => OtherCopy::Invalid(e),
        CopyState::Valid(c) if c.generation == winner => OtherCopy::SameGeneration,
        CopyState::Valid(c) => OtherCopy::Older {
            generation: c.generation,
        },
    };
    match (state0, state1) {
        (CopyState::Valid(a), CopyState::Valid(b)) if b.generation > a.generation => {
            Ok(Selection {
                copy: LoaderCopy::One,
                config: b,
                other: other_of(state0, b.generation),
            })
        }
        (CopyState::Valid(a), _) => Ok(Selection {
            copy: LoaderCopy::Zero,
            config: a,
            other: other_of(state1, a.generation),
        }),
        (_, CopyState::Valid(b)) => Ok(Selection {
            copy: LoaderCopy::One,
            config: b,
            other: other_of(state0, b.generation),
        }),
        (s0, s1) => Err(NoValidCopy {
            copy0: problem(s0).unwrap_or(CopyProblem::Missing),
            copy1: problem(s1).unwrap_or(CopyProblem::Missing),
        }),
    }
}

/// Where the next write of a loader copy goes, and the generation it must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// The copy to overwrite: never the selected one.
    pub copy: LoaderCopy,
    /// One more than the selected copy's generation (1 when there is none).
    pub generation: u64,
}

/// The generation counter cannot grow any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationExhausted;

impl core::fmt::Display for GenerationExhausted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("loader generation is at its maximum; rewrite both copies with a fresh image")
    }
}

/// Plans the next write: replace the copy that is not the valid newest one.
pub fn plan_write(
    copy0: Option<&[u8]>,
    copy1: Option<&[u8]>,
) -> Result<WritePlan, GenerationExhausted> {
    match select(copy0, copy1) {
        Ok(sel) => Ok(WritePlan {
            copy: sel.copy.other(),
            generation: sel
                .config
                .generation
                .checked_add(1)
                .ok_or(GenerationExhausted)?,
        }),
        Err(_) => Ok(WritePlan {
            copy: LoaderCopy::Zero,
            generation: 1,
        }),
    }
}
