//! The closed set of keys a loader copy may hold, and their positions in a parse table.

use super::model::{FileRole, Slot};

pub const FORMAT: &str = "atomboot_format";
pub const GENERATION: &str = "atomboot_generation";
pub const TRAILER: &str = "atomboot_crc32";

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Path,
    Sha256,
    Size,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::Path, Field::Sha256, Field::Size];

    fn suffix(self) -> &'static str {
        match self {
            Field::Path => "",
            Field::Sha256 => "_sha256",
            Field::Size => "_size",
        }
    }
}

/// A key of the table: `index` into [`KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Format,
    Generation,
    File(Slot, FileRole, Field),
    Bootargs(Slot),
    /// `atomboot_proof` / `atomboot_proof2`: the entry's boot proof (docs/FORMATS.md, "Boot proof").
    Proof(Slot),
}

/// The key naming an entry's boot proof (without slot suffix).
pub const PROOF: &str = "atomboot_proof";

/// Number of distinct keys.
pub const COUNT: usize = 2 + 2 * (3 * 3 + 1) + 2;

impl Key {
    /// Position of the key in a table of [`COUNT`] slots.
    pub fn index(self) -> usize {
        let slot_base = |slot: Slot| -> usize {
            match slot {
                Slot::Primary => 2,
                Slot::Fallback => 12,
            }
        };
        match self {
            Key::Format => 0,
            Key::Generation => 1,
            Key::File(slot, role, field) => {
                let r: usize = match role {
                    FileRole::Kernel => 0,
                    FileRole::Ramdisk => 3,
                    FileRole::Fdt => 6,
                };
                let f = match field {
                    Field::Path => 0,
                    Field::Sha256 => 1,
                    Field::Size => 2,
                };
                slot_base(slot).wrapping_add(r).wrapping_add(f)
            }
            Key::Bootargs(slot) => slot_base(slot).wrapping_add(9),
            Key::Proof(Slot::Primary) => 22,
            Key::Proof(Slot::Fallback) => 23,
        }
    }

    /// Finds the key named `name`.
    pub fn lookup(name: &str) -> Option<Key> {
        if name == FORMAT {
            return Some(Key::Format);
        }
        if name == GENERATION {
            return Some(Key::Generation);
        }
        for slot in [Slot::Primary, Slot::Fallback] {
            if name.strip_suffix(slot.suffix()) == Some("bootargs") {
                return Some(Key::Bootargs(slot));
            }
            if name.strip_suffix(slot.suffix()) == Some(PROOF) {
                return Some(Key::Proof(slot));
            }
            for role in FileRole::ALL {
                for field in Field::ALL {
                    if matches_file_key(name, role, slot, field) {
                        return Some(Key::File(slot, role, field));
                    }
                }
            }
        }
        None
    }
}

/// `kernel_image` + slot suffix + field suffix, for example `kernel_image2_sha256`.
fn matches_file_key(name: &str, role: FileRole, slot: Slot, field: Field) -> bool {
    name.strip_prefix(role.key())
        .and_then(|rest| rest.strip_prefix(slot.suffix()))
        .is_some_and(|rest| rest == field.suffix())
}

/// Writes the key for a file field.
pub fn write_file_key(
    out: &mut impl core::fmt::Write,
    slot: Slot,
    role: FileRole,
    field: Field,
) -> core::fmt::Result {
    out.write_str(role.key())?;
    out.write_str(slot.suffix())?;
    out.write_str(field.suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_its_own_index_and_round_trips() {
        let mut seen = [false; COUNT];
        let mut name = [0u8; 64];
        for slot in [Slot::Primary, Slot::Fallback] {
            for role in FileRole::ALL {
                for field in Field::ALL {
                    let key = Key::File(slot, role, field);
                    assert!(!seen[key.index()]);
                    seen[key.index()] = true;
                    let mut w = crate::BufWriter::new(&mut name);
                    write_file_key(&mut w, slot, role, field).unwrap();
                    let len = w.len();
                    let text = core::str::from_utf8(&name[..len]).unwrap();
                    assert_eq!(Key::lookup(text), Some(key), "{text}");
                }
            }
            for key in [Key::Bootargs(slot), Key::Proof(slot)] {
                assert!(!seen[key.index()]);
                seen[key.index()] = true;
            }
        }
        seen[0] = true;
        seen[1] = true;
        assert!(seen.iter().all(|s| *s));
        assert_eq!(
            Key::lookup("bootargs2"),
            Some(Key::Bootargs(Slot::Fallback))
        );
        assert_eq!(
            Key::lookup("atomboot_proof2"),
            Some(Key::Proof(Slot::Fallback))
        );
        assert_eq!(
            Key::lookup("atomboot_proof"),
            Some(Key::Proof(Slot::Primary))
        );
        assert_eq!(Key::lookup("atomboot_proof3"), None);
        assert_eq!(Key::lookup("kernel_image3"), None);
        assert_eq!(Key::lookup("kernel_image_sha256x"), None);
    }
}
