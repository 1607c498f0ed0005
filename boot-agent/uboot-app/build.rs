//! Writes the linker script from the board profile chosen by feature, so the link address has one source.
use std::io::Write;

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
}
