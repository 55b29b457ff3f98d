//! Byte ranges: the distribution spec's `<start>-<end>` of chunked uploads, and RFC 9110's
//! `Range` of downloads.

/// Parses a `Content-Range` (chunk upload) or `Range` value `start-end`, both ends
/// inclusive, into `(start, end)`.
///
/// Accepted forms: the spec's bare `0-1023`; with an HTTP unit prefix `bytes=0-1023` or
/// `bytes 0-1023`; and RFC 9110's `bytes 0-1023/4096` or `bytes 0-1023/*` (the total is
/// checked for shape and ignored). Surrounding whitespace is ignored. Refused: a missing
/// end, signs, `end < start`, numbers beyond `u64`.
pub fn parse_range(value: &str) -> Option<(u64, u64)> {
    let value = value.trim();
    let (value, unit) = match value
        .strip_prefix("bytes=")
        .or_else(|| value.strip_prefix("bytes "))
    {
        Some(rest) => (rest.trim_start(), true),
        None => (value, false),
    };
    let span = match value.split_once('/') {
        // A `/total` suffix only makes sense in the RFC form, after a unit.
        Some((span, total)) if unit && (total == "*" || is_digits(total)) => span,
        Some(_) => return None,
        None => value,
    };
    let (start, end) = span.split_once('-')?;
    if !is_digits(start) || !is_digits(end) {
        return None;
    }
    let (start, end) = (start.parse::<u64>().ok()?, end.parse::<u64>().ok()?);
    (start <= end).then_some((start, end))
}

/// What a GET's `Range` header asks of a representation of `size` bytes (RFC 9110 §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No range to honour: the whole representation, 200. Also the answer for a unit other
    /// than `bytes`, which a server must ignore (§14.2), for a header that is not a valid
    /// `ranges-specifier`, and for several ranges (which would need multipart/byteranges,
    /// which a server may decline by ignoring the header).
    Full,
    /// Bytes `start..=end`, 206 with `Content-Range: bytes start-end/size`.
    Partial { start: u64, end: u64 },
    /// No byte of the representation is in the range: 416 with
    /// `Content-Range: bytes */size` (§15.5.17).
    Unsatisfiable,
}

/// Reads a `Range` header for a representation of `size` bytes: `bytes=N-M`,
/// `bytes=N-` (from N to the end: containerd resumes downloads this way) and `bytes=-N`
/// (the last N bytes), with the unit compared case-insensitively.
pub fn parse_byte_range(value: &str, size: u64) -> ByteRange {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return ByteRange::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let number = |s: &str| is_digits(s).then(|| s.parse::<u64>().ok()).flatten();
    match (first, last) {
        // A suffix: the last `n` bytes.
        ("", n) => match number(n) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => ByteRange::Full,
        },
        (start, "") => match number(start) {
            Some(start) if start >= size => ByteRange::Unsatisfiable,
            Some(start) => ByteRange::Partial {
                start,
                end: size - 1,
            },
            None => ByteRange::Full,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start > end => ByteRange::Full,
            (Some(start), Some(_)) if start >= size => ByteRange::Unsatisfiable,
            (Some(start), Some(end)) => ByteRange::Partial {
                start,
                end: end.min(size - 1),
            },
            _ => ByteRange::Full,
        },
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let cases: &[(&str, Option<(u64, u64)>)] = &[
            ("0-0", Some((0, 0))),
            ("0-1023", Some((0, 1023))),
            ("1024-2047", Some((1024, 2047))),
            (" 5-9 ", Some((5, 9))),
            ("bytes=0-99", Some((0, 99))),
            ("bytes 0-99", Some((0, 99))),
            ("bytes 0-99/100", Some((0, 99))),
            ("bytes 0-99/*", Some((0, 99))),
            ("0-18446744073709551615", Some((0, u64::MAX))),
            ("0-18446744073709551616", None),
            ("0-99/100", None),
            ("bytes 0-99/x", None),
            ("", None),
            ("-", None),
            ("5-", None),
            ("-5", None),
            ("9-5", None),
            ("+1-5", None),
            ("1-+5", None),
            ("1--5", None),
            ("1-5-7", None),
            ("a-b", None),
            ("bytes=", None),
            ("items=0-5", None),
            ("0 - 5", None),
            ("١-٢", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_range(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn download_ranges_per_rfc_9110() {
        use ByteRange::{Full, Partial, Unsatisfiable};
        let p = |start, end| Partial { start, end };
        let cases: &[(&str, u64, ByteRange)] = &[
            ("bytes=0-99", 1000, p(0, 99)),
            ("bytes=500-", 1000, p(500, 999)),
            ("bytes=-500", 1000, p(500, 999)),
            ("bytes=-5000", 1000, p(0, 999)),
            ("bytes=990-2000", 1000, p(990, 999)),
            ("BYTES = 1-2", 1000, p(1, 2)),
            ("bytes=999-", 1000, p(999, 999)),
            ("bytes=1000-", 1000, Unsatisfiable),
            ("bytes=1000-1001", 1000, Unsatisfiable),
            ("bytes=-0", 1000, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-1", 0, Unsatisfiable),
            ("items=0-5", 1000, Full),
            ("bytes=0-1,5-6", 1000, Full),
            ("bytes=5-1", 1000, Full),
            ("bytes=a-", 1000, Full),
            ("bytes=-", 1000, Full),
            ("bytes=+1-2", 1000, Full),
            ("bytes 0-99", 1000, Full),
            ("0-99", 1000, Full),
            ("", 1000, Full),
            ("bytes=0-18446744073709551616", 1000, Full),
        ];
        for (input, size, expected) in cases {
            assert_eq!(
                parse_byte_range(input, *size),
                *expected,
                "{input:?} of {size}"
            );
        }
    }
}
