//! Sign/verify round trips, tampering, clock skew and robustness.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use berth_sigv4::{
    RequestParts, SigV4Error, parse_authorization_header, parse_presigned, presign, sha256_hex,
    sign, verify, verify_presigned,
};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

const AKID: &str = "ASIAQEXAMPLE1234";
const SECRET: &str = "s3cr3t/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 20260820T123100Z
const NOW: i64 = 1_787_229_060;
const BODY: &[u8] = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fci";

fn base_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost:4566"));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    h.insert(
        "x-amz-security-token",
        HeaderValue::from_static("sealed-session-token"),
    );
    h.insert("user-agent", HeaderValue::from_static("aws-cli/2"));
    h
}

/// Signs with `sign`, then returns the headers as sent.
fn signed_request(
    h: &HeaderMap,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    at: i64,
) -> HeaderMap {
    let hash = sha256_hex(body);
    let req = RequestParts {
        method,
        path,
        query,
        headers: h,
        payload_sha256_hex: &hash,
    };
    let s = sign(&req, AKID, SECRET, "us-east-1", "sts", at);
    let mut sent = h.clone();
    sent.insert(
        "authorization",
        HeaderValue::from_str(&s.authorization).unwrap(),
    );
    sent.insert("x-amz-date", HeaderValue::from_str(&s.amz_date).unwrap());
    sent
}

fn verify_sent(
    sent: &HeaderMap,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SigV4Error> {
    let auth = parse_authorization_header(sent["authorization"].to_str().unwrap())?;
    let hash = sha256_hex(body);
    let req = RequestParts {
        method,
        path,
        query,
        headers: sent,
        payload_sha256_hex: &hash,
    };
    verify(&auth, &req, SECRET, now)
}

#[test]
fn round_trip_signs_expected_headers() {
    let sent = signed_request(&base_headers(), "POST", "/", "", BODY, NOW);
    let auth = parse_authorization_header(sent["authorization"].to_str().unwrap()).unwrap();
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(auth.date, "20260820");
    assert_eq!(
        (auth.region.as_str(), auth.service.as_str()),
        ("us-east-1", "sts")
    );
    assert_eq!(
        auth.signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    );
    assert_eq!(sent["x-amz-date"], "20260820T123100Z");
    verify_sent(&sent, "POST", "/", "", BODY, NOW).unwrap();
    // Unsigned headers may change freely.
    let mut sent2 = sent.clone();
    sent2.insert("user-agent", HeaderValue::from_static("other"));
    sent2.insert("amz-sdk-invocation-id", HeaderValue::from_static("x"));
    verify_sent(&sent2, "POST", "/", "", BODY, NOW).unwrap();
}

#[test]
fn round_trip_with_path_and_query() {
    let q = "Action=GetCallerIdentity&Version=2011-06-15&x=a%20b&y=%2F";
    let sent = signed_request(
        &base_headers(),
        "GET",
        "/v2/my%20repo/manifests/latest",
        q,
        b"",
        NOW,
    );
    verify_sent(&sent, "GET", "/v2/my%20repo/manifests/latest", q, b"", NOW).unwrap();
    // Query order on the wire does not matter.
    let reordered = "Version=2011-06-15&y=%2f&x=a%20b&Action=GetCallerIdentity";
    verify_sent(
        &sent,
        "GET",
        "/v2/my%20repo/manifests/latest",
        reordered,
        b"",
        NOW,
    )
    .unwrap();
}

#[test]
fn tampering_is_signature_does_not_match() {
    let q = "Action=GetCallerIdentity&Version=2011-06-15";
    let sent = signed_request(&base_headers(), "POST", "/", q, BODY, NOW);
    let bad = Err(SigV4Error::SignatureDoesNotMatch);
    assert_eq!(
        verify_sent(&sent, "POST", "/", q, b"Action=Other", NOW),
        bad
    );
    assert_eq!(verify_sent(&sent, "PUT", "/", q, BODY, NOW), bad);
    assert_eq!(verify_sent(&sent, "POST", "/x", q, BODY, NOW), bad);
    assert_eq!(
        verify_sent(
            &sent,
            "POST",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-16",
            BODY,
            NOW
        ),
        bad
    );
    assert_eq!(verify_sent(&sent, "POST", "/", "", BODY, NOW), bad);
    for (name, value) in [
        ("host", "evil.example:4566"),
        ("content-type", "application/json"),
        ("x-amz-security-token", "another-token"),
        ("x-amz-date", "20260820T123101Z"),
    ] {
        let mut t = sent.clone();
        t.insert(name, HeaderValue::from_static(value));
        assert_eq!(verify_sent(&t, "POST", "/", q, BODY, NOW), bad, "{name}");
    }
    // A signed header that disappeared.
    let mut t = sent.clone();
    t.remove("x-amz-security-token");
    assert_eq!(verify_sent(&t, "POST", "/", q, BODY, NOW), bad);
    // A duplicated signed header changes its canonical value.
    let mut t = sent.clone();
    t.append("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(verify_sent(&t, "POST", "/", q, BODY, NOW), bad);
    // The signature itself, the key id's secret, the scope.
    let mut auth = parse_authorization_header(sent["authorization"].to_str().unwrap()).unwrap();
    let hash = sha256_hex(BODY);
    let req = RequestParts {
        method: "POST",
        path: "/",
        query: q,
        headers: &sent,
        payload_sha256_hex: &hash,
    };
    assert_eq!(verify(&auth, &req, "wrong", NOW), bad);
    auth.service = "iam".into();
    assert_eq!(verify(&auth, &req, SECRET, NOW), bad);
    let mut auth = parse_authorization_header(sent["authorization"].to_str().unwrap()).unwrap();
    auth.signature = "0".repeat(64);
    assert_eq!(verify(&auth, &req, SECRET, NOW), bad);
    auth.signature = "short".into();
    assert_eq!(verify(&auth, &req, SECRET, NOW), bad);
}

#[test]
fn clock_skew_is_request_expired() {
    let sent = signed_request(&base_headers(), "POST", "/", "", BODY, NOW);
    verify_sent(&sent, "POST", "/", "", BODY, NOW + 900).unwrap();
    verify_sent(&sent, "POST", "/", "", BODY, NOW - 900).unwrap();
    let err = verify_sent(&sent, "POST", "/", "", BODY, NOW + 901).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::RequestExpired(
            "Signature expired: 20260820T123100Z is now earlier than 20260820T123101Z (20260820T124601Z - 15 min.)"
                .into()
        )
    );
    assert_eq!(err.query_code(), "SignatureDoesNotMatch");
    assert_eq!(err.json_code(), "InvalidSignatureException");
    let err = verify_sent(&sent, "POST", "/", "", BODY, NOW - 901).unwrap_err();
    assert!(
        matches!(err, SigV4Error::RequestExpired(m) if m.starts_with("Signature not yet current: 20260820T123100Z"))
    );
}

#[test]
fn date_rules() {
    let sent = signed_request(&base_headers(), "POST", "/", "", BODY, NOW);
    // No date at all.
    let mut t = sent.clone();
    t.remove("x-amz-date");
    assert!(
        matches!(verify_sent(&t, "POST", "/", "", BODY, NOW), Err(SigV4Error::Incomplete(m)) if m.contains("'X-Amz-Date' or a 'Date'"))
    );
    // Malformed x-amz-date.
    let mut t = sent.clone();
    t.insert(
        "x-amz-date",
        HeaderValue::from_static("2026-08-20T12:31:00Z"),
    );
    assert!(
        matches!(verify_sent(&t, "POST", "/", "", BODY, NOW), Err(SigV4Error::Incomplete(m)) if m.contains("ISO-8601"))
    );
    // Scope date differs from the request date.
    let auth = sent["authorization"]
        .to_str()
        .unwrap()
        .replace("/20260820/", "/20260821/");
    let mut t = sent.clone();
    t.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let err = verify_sent(&t, "POST", "/", "", BODY, NOW).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::InvalidCredentialScope(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '20260821' != '20260820', from '20260820T123100Z'."
                .into()
        )
    );
}

#[test]
fn date_header_fallback() {
    // A client that signs with `Date` instead of `X-Amz-Date`: the string to sign uses the
    // ISO basic form of that date.
    let mut h = base_headers();
    let hash = sha256_hex(BODY);
    let req = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &h,
        payload_sha256_hex: &hash,
    };
    let s = sign(&req, AKID, SECRET, "us-east-1", "sts", NOW);
    h.insert(
        "date",
        HeaderValue::from_static("Thu, 20 Aug 2026 12:31:00 GMT"),
    );
    h.insert(
        "authorization",
        HeaderValue::from_str(&s.authorization).unwrap(),
    );
    // The signature covered an x-amz-date header the request no longer has.
    assert_eq!(
        verify_sent(&h, "POST", "/", "", BODY, NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    // Signed over `date` rather than `x-amz-date`.
    let auth = parse_authorization_header(&s.authorization).unwrap();
    let canonical_names = ["content-type", "date", "host", "x-amz-security-token"];
    let auth = berth_sigv4::AuthorizationHeader {
        signed_headers: canonical_names.iter().map(|s| s.to_string()).collect(),
        ..auth
    };
    let req = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &h,
        payload_sha256_hex: &hash,
    };
    // Can't be right without re-signing, but must get past the date checks.
    assert_eq!(
        verify(&auth, &req, SECRET, NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    assert!(matches!(
        verify(&auth, &req, SECRET, NOW + 3600),
        Err(SigV4Error::RequestExpired(_))
    ));
}

#[test]
fn host_must_be_signed() {
    let sent = signed_request(&base_headers(), "POST", "/", "", BODY, NOW);
    let v = sent["authorization"]
        .to_str()
        .unwrap()
        .replace("content-type;host;x-amz-date", "content-type;x-amz-date");
    let auth = parse_authorization_header(&v).unwrap();
    let hash = sha256_hex(BODY);
    let req = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &sent,
        payload_sha256_hex: &hash,
    };
    assert!(
        matches!(verify(&auth, &req, SECRET, NOW), Err(SigV4Error::Incomplete(m)) if m.contains("'Host'"))
    );
}

#[test]
fn signed_content_sha256_must_match_body() {
    let mut h = base_headers();
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_str(&sha256_hex(BODY)).unwrap(),
    );
    let sent = signed_request(&h, "POST", "/", "", BODY, NOW);
    assert!(
        sent["authorization"]
            .to_str()
            .unwrap()
            .contains("x-amz-content-sha256")
    );
    verify_sent(&sent, "POST", "/", "", BODY, NOW).unwrap();
    // Header claims the old body, body changed: refused even before the signature.
    assert_eq!(
        verify_sent(&sent, "POST", "/", "", b"other", NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    let mut h = base_headers();
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    let sent = signed_request(&h, "POST", "/", "", BODY, NOW);
    assert_eq!(
        verify_sent(&sent, "POST", "/", "", BODY, NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn presigned_round_trip() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("sts.amazonaws.com"));
    let empty = sha256_hex(b"");
    let base = "Action=GetCallerIdentity&Version=2011-06-15";
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: base,
        headers: &h,
        payload_sha256_hex: &empty,
    };
    let query = presign(
        &req,
        AKID,
        SECRET,
        "us-east-1",
        "sts",
        NOW,
        60,
        Some("tok/en+=="),
    );
    let p = parse_presigned(&query).unwrap().unwrap();
    assert_eq!(p.security_token.as_deref(), Some("tok/en+=="));
    assert!(!format!("{p:?}").contains("tok/en"));
    assert_eq!(p.expires, 60);
    let req = RequestParts {
        query: &query,
        ..req
    };
    verify_presigned(&p, &req, SECRET, NOW).unwrap();
    verify_presigned(&p, &req, SECRET, NOW + 60).unwrap();
    assert_eq!(
        verify_presigned(&p, &req, SECRET, NOW + 61),
        Err(SigV4Error::RequestExpired("Request has expired".into()))
    );
    assert_eq!(
        verify_presigned(&p, &req, "wrong", NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    let tampered = query.replace("Version=2011-06-15", "Version=2011-06-16");
    let req2 = RequestParts {
        query: &tampered,
        ..req
    };
    assert_eq!(
        verify_presigned(&p, &req2, SECRET, NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    let tampered = query.replace("tok%2Fen", "tok%2Fem");
    let p2 = parse_presigned(&tampered).unwrap().unwrap();
    let req2 = RequestParts {
        query: &tampered,
        ..req
    };
    assert_eq!(
        verify_presigned(&p2, &req2, SECRET, NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    let mut h2 = h.clone();
    h2.insert("host", HeaderValue::from_static("evil.example"));
    let req2 = RequestParts {
        headers: &h2,
        ..req
    };
    assert_eq!(
        verify_presigned(&p, &req2, SECRET, NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn presigned_parse_errors() {
    assert_eq!(parse_presigned(""), Ok(None));
    assert_eq!(
        parse_presigned("Action=GetCallerIdentity&X-Amz-Date=20260820T123100Z"),
        Ok(None)
    );
    let full = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260820%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260820T123100Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    assert!(parse_presigned(full).unwrap().is_some());
    let incomplete = |q: &str| matches!(parse_presigned(q), Err(SigV4Error::Incomplete(_)));
    assert!(incomplete(
        &full.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")
    ));
    assert!(incomplete(&full.replace("&X-Amz-Expires=60", "")));
    assert!(incomplete(
        &full.replace("X-Amz-Expires=60", "X-Amz-Expires=0")
    ));
    assert!(incomplete(
        &full.replace("X-Amz-Expires=60", "X-Amz-Expires=604801")
    ));
    assert!(incomplete(
        &full.replace("X-Amz-Expires=60", "X-Amz-Expires=-1")
    ));
    assert!(incomplete(&full.replace("20260820T123100Z", "2026-08-20")));
    assert!(incomplete(&full.replace("%2Fsts%2F", "%2F")));
    assert!(incomplete(&format!("{full}&X-Amz-Date=20260820T123100Z")));
    assert!(incomplete(
        &full.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=")
    ));
    assert!(incomplete(
        &full.replace("X-Amz-Signature=5f", "X-Amz-Signature=zz")
    ));
    assert!(incomplete(&full.replace("X-Amz-Date=", "X-Amz-Date=%FF")));
}

#[test]
fn error_codes() {
    assert_eq!(
        SigV4Error::MissingAuthentication.query_code(),
        "MissingAuthenticationToken"
    );
    assert_eq!(
        SigV4Error::Incomplete(String::new()).json_code(),
        "IncompleteSignatureException"
    );
    assert!(
        SigV4Error::SignatureDoesNotMatch
            .to_string()
            .starts_with("The request signature we calculated")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(s in "\\PC{0,300}") {
        let _ = parse_authorization_header(&s);
        let _ = parse_presigned(&s);
    }

    #[test]
    fn structured_header_never_panics(
        cred in "[A-Za-z0-9/_-]{0,60}", sh in "[a-zA-Z;:-]{0,30}", sig in "[0-9a-fA-F]{0,70}",
        sep in "[ ,]{0,3}"
    ) {
        let v = format!("AWS4-HMAC-SHA256 Credential={cred},{sep}SignedHeaders={sh},{sep}Signature={sig}");
        let _ = parse_authorization_header(&v);
    }

    #[test]
    fn verify_never_panics(path in "\\PC{0,40}", query in "\\PC{0,60}", date in "\\PC{0,20}", now in any::<i64>()) {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("h"));
        if let Ok(v) = HeaderValue::from_str(&date) {
            h.insert("x-amz-date", v);
        }
        let auth = parse_authorization_header(
            "AWS4-HMAC-SHA256 Credential=AKID/20260820/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ).unwrap();
        let req = RequestParts { method: "GET", path: &path, query: &query, headers: &h, payload_sha256_hex: "" };
        prop_assert!(verify(&auth, &req, SECRET, now).is_err());
        let _ = sign(&req, AKID, SECRET, "us-east-1", "sts", now);
        if let Ok(Some(p)) = parse_presigned(&query) {
            let _ = verify_presigned(&p, &req, SECRET, now);
        }
    }

    #[test]
    fn sign_verify_round_trip(
        path in "(/[A-Za-z0-9%._~-]{0,8}){0,4}", query in "([A-Za-z0-9%+._~-]{1,6}(=[A-Za-z0-9%+._~-]{0,6})?&?){0,4}",
        body in proptest::collection::vec(any::<u8>(), 0..64), skew in -900i64..=900
    ) {
        let h = base_headers();
        let sent = signed_request(&h, "POST", &path, &query, &body, NOW);
        prop_assert_eq!(verify_sent(&sent, "POST", &path, &query, &body, NOW + skew), Ok(()));
    }
}
