//! What crosses from the boot partition to the agent: the loader copies, the env pair and the boot files,
//! as the boot script loads them (bounded), through both agent calls. Input: mode byte 0 = four raw small
//! files (2-byte little-endian length prefixes); otherwise XOR patches (4-byte offset, 1-byte mask) over
//! the concatenation of the base files (valid copies on trial, two deployments). Invariant: no panic, and a
//! boot only ever boots bytes that match the loader copy used ([`agent_sim::Board::check_boot`]).
#![no_main]
#[path = "../common/agent_sim.rs"]
mod agent_sim;

use agent_sim::*;
use boot_agent::script::{run, End};
use libfuzzer_sys::fuzz_target;

fn raw_files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = base_files().to_vec();
    let mut rest = data;
    for f in files.iter_mut().take(4) {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let n = (u16::from_le_bytes(*len) as usize).min(tail.len());
        f.1 = tail[..n].to_vec();
        rest = &tail[n..];
    }
    files
}

fn patched_files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = base_files().to_vec();
    let total: usize = files.iter().map(|f| f.1.len()).sum();
    for p in data.chunks_exact(5) {
        let mut at = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize % total;
        for f in files.iter_mut() {
            if at < f.1.len() {
                f.1[at] ^= p[4];
                break;
            }
            at -= f.1.len();
        }
    }
    // A patch mask of 0xff on a file's last byte also truncates it: files can be short too.
    if let Some(&last) = data.last() {
        if last == 0xff {
            if let Some(f) = files.get_mut(data.len() % 9) {
                f.1.truncate(f.1.len() / 2);
            }
        }
    }
    files
}

fuzz_target!(|data: &[u8]| {
    let files = match data.split_first() {
        Some((0, raw)) => raw_files(raw),
        Some((_, patches)) => patched_files(patches),
        None => return,
    };
    let mut board = Board::new();
    let mut env = MapEnv::default();
    let end = run(
        &mut env,
        &mut MemFiles(files),
        &mut board.buffers(),
        &mut Quiet,
        &Zero,
    );
    if let End::Boot(plan) = end {
        board.check_boot(&env, plan.slot);
    }
});
