//! Detached metadata from a remote (`.commitmeta`, `summary.sig`) through what a pull does with it: parse
//! the `a{sv}`, read the ed25519 signatures, verify them. Arbitrary bytes give a value or an error, never a
//! panic; whatever parses re-serialises to something that parses to the same.
#![no_main]

use atomboot_repo::sign::detached::Detached;
use atomboot_repo::sign::verify::verify;
use atomboot_repo::sign::{PublicKey, Signed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Detached::parse(data) {
        let _ = d.signatures();
        let again = Detached::parse(&d.serialize()).expect("re-serialised dictionary parses");
        assert_eq!(again, d);
    }
    // A fixed, valid public key (RFC 8032 test 1).
    let key = PublicKey::from_base64("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").expect("key");
    let _ = verify(
        &Signed::Commit("fuzz".into()),
        "fuzz",
        b"commit",
        Some(data),
        &[key],
    );
});
