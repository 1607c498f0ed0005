//! The A/B boot configuration: `loader.0/uEnv.txt` and `loader.1/uEnv.txt` on the FAT boot partition.
//!
//! Each copy names a primary entry (the default deployment) and optionally a fallback entry (the previous
//! one), with the SHA-256 and size of every boot file, a generation that grows with every write, and a
//! CRC-32 trailer over everything above it. [`select`] picks the valid copy with the highest generation;
//! [`plan_write`] says which copy the next write must replace. Format: `docs/FORMATS.md`.

mod keys;
mod model;
mod parse;
mod render;
mod select;
mod values;
pub use values::ValueError;

pub use model::{
    BootConfig, BootFile, Entry, FileRole, Slot, FORMAT_VERSION, LOADER_FILE_SIZE, LOADER_PATHS,
    MAX_BOOTARGS_LEN, MAX_LOADER_FILE_SIZE, MAX_PATH_LEN,
};
pub use parse::{parse, ParseError, ParseErrorKind};
pub use render::{render, render_padded, RenderError};
pub use select::{
    judge, plan_write, select, select_judged, CopyProblem, CopyState, GenerationExhausted,
    LoaderCopy, NoValidCopy, OtherCopy, Selection, WritePlan,
};
