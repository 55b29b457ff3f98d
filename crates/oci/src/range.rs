//! Byte ranges as the distribution spec writes them: `<start>-<end>`, inclusive.

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
}
