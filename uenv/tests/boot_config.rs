use proptest::prelude::*;
use uenv::boot_config::*;

fn file(path: &'static str, fill: u8, size: u32) -> BootFile<'static> {
    BootFile {
        path,
        sha256: [fill; 32],
        size,
    }
}

fn sample(generation: u64, with_fallback: bool) -> BootConfig<'static> {
    BootConfig {
        generation,
        primary: Entry {
            kernel: file("/ostree/debian-aa/vmlinuz", 1, 5_242_880),
            ramdisk: Some(file("/ostree/debian-aa/initramfs.img", 2, 1_000)),
            fdt: Some(file("/ostree/debian-aa/am335x-boneblack.dtb", 3, 60_000)),
            bootargs: "ostree=/ostree/boot.1/debian/aa/0 console=ttyS0,115200 root=/dev/mmcblk0p2",
            proof: Some("/ostree/debian-aa/proof-0123456789abcdef"),
        },
        fallback: with_fallback.then_some(Entry {
            kernel: file("/ostree/debian-bb/vmlinuz", 4, 5_000_000),
            ramdisk: Some(file("/ostree/debian-bb/initramfs.img", 5, 999)),
            fdt: None,
            bootargs: "ostree=/ostree/boot.1/debian/bb/1",
            proof: None,
        }),
    }
}

fn rendered(config: &BootConfig<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; LOADER_FILE_SIZE];
    render_padded(config, &mut buf).expect("render");
    buf
}

#[test]
fn renders_the_documented_text() {
    let buf = rendered(&sample(7, true));
    let text = String::from_utf8(buf.clone()).unwrap();
    assert!(text.starts_with("# atomboot boot configuration"));
    for line in [
        "\natomboot_format=1\n",
        "\natomboot_generation=7\n",
        "\nkernel_image=/ostree/debian-aa/vmlinuz\n",
        "\nkernel_image_sha256=0101010101010101010101010101010101010101010101010101010101010101\n",
        "\nkernel_image_size=5242880\n",
        "\nramdisk_image=/ostree/debian-aa/initramfs.img\n",
        "\nfdt_file=/ostree/debian-aa/am335x-boneblack.dtb\n",
        "\nbootargs=ostree=/ostree/boot.1/debian/aa/0 console=ttyS0,115200 root=/dev/mmcblk0p2\n",
        "\nkernel_image2=/ostree/debian-bb/vmlinuz\n",
        "\nramdisk_image2_size=999\n",
        "\nbootargs2=ostree=/ostree/boot.1/debian/bb/1\n",
        "\natomboot_proof=/ostree/debian-aa/proof-0123456789abcdef\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("fdt_file2"));
    assert!(!text.contains("atomboot_proof2"));
    assert_eq!(buf.len(), LOADER_FILE_SIZE);
    assert!(text.ends_with("###\n"));
    // The trailer is the CRC-32 of everything above its line.
    let trailer = text.find("atomboot_crc32=").unwrap();
    let crc = uenv::crc32(&buf[..trailer]);
    assert!(text.contains(&format!("atomboot_crc32={crc:08x}\n")));
}

#[test]
fn round_trips_with_and_without_fallback_and_optional_files() {
    let mut minimal = sample(1, false);
    minimal.primary.ramdisk = None;
    minimal.primary.fdt = None;
    for config in [sample(1, false), sample(u64::MAX, true), minimal] {
        let buf = rendered(&config);
        assert_eq!(parse(&buf), Ok(config));
        // Unpadded output parses too.
        let mut raw = vec![0u8; LOADER_FILE_SIZE];
        let len = render(&config, &mut raw).unwrap();
        assert_eq!(parse(&raw[..len]), Ok(config));
    }
}

#[test]
fn render_refuses_what_would_not_parse() {
    let mut c = sample(1, false);
    c.primary.bootargs = "a\nkernel_image=/evil";
    assert!(matches!(
        render(&c, &mut [0u8; 4096]),
        Err(RenderError::Invalid {
            key: "bootargs",
            ..
        })
    ));
    let mut c = sample(1, false);
    c.primary.kernel.path = "relative/vmlinuz";
    assert!(matches!(
        render(&c, &mut [0u8; 4096]),
        Err(RenderError::Invalid {
            key: "kernel_image",
            ..
        })
    ));
    let mut c = sample(1, false);
    c.primary.proof = Some("/ostree/a b");
    assert!(matches!(
        render(&c, &mut [0u8; 4096]),
        Err(RenderError::Invalid {
            key: "atomboot_proof",
            ..
        })
    ));
    assert_eq!(
        render(&sample(1, true), &mut [0u8; 200]),
        Err(RenderError::TooLarge)
    );
}

/// Re-signs a hand-edited body so that the content checks are reached.
fn with_trailer(body: &str) -> Vec<u8> {
    let mut out = body.as_bytes().to_vec();
    out.extend_from_slice(
        format!("atomboot_crc32={:08x}\n", uenv::crc32(body.as_bytes())).as_bytes(),
    );
    out
}

fn body_of(config: &BootConfig<'_>) -> String {
    let text = String::from_utf8(rendered(config)).unwrap();
    let end = text.find("atomboot_crc32=").unwrap();
    text[..end].to_string()
}

#[test]
fn malformed_inputs_name_line_and_problem() {
    let good = body_of(&sample(3, true));
    let cases: Vec<(String, ParseErrorKind, u32)> = vec![
        (
            good.replace("atomboot_format=1", "atomboot_format=2"),
            ParseErrorKind::UnsupportedFormat { found: 2 },
            2,
        ),
        (
            good.replace("atomboot_generation=3\n", ""),
            ParseErrorKind::Missing {
                key: "atomboot_generation",
            },
            0,
        ),
        (
            good.replace("atomboot_generation=3", "atomboot_generation=-3"),
            ParseErrorKind::BadValue(ValueError::BadNumber),
            3,
        ),
        (
            good.replace("bootargs2=", "bootargz="),
            ParseErrorKind::UnknownKey,
            0,
        ),
        (
            format!("{good}kernel_image=/x\n"),
            ParseErrorKind::DuplicateKey,
            0,
        ),
        (
            good.replace("kernel_image_size=5242880\n", ""),
            ParseErrorKind::Incomplete {
                key: "kernel_image",
            },
            4,
        ),
        (
            good.replace("kernel_image_size=5242880", "kernel_image_size=4294967296"),
            ParseErrorKind::BadValue(ValueError::BadNumber),
            6,
        ),
        (
            good.replace("kernel_image=/ostree", "kernel_image=ostree"),
            ParseErrorKind::BadValue(ValueError::BadPath),
            4,
        ),
        (
            good.replace("kernel_image_sha256=01", "kernel_image_sha256=0g"),
            ParseErrorKind::BadValue(ValueError::BadDigest),
            5,
        ),
        (
            good.replace("atomboot_generation=3\n", "atomboot_generation=3\n\n"),
            ParseErrorKind::EmptyLine,
            4,
        ),
        (
            good.replace(
                "atomboot_generation=3\n",
                "atomboot_generation=3\nnonsense\n",
            ),
            ParseErrorKind::MissingEquals,
            4,
        ),
        (
            good.replace("atomboot_proof=/ostree", "atomboot_proof=ostree"),
            ParseErrorKind::BadValue(ValueError::BadPath),
            0,
        ),
        (
            format!("{good}atomboot_proof=/x\n"),
            ParseErrorKind::DuplicateKey,
            0,
        ),
        (
            // A proof for a fallback entry that is not there.
            format!("{}atomboot_proof2=/p\n", body_of(&sample(3, false))),
            ParseErrorKind::Incomplete {
                key: "kernel_image2",
            },
            0,
        ),
        (
            good.replace("bootargs2=ostree", "bootargs2=os\rtree"),
            ParseErrorKind::BadValue(ValueError::ControlCharacter),
            0,
        ),
    ];
    for (body, kind, line) in cases {
        let err = parse(&with_trailer(&body)).expect_err(&body);
        assert_eq!(err.kind, kind, "{body}");
        if line > 0 {
            assert_eq!(err.line, line, "{body}");
        }
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn torn_and_foreign_files_are_invalid() {
    let buf = rendered(&sample(9, true));
    let trailer = buf
        .windows(15)
        .position(|w| w == b"atomboot_crc32=")
        .unwrap();
    // Every prefix that ends before the trailer's newline lacks a complete trailer.
    for cut in [0, 1, 100, trailer, trailer + 10, trailer + 22] {
        let err = parse(&buf[..cut]).unwrap_err();
        assert!(
            matches!(
                err.kind,
                ParseErrorKind::NoTrailer | ParseErrorKind::BadTrailer
            ),
            "cut {cut}: {err}"
        );
    }
    // A copy where new text was written over old text up to some point (a torn in-place overwrite).
    let old = rendered(&sample(8, false));
    for cut in (1..trailer).step_by(37) {
        let mut mixed = old.clone();
        mixed[..cut].copy_from_slice(&buf[..cut]);
        if mixed == old {
            continue;
        }
        let kind = parse(&mixed).map(|_| ()).unwrap_err().kind;
        // Refused by the integrity check: the CRC over the text, or no whole trailer line left.
        assert!(
            matches!(
                kind,
                ParseErrorKind::ChecksumMismatch { .. } | ParseErrorKind::NoTrailer
            ),
            "torn at {cut}: {kind:?}"
        );
    }
    assert_eq!(
        parse(b"kernel_image=/boot/vmlinuz\n").unwrap_err().kind,
        ParseErrorKind::NoTrailer
    );
    let huge = vec![b'#'; MAX_LOADER_FILE_SIZE + 1];
    assert!(matches!(
        parse(&huge).unwrap_err().kind,
        ParseErrorKind::TooLarge { .. }
    ));
    let mut flipped = buf.clone();
    flipped[200] ^= 0x01;
    assert!(matches!(
        parse(&flipped).unwrap_err().kind,
        ParseErrorKind::ChecksumMismatch { .. } | ParseErrorKind::NoTrailer
    ));
}

#[test]
fn selection_matrix() {
    let g5 = rendered(&sample(5, false));
    let g6 = rendered(&sample(6, true));
    let torn = &g6[..300];
    let garbage = [0xffu8; 4096];

    let s = select(Some(&g5), Some(&g6)).unwrap();
    assert_eq!(
        (s.copy, s.config.generation, s.other),
        (LoaderCopy::One, 6, OtherCopy::Older { generation: 5 })
    );
    let s = select(Some(&g6), Some(&g5)).unwrap();
    assert_eq!((s.copy, s.config.generation), (LoaderCopy::Zero, 6));
    let s = select(Some(&g5), Some(&g5)).unwrap();
    assert_eq!(
        (s.copy, s.other),
        (LoaderCopy::Zero, OtherCopy::SameGeneration)
    );
    let s = select(Some(torn), Some(&g5)).unwrap();
    assert_eq!(s.copy, LoaderCopy::One);
    assert!(matches!(s.other, OtherCopy::Invalid(_)));
    let s = select(Some(&g5), None).unwrap();
    assert_eq!((s.copy, s.other), (LoaderCopy::Zero, OtherCopy::Missing));
    let s = select(None, Some(&garbage[..]).filter(|_| false).or(Some(&g6))).unwrap();
    assert_eq!(s.copy, LoaderCopy::One);

    let e = select(Some(torn), Some(&garbage)).unwrap_err();
    assert!(
        matches!(e.copy0, CopyProblem::Invalid(_)) && matches!(e.copy1, CopyProblem::Invalid(_))
    );
    let e = select(None, None).unwrap_err();
    assert_eq!(
        (e.copy0, e.copy1),
        (CopyProblem::Missing, CopyProblem::Missing)
    );
    let msg = select(None, Some(&garbage)).unwrap_err().to_string();
    assert!(
        msg.contains("loader.0/uEnv.txt missing") && msg.contains("loader.1/uEnv.txt invalid"),
        "{msg}"
    );
}

#[test]
fn writes_go_to_the_copy_not_in_use() {
    let g5 = rendered(&sample(5, false));
    let g6 = rendered(&sample(6, false));
    assert_eq!(
        plan_write(None, None),
        Ok(WritePlan {
            copy: LoaderCopy::Zero,
            generation: 1
        })
    );
    assert_eq!(
        plan_write(Some(&g5), Some(&g6)),
        Ok(WritePlan {
            copy: LoaderCopy::Zero,
            generation: 7
        })
    );
    assert_eq!(
        plan_write(Some(&g6), Some(&g5)),
        Ok(WritePlan {
            copy: LoaderCopy::One,
            generation: 7
        })
    );
    assert_eq!(
        plan_write(Some(b"junk"), Some(&g5)),
        Ok(WritePlan {
            copy: LoaderCopy::Zero,
            generation: 6
        })
    );
    let max = rendered(&sample(u64::MAX, false));
    assert_eq!(plan_write(Some(&max), None), Err(GenerationExhausted));
}

#[test]
fn simulated_power_cut_during_a_write_always_leaves_a_bootable_copy() {
    // Copy 0 holds generation 1; the deployer writes generation 2 into copy 1 in place, over an old
    // generation-0 copy. Cut after every byte: selection must give generation 1 or 2, never an error.
    let g0 = rendered(&sample(0, false));
    let g1 = rendered(&sample(1, true));
    let plan = plan_write(Some(&g1), Some(&g0)).unwrap();
    assert_eq!(plan.copy, LoaderCopy::One);
    let mut next = sample(plan.generation, true);
    next.primary.bootargs = "ostree=/ostree/boot.0/debian/cc/0";
    let g2 = rendered(&next);
    for cut in 0..=g2.len() {
        let mut disk1 = g0.clone();
        disk1[..cut].copy_from_slice(&g2[..cut]);
        let s = select(Some(&g1), Some(&disk1)).expect("a valid copy must remain");
        assert!(
            s.config.generation == 1 || s.config.generation == 2,
            "cut {cut}"
        );
        if s.config.generation == 2 {
            assert_eq!(s.config, next);
        }
    }
}

#[test]
fn malformed_corpus_never_parses_and_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/uenv_txt");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let kind = parse(&bytes).map(|_| ()).unwrap_err().kind;
        // Each named input is refused for its own reason.
        let ok = match name.as_str() {
            "bad_trailer" => kind == ParseErrorKind::BadTrailer,
            "empty" | "ostree_plain_no_trailer" | "trailer_without_newline" | "random_bytes" => {
                kind == ParseErrorKind::NoTrailer
            }
            "no_entry" => matches!(kind, ParseErrorKind::Missing { .. }),
            "not_utf8" => kind == ParseErrorKind::NotUtf8,
            "wrong_crc" => matches!(kind, ParseErrorKind::ChecksumMismatch { .. }),
            other => panic!("malformed input {other} has no expected error: add it here"),
        };
        assert!(ok, "{name}: {kind:?}");
        n += 1;
    }
    assert!(n >= 5, "corpus in {} has only {n} files", dir.display());
}

fn arb_path() -> impl Strategy<Value = String> {
    proptest::collection::vec("[A-Za-z0-9_.-]{1,20}", 1..5).prop_filter_map(
        "no dot segments",
        |parts| {
            if parts.iter().any(|p| p == "." || p == "..") {
                None
            } else {
                Some(format!("/{}", parts.join("/")))
            }
        },
    )
}

fn arb_file() -> impl Strategy<Value = (String, [u8; 32], u32)> {
    (arb_path(), any::<[u8; 32]>(), any::<u32>())
}

type ArbEntry = (
    (String, [u8; 32], u32),
    Option<(String, [u8; 32], u32)>,
    Option<(String, [u8; 32], u32)>,
    String,
);

fn arb_entry() -> impl Strategy<Value = ArbEntry> {
    (
        arb_file(),
        proptest::option::of(arb_file()),
        proptest::option::of(arb_file()),
        "[ -~]{0,300}",
    )
}

fn to_file(f: &(String, [u8; 32], u32)) -> BootFile<'_> {
    BootFile {
        path: &f.0,
        sha256: f.1,
        size: f.2,
    }
}

fn to_entry(e: &ArbEntry) -> Entry<'_> {
    Entry {
        kernel: to_file(&e.0),
        ramdisk: e.1.as_ref().map(to_file),
        fdt: e.2.as_ref().map(to_file),
        bootargs: &e.3,
        proof: None,
    }
}

proptest! {
    #[test]
    fn any_valid_config_round_trips(generation in any::<u64>(), primary in arb_entry(), fallback in proptest::option::of(arb_entry())) {
        let config = BootConfig { generation, primary: to_entry(&primary), fallback: fallback.as_ref().map(to_entry) };
        let mut buf = vec![0u8; LOADER_FILE_SIZE];
        render_padded(&config, &mut buf).unwrap();
        prop_assert_eq!(parse(&buf), Ok(config));
    }

    #[test]
    fn arbitrary_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..2048), b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&a);
        let _ = select(Some(&a), Some(&b));
        let _ = plan_write(Some(&a), None);
    }

    #[test]
    fn mutated_copies_are_never_selected_with_wrong_content(pos in 0usize..LOADER_FILE_SIZE, bit in 0u8..8) {
        let config = sample(4, true);
        let good = rendered(&config);
        let mut bad = good.clone();
        bad[pos] ^= 1 << bit;
        // Either the mutation is in the padding (same config) or the copy is refused.
        if let Ok(c) = parse(&bad) {
            prop_assert_eq!(c, config);
        }
    }
}
