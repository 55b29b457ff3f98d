//! Canonical request, string to sign, signing key and signature.

use aws_lc_rs::{digest, hmac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};

use crate::SigV4Error;
use crate::header::{ALGORITHM, TERMINATOR};

/// Everything but the RFC 3986 unreserved characters `A-Za-z0-9-_.~` is encoded.
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Same, keeping `/` (for paths).
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Hex SHA-256 (lowercase) of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// Canonical URI for non-S3 services: the path as sent (already percent-encoded once by
/// the client) with dot segments removed and empty segments collapsed, then every byte
/// but unreserved characters and `/` percent-encoded again.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in raw_path.split('/') {
        trailing_slash = false;
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 1);
    for s in &segments {
        out.push('/');
        out.extend(percent_encode(s.as_bytes(), UNRESERVED_AND_SLASH));
    }
    if segments.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// Canonical query: each `name=value` decoded then strictly re-encoded, sorted by name
/// then value, joined with `&`. `+` is a literal plus (RFC 3986), not a space.
/// With `exclude_signature`, `X-Amz-Signature` is left out (presigned form).
pub(crate) fn canonical_query(raw_query: &str, exclude_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let name: Vec<u8> = percent_decode_str(name).collect();
            if exclude_signature && name == b"X-Amz-Signature" {
                return None;
            }
            let value: Vec<u8> = percent_decode_str(value).collect();
            Some((
                percent_encode(&name, UNRESERVED).to_string(),
                percent_encode(&value, UNRESERVED).to_string(),
            ))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw_query.len());
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Trims a header value and collapses internal runs of whitespace to one space.
fn push_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut first = true;
    for word in value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        first = false;
    }
}

/// Where canonical header values come from: the request headers, with optionally one
/// header replaced (the signer's own `x-amz-date`).
pub(crate) struct HeaderSource<'a> {
    pub headers: &'a http::HeaderMap,
    pub override_: Option<(&'a str, &'a str)>,
    /// When false, a signed header absent from the request is an error; when true it
    /// canonicalizes as an empty value (signer side).
    pub allow_missing: bool,
}

/// `name:value\n` for every signed header, in the order given.
fn canonical_headers(
    signed: &[String],
    src: &HeaderSource<'_>,
    out: &mut Vec<u8>,
) -> Result<(), SigV4Error> {
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        match src.override_ {
            Some((n, v)) if n == name => push_header_value(out, v.as_bytes()),
            _ => {
                let mut values = src.headers.get_all(name.as_str()).iter().peekable();
                if values.peek().is_none() && !src.allow_missing {
                    return Err(SigV4Error::SignatureDoesNotMatch);
                }
                let mut first = true;
                for value in values {
                    if !first {
                        out.push(b',');
                    }
                    push_header_value(out, value.as_bytes());
                    first = false;
                }
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

/// What goes into one signature computation.
pub(crate) struct Canonical<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub exclude_signature_param: bool,
    pub signed_headers: &'a [String],
    pub headers: HeaderSource<'a>,
    pub payload_sha256_hex: &'a str,
}

/// The canonical request bytes.
pub(crate) fn canonical_request(c: &Canonical<'_>) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(c.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(c.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(c.query, c.exclude_signature_param).as_bytes());
    out.push(b'\n');
    canonical_headers(c.signed_headers, &c.headers, &mut out)?;
    out.push(b'\n');
    out.extend_from_slice(c.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(c.payload_sha256_hex.as_bytes());
    Ok(out)
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(canonical request)>`.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// The signing key: HMAC chain over date, region, service and `aws4_request`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Tag {
    let mut k_secret = Vec::with_capacity(secret.len() + 4);
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    let k_region = hmac_sha256(k_date.as_ref(), region.as_bytes());
    let k_service = hmac_sha256(k_region.as_ref(), service.as_bytes());
    hmac_sha256(k_service.as_ref(), TERMINATOR.as_bytes())
}

/// Hex signature of a string to sign.
pub(crate) fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let key = signing_key(secret, date, region, service);
    hex::encode(hmac_sha256(key.as_ref(), string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_normalization_and_double_encoding() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("/example/.."), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/./example"), "/example");
        assert_eq!(canonical_uri("/a/b/"), "/a/b/");
        assert_eq!(canonical_uri("/../../a"), "/a");
        // Already encoded by the client: encoded again.
        assert_eq!(canonical_uri("/foo%20bar"), "/foo%2520bar");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
        assert_eq!(canonical_uri("/a:b+c"), "/a%3Ab%2Bc");
    }

    #[test]
    fn query_sorted_and_strictly_encoded() {
        assert_eq!(canonical_query("", false), "");
        assert_eq!(
            canonical_query("Version=2010-05-08&Action=ListUsers", false),
            "Action=ListUsers&Version=2010-05-08"
        );
        assert_eq!(canonical_query("b=2&a=2&a=1&&c", false), "a=1&a=2&b=2&c=");
        assert_eq!(
            canonical_query("a=b+c&d=e%2fF&f=%7e", false),
            "a=b%2Bc&d=e%2FF&f=~"
        );
        assert_eq!(canonical_query("x=%zz", false), "x=%25zz");
        assert_eq!(canonical_query("X-Amz-Signature=abc&a=1", true), "a=1");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&a=1", false),
            "X-Amz-Signature=abc&a=1"
        );
    }

    #[test]
    fn header_values_trimmed_and_collapsed() {
        let mut out = Vec::new();
        push_header_value(&mut out, b"  \"a   b \t c\"  ");
        assert_eq!(out, b"\"a b c\"");
    }

    /// AWS docs, "Examples of how to derive a signing key for Signature Version 4".
    #[test]
    fn signing_key_example() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key.as_ref()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn empty_payload_hash() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
