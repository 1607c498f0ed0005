//! Validation of single values, shared by the parser and the renderer so that what renders always parses.

use super::model::{MAX_BOOTARGS_LEN, MAX_PATH_LEN};

/// Why a value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Not a plain decimal number in range.
    BadNumber,
    /// Not 64 hex digits.
    BadDigest,
    /// Not an absolute path of printable ASCII without spaces or `..`, or too long.
    BadPath,
    /// Longer than the kernel accepts.
    BootargsTooLong,
    /// A control character (newline, carriage return, NUL, ...).
    ControlCharacter,
}

impl core::fmt::Display for ValueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ValueError::BadNumber => "not a decimal number in range",
            ValueError::BadDigest => "not a SHA-256 of 64 hex digits",
            ValueError::BadPath => {
                "not an absolute path of printable ASCII (no spaces, no '..', at most 255 bytes)"
            }
            ValueError::BootargsTooLong => "bootargs longer than 1023 bytes",
            ValueError::ControlCharacter => "contains a control character",
        })
    }
}

/// Parses a decimal number: digits only, no sign, no spaces.
pub fn parse_decimal(text: &str) -> Result<u64, ValueError> {
    if text.is_empty() || text.len() > 20 {
        return Err(ValueError::BadNumber);
    }
    let mut value: u64 = 0;
    for c in text.bytes() {
        let digit = u64::from(char::from(c).to_digit(10).ok_or(ValueError::BadNumber)?);
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or(ValueError::BadNumber)?;
    }
    Ok(value)
}

/// Parses a decimal number that must fit in 32 bits.
pub fn parse_u32(text: &str) -> Result<u32, ValueError> {
    u32::try_from(parse_decimal(text)?).map_err(|_| ValueError::BadNumber)
}

/// Checks a boot-file path: absolute, printable ASCII without spaces, no empty, `.` or `..` component.
pub fn check_path(path: &str) -> Result<(), ValueError> {
    let rest = path.strip_prefix('/').ok_or(ValueError::BadPath)?;
    if path.len() > MAX_PATH_LEN || !path.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(ValueError::BadPath);
    }
    if rest
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(ValueError::BadPath);
    }
    Ok(())
}

/// Checks a kernel command line.
pub fn check_bootargs(text: &str) -> Result<(), ValueError> {
    if text.len() > MAX_BOOTARGS_LEN {
        return Err(ValueError::BootargsTooLong);
    }
    check_no_control(text)
}

/// Refuses control characters (the format is one `key=value` per line).
pub fn check_no_control(text: &str) -> Result<(), ValueError> {
    if text.chars().any(char::is_control) {
        Err(ValueError::ControlCharacter)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_decimal("0"), Ok(0));
        assert_eq!(parse_decimal("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_decimal("18446744073709551616"),
            Err(ValueError::BadNumber)
        );
        assert_eq!(parse_decimal(""), Err(ValueError::BadNumber));
        assert_eq!(parse_decimal("+1"), Err(ValueError::BadNumber));
        assert_eq!(parse_decimal(" 1"), Err(ValueError::BadNumber));
        assert_eq!(parse_u32("4294967296"), Err(ValueError::BadNumber));
        assert_eq!(parse_u32("4294967295"), Ok(u32::MAX));
    }

    #[test]
    fn paths() {
        assert!(check_path("/ostree/os-abc/vmlinuz").is_ok());
        assert_eq!(check_path("ostree/vmlinuz"), Err(ValueError::BadPath));
        assert_eq!(check_path("/a b"), Err(ValueError::BadPath));
        assert_eq!(check_path("/a/../b"), Err(ValueError::BadPath));
        assert_eq!(check_path("/a//b"), Err(ValueError::BadPath));
        assert_eq!(check_path("/"), Err(ValueError::BadPath));
        assert_eq!(check_path("/é"), Err(ValueError::BadPath));
    }
}
