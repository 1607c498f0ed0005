//! The boot proof parser and chain walk (crate boot-proof), on arbitrary bytes: the first byte picks the
//! entry point, the rest is the proof. `cargo fuzz` builds with `--cfg fuzzing`, which gives the chain walk
//! without the signature check (no fuzzer forges ed25519), so every check after the signature is reached.
//! Whatever verifies must then build a command line and check content without panicking.
#![no_main]

use boot_proof::{cmdline, Request, Role};
use libfuzzer_sys::fuzz_target;

/// The vendor key of the committed seeds (ed25519 seed [7; 32]).
const VENDOR_KEY: [u8; 32] = [
    0xea, 0x4a, 0x6c, 0x63, 0xe2, 0x9c, 0x52, 0x0a, 0xbe, 0xf5, 0x50, 0x7b, 0x13, 0x2e, 0xc5, 0xf9,
    0x95, 0x47, 0x76, 0xae, 0xbe, 0xbe, 0x7b, 0x92, 0x42, 0x1e, 0xea, 0x69, 0x14, 0x46, 0xd2, 0x2c,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, proof)) = data.split_first() else {
        return;
    };
    let request = Request {
        ramdisk: mode & 2 == 0,
        fdt: mode & 4 == 0,
    };
    let entry = match mode & 1 {
        0 => boot_proof::verify(proof, &[VENDOR_KEY], request),
        _ => boot_proof::walk_unsigned(proof, request),
    };
    let Ok(e) = entry else {
        return;
    };
    let hex: String = e.commit().iter().map(|b| format!("{b:02x}")).collect();
    let args = format!("ostree=/ostree/deploy/os/deploy/{hex}.0 console=ttyS0 init=/bin/sh");
    let mut buf = [0u8; 1024];
    assert_eq!(
        cmdline::build(&e, &args, &["console="], &mut buf),
        Err(cmdline::CmdlineError::NotAllowed("init=/bin/sh"))
    );
    let ok = format!("ostree=/ostree/deploy/os/deploy/{hex}.0 console=ttyS0");
    let _ = cmdline::build(&e, &ok, &["console="], &mut buf);
    for role in [Role::Kernel, Role::Ramdisk, Role::Fdt] {
        if let Some(f) = e.file(role) {
            let _ = f.verify(f.header());
        }
    }
});
