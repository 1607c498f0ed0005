use proptest::prelude::*;
use uenv::env_block::*;

fn block(size: usize, header: Header, vars: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0xaau8; size];
    write(
        &mut out,
        header,
        vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
    )
    .unwrap();
    out
}

#[test]
fn single_layout_bytes_are_exactly_u_boots() {
    let out = block(32, Header::Single, &[("a", "1"), ("bc", "")]);
    // crc32 LE + "a=1\0bc=\0" + "\0" + zero padding
    let data = &out[4..];
    assert_eq!(&data[..9], b"a=1\0bc=\0\0");
    assert!(data[9..].iter().all(|&b| b == 0));
    assert_eq!(
        u32::from_le_bytes(out[..4].try_into().unwrap()),
        uenv::crc32(data)
    );
    let env = read_single(&out).unwrap();
    assert_eq!(env.get(b"a"), Some(&b"1"[..]));
    assert_eq!(env.get(b"bc"), Some(&b""[..]));
    assert_eq!(env.get(b"x"), None);
    assert_eq!(env.vars().count(), 2);
}

#[test]
fn redundant_layout_carries_flags() {
    let out = block(64, Header::Redundant { flags: 7 }, &[("bootcount", "2")]);
    assert_eq!(out[4], 7);
    assert_eq!(
        u32::from_le_bytes(out[..4].try_into().unwrap()),
        uenv::crc32(&out[5..])
    );
    let (env, flags) = read(&out, Layout::Redundant).unwrap();
    assert_eq!(flags, Some(7));
    assert_eq!(env.get_str("bootcount"), Some("2"));
}

#[test]
fn reading_tolerates_ff_padding_and_entries_without_equals() {
    // mkenvimage pads with 0xff; an entry without '=' is skipped; a later duplicate wins.
    let mut data = b"x=1\0junk\0x=2\0\0".to_vec();
    data.resize(60, 0xff);
    let mut out = uenv::crc32(&data).to_le_bytes().to_vec();
    out.extend_from_slice(&data);
    let env = read_single(&out).unwrap();
    assert_eq!(env.get(b"x"), Some(&b"2"[..]));
    assert_eq!(env.vars().count(), 2);
}

#[test]
fn errors_name_the_problem() {
    assert_eq!(read_single(b"abcd"), Err(EnvError::TooSmall { len: 4 }));
    let mut out = block(32, Header::Single, &[("a", "1")]);
    out[6] ^= 1;
    assert!(matches!(
        read_single(&out),
        Err(EnvError::CrcMismatch { .. })
    ));
    // An entry without NUL up to the end (CRC fine).
    let data = b"a=1234567".to_vec();
    let mut out = uenv::crc32(&data).to_le_bytes().to_vec();
    out.extend_from_slice(&data);
    assert_eq!(read_single(&out), Err(EnvError::Unterminated { offset: 4 }));

    let mut small = [0u8; 10];
    let err = write(&mut small, Header::Single, [(&b"name"[..], &b"value"[..])]).unwrap_err();
    assert_eq!(
        err,
        EnvError::Full {
            needed: 12,
            available: 6
        }
    );
    assert_eq!(
        write(&mut [0u8; 64], Header::Single, [(&b"a=b"[..], &b"c"[..])]),
        Err(EnvError::BadName)
    );
    assert_eq!(
        write(&mut [0u8; 64], Header::Single, [(&b""[..], &b"c"[..])]),
        Err(EnvError::BadName)
    );
    assert_eq!(
        write(&mut [0u8; 64], Header::Single, [(&b"a"[..], &b"c\0"[..])]),
        Err(EnvError::BadValue)
    );
    assert!(!EnvError::Full {
        needed: 1,
        available: 0
    }
    .to_string()
    .is_empty());
}

#[test]
fn exact_fit_is_accepted() {
    // data area of 6 bytes: "a=1\0" + terminator = 5 bytes
    let out = block(4 + 5, Header::Single, &[("a", "1")]);
    assert_eq!(read_single(&out).unwrap().get(b"a"), Some(&b"1"[..]));
}

#[test]
fn redundant_selection_follows_u_boot() {
    let a = |flags, v: &str| block(64, Header::Redundant { flags }, &[("v", v)]);
    let pick = |x: &[u8], y: &[u8], s| {
        let c = read_redundant(Some(x), Some(y), s).unwrap();
        (c.which, c.block.get_str("v").unwrap().to_string())
    };
    use FlagScheme::*;
    assert_eq!(
        pick(&a(1, "x"), &a(2, "y"), Incrementing),
        (Which::Second, "y".into())
    );
    assert_eq!(
        pick(&a(2, "x"), &a(1, "y"), Incrementing),
        (Which::First, "x".into())
    );
    assert_eq!(
        pick(&a(255, "x"), &a(0, "y"), Incrementing),
        (Which::Second, "y".into())
    );
    assert_eq!(
        pick(&a(0, "x"), &a(255, "y"), Incrementing),
        (Which::First, "x".into())
    );
    assert_eq!(
        pick(&a(3, "x"), &a(3, "y"), Incrementing),
        (Which::First, "x".into())
    );
    assert_eq!(
        pick(&a(1, "x"), &a(0, "y"), Boolean),
        (Which::First, "x".into())
    );
    assert_eq!(
        pick(&a(0, "x"), &a(1, "y"), Boolean),
        (Which::Second, "y".into())
    );
    assert_eq!(
        pick(&a(1, "x"), &a(255, "y"), Boolean),
        (Which::Second, "y".into())
    );

    let good = a(9, "g");
    let mut torn = a(10, "t");
    torn[20] ^= 0xff;
    let c = read_redundant(Some(&torn), Some(&good), Incrementing).unwrap();
    assert_eq!(c.which, Which::Second);
    assert!(matches!(c.other, Err(EnvError::CrcMismatch { .. })));
    assert_eq!(c.next_write(Incrementing), (Which::First, 10));
    let c = read_redundant(Some(&good), None, Incrementing).unwrap();
    assert_eq!((c.which, c.other), (Which::First, Err(EnvError::Missing)));
    assert_eq!(c.next_write(Incrementing), (Which::Second, 10));
    let e = read_redundant(Some(&torn), None, Incrementing).unwrap_err();
    assert_eq!(e.second, EnvError::Missing);
    assert!(e
        .to_string()
        .contains("both environment copies are invalid"));
}

#[test]
fn power_cut_while_writing_the_other_copy_keeps_the_old_values() {
    let scheme = FlagScheme::Incrementing;
    let first = block(
        256,
        Header::Redundant { flags: 4 },
        &[("bootcount", "0"), ("upgrade_available", "1")],
    );
    let second = block(256, Header::Redundant { flags: 3 }, &[("bootcount", "5")]);
    let chosen = read_redundant(Some(&first), Some(&second), scheme).unwrap();
    let (target, flags) = chosen.next_write(scheme);
    assert_eq!((target, flags), (Which::Second, 5));
    let new = block(
        256,
        Header::Redundant { flags },
        &[("bootcount", "1"), ("upgrade_available", "1")],
    );
    for cut in 0..=new.len() {
        let mut disk = second.clone();
        disk[..cut].copy_from_slice(&new[..cut]);
        let c = read_redundant(Some(&first), Some(&disk), scheme).unwrap();
        let count = c.block.get_str("bootcount").unwrap();
        // Old or new, never an error and never a mixture: the CRC only matches once every byte that
        // differs between the two blocks has landed.
        let differs_after_cut = new[cut..] != second[cut..];
        if differs_after_cut {
            assert_eq!((c.which, count), (Which::First, "0"), "cut {cut}");
        } else {
            assert_eq!((c.which, count), (Which::Second, "1"), "cut {cut}");
        }
    }
}

#[test]
fn malformed_corpus_is_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/env_block");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        // Each named input is refused for its own reason, in both layouts.
        // (unterminated_entry is a valid single-layout CRC over an unterminated entry: read as a redundant
        // copy, its header is one byte longer and the CRC no longer matches.)
        let expected = |e: &EnvError, layout: Layout| match name.as_str() {
            "empty" | "shorter_than_header" => matches!(e, EnvError::TooSmall { .. }),
            "erased_flash" | "random_4k" | "zero_crc" => matches!(e, EnvError::CrcMismatch { .. }),
            "unterminated_entry" if layout == Layout::Single => {
                matches!(e, EnvError::Unterminated { .. })
            }
            "unterminated_entry" => matches!(e, EnvError::CrcMismatch { .. }),
            other => panic!("malformed input {other} has no expected error: add it here"),
        };
        let single = read_single(&bytes).map(|_| ()).unwrap_err();
        assert!(
            expected(&single, Layout::Single),
            "{name} (single): {single:?}"
        );
        let redundant = read(&bytes, Layout::Redundant).map(|_| ()).unwrap_err();
        assert!(
            expected(&redundant, Layout::Redundant),
            "{name} (redundant): {redundant:?}"
        );
        n += 1;
    }
    assert!(n >= 6);
}

proptest! {
    #[test]
    fn write_then_read_round_trips(
        vars in proptest::collection::btree_map("[A-Za-z0-9_.]{1,16}", "[ -~]{0,40}", 0..20),
        redundant in any::<bool>(), flags in any::<u8>(), extra in 0usize..64,
    ) {
        let needed: usize = vars.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>() + 1;
        let (header, layout) = if redundant { (Header::Redundant { flags }, Layout::Redundant) } else { (Header::Single, Layout::Single) };
        let size = layout.header_len() + needed + extra;
        let mut out = vec![0u8; size];
        write(&mut out, header, vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))).unwrap();
        let (env, got_flags) = read(&out, layout).unwrap();
        prop_assert_eq!(got_flags, redundant.then_some(flags));
        let back: Vec<(Vec<u8>, Vec<u8>)> = env.vars().map(|v| (v.name.to_vec(), v.value.to_vec())).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = vars.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
        prop_assert_eq!(back, want);
        // One byte less than needed is refused.
        let mut short = vec![0u8; layout.header_len() + needed - 1];
        let full = write(&mut short, header, vars.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        prop_assert!(matches!(full, Err(EnvError::Full { .. } | EnvError::TooSmall { .. })), "{:?}", full);
    }

    #[test]
    fn arbitrary_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..600), b in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(env) = read_single(&a) { let _ = env.vars().count(); let _ = env.get(b"bootcount"); }
        let _ = read_redundant(Some(&a), Some(&b), FlagScheme::Incrementing);
        let _ = read_redundant(Some(&a), Some(&b), FlagScheme::Boolean);
    }

    #[test]
    fn valid_crc_with_arbitrary_data_never_panics(data in proptest::collection::vec(any::<u8>(), 1..600)) {
        let mut out = uenv::crc32(&data).to_le_bytes().to_vec();
        out.extend_from_slice(&data);
        if let Ok(env) = read_single(&out) {
            for v in env.vars() { prop_assert!(!v.name.is_empty() && !v.name.contains(&b'=')); }
        }
    }
}
