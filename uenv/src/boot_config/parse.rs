//! Parsing one loader copy. Total: every input gives a config or a typed error naming the line.

use super::keys::{self, Field, Key, COUNT};
use super::model::{
    BootConfig, BootFile, Entry, FileRole, Slot, FORMAT_VERSION, MAX_LOADER_FILE_SIZE,
};
use super::values::{self, ValueError};

/// Why a loader copy is not valid. `line` is 1-based; 0 means the file as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The line concerned (1-based), or 0 for the whole file.
    pub line: u32,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong with a loader copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The file is larger than [`MAX_LOADER_FILE_SIZE`] bytes.
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// No complete `atomboot_crc32=` line: a torn write, or not an atomboot file.
    NoTrailer,
    /// The trailer is not 8 hex digits.
    BadTrailer,
    /// The CRC-32 of the text above the trailer does not match: a torn or altered copy.
    ChecksumMismatch {
        /// The value in the trailer.
        stored: u32,
        /// The value computed over the text.
        computed: u32,
    },
    /// The text is not UTF-8.
    NotUtf8,
    /// An empty line.
    EmptyLine,
    /// A line without `=`.
    MissingEquals,
    /// A key this format does not have.
    UnknownKey,
    /// A key given twice.
    DuplicateKey,
    /// A value is malformed.
    BadValue(ValueError),
    /// `atomboot_format` names a version this code does not read.
    UnsupportedFormat {
        /// The version found.
        found: u64,
    },
    /// A required key is absent.
    Missing {
        /// The key.
        key: &'static str,
    },
    /// Some but not all keys of a boot file (path, `_sha256`, `_size`) or of the fallback entry are present.
    Incomplete {
        /// The entry's file, for example `ramdisk_image2`.
        key: &'static str,
    },
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        match self.kind {
            ParseErrorKind::TooLarge { len } => write!(
                f,
                "file of {len} bytes is larger than {MAX_LOADER_FILE_SIZE} bytes"
            ),
            ParseErrorKind::NoTrailer => {
                f.write_str("no complete atomboot_crc32 line (torn write or not an atomboot file)")
            }
            ParseErrorKind::BadTrailer => f.write_str("atomboot_crc32 is not 8 hex digits"),
            ParseErrorKind::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: atomboot_crc32={stored:08x} but the text gives {computed:08x} (torn or edited)"
            ),
            ParseErrorKind::NotUtf8 => f.write_str("text is not UTF-8"),
            ParseErrorKind::EmptyLine => f.write_str("empty line"),
            ParseErrorKind::MissingEquals => f.write_str("line is not key=value"),
            ParseErrorKind::UnknownKey => f.write_str("unknown key"),
            ParseErrorKind::DuplicateKey => f.write_str("key given twice"),
            ParseErrorKind::BadValue(e) => write!(f, "value {e}"),
            ParseErrorKind::UnsupportedFormat { found } => write!(
                f,
                "atomboot_format={found} is not supported (this build reads {FORMAT_VERSION})"
            ),
            ParseErrorKind::Missing { key } => write!(f, "required key {key} is missing"),
            ParseErrorKind::Incomplete { key } => {
                write!(f, "{key}: path, _sha256 and _size must all be present")
            }
        }
    }
}

fn err(line: u32, kind: ParseErrorKind) -> ParseError {
    ParseError { line, kind }
}

/// The value of each key and the line it was on.
type Table<'a> = [Option<(&'a str, u32)>; COUNT];

/// Parses one loader copy. Everything after the trailer line is padding and is ignored.
pub fn parse(bytes: &[u8]) -> Result<BootConfig<'_>, ParseError> {
    if bytes.len() > MAX_LOADER_FILE_SIZE {
        return Err(err(0, ParseErrorKind::TooLarge { len: bytes.len() }));
    }
    let (body, trailer_line) = split_at_trailer(bytes)?;
    let text = core::str::from_utf8(body).map_err(|_| err(0, ParseErrorKind::NotUtf8))?;
    let table = fill_table(text)?;
    build(&table, trailer_line)
}

/// Finds the trailer, checks the CRC, and returns the text above it and the trailer's line number.
fn split_at_trailer(bytes: &[u8]) -> Result<(&[u8], u32), ParseError> {
    let mut start = 0usize;
    let mut line_no: u32 = 0;
    while let Some(rest) = bytes.get(start..) {
        line_no = line_no.saturating_add(1);
        let Some(len) = rest.iter().position(|&c| c == b'\n') else {
            break;
        };
        let line = rest.get(..len).unwrap_or(&[]);
        if let Some(value) = line
            .strip_prefix(keys::TRAILER.as_bytes())
            .and_then(|v| v.strip_prefix(b"="))
        {
            let stored = parse_crc(value).ok_or(err(line_no, ParseErrorKind::BadTrailer))?;
            let body = bytes.get(..start).unwrap_or(&[]);
            let computed = crate::crc32(body);
            if stored != computed {
                return Err(err(
                    line_no,
                    ParseErrorKind::ChecksumMismatch { stored, computed },
                ));
            }
            return Ok((body, line_no));
        }
        start = start.saturating_add(len).saturating_add(1);
    }
    Err(err(0, ParseErrorKind::NoTrailer))
}

fn parse_crc(value: &[u8]) -> Option<u32> {
    if value.len() != 8 {
        return None;
    }
    value.iter().try_fold(0u32, |acc, &c| {
        crate::hex::nibble(c).map(|n| (acc << 4) | u32::from(n))
    })
}

fn fill_table(text: &str) -> Result<Table<'_>, ParseError> {
    let mut table: Table<'_> = [None; COUNT];
    // The body ends with the newline of its last line; `split_terminator` yields no empty tail.
    for (line_no, line) in (1u32..).zip(text.split_terminator('\n')) {
        if line.is_empty() {
            return Err(err(line_no, ParseErrorKind::EmptyLine));
        }
        if values::check_no_control(line).is_err() {
            return Err(err(
                line_no,
                ParseErrorKind::BadValue(ValueError::ControlCharacter),
            ));
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or(err(line_no, ParseErrorKind::MissingEquals))?;
        let key = Key::lookup(name).ok_or(err(line_no, ParseErrorKind::UnknownKey))?;
        let cell = table
            .get_mut(key.index())
            .ok_or(err(line_no, ParseErrorKind::UnknownKey))?;
        if cell.is_some() {
            return Err(err(line_no, ParseErrorKind::DuplicateKey));
        }
        *cell = Some((value, line_no));
    }
    Ok(table)
}

fn get<'a>(table: &Table<'a>, key: Key) -> Option<(&'a str, u32)> {
    table.get(key.index()).copied().flatten()
}

fn value_err(line: u32, e: ValueError) -> ParseError {
    err(line, ParseErrorKind::BadValue(e))
}

fn build<'a>(table: &Table<'a>, trailer_line: u32) -> Result<BootConfig<'a>, ParseError> {
    let (format, line) =
        get(table, Key::Format).ok_or(err(0, ParseErrorKind::Missing { key: keys::FORMAT }))?;
    let found = values::parse_decimal(format).map_err(|e| value_err(line, e))?;
    if found != u64::from(FORMAT_VERSION) {
        return Err(err(line, ParseErrorKind::UnsupportedFormat { found }));
    }
    let (generation, line) = get(table, Key::Generation).ok_or(err(
        0,
        ParseErrorKind::Missing {
            key: keys::GENERATION,
        },
    ))?;
    let generation = values::parse_decimal(generation).map_err(|e| value_err(line, e))?;
    let primary = entry(table, Slot::Primary)?.ok_or(err(
        trailer_line,
        ParseErrorKind::Missing {
            key: "kernel_image",
        },
    ))?;
    let fallback = entry(table, Slot::Fallback)?;
    Ok(BootConfig {
        generation,
        primary,
        fallback,
    })
}

/// The entry in `slot`, `None` when none of its keys is present.
fn entry<'a>(table: &Table<'a>, slot: Slot) -> Result<Option<Entry<'a>>, ParseError> {
    let kernel = file(table, slot, FileRole::Kernel)?;
    let ramdisk = file(table, slot, FileRole::Ramdisk)?;
    let fdt = file(table, slot, FileRole::Fdt)?;
    let bootargs = get(table, Key::Bootargs(slot));
    let proof = get(table, Key::Proof(slot));
    let name = incomplete_name(slot, FileRole::Kernel);
    match (kernel, bootargs) {
        (None, None) => {
            if ramdisk.is_some() || fdt.is_some() || proof.is_some() {
                Err(err(0, ParseErrorKind::Incomplete { key: name }))
            } else {
                Ok(None)
            }
        }
        (Some(kernel), Some((bootargs, line))) => {
            values::check_bootargs(bootargs).map_err(|e| value_err(line, e))?;
            if let Some((path, line)) = proof {
                values::check_path(path).map_err(|e| value_err(line, e))?;
            }
            Ok(Some(Entry {
                kernel,
                ramdisk,
                fdt,
                bootargs,
                proof: proof.map(|(p, _)| p),
            }))
        }
        (Some(_), None) => Err(err(
            0,
            ParseErrorKind::Missing {
                key: match slot {
                    Slot::Primary => "bootargs",
                    Slot::Fallback => "bootargs2",
                },
            },
        )),
        (None, Some((_, line))) => Err(err(line, ParseErrorKind::Incomplete { key: name })),
    }
}

fn file<'a>(
    table: &Table<'a>,
    slot: Slot,
    role: FileRole,
) -> Result<Option<BootFile<'a>>, ParseError> {
    let path = get(table, Key::File(slot, role, Field::Path));
    let sha = get(table, Key::File(slot, role, Field::Sha256));
    let size = get(table, Key::File(slot, role, Field::Size));
    match (path, sha, size) {
        (None, None, None) => Ok(None),
        (Some((path, pl)), Some((sha, sl)), Some((size, zl))) => {
            values::check_path(path).map_err(|e| value_err(pl, e))?;
            let sha256 = crate::hex::decode_sha256(sha.as_bytes())
                .ok_or(value_err(sl, ValueError::BadDigest))?;
            let size = values::parse_u32(size).map_err(|e| value_err(zl, e))?;
            Ok(Some(BootFile { path, sha256, size }))
        }
        (p, s, z) => {
            let line = p.or(s).or(z).map_or(0, |(_, l)| l);
            Err(err(
                line,
                ParseErrorKind::Incomplete {
                    key: incomplete_name(slot, role),
                },
            ))
        }
    }
}

fn incomplete_name(slot: Slot, role: FileRole) -> &'static str {
    match (slot, role) {
        (Slot::Primary, FileRole::Kernel) => "kernel_image",
        (Slot::Primary, FileRole::Ramdisk) => "ramdisk_image",
        (Slot::Primary, FileRole::Fdt) => "fdt_file",
        (Slot::Fallback, FileRole::Kernel) => "kernel_image2",
        (Slot::Fallback, FileRole::Ramdisk) => "ramdisk_image2",
        (Slot::Fallback, FileRole::Fdt) => "fdt_file2",
    }
}
