//! UTC timestamps: parse `--timestamp` values and format dates as `ostree log` does, with `chrono` (calendar
//! rules, leap years and offsets are its job, not ours).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Parses the timestamps `ostree commit --timestamp` takes: `@SECONDS`, ISO 8601 / RFC 3339
/// (`YYYY-MM-DDTHH:MM:SS` with `Z`, `+HH:MM`, `-HH:MM` or no zone, which is UTC; a space may stand for `T`),
/// the same followed by ` UTC`, and a date alone (midnight UTC). Impossible dates (`2021-02-31`) and times
/// are refused; a time before 1970 is refused (commit timestamps are unsigned).
pub fn parse_timestamp(s: &str) -> Option<u64> {
    if let Some(n) = s.strip_prefix('@') {
        return n.parse().ok();
    }
    let s = s.trim();
    let unix = if let Ok(t) = DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)) {
        t.timestamp()
    } else if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z") {
        t.timestamp()
    } else {
        let naive = s
            .strip_suffix(" UTC")
            .or_else(|| s.strip_suffix('Z'))
            .unwrap_or(s);
        let formats = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"];
        match formats
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        {
            Some(t) => t.and_utc().timestamp(),
            None => NaiveDate::parse_from_str(naive, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)?
                .and_utc()
                .timestamp(),
        }
    };
    u64::try_from(unix).ok()
}

/// `YYYY-MM-DD HH:MM:SS +0000`, as `ostree log` and `ostree show` print commit dates.
pub fn format_utc(t: u64) -> String {
    match i64::try_from(t)
        .ok()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
    {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S +0000").to_string(),
        None => format!("@{t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_ostree_accepts() {
        assert_eq!(parse_timestamp("2020-01-01T00:00:00Z"), Some(1577836800));
        assert_eq!(parse_timestamp("2020-01-01T00:00:00"), Some(1577836800));
        assert_eq!(parse_timestamp("2020-01-01 00:00:00"), Some(1577836800));
        assert_eq!(parse_timestamp("2020-01-01 00:00:00 UTC"), Some(1577836800));
        assert_eq!(parse_timestamp("2020-01-01"), Some(1577836800));
        assert_eq!(
            parse_timestamp("2020-01-01T01:00:00+01:00"),
            Some(1577836800)
        );
        assert_eq!(
            parse_timestamp("2021-05-06 07:08:09 UTC"),
            parse_timestamp("2021-05-06T07:08:09Z")
        );
        assert_eq!(parse_timestamp("@1577836800"), Some(1577836800));
        assert_eq!(format_utc(1577836800), "2020-01-01 00:00:00 +0000");
    }

    #[test]
    fn impossible_dates_and_garbage_are_refused() {
        assert_eq!(parse_timestamp("2021-02-31T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2021-02-29 00:00:00"), None);
        assert_eq!(parse_timestamp("2020-02-29 00:00:00"), Some(1582934400));
        assert_eq!(parse_timestamp("2021-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2021-01-01T24:00:00Z"), None);
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("@-1"), None);
    }
}
