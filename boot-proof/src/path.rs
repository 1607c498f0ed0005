//! Which paths in the commit a proof may name for each role: the boot files all in one
//! `usr/lib/modules/<kver>/` (as the deployer finds them), the kargs file at [`KARGS_PATH`].

use crate::format::{MAX_DEPTH, MAX_PATH};
use crate::Role;

/// Where the signed base kernel arguments live in a commit.
pub const KARGS_PATH: &str = "usr/lib/atomboot/kargs";

/// A path split into components.
#[derive(Debug, Clone, Copy)]
pub struct Components<'a> {
    parts: [&'a [u8]; MAX_DEPTH],
    len: usize,
}

impl<'a> Components<'a> {
    /// Splits a relative path; `None` if it is empty, too long or too deep, or has an empty, `.`, `..` or
    /// NUL-holding component.
    pub fn split(path: &'a [u8]) -> Option<Components<'a>> {
        if path.len() > MAX_PATH {
            return None;
        }
        let mut parts: [&[u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
        let mut len = 0;
        for comp in path.split(|b| *b == b'/') {
            if comp.is_empty() || comp == b"." || comp == b".." || comp.contains(&0) {
                return None;
            }
            *parts.get_mut(len)? = comp;
            len += 1;
        }
        Some(Components { parts, len })
    }

    pub fn as_slice(&self) -> &[&'a [u8]] {
        self.parts.get(..self.len).unwrap_or(&[])
    }
}

/// The kernel version directory a boot file's path names, if the path is allowed for its role; for the
/// kargs file, `Some(&[])` when the path is [`KARGS_PATH`].
pub fn allowed<'a>(role: Role, c: &Components<'a>) -> Option<&'a [u8]> {
    match (role, c.as_slice()) {
        (Role::Kargs, [b"usr", b"lib", b"atomboot", b"kargs"]) => Some(&[]),
        (Role::Kernel, [b"usr", b"lib", b"modules", kver, b"vmlinuz"])
        | (Role::Ramdisk, [b"usr", b"lib", b"modules", kver, b"initramfs.img"])
        | (Role::Fdt, [b"usr", b"lib", b"modules", kver, b"devicetree"]) => Some(kver),
        (Role::Fdt, [b"usr", b"lib", b"modules", kver, b"dtb", rest @ ..])
            if (1..=3).contains(&rest.len()) =>
        {
            Some(kver)
        }
        _ => None,
    }
}
