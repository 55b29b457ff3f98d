//! AWS's published SigV4 examples, reproduced byte for byte through the public API.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use berth_sigv4::{
    AuthorizationHeader, RequestParts, SigV4Error, parse_authorization_header, parse_presigned,
    sha256_hex, verify, verify_presigned,
};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 20150830T123600Z
const T_2015: i64 = 1_440_938_160;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn check(method: &str, path: &str, query: &str, h: &HeaderMap, body: &[u8], authorization: &str) {
    let auth = parse_authorization_header(authorization).unwrap();
    let hash = sha256_hex(body);
    let req = RequestParts {
        method,
        path,
        query,
        headers: h,
        payload_sha256_hex: &hash,
    };
    verify(&auth, &req, SECRET, T_2015).unwrap();
    // One bit of the secret changes everything.
    assert_eq!(
        verify(
            &auth,
            &req,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
            T_2015
        ),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    // The signer reproduces the same Authorization header when it signs the same set.
    if auth.signed_headers == ["host", "x-amz-date"]
        || auth.signed_headers == ["content-type", "host", "x-amz-date"]
    {
        let signed = berth_sigv4::sign(
            &req,
            &auth.access_key_id,
            SECRET,
            &auth.region,
            &auth.service,
            T_2015,
        );
        assert_eq!(signed.authorization, authorization);
        assert_eq!(signed.amz_date, "20150830T123600Z");
    }
}

/// AWS General Reference, "Create a signed AWS API request": IAM ListUsers.
#[test]
fn iam_list_users_example() {
    let h = headers(&[
        ("host", "iam.amazonaws.com"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("x-amz-date", "20150830T123600Z"),
    ]);
    check(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        &h,
        b"",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    );
}

fn suite(name_sig: (&str, &str), signed: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders={signed}, Signature={}",
        name_sig.1
    )
}

fn vanilla() -> HeaderMap {
    headers(&[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ])
}

// aws-sig-v4-test-suite cases (AKIDEXAMPLE/20150830/us-east-1/service).

#[test]
fn suite_get_vanilla() {
    let a = suite(
        (
            "get-vanilla",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        "host;x-amz-date",
    );
    check("GET", "/", "", &vanilla(), b"", &a);
}

#[test]
fn suite_get_vanilla_query_order_key_case() {
    let a = suite(
        (
            "",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        "host;x-amz-date",
    );
    check(
        "GET",
        "/",
        "Param2=value2&Param1=value1",
        &vanilla(),
        b"",
        &a,
    );
}

#[test]
fn suite_get_vanilla_empty_query_key() {
    let a = suite(
        (
            "",
            "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        ),
        "host;x-amz-date",
    );
    check("GET", "/", "Param1=value1", &vanilla(), b"", &a);
}

#[test]
fn suite_get_vanilla_query_unreserved() {
    let u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let a = suite(
        (
            "",
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ),
        "host;x-amz-date",
    );
    check("GET", "/", &format!("{u}={u}"), &vanilla(), b"", &a);
}

#[test]
fn suite_get_vanilla_utf8_query() {
    let a = suite(
        (
            "",
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        ),
        "host;x-amz-date",
    );
    check("GET", "/", "%E1%88%B4=bar", &vanilla(), b"", &a);
}

#[test]
fn suite_get_unreserved_and_utf8_paths() {
    let a = suite(
        (
            "",
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        ),
        "host;x-amz-date",
    );
    check(
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "",
        &vanilla(),
        b"",
        &a,
    );
    // The suite's request line carries the raw character, which we encode once.
    let a = suite(
        (
            "",
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ),
        "host;x-amz-date",
    );
    check("GET", "/ሴ", "", &vanilla(), b"", &a);
}

#[test]
fn suite_header_cases() {
    let sig = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea";
    let mut h = vanilla();
    for v in ["value2", "value2", "value1"] {
        h.append("my-header1", HeaderValue::from_static(v));
    }
    check(
        "GET",
        "/",
        "",
        &h,
        b"",
        &suite(
            ("get-header-key-duplicate", sig),
            "host;my-header1;x-amz-date",
        ),
    );

    let sig = "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01";
    let mut h = vanilla();
    for v in ["value4", "value1", "value3", "value2"] {
        h.append("my-header1", HeaderValue::from_static(v));
    }
    check(
        "GET",
        "/",
        "",
        &h,
        b"",
        &suite(
            ("get-header-value-order", sig),
            "host;my-header1;x-amz-date",
        ),
    );

    let sig = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736";
    let mut h = vanilla();
    h.insert("my-header1", HeaderValue::from_static(" value1"));
    h.insert("my-header2", HeaderValue::from_static(" \"a   b   c\""));
    check(
        "GET",
        "/",
        "",
        &h,
        b"",
        &suite(
            ("get-header-value-trim", sig),
            "host;my-header1;my-header2;x-amz-date",
        ),
    );

    let sig = "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c";
    let mut h = vanilla();
    h.insert("my-header1", HeaderValue::from_static("value1"));
    check(
        "POST",
        "/",
        "",
        &h,
        b"",
        &suite(("post-header-key-sort", sig), "host;my-header1;x-amz-date"),
    );

    let sig = "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d";
    let mut h = vanilla();
    h.insert("my-header1", HeaderValue::from_static("VALUE1"));
    check(
        "POST",
        "/",
        "",
        &h,
        b"",
        &suite(
            ("post-header-value-case", sig),
            "host;my-header1;x-amz-date",
        ),
    );
}

#[test]
fn suite_post_cases() {
    let sig = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
    check(
        "POST",
        "/",
        "",
        &vanilla(),
        b"",
        &suite(("post-vanilla", sig), "host;x-amz-date"),
    );

    let sig = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11";
    check(
        "POST",
        "/",
        "Param1=value1",
        &vanilla(),
        b"",
        &suite(("post-vanilla-query", sig), "host;x-amz-date"),
    );

    let sig = "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e";
    check(
        "POST",
        "/",
        "%40%23%24%25%5E&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D",
        &vanilla(),
        b"",
        &suite(("post-vanilla-query-nonunreserved", sig), "host;x-amz-date"),
    );

    let sig = "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b";
    check(
        "POST",
        "/",
        "p",
        &vanilla(),
        b"",
        &suite(("post-vanilla-query-space", sig), "host;x-amz-date"),
    );

    let sig = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a";
    let mut h = vanilla();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    check(
        "POST",
        "/",
        "",
        &h,
        b"Param1=value1",
        &suite(
            ("post-x-www-form-urlencoded", sig),
            "content-type;host;x-amz-date",
        ),
    );

    let sig = "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe";
    let mut h = vanilla();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf8"),
    );
    check(
        "POST",
        "/",
        "",
        &h,
        b"Param1=value1",
        &suite(
            ("post-x-www-form-urlencoded-parameters", sig),
            "content-type;host;x-amz-date",
        ),
    );
}

/// Amazon S3 docs, "Authenticating Requests: Using Query Parameters" example (the S3
/// payload hash `UNSIGNED-PAYLOAD` is passed by the caller).
#[test]
fn s3_presigned_example() {
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    let p = parse_presigned(query).unwrap().unwrap();
    assert_eq!(p.auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(p.auth.service, "s3");
    assert_eq!(p.expires, 86_400);
    assert_eq!(p.security_token, None);
    let h = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
    let req = RequestParts {
        method: "GET",
        path: "/test.txt",
        query,
        headers: &h,
        payload_sha256_hex: "UNSIGNED-PAYLOAD",
    };
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let t = 1_369_353_600; // 20130524T000000Z
    verify_presigned(&p, &req, secret, t).unwrap();
    verify_presigned(&p, &req, secret, t + 86_400).unwrap();
    assert!(
        matches!(verify_presigned(&p, &req, secret, t + 86_401), Err(SigV4Error::RequestExpired(m)) if m == "Request has expired")
    );
    assert!(
        matches!(verify_presigned(&p, &req, secret, t - 901), Err(SigV4Error::RequestExpired(m)) if m.starts_with("Signature not yet current"))
    );
    let forged = AuthorizationHeader {
        region: "us-west-2".into(),
        ..p.auth.clone()
    };
    let forged = berth_sigv4::PresignedQuery {
        auth: forged,
        ..p.clone()
    };
    assert_eq!(
        verify_presigned(&forged, &req, secret, t),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}
