//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for Berth: parsing the `Authorization`
//! header and the presigned query, verifying a request against a secret access key, and
//! signing requests for our own CLI.
//!
//! Pure logic: no I/O, no clock (the current time is a parameter, unix seconds).
//! The caller finds the secret for the access key id (the one narrow lookup); this crate
//! does all SigV4 work. Canonicalization follows the non-S3 rules (aws-semantics §7): the
//! path as sent is normalized and percent-encoded again, the query is decoded, strictly
//! re-encoded and sorted, and header values are trimmed with inner whitespace collapsed.
//!
//! For HTTP/2 requests the caller must put the `:authority` into a `host` header first.

mod canonical;
mod date;
mod error;
mod header;
mod presigned;

pub use canonical::sha256_hex;
pub use error::SigV4Error;
pub use header::{ALGORITHM, AuthorizationHeader, TERMINATOR, parse_authorization_header};
pub use presigned::{
    MAX_PRESIGNED_EXPIRES, PresignedQuery, parse_presigned, presign, verify_presigned,
};

use canonical::{Canonical, HeaderSource};
use subtle::ConstantTimeEq;

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Raw path as sent (percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// Raw query string without `?` (empty if none).
    pub query: &'a str,
    /// Request headers; `host` must be present.
    pub headers: &'a http::HeaderMap,
    /// Lowercase hex SHA-256 of the body (see [`sha256_hex`]).
    pub payload_sha256_hex: &'a str,
}

/// The headers a client adds to sign a request (see [`sign`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Value of the `Authorization` header.
    pub authorization: String,
    /// Value of the `X-Amz-Date` header.
    pub amz_date: String,
}

/// The request time from `X-Amz-Date`, else `Date`: (unix seconds, `yyyymmddTHHMMSSZ`).
fn request_time(headers: &http::HeaderMap) -> Result<(i64, String), SigV4Error> {
    if let Some(v) = headers.get("x-amz-date") {
        let s = v.to_str().unwrap_or_default().trim();
        let t = date::parse_amz_date(s).ok_or_else(|| {
            SigV4Error::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
                header::printable(s)
            ))
        })?;
        return Ok((t, s.to_owned()));
    }
    if let Some(v) = headers.get(http::header::DATE) {
        let s = v.to_str().unwrap_or_default().trim();
        let t = date::parse_http_date(s).ok_or_else(|| {
            SigV4Error::Incomplete("Date header must be an RFC 7231 IMF-fixdate".into())
        })?;
        return Ok((t, date::format_amz_date(t)));
    }
    Err(SigV4Error::Incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            .into(),
    ))
}

/// The credential-scope date must be the request date.
fn check_scope_date(auth: &AuthorizationHeader, amz_date: &str) -> Result<(), SigV4Error> {
    let request_day = amz_date.get(..8).unwrap_or_default();
    if auth.date != request_day {
        return Err(SigV4Error::InvalidCredentialScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{}' != '{}', from '{}'.",
            header::printable(&auth.date),
            request_day,
            amz_date
        )));
    }
    Ok(())
}

fn check_host_signed(auth: &AuthorizationHeader) -> Result<(), SigV4Error> {
    if auth.signed_headers.iter().any(|h| h == "host") {
        Ok(())
    } else {
        Err(SigV4Error::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ))
    }
}

/// `x-amz-*` headers that proxies add to requests they forward, which no client can sign:
/// CloudFront's request id.
const ADDED_BY_PROXIES: &[&str] = &["x-amz-cf-id"];

/// Every `x-amz-*` header present must be signed: an unsigned one could be changed by
/// whoever captured the request (an unsigned `X-Amz-Target` turns a DescribeRepositories
/// into a CreateRepository). botocore, the JavaScript and Rust SDKs and `sign` below sign
/// every `x-amz-*` header they send.
fn check_amz_headers_signed(
    auth: &AuthorizationHeader,
    headers: &http::HeaderMap,
) -> Result<(), SigV4Error> {
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-")
            && !ADDED_BY_PROXIES.contains(&name)
            && !auth.signed_headers.iter().any(|h| h == name)
        {
            return Err(SigV4Error::Incomplete(format!(
                "'{name}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    Ok(())
}

/// A signed `x-amz-content-sha256` must be the hash of the body we received.
fn check_content_sha256(
    auth: &AuthorizationHeader,
    req: &RequestParts<'_>,
) -> Result<(), SigV4Error> {
    if auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-content-sha256")
    {
        let claimed = req
            .headers
            .get("x-amz-content-sha256")
            .map(|v| v.as_bytes().trim_ascii())
            .unwrap_or_default();
        if !claimed.eq_ignore_ascii_case(req.payload_sha256_hex.as_bytes()) {
            return Err(SigV4Error::SignatureDoesNotMatch);
        }
    }
    Ok(())
}

/// Computes the expected signature and compares it in constant time.
fn check_signature(
    auth: &AuthorizationHeader,
    req: &RequestParts<'_>,
    secret_access_key: &str,
    amz_date: &str,
    presigned: bool,
) -> Result<(), SigV4Error> {
    let canonical = canonical::canonical_request(&Canonical {
        method: req.method,
        path: req.path,
        query: req.query,
        exclude_signature_param: presigned,
        signed_headers: &auth.signed_headers,
        headers: HeaderSource {
            headers: req.headers,
            override_: None,
            allow_missing: false,
        },
        payload_sha256_hex: req.payload_sha256_hex,
    })?;
    let sts = canonical::string_to_sign(amz_date, &auth.credential_scope(), &canonical);
    let expected = canonical::signature(
        secret_access_key,
        &auth.date,
        &auth.region,
        &auth.service,
        &sts,
    );
    let provided = auth.signature.to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::SignatureDoesNotMatch)
    }
}

/// Verifies header-form SigV4.
///
/// Checks, in order: a request date (`X-Amz-Date`, else `Date`) is present and its day
/// equals the credential-scope date; `host` and every `x-amz-*` header present are
/// signed; the request time is within ±15
/// minutes of `now_unix` (else [`SigV4Error::RequestExpired`] with AWS's "Signature
/// expired: ... is now earlier than ..." message); a signed `x-amz-content-sha256`
/// equals `payload_sha256_hex`; every signed header is present; the signature matches
/// (constant-time comparison). Region and service are not checked here: the caller
/// compares `auth.service`/`auth.region` with its own.
pub fn verify(
    auth: &AuthorizationHeader,
    req: &RequestParts<'_>,
    secret_access_key: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let (request_unix, amz_date) = request_time(req.headers)?;
    check_scope_date(auth, &amz_date)?;
    check_host_signed(auth)?;
    check_amz_headers_signed(auth, req.headers)?;
    date::check_skew(request_unix, &amz_date, now_unix)?;
    check_content_sha256(auth, req)?;
    check_signature(auth, req, secret_access_key, &amz_date, false)
}

/// Signs a request (client side, for our CLI).
///
/// Signs `host` (put it in `req.headers` before calling; absent, it signs as empty),
/// `x-amz-date` (computed from `now_unix`; any `x-amz-date` in `req.headers` is ignored),
/// and every `content-type` and `x-amz-*` header present (so `x-amz-security-token`,
/// `x-amz-target`, `x-amz-content-sha256`). The caller adds the returned `authorization`
/// and `amz_date` (as `X-Amz-Date`) to the request.
#[must_use]
pub fn sign(
    req: &RequestParts<'_>,
    access_key_id: &str,
    secret_access_key: &str,
    region: &str,
    service: &str,
    now_unix: i64,
) -> SignedHeaders {
    let amz_date = date::format_amz_date(now_unix);
    let day = amz_date.get(..8).unwrap_or_default().to_owned();
    let mut names: Vec<String> = vec!["host".to_owned(), "x-amz-date".to_owned()];
    for name in req.headers.keys() {
        let n = name.as_str();
        if n == "content-type" || n.starts_with("x-amz-") {
            names.push(n.to_owned());
        }
    }
    names.sort_unstable();
    names.dedup();
    let canonical = canonical::canonical_request(&Canonical {
        method: req.method,
        path: req.path,
        query: req.query,
        exclude_signature_param: false,
        signed_headers: &names,
        headers: HeaderSource {
            headers: req.headers,
            override_: Some(("x-amz-date", &amz_date)),
            allow_missing: true,
        },
        payload_sha256_hex: req.payload_sha256_hex,
    })
    // allow_missing is set, so canonicalization cannot fail; an empty request keeps the
    // signature well-formed (and wrong) instead of panicking.
    .unwrap_or_default();
    let scope = format!("{day}/{region}/{service}/{TERMINATOR}");
    let sts = canonical::string_to_sign(&amz_date, &scope, &canonical);
    let signature = canonical::signature(secret_access_key, &day, region, service, &sts);
    SignedHeaders {
        authorization: format!(
            "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={}, Signature={signature}",
            names.join(";")
        ),
        amz_date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// A client that dates its request with `Date` only: the string to sign carries the
    /// ISO basic form of that date.
    #[test]
    fn verifies_date_header_form() {
        let mut h = http::HeaderMap::new();
        h.insert("host", HeaderValue::from_static("iam.amazonaws.com"));
        h.insert(
            "date",
            HeaderValue::from_static("Sun, 30 Aug 2015 12:36:00 GMT"),
        );
        let signed = vec!["date".to_owned(), "host".to_owned()];
        let hash = sha256_hex(b"");
        let canonical = canonical::canonical_request(&Canonical {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            exclude_signature_param: false,
            signed_headers: &signed,
            headers: HeaderSource {
                headers: &h,
                override_: None,
                allow_missing: false,
            },
            payload_sha256_hex: &hash,
        })
        .unwrap();
        let scope = "20150830/us-east-1/iam/aws4_request";
        let sts = canonical::string_to_sign("20150830T123600Z", scope, &canonical);
        let sig = canonical::signature("secret", "20150830", "us-east-1", "iam", &sts);
        let auth = AuthorizationHeader {
            access_key_id: "AKID".into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "iam".into(),
            signed_headers: signed,
            signature: sig,
        };
        let req = RequestParts {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &h,
            payload_sha256_hex: &hash,
        };
        verify(&auth, &req, "secret", 1_440_938_160).unwrap();
        assert_eq!(
            verify(&auth, &req, "other", 1_440_938_160),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
        // Any x-amz-* header present must be signed: x-amz-date (which would win over
        // Date), x-amz-target (which would retarget the request), the session token.
        for (name, value) in [
            ("x-amz-date", "20150830T123601Z"),
            (
                "x-amz-target",
                "AmazonEC2ContainerRegistry_V20150921.CreateRepository",
            ),
            ("x-amz-security-token", "token"),
        ] {
            let mut h2 = h.clone();
            h2.insert(name, HeaderValue::from_static(value));
            let req = RequestParts {
                headers: &h2,
                ..req
            };
            assert_eq!(
                verify(&auth, &req, "secret", 1_440_938_160),
                Err(SigV4Error::Incomplete(format!(
                    "'{name}' must be a 'SignedHeader' in the AWS Authorization."
                )))
            );
        }
        // Other headers need not be signed, nor the request id CloudFront adds.
        let mut h2 = h.clone();
        h2.insert("user-agent", HeaderValue::from_static("aws-cli/2"));
        h2.insert("amz-sdk-invocation-id", HeaderValue::from_static("x"));
        h2.insert(
            "x-amz-cf-id",
            HeaderValue::from_static("added-by-cloudfront"),
        );
        let req = RequestParts {
            headers: &h2,
            ..req
        };
        verify(&auth, &req, "secret", 1_440_938_160).unwrap();
    }
}
