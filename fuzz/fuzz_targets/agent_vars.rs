//! What crosses between the boot script and the agent's two calls: the environment variables. From the
//! valid base board (or a patched one), the input overwrites or deletes variables before `go decide`, after
//! it, or after the first load (its first byte says when), as a hostile or broken script could; the parsers
//! of those variables also get the raw text. Invariant: no panic, and a boot only ever boots bytes that
//! match the loader copy used ([`agent_sim::Board::check_boot`]).
#![no_main]
#[path = "../common/agent_sim.rs"]
mod agent_sim;

use agent_sim::*;
use boot_agent::script::{go_decide, go_verify, load_named, load_small};
use boot_agent::vars::{
    file_vars, parse_hex_u32, parse_slot, FailedRecord, FAILED, SMALL_BYTES, STEP, TRY,
};
use boot_agent::Unsigned;
use boot_agent::{Env, Verified};
use libfuzzer_sys::fuzz_target;
use uenv::boot_config::FileRole;

fn names() -> Vec<&'static str> {
    let mut v = vec![STEP, TRY, FAILED, "fdtcontroladdr"];
    v.extend(SMALL_BYTES);
    for r in FileRole::ALL {
        let f = file_vars(r);
        v.extend([f.file, f.addr, f.max, f.bytes]);
    }
    v
}

/// Applies `(name index, value up to the next 0 byte)` edits; an empty value deletes.
fn tamper(env: &mut MapEnv, edits: &[u8]) {
    let names = names();
    let mut rest = edits;
    while let Some((&i, tail)) = rest.split_first() {
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]);
        let name = names[i as usize % names.len()];
        env.set(name, format_args!("{value}"));
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&when, edits)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(edits) {
        let _ = parse_hex_u32(text);
        let _ = parse_slot(text);
        if let Some(r) = FailedRecord::parse(text) {
            assert_eq!(FailedRecord::parse(&r.to_string()), Some(r));
        }
    }
    let mut board = Board::new();
    let mut env = MapEnv::default();
    let mut files = MemFiles(base_files().to_vec());
    if when % 8 == 7 {
        // A corrupt primary kernel: the fallback path and its record get exercised.
        files
            .0
            .iter_mut()
            .find(|f| f.0.ends_with("vmlinuz") && f.1.len() == 3000)
            .unwrap()
            .1[10] ^= 1;
    }
    let mut bufs = board.buffers();
    load_small(&mut env, &mut files, &mut bufs);
    if when % 4 == 0 {
        tamper(&mut env, edits);
    }
    go_decide(&Unsigned, &mut env, &mut bufs, &mut Quiet);
    if when % 4 == 1 {
        tamper(&mut env, edits);
    }
    let mut booted = None;
    for round in 0..2 {
        if env.0.get(STEP).map(String::as_str) != Some("load") && when % 4 != 1 {
            break;
        }
        load_named(&mut env, &mut files, &mut bufs);
        if when % 4 == 2 + round {
            tamper(&mut env, edits);
        }
        match go_verify(&Unsigned, &mut env, &mut bufs, &mut Quiet, &Zero) {
            Verified::Boot(plan) => {
                booted = Some(plan.slot);
                break;
            }
            Verified::LoadOther(_) => continue,
            Verified::Fail(_) => break,
        }
    }
    drop(bufs);
    if let Some(slot) = booted {
        assert_eq!(env.0.get(STEP).map(String::as_str), Some("boot"));
        board.check_boot(&env, slot);
    }
});
