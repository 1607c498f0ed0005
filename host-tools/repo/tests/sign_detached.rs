//! Detached metadata (`.commitmeta`, `summary.sig`) from a remote is outside data: arbitrary bytes give a
//! value or an error, never a panic; signature lists round-trip and match the general GVariant serialiser;
//! the named malformed files in tests/malformed/detached never yield signatures.

use atomboot_repo::gvariant::{self, Type, Value};
use atomboot_repo::sign::detached::Detached;
use atomboot_repo::sign::verify::verify;
use atomboot_repo::sign::{SecretKey, SignError, Signed, METADATA_KEY};
use proptest::prelude::*;

fn reference(sigs: &[Vec<u8>]) -> Vec<u8> {
    let v = Value::Array(vec![Value::DictEntry(
        Box::new(Value::Str(METADATA_KEY.into())),
        Box::new(Value::Variant(
            Type::parse("aay").unwrap(),
            Box::new(Value::Array(
                sigs.iter().map(|s| Value::Bytes(s.clone())).collect(),
            )),
        )),
    )]);
    gvariant::serialize(&Type::parse("a{sv}").unwrap(), &v).unwrap()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(d) = Detached::parse(&b) {
            let _ = d.signatures();
            let again = Detached::parse(&d.serialize()).expect("re-serialised dictionary parses");
            prop_assert_eq!(again, d);
        }
    }

    #[test]
    fn signature_lists_round_trip(sigs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..12)) {
        let mut d = Detached::default();
        d.set_signatures(&sigs);
        let b = d.serialize();
        prop_assert_eq!(&b, &reference(&sigs));
        prop_assert_eq!(Detached::parse(&b).unwrap().signatures().unwrap().unwrap(), sigs);
    }
}

#[test]
fn malformed_corpus_never_yields_signatures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/detached");
    let key = SecretKey::generate().unwrap().public();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let b = std::fs::read(&p).unwrap();
        let sigs = Detached::parse(&b).and_then(|d| d.signatures());
        assert!(
            !matches!(sigs, Ok(Some(_))),
            "{}: parsed signatures",
            p.display()
        );
        match verify(
            &Signed::Commit("c".into()),
            "test",
            b"data",
            Some(&b),
            std::slice::from_ref(&key),
        ) {
            Err(SignError::BadMetadata { .. }) | Err(SignError::NoSignatures { .. }) => {}
            other => panic!("{}: {other:?}", p.display()),
        }
        n += 1;
    }
    assert!(n >= 10, "only {n} malformed files");
}
