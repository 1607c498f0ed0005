use proptest::prelude::*;
use uenv::env_block::Layout;
use uenv::fw_env_config::*;

#[test]
fn redundant_config_with_comments() {
    let text = "# Device  offset  size\n\n/boot/uboot.env 0x0 0x4000\n\t # indented comment\n/boot/uboot-redund.env\t0 4000 # trailing\n";
    let c = parse(text).unwrap();
    assert_eq!(
        c.first,
        EnvDevice {
            path: "/boot/uboot.env",
            offset: 0,
            size: 0x4000,
            sector_size: None,
            sectors: None
        }
    );
    assert_eq!(c.second.unwrap().path, "/boot/uboot-redund.env");
    assert_eq!(c.second.unwrap().size, 0x4000);
    assert_eq!(c.layout(), Layout::Redundant);
}

#[test]
fn single_config_with_sector_fields_and_negative_offset() {
    let c = parse("/dev/mmcblk0 -0x20000 0x20000 0x20000 1\n").unwrap();
    assert_eq!(c.first.offset, -0x20000);
    assert_eq!(c.first.sector_size, Some(0x20000));
    assert_eq!(c.first.sectors, Some(1));
    assert_eq!(c.second, None);
    assert_eq!(c.layout(), Layout::Single);
    assert_eq!(
        parse("/dev/mtd1 393216 40000").unwrap().first.offset,
        393216
    );
    assert_eq!(parse("/dev/mtd1 0600 40000").unwrap().first.offset, 0o600);
}

#[test]
fn errors_name_the_line() {
    let cases = [
        ("", 0, ConfigErrorKind::NoDevice),
        ("# only comments\n", 0, ConfigErrorKind::NoDevice),
        ("/dev/x 0x0\n", 1, ConfigErrorKind::TooFewFields),
        ("#\n/dev/x zero 0x4000\n", 2, ConfigErrorKind::BadOffset),
        ("/dev/x 0 16k\n", 1, ConfigErrorKind::BadSize),
        ("/dev/x 0 0\n", 1, ConfigErrorKind::ZeroSize),
        (
            "/a 0 4000\n/b 0 4000\n/c 0 4000\n",
            3,
            ConfigErrorKind::TooManyDevices,
        ),
        ("/a 0 4000\n/b 0 2000\n", 2, ConfigErrorKind::SizeMismatch),
        ("/a 0 4000 x\n", 1, ConfigErrorKind::BadSize),
    ];
    for (text, line, kind) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!((e.line, e.kind), (line, kind), "{text:?}");
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #[test]
    fn never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn round_trips_numbers(path in "/[a-z/]{1,30}", offset in any::<i32>(), size in 1u32.., hex_prefix in any::<bool>()) {
        let size_text = if hex_prefix { format!("{size:#x}") } else { format!("{size:x}") };
        let offset_text = if offset < 0 { format!("-{:#x}", offset.unsigned_abs()) } else { offset.to_string() };
        let text = format!("{path} {offset_text} {size_text}\n");
        let c = parse(&text).unwrap();
        prop_assert_eq!(c.first.offset, i64::from(offset));
        prop_assert_eq!(c.first.size, u64::from(size));
    }
}
