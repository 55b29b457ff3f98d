//! SigV4 parsing and verification on requests built from the input. The input is split on
//! `\n`: method, path, query, `Authorization` value, then one `name:value` header per line
//! (lines that are not a valid header are skipped). Nothing may panic, and a request signed
//! with `sign` must verify with `verify` (when it has a `host` and no conflicting
//! `x-amz-content-sha256`).
#![no_main]

use std::sync::OnceLock;

use berth_sigv4::{
    RequestParts, parse_authorization_header, parse_presigned, sha256_hex, sign, verify,
    verify_presigned,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// The secret of AWS's documented SigV4 examples.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the time of those examples (and of the seeds).
const NOW: i64 = 1_440_938_160;

fn empty_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| sha256_hex(b""))
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let mut text = || String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (method, path, query, authorization) = (text(), text(), text(), text());
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let payload = empty_hash();
    let req = RequestParts {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        payload_sha256_hex: payload,
    };

    if let Ok(auth) = parse_authorization_header(&authorization) {
        let _ = auth.credential_scope();
        if let Err(e) = verify(&auth, &req, SECRET, NOW) {
            let _ = (e.to_string(), e.query_code(), e.json_code());
        }
    }
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        if let Ok(value) = value.to_str() {
            if let Ok(auth) = parse_authorization_header(value) {
                let _ = verify(&auth, &req, SECRET, NOW);
            }
        }
    }
    match parse_presigned(&query) {
        Ok(Some(p)) => {
            let _ = format!("{p:?}");
            let _ = verify_presigned(&p, &req, SECRET, NOW);
        }
        Ok(None) => {}
        Err(e) => {
            let _ = (e.to_string(), e.query_code(), e.json_code());
        }
    }

    // Round trip: what we sign, we verify. (SignedHeaders names longer than 256 bytes are
    // refused by the parser, so such requests are left out.)
    if headers.keys().any(|n| n.as_str().len() > 256) {
        return;
    }
    let signed = sign(&req, "AKIDEXAMPLE", SECRET, "us-east-1", "iam", NOW);
    let auth = parse_authorization_header(&signed.authorization).unwrap_or_else(|e| {
        panic!(
            "sign wrote an unparseable header {:?}: {e}",
            signed.authorization
        )
    });
    let mut signed_headers = headers.clone();
    signed_headers.insert(
        "x-amz-date",
        HeaderValue::from_str(&signed.amz_date).expect("amz date is a header value"),
    );
    let content_sha_ok = headers.get_all("x-amz-content-sha256").iter().all(|v| {
        v.as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(payload.as_bytes())
    });
    if headers.contains_key(http::header::HOST) && content_sha_ok {
        let req = RequestParts {
            headers: &signed_headers,
            ..req
        };
        if let Err(e) = verify(&auth, &req, SECRET, NOW) {
            panic!("a request signed by `sign` fails `verify`: {e:?} ({auth:?})");
        }
    }
});
