//! Checks the built atomboot-agent for each board, unsigned and signed (scripts/build-agent.sh makes
//! target/board/<board>/ and, with `--signed KEYFILE`, target/board/<board>-signed/; a missing build is a
//! failure): its sections lie inside the profile's agent region in DDR, clear of every load region; the flat
//! binary is at most 64 KiB unsigned and 128 KiB signed (the boot script's bounded `fatload`); no
//! instruction writes r9 (U-Boot's gd); and the boot script uses the profile's addresses.

use std::path::PathBuf;
use std::process::Command;

fn board_dir(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target/board").join(name);
    let board = name.trim_end_matches("-signed");
    let how = if board == name {
        String::new()
    } else {
        " --signed qemu-tests/assets/test-vendor.pub".to_string()
    };
    assert!(
        dir.join("atomboot-agent.elf").exists(),
        "{} missing: run scripts/build-agent.sh {board}{how}",
        dir.join("atomboot-agent.elf").display()
    );
    dir
}

fn objdump(args: &[&str], elf: &PathBuf) -> String {
    let out = Command::new("llvm-objdump")
        .args(args)
        .arg(elf)
        .output()
        .expect("llvm-objdump: run scripts/setup.sh (llvm)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn agent_layout_size_and_registers() {
    let builds = board::ALL.into_iter().flat_map(|p| {
        [
            (p, p.name.to_string(), board::AGENT_UNSIGNED_MAX),
            (p, format!("{}-signed", p.name), board::AGENT_BIN_MAX),
        ]
    });
    for (p, build, limit) in builds {
        let dir = board_dir(&build);
        let elf = dir.join("atomboot-agent.elf");
        let bin = std::fs::metadata(dir.join("atomboot-agent.bin"))
            .unwrap()
            .len();
        assert!(
            bin <= u64::from(limit),
            "{build}: atomboot-agent.bin is {bin} bytes, over {limit} bytes"
        );
        // The unsigned build labels itself "unsigned" on the console; the signed one has no such label
        // (and no unsigned check) linked in.
        let bytes = std::fs::read(dir.join("atomboot-agent.bin")).unwrap();
        let has_unsigned = bytes.windows(8).any(|w| w == b"unsigned");
        assert_eq!(has_unsigned, !build.ends_with("-signed"), "{build}");
        let (lo, hi) = (u64::from(p.agent.addr), p.agent.end());
        let mut end = 0;
        for line in objdump(&["-h"], &elf).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 4 && [".text", ".rodata", ".data", ".bss"].contains(&f[1]) {
                let size = u64::from_str_radix(f[2], 16).unwrap();
                let vma = u64::from_str_radix(f[3], 16).unwrap();
                if size == 0 {
                    continue;
                }
                assert!(
                    vma >= lo && vma + size <= hi,
                    "{}: {} at {vma:#x}+{size:#x} outside the agent region",
                    p.name,
                    f[1]
                );
                end = end.max(vma + size);
            }
        }
        assert!(end > lo, "{}: no sections found", p.name);
        for (name, r) in p.regions() {
            if name != "agent" {
                let (s, e) = (u64::from(r.addr), r.end());
                assert!(e <= lo || s >= end, "{}: agent overlaps {name}", p.name);
            }
        }
        // Entry: the first instruction is A32 (a push), at the link address.
        let dis = objdump(&["-d"], &elf);
        assert!(
            dis.contains(&format!("{:08x} <_start>:", p.agent.addr)),
            "{}: _start not at the link address",
            p.name
        );
        // r9 is never a destination: only read (to find gd), or saved to the stack and restored by the
        // same function (LLVM pads pushes with it to keep the stack 8-byte aligned when no frame pointer is
        // forced): since no instruction anywhere computes into r9, the value restored is the value saved.
        let mut pushed_r9 = false;
        for line in dis.lines() {
            // A new function (not a mapping symbol such as `<$a>` or `<$d>` inside one).
            if line.ends_with(">:") && !line.contains("<$") {
                pushed_r9 = false;
            }
            let Some((_, ins)) = line.split_once('\t') else {
                continue;
            };
            let ins = ins.trim();
            let (op, operands) = ins.split_once(['\t', ' ']).unwrap_or((ins, ""));
            let operands = operands.trim();
            if op.starts_with("push") && operands.contains("r9") {
                pushed_r9 = true;
            }
            let writes_r9 = if op.starts_with("push")
                || op.starts_with("str")
                || op.starts_with("stm")
                || op.starts_with("cmp")
                || op.starts_with("tst")
                || op.starts_with('b')
            {
                false
            } else if op.starts_with("pop") {
                operands.contains("r9") && !pushed_r9
            } else if op.starts_with("ldm") {
                operands.contains("r9")
            } else {
                operands.starts_with("r9,") || operands.starts_with("sb,")
            };
            assert!(!writes_r9, "{}: instruction writes r9: {line}", p.name);
        }
    }
}

#[test]
fn boot_scripts_use_the_profile_addresses() {
    for p in board::ALL {
        let script = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(p.name)
                .join("boot.cmd"),
        )
        .unwrap();
        let agent = format!("{:#x}", p.agent.addr);
        let dev = p.boot_dev;
        for step in ["decide", "verify"] {
            assert!(
                script.contains(&format!("go {agent} {step}")),
                "{}: no `go {agent} {step}`",
                p.name
            );
        }
        assert!(
            script.contains(&format!(
                "fatload {dev} {agent} atomboot-agent.bin {:#x}",
                board::AGENT_BIN_MAX
            )),
            "{}: agent not loaded bounded to {agent}",
            p.name
        );
        for (i, (file, at)) in p.small_files().into_iter().enumerate() {
            let var = boot_agent::vars::SMALL_BYTES[i];
            let line = format!(
                "if fatload {dev} {:#x} {file} {:#x}; then setenv {var} ${{filesize}}; fi",
                at.addr, at.len
            );
            assert!(script.contains(&line), "{}: lacks {line:?}", p.name);
        }
        // Every boot file is loaded where the agent says, bounded by what it says, and its size recorded.
        for role in uenv::boot_config::FileRole::ALL {
            let v = boot_agent::vars::file_vars(role);
            let line = format!(
                "if fatload {dev} ${{{}}} ${{{}}} ${{{}}}; then setenv {} ${{filesize}}; fi",
                v.addr, v.file, v.max, v.bytes
            );
            assert!(script.contains(&line), "{}: lacks {line:?}", p.name);
        }
        // The boot proof a signed agent names is loaded bounded by the proof area.
        let v = boot_agent::vars::PROOF_VARS;
        let line = format!(
            "if test -n \"${{{}}}\"; then if fatload {dev} ${{{}}} ${{{}}} ${{{}}}; then setenv {} ${{filesize}}; fi; fi",
            v.file, v.addr, v.file, v.max, v.bytes
        );
        assert!(script.contains(&line), "{}: lacks {line:?}", p.name);
        // Nothing reads the partition raw, and the load-verify step runs at most twice.
        assert!(!script.contains(" read "), "{}: raw block read", p.name);
        assert_eq!(script.matches("run atomboot_load").count(), 2, "{}", p.name);
        assert!(script.contains("fatwrite"), "{}: no env save", p.name);
        if p.name == "am335x" {
            let uses_setexpr = script
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains("setexpr"));
            assert!(!uses_setexpr, "am335x_evm has no setexpr");
        }
    }
}
