//! Rendering a loader copy. What renders always parses back to the same config.

use super::keys::{self, Field};
use super::model::{BootConfig, BootFile, Entry, FileRole, Slot, FORMAT_VERSION};
use super::values::{self, ValueError};
use crate::writer::BufWriter;
use core::fmt::Write;

/// Why a config could not be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderError {
    /// A value would not parse back; `key` names it.
    Invalid {
        /// The key concerned.
        key: &'static str,
        /// What is wrong.
        error: ValueError,
    },
    /// The output buffer (the loader file's fixed size) is too small.
    TooLarge,
}

impl core::fmt::Display for RenderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RenderError::Invalid { key, error } => write!(f, "{key}: {error}"),
            RenderError::TooLarge => f.write_str("boot configuration does not fit the loader file"),
        }
    }
}

const HEADER: &str =
    "# atomboot boot configuration, written by `atomboot admin`. Do not edit: checksummed.\n";

/// Renders `config` at the start of `out`; returns the number of bytes written.
pub fn render(config: &BootConfig<'_>, out: &mut [u8]) -> Result<usize, RenderError> {
    check(config)?;
    let mut w = BufWriter::new(out);
    write_body(config, &mut w).map_err(|_| RenderError::TooLarge)?;
    let crc = crate::crc32(w.written());
    writeln!(w, "{}={crc:08x}", keys::TRAILER).map_err(|_| RenderError::TooLarge)?;
    let len = w.finish().map_err(|_| RenderError::TooLarge)?;
    Ok(len)
}

/// Renders `config` and fills the rest of `out` with one comment line of `#`, so that the file keeps the
/// fixed size `out.len()` (see [`super::LOADER_FILE_SIZE`]).
pub fn render_padded(config: &BootConfig<'_>, out: &mut [u8]) -> Result<(), RenderError> {
    let len = render(config, out)?;
    if let Some(pad) = out.get_mut(len..) {
        let last = pad.len().saturating_sub(1);
        for (i, byte) in pad.iter_mut().enumerate() {
            *byte = if i == last { b'\n' } else { b'#' };
        }
    }
    Ok(())
}

fn check(config: &BootConfig<'_>) -> Result<(), RenderError> {
    check_entry(&config.primary, Slot::Primary)?;
    if let Some(fallback) = &config.fallback {
        check_entry(fallback, Slot::Fallback)?;
    }
    Ok(())
}

fn check_entry(entry: &Entry<'_>, slot: Slot) -> Result<(), RenderError> {
    for role in FileRole::ALL {
        if let Some(file) = entry.file(role) {
            values::check_path(file.path).map_err(|error| RenderError::Invalid {
                key: role.key(),
                error,
            })?;
        }
    }
    if let Some(proof) = entry.proof {
        values::check_path(proof).map_err(|error| RenderError::Invalid {
            key: keys::PROOF,
            error,
        })?;
    }
    values::check_bootargs(entry.bootargs).map_err(|error| RenderError::Invalid {
        key: match slot {
            Slot::Primary => "bootargs",
            Slot::Fallback => "bootargs2",
        },
        error,
    })
}

fn write_body(config: &BootConfig<'_>, w: &mut BufWriter<'_>) -> core::fmt::Result {
    w.write_str(HEADER)?;
    writeln!(w, "{}={FORMAT_VERSION}", keys::FORMAT)?;
    writeln!(w, "{}={}", keys::GENERATION, config.generation)?;
    write_entry(w, &config.primary, Slot::Primary)?;
    if let Some(fallback) = &config.fallback {
        write_entry(w, fallback, Slot::Fallback)?;
    }
    Ok(())
}

fn write_entry(w: &mut BufWriter<'_>, entry: &Entry<'_>, slot: Slot) -> core::fmt::Result {
    for role in FileRole::ALL {
        if let Some(file) = entry.file(role) {
            write_file(w, file, slot, role)?;
        }
    }
    if let Some(proof) = entry.proof {
        writeln!(w, "{}{}={proof}", keys::PROOF, slot.suffix())?;
    }
    writeln!(w, "bootargs{}={}", slot.suffix(), entry.bootargs)
}

fn write_file(
    w: &mut BufWriter<'_>,
    file: &BootFile<'_>,
    slot: Slot,
    role: FileRole,
) -> core::fmt::Result {
    keys::write_file_key(w, slot, role, Field::Path)?;
    writeln!(w, "={}", file.path)?;
    keys::write_file_key(w, slot, role, Field::Sha256)?;
    w.write_char('=')?;
    crate::hex::write_hex(w, &file.sha256)?;
    w.write_char('\n')?;
    keys::write_file_key(w, slot, role, Field::Size)?;
    writeln!(w, "={}", file.size)
}
