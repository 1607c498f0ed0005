//! Writes the linker script from the board profile chosen by feature, so the link address has one source;
//! with feature `signed`, also the trusted public keys (`keys.rs`) from the key file ATOMBOOT_AGENT_KEYS
//! names (one base64 ed25519 public key a line, the format of `atomboot sign-keygen`'s PREFIX.pub and
//! OSTree's key files).
use std::io::Write;

/// Decodes standard base64 (with `=` padding); `None` on anything else.
fn base64(text: &str) -> Option<Vec<u8>> {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let t = text.trim_end_matches('=');
    if !text.len().is_multiple_of(4) || text.len() - t.len() > 2 {
        return None;
    }
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in t.bytes() {
        let v = ABC.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

/// The keys of the key file at `path`, as Rust source.
fn keys_source(path: &str) -> String {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("ATOMBOOT_AGENT_KEYS={path}: {e}"));
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let key = base64(line).filter(|k| k.len() == 32).unwrap_or_else(|| {
            panic!(
                "{path}:{}: not a base64 ed25519 public key (32 bytes); one key a line",
                i + 1
            )
        });
        keys.push(key);
    }
    assert!(!keys.is_empty(), "{path}: no public key in it");
    let mut src = format!(
        "/// The trusted ed25519 public keys, from {path:?}.\npub const KEYS: [[u8; 32]; {}] = [\n",
        keys.len()
    );
    for k in keys {
        src.push_str(&format!("    {k:?},\n"));
    }
    src.push_str("];\n");
    src
}

fn main() {
    let qemu = std::env::var_os("CARGO_FEATURE_BOARD_QEMU_VIRT").is_some();
    let am335x = std::env::var_os("CARGO_FEATURE_BOARD_AM335X").is_some();
    let profile = match (qemu, am335x) {
        (true, false) => board::QEMU_VIRT,
        (false, true) => board::AM335X,
        _ => panic!("choose exactly one board: --features board-qemu-virt or board-am335x"),
    };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut f = std::fs::File::create(out.join("agent.ld")).unwrap();
    write!(
        f,
        "ENTRY(_start)
MEMORY {{ AGENT (rwx) : ORIGIN = {:#x}, LENGTH = {:#x} }}
SECTIONS {{
  .text : {{ KEEP(*(.text.start)) *(.text .text.*) }} > AGENT
  .rodata : {{ *(.rodata .rodata.*) }} > AGENT
  .data : {{ *(.data .data.*) }} > AGENT
  .bss (NOLOAD) : ALIGN(4) {{ __bss_start = .; *(.bss .bss.*) *(COMMON) . = ALIGN(4); __bss_end = .; }} > AGENT
  /DISCARD/ : {{ *(.ARM.exidx*) *(.ARM.extab*) *(.comment) }}
}}
",
        profile.agent.addr, profile.agent.len
    )
    .unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ATOMBOOT_AGENT_KEYS");
    if std::env::var_os("CARGO_FEATURE_SIGNED").is_some() {
        let path = std::env::var("ATOMBOOT_AGENT_KEYS").unwrap_or_else(|_| {
            panic!("feature signed: set ATOMBOOT_AGENT_KEYS to a file of base64 public keys (scripts/build-agent.sh BOARD --signed KEYFILE)")
        });
        println!("cargo:rerun-if-changed={path}");
        std::fs::write(out.join("keys.rs"), keys_source(&path)).unwrap();
    }
}
