//! U-Boot environment blocks, byte-compatible with U-Boot, `mkenvimage` and libubootenv.
//!
//! Single layout: `u32 crc32 (little endian)` + data. Redundant layout: `u32 crc32` + `u8 flags` + data.
//! The CRC covers the whole data area. Data: `name=value\0` entries, ended by an empty entry (`\0`), the rest
//! padding (U-Boot pads with `0x00`, `mkenvimage` with `0xff` by default; both are accepted).

/// Header bytes of the single layout.
pub const SINGLE_HEADER: usize = 4;
/// Header bytes of the redundant layout.
pub const REDUNDANT_HEADER: usize = 5;
/// Offset of the flags byte in the redundant layout.
pub const FLAGS_OFFSET: usize = 4;
/// Boolean scheme: the copy in use.
pub const FLAG_ACTIVE: u8 = 1;
/// Boolean scheme: the copy replaced by the other.
pub const FLAG_OBSOLETE: u8 = 0;

/// Single or redundant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One copy, no flags byte.
    Single,
    /// Two copies, each with a flags byte.
    Redundant,
}

impl Layout {
    /// Size of the header before the data.
    pub fn header_len(self) -> usize {
        match self {
            Layout::Single => SINGLE_HEADER,
            Layout::Redundant => REDUNDANT_HEADER,
        }
    }
}

/// How the flags byte of a redundant pair says which copy is newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagScheme {
    /// Each write stores the other copy's flags + 1 (wrapping at 255 -> 0): files, block devices, NAND.
    Incrementing,
    /// NOR flash: the new copy is written with 1 (active), then the old one's flag is cleared to 0 (obsolete).
    Boolean,
}

impl FlagScheme {
    /// The flags byte for a new copy that replaces one whose flags are `current`.
    pub fn next(self, current: u8) -> u8 {
        match self {
            FlagScheme::Incrementing => current.wrapping_add(1),
            FlagScheme::Boolean => FLAG_ACTIVE,
        }
    }
}

/// Why an environment copy cannot be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvError {
    /// The copy does not exist.
    Missing,
    /// Fewer bytes than a header and one data byte.
    TooSmall {
        /// Bytes present.
        len: usize,
    },
    /// The stored CRC does not match the data: torn, erased or never written.
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the data.
        computed: u32,
    },
    /// An entry runs to the end of the block without its terminating NUL.
    Unterminated {
        /// Byte offset of the entry in the block (header included).
        offset: usize,
    },
    /// A variable name is empty or contains `=` or NUL.
    BadName,
    /// A value contains NUL.
    BadValue,
    /// The variables do not fit the environment size.
    Full {
        /// Bytes needed for the data.
        needed: usize,
        /// Bytes available for the data.
        available: usize,
    },
}

impl core::fmt::Display for EnvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EnvError::Missing => f.write_str("missing"),
            EnvError::TooSmall { len } => write!(f, "only {len} bytes, too small for an environment"),
            EnvError::CrcMismatch { stored, computed } => write!(
                f,
                "bad CRC (stored {stored:08x}, computed {computed:08x}): torn, erased or never written"
            ),
            EnvError::Unterminated { offset } => {
                write!(f, "entry at offset {offset} has no terminating NUL")
            }
            EnvError::BadName => f.write_str("variable name is empty or contains '=' or NUL"),
            EnvError::BadValue => f.write_str("variable value contains NUL"),
            EnvError::Full { needed, available } => write!(
                f,
                "variables need {needed} bytes but the environment holds {available}"
            ),
        }
    }
}

/// A CRC-checked environment: the data area of one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvBlock<'a> {
    data: &'a [u8],
}

/// One `name=value` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var<'a> {
    /// The name (no `=`, no NUL, not empty).
    pub name: &'a [u8],
    /// The value (no NUL).
    pub value: &'a [u8],
}

impl<'a> EnvBlock<'a> {
    /// Checks the structure of a data area whose CRC already matched. `header` is only used for offsets in
    /// errors.
    fn new(data: &'a [u8], header: usize) -> Result<Self, EnvError> {
        let mut pos = 0usize;
        while let Some(rest) = data.get(pos..) {
            match rest.first() {
                None | Some(0) => break,
                Some(_) => {}
            }
            let len = rest
                .iter()
                .position(|&c| c == 0)
                .ok_or(EnvError::Unterminated {
                    offset: pos.saturating_add(header),
                })?;
            pos = pos.saturating_add(len).saturating_add(1);
        }
        Ok(EnvBlock { data })
    }

    /// The variables, in stored order. Entries without `=` (never written by U-Boot) are skipped, as U-Boot
    /// and libubootenv do.
    pub fn vars(&self) -> Vars<'a> {
        Vars { rest: self.data }
    }

    /// The value of `name` (the last one if stored twice, as an import would leave it).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.vars()
            .filter(|v| v.name == name)
            .last()
            .map(|v| v.value)
    }

    /// The value of `name` if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name.as_bytes())
            .and_then(|v| core::str::from_utf8(v).ok())
    }
}

/// Iterator over the entries of an [`EnvBlock`].
#[derive(Debug, Clone)]
pub struct Vars<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Vars<'a> {
    type Item = Var<'a>;

    fn next(&mut self) -> Option<Var<'a>> {
        loop {
            let len = self.rest.iter().position(|&c| c == 0)?;
            if len == 0 {
                self.rest = &[];
                return None;
            }
            let entry = self.rest.get(..len)?;
            self.rest = self.rest.get(len.saturating_add(1)..).unwrap_or(&[]);
            if let Some(eq) = entry.iter().position(|&c| c == b'=') {
                if eq > 0 {
                    let name = entry.get(..eq)?;
                    let value = entry.get(eq.saturating_add(1)..)?;
                    return Some(Var { name, value });
                }
            }
        }
    }
}

fn split_header(bytes: &[u8], layout: Layout) -> Result<(u32, Option<u8>, &[u8]), EnvError> {
    let header = layout.header_len();
    if bytes.len() <= header {
        return Err(EnvError::TooSmall { len: bytes.len() });
    }
    let (head, data) = bytes.split_at(header);
    let crc = match head {
        [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => return Err(EnvError::TooSmall { len: bytes.len() }),
    };
    let flags = match layout {
        Layout::Single => None,
        Layout::Redundant => head.get(FLAGS_OFFSET).copied(),
    };
    Ok((crc, flags, data))
}

/// Reads one copy of `layout`: checks the CRC and the entries. Returns the block and, for the redundant
/// layout, the flags byte.
pub fn read(bytes: &[u8], layout: Layout) -> Result<(EnvBlock<'_>, Option<u8>), EnvError> {
    let (stored, flags, data) = split_header(bytes, layout)?;
    let computed = crate::crc32(data);
    if stored != computed {
        return Err(EnvError::CrcMismatch { stored, computed });
    }
    Ok((EnvBlock::new(data, layout.header_len())?, flags))
}

/// Reads a single-layout environment.
pub fn read_single(bytes: &[u8]) -> Result<EnvBlock<'_>, EnvError> {
    read(bytes, Layout::Single).map(|(block, _)| block)
}

/// First or second copy of a redundant pair (first = the first line of fw_env.config, U-Boot's
/// `CONFIG_ENV_OFFSET` / `uboot.env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The first copy.
    First,
    /// The second (redundant) copy.
    Second,
}

impl Which {
    /// 0 or 1.
    pub fn index(self) -> usize {
        match self {
            Which::First => 0,
            Which::Second => 1,
        }
    }

    /// The other copy.
    pub fn other(self) -> Which {
        match self {
            Which::First => Which::Second,
            Which::Second => Which::First,
        }
    }
}

/// The copy of a redundant pair in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// Which copy.
    pub which: Which,
    /// Its flags byte.
    pub flags: u8,
    /// Its content.
    pub block: EnvBlock<'a>,
    /// The other copy: its flags when valid, else why not.
    pub other: Result<u8, EnvError>,
}

impl Chosen<'_> {
    /// Where the next write goes (always the copy not in use) and the flags it must carry.
    pub fn next_write(&self, scheme: FlagScheme) -> (Which, u8) {
        (self.which.other(), scheme.next(self.flags))
    }
}

/// Neither copy of a redundant pair is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BothInvalid {
    /// Why the first copy is not valid.
    pub first: EnvError,
    /// Why the second copy is not valid.
    pub second: EnvError,
}

impl core::fmt::Display for BothInvalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "both environment copies are invalid: first {}; second {}",
            self.first, self.second
        )
    }
}

/// Reads a redundant pair (either copy may be missing) and picks the copy in use, as U-Boot and
/// libubootenv do: a copy with a bad CRC loses; between two valid copies the flags decide (see
/// [`FlagScheme`]); on equal flags the first copy wins.
pub fn read_redundant<'a>(
    first: Option<&'a [u8]>,
    second: Option<&'a [u8]>,
    scheme: FlagScheme,
) -> Result<Chosen<'a>, BothInvalid> {
    let load = |bytes: Option<&'a [u8]>| -> Result<(EnvBlock<'a>, u8), EnvError> {
        let (block, flags) = read(bytes.ok_or(EnvError::Missing)?, Layout::Redundant)?;
        Ok((block, flags.unwrap_or(0)))
    };
    let a = load(first);
    let b = load(second);
    let pick =
        |which: Which, (block, flags): (EnvBlock<'a>, u8), other: Result<u8, EnvError>| Chosen {
            which,
            flags,
            block,
            other,
        };
    match (a, b) {
        (Ok(a), Ok(b)) => {
            if second_is_newer(a.1, b.1, scheme) {
                Ok(pick(Which::Second, b, Ok(a.1)))
            } else {
                Ok(pick(Which::First, a, Ok(b.1)))
            }
        }
        (Ok(a), Err(e)) => Ok(pick(Which::First, a, Err(e))),
        (Err(e), Ok(b)) => Ok(pick(Which::Second, b, Err(e))),
        (Err(first), Err(second)) => Err(BothInvalid { first, second }),
    }
}

/// True when the second copy (flags `f1`) is newer than the first (flags `f0`); both valid.
pub fn second_is_newer(f0: u8, f1: u8, scheme: FlagScheme) -> bool {
    match scheme {
        FlagScheme::Incrementing => {
            if f0 == 0xff && f1 == 0 {
                true
            } else if f1 == 0xff && f0 == 0 {
                false
            } else {
                f1 > f0
            }
        }
        FlagScheme::Boolean => {
            if f1 == 0xff {
                true
            } else if f0 == 0xff {
                false
            } else {
                f1 > f0
            }
        }
    }
}

/// Header of a block to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Single layout.
    Single,
    /// Redundant layout with this flags byte.
    Redundant {
        /// The flags byte.
        flags: u8,
    },
}

/// Checks a variable name: not empty, no `=` and no NUL.
pub fn check_name(name: &[u8]) -> Result<(), EnvError> {
    if name.is_empty() || name.iter().any(|&c| c == b'=' || c == 0) {
        Err(EnvError::BadName)
    } else {
        Ok(())
    }
}

/// Writes a whole environment block into `out` (whose length is the environment size): header, the
/// variables in the given order, the terminating NUL, zero padding, and the CRC.
pub fn write<'v>(
    out: &mut [u8],
    header: Header,
    vars: impl IntoIterator<Item = (&'v [u8], &'v [u8])>,
) -> Result<(), EnvError> {
    let header_len = match header {
        Header::Single => SINGLE_HEADER,
        Header::Redundant { .. } => REDUNDANT_HEADER,
    };
    if out.len() <= header_len {
        return Err(EnvError::TooSmall { len: out.len() });
    }
    let (head, data) = out.split_at_mut(header_len);
    let available = data.len();
    let mut pos = 0usize;
    let mut needed = 1usize; // the terminating NUL
    for (name, value) in vars {
        check_name(name)?;
        if value.contains(&0) {
            return Err(EnvError::BadValue);
        }
        let entry_len = name.len().saturating_add(value.len()).saturating_add(2);
        needed = needed.saturating_add(entry_len);
        if needed > available {
            continue; // keep counting to report the full size needed
        }
        for part in [name, b"=".as_slice(), value, b"\0".as_slice()] {
            let end = pos.saturating_add(part.len());
            if let Some(dst) = data.get_mut(pos..end) {
                dst.copy_from_slice(part);
            }
            pos = end;
        }
    }
    if needed > available {
        return Err(EnvError::Full { needed, available });
    }
    if let Some(rest) = data.get_mut(pos..) {
        rest.fill(0);
    }
    let crc = crate::crc32(data);
    if let Some(dst) = head.get_mut(..4) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    if let Header::Redundant { flags } = header {
        if let Some(dst) = head.get_mut(FLAGS_OFFSET) {
            *dst = flags;
        }
    }
    Ok(())
}
