//! Property tests of what crosses between the boot script and the agent's two calls: the variable parsers,
//! and whole boots (the boot script's steps on the fuzz targets' simulated board) with the variables
//! overwritten or deleted before, between or after the calls, as a hostile or broken script could. Whatever
//! the variables say, a boot only ever boots bytes that match the loader copy used.

#[path = "../../fuzz/common/agent_sim.rs"]
mod agent_sim;

use agent_sim::*;
use boot_agent::script::{go_decide, go_verify, load_named, load_small};
use boot_agent::vars::{
    file_vars, parse_hex_u32, parse_slot, FailedRecord, FAILED, SMALL_BYTES, STEP, TRY,
};
use boot_agent::verify::VerifyError;
use boot_agent::Unsigned;
use boot_agent::{Env, Verified};
use proptest::prelude::*;
use uenv::boot_config::{FileRole, Slot};

fn names() -> Vec<&'static str> {
    let mut v = vec![STEP, TRY, FAILED, "fdtcontroladdr"];
    v.extend(SMALL_BYTES);
    for r in FileRole::ALL {
        let f = file_vars(r);
        v.extend([f.file, f.addr, f.max, f.bytes]);
    }
    v
}

/// A value a hostile script might leave: near-misses of real values, or anything printable.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("primary".to_string()),
        Just("fallback".to_string()),
        Just("kernel checksum".to_string()),
        Just("ramdisk size 700 1".to_string()),
        Just("kernel too-large 1 0".to_string()),
        Just("load".to_string()),
        Just("boot".to_string()),
        "[0-9a-f]{1,9}",
        "0x[0-9a-fA-F]{0,9}",
        "/ostree/[a-z0-9/.-]{0,80}",
        "[ -~]{0,40}",
    ]
}

/// Boots the base board, applying `edits` at stage `when` (0 before decide, 1 after it, 2 after the
/// first load, 3 after the second); the primary kernel is corrupt when `bad_primary`.
fn boot(when: u8, bad_primary: bool, edits: &[(usize, String)]) -> (MapEnv, Board, Option<Slot>) {
    let names = names();
    let mut board = Board::new();
    let mut env = MapEnv::default();
    let mut files = MemFiles(base_files().to_vec());
    if bad_primary {
        let k = files
            .0
            .iter_mut()
            .find(|f| f.0.ends_with("vmlinuz") && f.1.len() == 3000)
            .unwrap();
        k.1[10] ^= 1;
    }
    let tamper = |env: &mut MapEnv| {
        for (i, v) in edits {
            env.set(names[i % names.len()], format_args!("{v}"));
        }
    };
    let mut booted = None;
    {
        let mut bufs = board.buffers();
        load_small(&mut env, &mut files, &mut bufs);
        if when == 0 {
            tamper(&mut env);
        }
        go_decide(&Unsigned, &mut env, &mut bufs, &mut Quiet);
        if when == 1 {
            tamper(&mut env);
        }
        for round in 0..2u8 {
            load_named(&mut env, &mut files, &mut bufs);
            if when == 2 + round {
                tamper(&mut env);
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
    }
    (env, board, booted)
}

#[test]
fn untouched_boots_primary_then_fallback_when_the_primary_is_bad() {
    let (env, board, slot) = boot(9, false, &[]);
    assert_eq!(slot, Some(Slot::Primary));
    board.check_boot(&env, Slot::Primary);
    let (env, board, slot) = boot(9, true, &[]);
    assert_eq!(slot, Some(Slot::Fallback));
    board.check_boot(&env, Slot::Fallback);
    assert_eq!(
        env.0.get("atomboot_reason").map(String::as_str),
        Some("primary kernel: SHA-256 mismatch")
    );
}

#[test]
fn a_state_variable_the_agent_did_not_set_is_refused_by_name() {
    // After decide chose the primary, a script that claims the fallback's files were loaded: a second try
    // needs the record of the first one's failure, and there is none.
    let (env, _, slot) = boot(2, false, &[(1, "fallback".to_string())]);
    assert_eq!(slot, None);
    assert_eq!(
        env.0.get("atomboot_reason").map(String::as_str),
        Some("atomboot_failed: not what the agent set; run the board's boot.scr unchanged")
    );
    // A slot that is no slot.
    let (env, _, slot) = boot(2, false, &[(1, "Primary".to_string())]);
    assert_eq!(slot, None);
    assert_eq!(
        env.0.get("atomboot_reason").map(String::as_str),
        Some("atomboot_try: not what the agent set; run the board's boot.scr unchanged")
    );
    // A failure record on the first try.
    let (env, _, slot) = boot(2, false, &[(2, "kernel checksum".to_string())]);
    assert_eq!(slot, None);
    assert_eq!(
        env.0.get("atomboot_reason").map(String::as_str),
        Some("atomboot_failed: not what the agent set; run the board's boot.scr unchanged")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tampered_variables_never_boot_unverified_bytes(
        when in 0u8..4,
        bad_primary in any::<bool>(),
        edits in prop::collection::vec((0usize..64, value()), 0..4),
    ) {
        let (env, board, slot) = boot(when, bad_primary, &edits);
        if let Some(slot) = slot {
            prop_assert_eq!(env.0.get(STEP).map(String::as_str), Some("boot"));
            board.check_boot(&env, slot);
        } else {
            prop_assert!(env.0.get(STEP).map(String::as_str) != Some("boot"));
        }
    }

    #[test]
    fn parsers_take_exactly_their_forms(text in "[ -~]{0,24}") {
        if let Some(n) = parse_hex_u32(&text) {
            let digits = text.trim_start_matches("0x").trim_start_matches("0X");
            prop_assert_eq!(u32::from_str_radix(digits, 16).ok(), Some(n));
        }
        if let Some(s) = parse_slot(&text) {
            prop_assert_eq!(s.name(), text.as_str());
        }
        if let Some(r) = FailedRecord::parse(&text) {
            prop_assert_eq!(r.to_string(), text);
        }
    }

    #[test]
    fn failed_records_round_trip(
        role in 0usize..3,
        kind in 0u8..4,
        a in any::<u32>(),
        b in any::<u32>(),
    ) {
        let error = match kind {
            0 => VerifyError::NotLoaded,
            1 => VerifyError::Checksum,
            2 => VerifyError::Size { declared: a, actual: b },
            _ => VerifyError::TooLarge { size: a, room: b },
        };
        let r = FailedRecord { role: FileRole::ALL[role], error };
        prop_assert_eq!(FailedRecord::parse(&r.to_string()), Some(r));
    }
}
