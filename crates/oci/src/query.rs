//! The query string of a `/v2` request: `digest`, `mount`/`from`, `n`/`last`,
//! `artifactType`, Berth's download grant.

use std::collections::HashMap;

/// The query parameters, percent-decoded as RFC 3986 says: a `+` stays a `+`. Clients
/// send media types such as `application/spdx+json` in `artifactType` unescaped (Python's
/// requests does), and nothing the registry reads from a query can contain a space.
/// Empty pairs are skipped, a pair without `=` has an empty value, invalid UTF-8 after
/// decoding becomes U+FFFD, and of repeated keys the last one counts.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pairs_are_split_and_decoded() {
        let q = parse_query(
            "digest=sha256%3Aabc&mount=&from=a%2Fb&&flag&artifactType=application/spdx+json",
        );
        assert_eq!(q["digest"], "sha256:abc");
        assert_eq!(q["mount"], "");
        assert_eq!(q["from"], "a/b");
        assert_eq!(q["flag"], "");
        assert_eq!(q["artifactType"], "application/spdx+json");
        assert_eq!(q.len(), 5);
        assert!(parse_query("").is_empty());
    }

    #[test]
    fn odd_input_is_kept_as_text() {
        // A stray `%`, an invalid escape, bytes that are not UTF-8, a repeated key.
        let q = parse_query("a=%&b=%zz&c=%ff%fe&n=1&n=2&=v&k==x");
        assert_eq!(q["a"], "%");
        assert_eq!(q["b"], "%zz");
        assert_eq!(q["c"], "\u{fffd}\u{fffd}");
        assert_eq!(q["n"], "2");
        assert_eq!(q[""], "v");
        assert_eq!(q["k"], "=x");
    }
}
