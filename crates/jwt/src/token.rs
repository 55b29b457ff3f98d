//! Compact JWS decoding, signature verification against a JWKS, and claim checks.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::jwk::{Algorithm, JwkSet};
use crate::{JwtError, MAX_TOKEN_LEN};

/// How far in the future `nbf`/`iat` may lie (clock skew between issuer and us).
pub const MAX_FUTURE_SKEW_SECONDS: i64 = 300;

/// The JOSE header fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Signature algorithm, e.g. `RS256`.
    pub alg: String,
    /// Key id.
    pub kid: Option<String>,
    /// Token type, usually `JWT`.
    pub typ: Option<String>,
}

/// A decoded but not yet verified token: nothing in it may be trusted except to pick a key
/// and an issuer to fetch keys for.
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    header: Header,
    claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// A token whose signature verified; claims still need [`VerifiedToken::check_claims`].
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    header: Header,
    claims: Map<String, Value>,
    issuer: String,
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(format!("{what} is not base64url without padding")))
}

fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JwtError::Malformed(format!("{what} is not a JSON object"))),
        Err(_) => Err(JwtError::Malformed(format!("{what} is not valid JSON"))),
    }
}

fn optional_string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, JwtError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwtError::Malformed(format!(
            "header `{name}` is not a string"
        ))),
    }
}

/// Decodes a compact JWS (`header.claims.signature`, base64url without padding) whose
/// header and claims are JSON objects. Refuses tokens over [`MAX_TOKEN_LEN`], JWE (five
/// parts), a missing `alg`, and any `crit` header (we understand no extensions).
pub fn decode_unverified(token: &str) -> Result<UnverifiedToken, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let header_map = json_object(&decode_part(h, "header")?, "header")?;
    let claims = json_object(&decode_part(c, "payload")?, "payload")?;
    let signature = decode_part(s, "signature")?;
    if header_map.contains_key("crit") {
        return Err(JwtError::Malformed("unsupported `crit` header".into()));
    }
    let alg = optional_string(&header_map, "alg")?
        .ok_or_else(|| JwtError::Malformed("header has no `alg`".into()))?;
    let header = Header {
        alg,
        kid: optional_string(&header_map, "kid")?,
        typ: optional_string(&header_map, "typ")?,
    };
    let signing_input_len = h.len() + 1 + c.len();
    let signing_input = token
        .get(..signing_input_len)
        .unwrap_or_default()
        .to_owned();
    Ok(UnverifiedToken {
        header,
        claims,
        signing_input,
        signature,
    })
}

impl UnverifiedToken {
    /// The JOSE header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The claims, unverified.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The `iss` claim when it is a string (unverified: use it only to find the provider).
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// Verifies the signature with a key from `jwks`.
    ///
    /// The key is the one whose `kid` equals the token's `kid` (among several with that
    /// kid, the first whose type fits); without a `kid`, the only key whose `kty` fits the
    /// algorithm. `alg` must be RS256/384/512, PS256/384/512 or ES256/384/512 (never
    /// `none` or `HS*`) and agree with the key's `kty`, `alg`, `use` and curve. The token
    /// must carry a string `iss`.
    pub fn verify_signature(self, jwks: &JwkSet) -> Result<VerifiedToken, JwtError> {
        let alg = Algorithm::parse(&self.header.alg)?;
        let key = match &self.header.kid {
            Some(kid) => {
                let mut with_kid = jwks
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .peekable();
                let first = with_kid.peek().copied().ok_or(JwtError::KeyNotFound)?;
                with_kid
                    .find(|k| k.check_usable_for(alg).is_ok())
                    .unwrap_or(first)
            }
            None => {
                let mut fitting = jwks
                    .keys
                    .iter()
                    .filter(|k| k.kty == alg.kty() && k.use_.as_deref() != Some("enc"));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => k,
                    _ => return Err(JwtError::KeyNotFound),
                }
            }
        };
        key.verify(alg, self.signing_input.as_bytes(), &self.signature)?;
        let issuer = match self.claims.get("iss") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(JwtError::InvalidClaim("iss")),
            None => return Err(JwtError::MissingClaim("iss")),
        };
        Ok(VerifiedToken {
            header: self.header,
            claims: self.claims,
            issuer,
        })
    }
}

/// An integer NumericDate claim, if present.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(JwtError::InvalidClaim(name)),
    }
}

impl VerifiedToken {
    /// The JOSE header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The claims (signature verified, times and audience not yet checked).
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The `iss` claim.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A string claim, if present and a string.
    #[must_use]
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Checks times and audience; returns the matched audience.
    ///
    /// * `exp` is required, must be an integer and strictly greater than `now_unix` (no
    ///   leeway), else [`JwtError::Expired`];
    /// * `nbf` and `iat`, when present, must be integers at most
    ///   [`MAX_FUTURE_SKEW_SECONDS`] after `now_unix`, else [`JwtError::NotYetValid`];
    /// * `aud` (a string or an array of strings) must contain one of `audiences`, else
    ///   [`JwtError::WrongAudience`]. The first token audience that is accepted is returned.
    pub fn check_claims(&self, now_unix: i64, audiences: &[String]) -> Result<String, JwtError> {
        let exp = numeric_date(&self.claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
        let nbf = numeric_date(&self.claims, "nbf")?;
        let iat = numeric_date(&self.claims, "iat")?;
        if exp <= now_unix {
            return Err(JwtError::Expired { exp, now: now_unix });
        }
        let latest = now_unix.saturating_add(MAX_FUTURE_SKEW_SECONDS);
        if nbf.is_some_and(|t| t > latest) || iat.is_some_and(|t| t > latest) {
            return Err(JwtError::NotYetValid);
        }
        let token_audiences: Vec<&str> = match self.claims.get("aud") {
            None => return Err(JwtError::MissingClaim("aud")),
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().ok_or(JwtError::InvalidClaim("aud")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(JwtError::InvalidClaim("aud")),
        };
        token_audiences
            .into_iter()
            .find(|a| audiences.iter().any(|accepted| accepted == a))
            .map(str::to_owned)
            .ok_or(JwtError::WrongAudience)
    }
}
