//! Presigned (query-string) form: `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//! `X-Amz-Expires`, `X-Amz-SignedHeaders`, optional `X-Amz-Security-Token`,
//! `X-Amz-Signature`.

use percent_encoding::{percent_decode_str, utf8_percent_encode};

use crate::canonical::{self, Canonical, HeaderSource};
use crate::header::{self, ALGORITHM, AuthorizationHeader, TERMINATOR};
use crate::{RequestParts, SigV4Error, date};

/// Largest `X-Amz-Expires` AWS accepts (seven days).
pub const MAX_PRESIGNED_EXPIRES: u32 = 604_800;

/// A parsed presigned query.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedQuery {
    /// Credential, signed headers and signature, as in the header form.
    pub auth: AuthorizationHeader,
    /// `X-Amz-Date`, `yyyymmddTHHMMSSZ`.
    pub amz_date: String,
    /// `X-Amz-Expires`, seconds (1..=604800).
    pub expires: u32,
    /// `X-Amz-Security-Token` (session token of temporary credentials).
    pub security_token: Option<String>,
}

impl std::fmt::Debug for PresignedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresignedQuery")
            .field("auth", &self.auth)
            .field("amz_date", &self.amz_date)
            .field("expires", &self.expires)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

const REQUIRED_MESSAGE: &str = "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
     'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the query-string parameters.";

/// Parses the presigned parameters out of a raw query string (without `?`).
///
/// `Ok(None)` when there is no `X-Amz-Algorithm` (not a presigned request); an
/// incomplete or malformed set is [`SigV4Error::Incomplete`].
pub fn parse_presigned(query: &str) -> Result<Option<PresignedQuery>, SigV4Error> {
    let mut algorithm = None;
    let mut credential = None;
    let mut amz_date = None;
    let mut expires = None;
    let mut signed_headers = None;
    let mut security_token = None;
    let mut signature = None;
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = percent_decode_str(name).decode_utf8_lossy();
        let slot = match name.as_ref() {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-Date" => &mut amz_date,
            "X-Amz-Expires" => &mut expires,
            "X-Amz-SignedHeaders" => &mut signed_headers,
            "X-Amz-Security-Token" => &mut security_token,
            "X-Amz-Signature" => &mut signature,
            _ => continue,
        };
        let value = percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| SigV4Error::Incomplete(format!("'{name}' must be valid UTF-8")))?
            .into_owned();
        if slot.replace(value).is_some() {
            return Err(SigV4Error::Incomplete(format!(
                "Duplicate query-string parameter '{name}'"
            )));
        }
    }
    let Some(algorithm) = algorithm else {
        return Ok(None);
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Incomplete(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let (Some(credential), Some(amz_date), Some(expires), Some(signed_headers), Some(signature)) =
        (credential, amz_date, expires, signed_headers, signature)
    else {
        return Err(SigV4Error::Incomplete(REQUIRED_MESSAGE.into()));
    };
    let credential = header::parse_credential(&credential)?;
    if date::parse_amz_date(&amz_date).is_none() {
        return Err(SigV4Error::Incomplete(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".into(),
        ));
    }
    let expires = expires
        .parse::<u32>()
        .ok()
        .filter(|e| (1..=MAX_PRESIGNED_EXPIRES).contains(e))
        .ok_or_else(|| {
            SigV4Error::Incomplete(format!(
                "X-Amz-Expires must be an integer between 1 and {MAX_PRESIGNED_EXPIRES} seconds"
            ))
        })?;
    Ok(Some(PresignedQuery {
        auth: AuthorizationHeader {
            access_key_id: credential.access_key_id,
            date: credential.date,
            region: credential.region,
            service: credential.service,
            signed_headers: header::parse_signed_headers(&signed_headers)?,
            signature: header::parse_signature(&signature)?,
        },
        amz_date,
        expires,
        security_token,
    }))
}

/// Verifies a presigned request.
///
/// `req.query` is the full raw query (the `X-Amz-Signature` parameter is left out of the
/// canonical query here); `req.payload_sha256_hex` is normally the hash of the empty body
/// (non-S3). Checks the scope date, that `host` is signed, that `X-Amz-Date` is not more
/// than 15 minutes in the future, that `now_unix` is not past `X-Amz-Date +
/// X-Amz-Expires` (else [`SigV4Error::RequestExpired`] "Request has expired"), then the
/// signature in constant time.
pub fn verify_presigned(
    p: &PresignedQuery,
    req: &RequestParts<'_>,
    secret_access_key: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let request_unix = date::parse_amz_date(&p.amz_date).ok_or_else(|| {
        SigV4Error::Incomplete(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".into(),
        )
    })?;
    crate::check_scope_date(&p.auth, &p.amz_date)?;
    crate::check_host_signed(&p.auth)?;
    crate::check_amz_headers_signed(&p.auth, req.headers)?;
    if request_unix > now_unix.saturating_add(date::MAX_SKEW_SECONDS) {
        date::check_skew(request_unix, &p.amz_date, now_unix)?;
    }
    if now_unix > request_unix.saturating_add(i64::from(p.expires)) {
        return Err(SigV4Error::RequestExpired("Request has expired".into()));
    }
    crate::check_content_sha256(&p.auth, req)?;
    crate::check_signature(&p.auth, req, secret_access_key, &p.amz_date, true)
}

/// Builds a presigned query (client side): `req.query` plus the `X-Amz-*` parameters and
/// the signature, signing only `host`. Returns the full query string without `?`.
#[must_use]
#[allow(clippy::too_many_arguments)]
pub fn presign(
    req: &RequestParts<'_>,
    access_key_id: &str,
    secret_access_key: &str,
    region: &str,
    service: &str,
    now_unix: i64,
    expires: u32,
    security_token: Option<&str>,
) -> String {
    let enc = |s: &str| utf8_percent_encode(s, canonical::UNRESERVED).to_string();
    let amz_date = date::format_amz_date(now_unix);
    let day = amz_date.get(..8).unwrap_or_default().to_owned();
    let scope = format!("{day}/{region}/{service}/{TERMINATOR}");
    let mut query = req.query.to_owned();
    let mut add = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&enc(value));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add("X-Amz-Credential", &format!("{access_key_id}/{scope}"));
    add("X-Amz-Date", &amz_date);
    add("X-Amz-Expires", &expires.to_string());
    add("X-Amz-SignedHeaders", "host");
    if let Some(token) = security_token {
        add("X-Amz-Security-Token", token);
    }
    let signed = ["host".to_owned()];
    let canonical = canonical::canonical_request(&Canonical {
        method: req.method,
        path: req.path,
        query: &query,
        exclude_signature_param: true,
        signed_headers: &signed,
        headers: HeaderSource {
            headers: req.headers,
            override_: None,
            allow_missing: true,
        },
        payload_sha256_hex: req.payload_sha256_hex,
    })
    .unwrap_or_default();
    let sts = canonical::string_to_sign(&amz_date, &scope, &canonical);
    let signature = canonical::signature(secret_access_key, &day, region, service, &sts);
    format!("{query}&X-Amz-Signature={signature}")
}
