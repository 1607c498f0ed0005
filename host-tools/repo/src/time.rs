//! UTC timestamps: parse `--timestamp` values and format dates as `ostree log` does.

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[Z|+HH:MM|-HH:MM|+HHMM| UTC]` (space allowed for `T`; no zone = UTC) or
/// `@SECONDS`: the forms ostree's date parser takes that scripts use (`'2021-05-06 07:08:09 UTC'`).
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(n) = s.strip_prefix('@') {
        return n.parse().ok();
    }
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let rest = s.get(19..)?.trim_start();
    let off = match rest {
        "" | "Z" | "UTC" | "GMT" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest.get(1..)?.replace(':', "");
            if hm.len() != 4 {
                return None;
            }
            sign * (hm.get(0..2)?.parse::<i64>().ok()? * 3600
                + hm.get(2..4)?.parse::<i64>().ok()? * 60)
        }
    };
    let t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    u64::try_from(t).ok()
}

/// `YYYY-MM-DD HH:MM:SS +0000`.
pub fn format_utc(t: u64) -> String {
    let t = t as i64;
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        assert_eq!(parse_timestamp("2020-01-01T00:00:00Z"), Some(1577836800));
        assert_eq!(
            parse_timestamp("2020-01-01T01:00:00+01:00"),
            Some(1577836800)
        );
        assert_eq!(format_utc(1577836800), "2020-01-01 00:00:00 +0000");
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2021-05-06 07:08:09 UTC"), Some(1620284889));
        assert_eq!(
            parse_timestamp("2021-05-06 08:08:09 +0100"),
            Some(1620284889)
        );
    }
}
