//! Arbitrary bytes as single and redundant environment copies. A fixed-up CRC lets the fuzzer reach the
//! entry parser; whatever reads must write back and read the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uenv::env_block::{read, read_redundant, write, FlagScheme, Header, Layout};

fuzz_target!(|data: &[u8]| {
    let _ = read(data, Layout::Single);
    let half = data.len() / 2;
    let _ = read_redundant(
        Some(&data[..half]),
        Some(&data[half..]),
        FlagScheme::Incrementing,
    );
    let _ = read_redundant(Some(&data[..half]), None, FlagScheme::Boolean);
    // Same data with a correct CRC.
    let mut fixed = uenv::crc32(data).to_le_bytes().to_vec();
    fixed.extend_from_slice(data);
    if let Ok((env, _)) = read(&fixed, Layout::Single) {
        let vars: Vec<_> = env.vars().map(|v| (v.name, v.value)).collect();
        let mut out = vec![0u8; fixed.len() + 1];
        if write(&mut out, Header::Single, vars.iter().copied()).is_ok() {
            let (back, _) = read(&out, Layout::Single).expect("what we write reads");
            assert!(back
                .vars()
                .map(|v| (v.name, v.value))
                .eq(vars.iter().copied()));
        }
    }
});
