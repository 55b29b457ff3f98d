//! Request timestamps: ISO 8601 basic (`20150830T123600Z`) and HTTP `Date` (IMF-fixdate).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Allowed distance between the request time and the server clock.
pub(crate) const MAX_SKEW_SECONDS: i64 = 15 * 60;

fn digits<T: std::str::FromStr>(s: &str, range: std::ops::Range<usize>) -> Option<T> {
    let part = s.get(range)?;
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn to_unix(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<i64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Parses `yyyymmddTHHMMSSZ` into unix seconds.
pub(crate) fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || s.get(8..9) != Some("T") || s.get(15..16) != Some("Z") {
        return None;
    }
    to_unix(
        digits(s, 0..4)?,
        digits(s, 4..6)?,
        digits(s, 6..8)?,
        digits(s, 9..11)?,
        digits(s, 11..13)?,
        digits(s, 13..15)?,
    )
}

/// Checks a credential-scope date `yyyymmdd`.
pub(crate) fn is_scope_date(s: &str) -> bool {
    s.len() == 8
        && matches!(
            (digits::<i32>(s, 0..4), digits::<u8>(s, 4..6), digits::<u8>(s, 6..8)),
            (Some(y), Some(m), Some(d)) if to_unix(y, m, d, 0, 0, 0).is_some()
        )
}

/// Parses an HTTP date in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let clock = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)?;
    let month = u8::try_from(month + 1).ok()?;
    if clock.len() != 8 || clock.get(2..3) != Some(":") || clock.get(5..6) != Some(":") {
        return None;
    }
    if year.len() != 4 || day.len() > 2 {
        return None;
    }
    to_unix(
        digits(year, 0..4)?,
        month,
        digits(day, 0..day.len())?,
        digits(clock, 0..2)?,
        digits(clock, 3..5)?,
        digits(clock, 6..8)?,
    )
}

/// Formats unix seconds as `yyyymmddTHHMMSSZ` (out-of-range input gives the epoch).
pub(crate) fn format_amz_date(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Checks the request time against the server clock (±15 minutes), with AWS's messages.
pub(crate) fn check_skew(
    request_unix: i64,
    amz_date: &str,
    now_unix: i64,
) -> Result<(), crate::SigV4Error> {
    let earliest = now_unix.saturating_sub(MAX_SKEW_SECONDS);
    let latest = now_unix.saturating_add(MAX_SKEW_SECONDS);
    if request_unix < earliest {
        return Err(crate::SigV4Error::RequestExpired(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(earliest),
            format_amz_date(now_unix)
        )));
    }
    if request_unix > latest {
        return Err(crate::SigV4Error::RequestExpired(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(latest),
            format_amz_date(now_unix)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("20150830T123600"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
        assert_eq!(parse_amz_date("2015083OT123600Z"), None);
        assert_eq!(parse_amz_date("+0150830T123600Z"), None);
        assert_eq!(parse_amz_date("2015083ሴ123600Z"), None);
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn scope_date() {
        assert!(is_scope_date("20150830"));
        assert!(!is_scope_date("20150230"));
        assert!(!is_scope_date("2015083"));
    }

    #[test]
    fn skew_messages() {
        let now = parse_amz_date("20260820T123100Z").unwrap();
        let req = parse_amz_date("20260820T120000Z").unwrap();
        let err = check_skew(req, "20260820T120000Z", now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Signature expired: 20260820T120000Z is now earlier than 20260820T121600Z (20260820T123100Z - 15 min.)"
        );
        let req = parse_amz_date("20260820T124700Z").unwrap();
        let err = check_skew(req, "20260820T124700Z", now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Signature not yet current: 20260820T124700Z is still later than 20260820T124600Z (20260820T123100Z + 15 min.)"
        );
        assert!(check_skew(now - 900, "x", now).is_ok());
        assert!(check_skew(now + 900, "x", now).is_ok());
        assert!(check_skew(now - 901, "x", now).is_err());
        assert!(check_skew(now + 901, "x", now).is_err());
    }
}
