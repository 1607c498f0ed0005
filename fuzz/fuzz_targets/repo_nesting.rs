//! Nesting and cycles, as a hostile remote or a damaged disk would make them.
//!
//! A GVariant type signature generated from the input (bytes with the high bit set repeat a nesting
//! character up to 16,384 times, so depths far beyond GLib's 128 are reached), parsed alone, as a
//! variant's type inside commit metadata and inside a summary: an error or a value, never a crash, and a
//! parsed type is never deeper than 128. In memory only; cyclic references on disk are `repo_cycles`.
#![no_main]

use atomboot_repo::gvariant::{self, Type, MAX_DEPTH};
use atomboot_repo::objects::Commit;
use libfuzzer_sys::fuzz_target;

/// Signature characters, chosen by the low 4 bits of an input byte.
const SIG_CHARS: &[u8; 16] = b"aam((){}ysvutbdx";

/// Longest signature generated: far beyond GLib's 128 levels (and the 25,000 that aborted a pull), short
/// enough that each run parses it in well under a millisecond.
const MAX_SIG: usize = 32 * 1024;

/// One character per byte; with the high bit set, repeated 4^((byte >> 4) & 7) times (up to 16,384); at
/// most [`MAX_SIG`] characters in all.
fn signature(bytes: &[u8]) -> Vec<u8> {
    let mut sig = Vec::new();
    for &b in bytes {
        let c = SIG_CHARS[(b & 0x0f) as usize];
        let n = if b & 0x80 != 0 {
            1usize << (2 * ((b >> 4) & 7))
        } else {
            1
        };
        sig.extend(std::iter::repeat_n(c, n.min(MAX_SIG - sig.len())));
        if sig.len() == MAX_SIG {
            break;
        }
    }
    sig
}

fn nesting(data: &[u8]) {
    let (sig_len, rest) = match data.split_first() {
        Some((&n, r)) => (n as usize, r),
        None => return,
    };
    let (sig_bytes, value) = rest.split_at(sig_len.min(rest.len()));
    let sig = signature(sig_bytes);
    let Ok(sig_str) = std::str::from_utf8(&sig) else {
        return;
    };
    if let Ok(t) = Type::parse(sig_str) {
        assert!(t.depth() <= MAX_DEPTH, "type deeper than {MAX_DEPTH}");
        let _ = gvariant::parse(&t, value);
    }
    // The same signature as a variant's type: alone, in commit metadata, in a summary.
    let mut variant = value.to_vec();
    variant.push(0);
    variant.extend_from_slice(&sig);
    let _ = gvariant::parse(&Type::Variant, &variant);
    let mut entry = b"k\0\0\0\0\0\0\0".to_vec();
    entry.extend_from_slice(&variant);
    if entry.len() < 250 {
        entry.push(2);
        let end = entry.len() as u8;
        entry.push(end);
        let _ = Commit::parse(&entry);
        let _ = atomboot_repo::summary::parse(&entry);
        if let Ok(t) = Type::parse("a{sv}") {
            let _ = gvariant::parse(&t, &entry);
        }
    }
}

fuzz_target!(|data: &[u8]| nesting(data));
