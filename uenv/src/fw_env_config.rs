//! `fw_env.config`: where userland finds the U-Boot environment (the legacy text format of U-Boot's tools
//! and libubootenv).
//!
//! One line per copy (one line: single layout, two lines: redundant): `DEVICE OFFSET ENV_SIZE
//! [SECTOR_SIZE [SECTORS]]`, separated by spaces or tabs. Lines whose first non-blank character is `#` are
//! comments; a field starting with `#` ends the line. As in libubootenv (`sscanf("%s %lli %zx %zx %lx")`):
//! OFFSET is a C integer (decimal, `0x` hex or leading-`0` octal, optionally negative: from the end of the
//! device); ENV_SIZE and SECTOR_SIZE are hexadecimal with or without `0x` (`4000` means 16 KiB); SECTORS is
//! hexadecimal.

/// One environment copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvDevice<'a> {
    /// Device or file path.
    pub path: &'a str,
    /// Byte offset; negative counts from the end of the device.
    pub offset: i64,
    /// Environment size in bytes.
    pub size: u64,
    /// Erase-sector size, if given.
    pub sector_size: Option<u64>,
    /// Number of sectors, if given.
    pub sectors: Option<u64>,
}

/// A parsed `fw_env.config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FwEnvConfig<'a> {
    /// The first copy.
    pub first: EnvDevice<'a>,
    /// The redundant copy, if any.
    pub second: Option<EnvDevice<'a>>,
}

impl FwEnvConfig<'_> {
    /// The layout the config describes.
    pub fn layout(&self) -> crate::env_block::Layout {
        if self.second.is_some() {
            crate::env_block::Layout::Redundant
        } else {
            crate::env_block::Layout::Single
        }
    }
}

/// A problem in `fw_env.config`; `line` is 1-based, 0 for the file as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError {
    /// The line concerned.
    pub line: u32,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong in `fw_env.config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// No device line at all.
    NoDevice,
    /// A line with fewer than device, offset and size.
    TooFewFields,
    /// The offset is not a C integer.
    BadOffset,
    /// A size or count is not hexadecimal.
    BadSize,
    /// The environment size is zero.
    ZeroSize,
    /// More than two device lines.
    TooManyDevices,
    /// The two copies have different environment sizes.
    SizeMismatch,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        f.write_str(match self.kind {
            ConfigErrorKind::NoDevice => "no device line (expected `DEVICE OFFSET SIZE`)",
            ConfigErrorKind::TooFewFields => {
                "expected `DEVICE OFFSET SIZE [SECTOR_SIZE [SECTORS]]`"
            }
            ConfigErrorKind::BadOffset => "offset is not a number (decimal, 0x hex, or octal)",
            ConfigErrorKind::BadSize => "size is not hexadecimal (fw_env.config sizes are hex)",
            ConfigErrorKind::ZeroSize => "environment size is zero",
            ConfigErrorKind::TooManyDevices => "more than two device lines",
            ConfigErrorKind::SizeMismatch => "the two copies must have the same environment size",
        })
    }
}

/// Parses `fw_env.config` text.
pub fn parse(text: &str) -> Result<FwEnvConfig<'_>, ConfigError> {
    let mut devices: [Option<EnvDevice<'_>>; 2] = [None, None];
    let mut count = 0usize;
    for (line_no, line) in (1u32..).zip(text.lines()) {
        let mut fields = line
            .split([' ', '\t'])
            .filter(|f| !f.is_empty())
            .take_while(|f| !f.starts_with('#'));
        let Some(path) = fields.next() else {
            continue; // blank or comment line
        };
        let err = |kind| ConfigError {
            line: line_no,
            kind,
        };
        let offset = fields.next().ok_or(err(ConfigErrorKind::TooFewFields))?;
        let size = fields.next().ok_or(err(ConfigErrorKind::TooFewFields))?;
        let offset = parse_c_integer(offset).ok_or(err(ConfigErrorKind::BadOffset))?;
        let size = parse_hex(size).ok_or(err(ConfigErrorKind::BadSize))?;
        if size == 0 {
            return Err(err(ConfigErrorKind::ZeroSize));
        }
        let sector_size = fields
            .next()
            .map(|f| parse_hex(f).ok_or(err(ConfigErrorKind::BadSize)))
            .transpose()?;
        let sectors = fields
            .next()
            .map(|f| parse_hex(f).ok_or(err(ConfigErrorKind::BadSize)))
            .transpose()?;
        let device = EnvDevice {
            path,
            offset,
            size,
            sector_size,
            sectors,
        };
        let slot = devices
            .get_mut(count)
            .ok_or(err(ConfigErrorKind::TooManyDevices))?;
        *slot = Some(device);
        count = count.saturating_add(1);
        if let [Some(a), Some(b)] = &devices {
            if a.size != b.size {
                return Err(err(ConfigErrorKind::SizeMismatch));
            }
        }
    }
    match devices {
        [Some(first), second] => Ok(FwEnvConfig { first, second }),
        _ => Err(ConfigError {
            line: 0,
            kind: ConfigErrorKind::NoDevice,
        }),
    }
}

/// A C integer as `strtoll(s, NULL, 0)` reads it, but the whole field must be used.
fn parse_c_integer(field: &str) -> Option<i64> {
    let (negative, digits) = match field.as_bytes().first() {
        Some(b'-') => (true, field.get(1..)?),
        Some(b'+') => (false, field.get(1..)?),
        _ => (false, field),
    };
    let (radix, digits) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, digits.get(1..)?)
    } else {
        (10, digits)
    };
    let magnitude = parse_radix(digits, radix)?;
    let value = i64::try_from(magnitude).ok()?;
    if negative {
        value.checked_neg()
    } else {
        Some(value)
    }
}

/// Hexadecimal with an optional `0x` prefix.
fn parse_hex(field: &str) -> Option<u64> {
    let digits = field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix("0X"))
        .unwrap_or(field);
    parse_radix(digits, 16)
}

fn parse_radix(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |acc, c| {
        let d = u64::from(c.to_digit(radix)?);
        acc.checked_mul(u64::from(radix))?.checked_add(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_libubootenv_reads_them() {
        assert_eq!(parse_c_integer("0"), Some(0));
        assert_eq!(parse_c_integer("4096"), Some(4096));
        assert_eq!(parse_c_integer("0x1000"), Some(4096));
        assert_eq!(parse_c_integer("010"), Some(8));
        assert_eq!(parse_c_integer("-0x20000"), Some(-0x20000));
        assert_eq!(parse_c_integer("-"), None);
        assert_eq!(parse_c_integer("0x"), None);
        assert_eq!(parse_c_integer("09"), None);
        assert_eq!(parse_c_integer("12k"), None);
        assert_eq!(parse_hex("4000"), Some(0x4000));
        assert_eq!(parse_hex("0x4000"), Some(0x4000));
        assert_eq!(parse_hex("g"), None);
    }
}
