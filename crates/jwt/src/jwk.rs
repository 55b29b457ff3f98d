//! JSON Web Keys (RFC 7517) and the public-key material they carry.

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::JwtError;

/// A JWKS document (`{"keys": [...]}`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct JwkSet {
    /// The keys; unknown members of each key (`x5c`, `x5t`, ...) are ignored.
    pub keys: Vec<Jwk>,
}

/// One public JSON Web Key (RSA or EC).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// Key type: `RSA` or `EC`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm, e.g. `RS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use, `sig` or `enc`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC curve: `P-256`, `P-384`, `P-521`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// The signature algorithms we verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
}

impl Algorithm {
    /// Parses a JWS `alg`; `none`, `HS*` and anything unknown are refused.
    pub(crate) fn parse(alg: &str) -> Result<Self, JwtError> {
        Ok(match alg {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ES512" => Self::Es512,
            other => {
                let shown = if other.len() <= 16 && other.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    other.to_owned()
                } else {
                    "<invalid>".to_owned()
                };
                return Err(JwtError::UnsupportedAlgorithm(shown));
            }
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    pub(crate) fn kty(self) -> &'static str {
        match self {
            Self::Es256 | Self::Es384 | Self::Es512 => "EC",
            _ => "RSA",
        }
    }
}

fn b64(field: &'static str, value: Option<&String>) -> Result<Vec<u8>, JwtError> {
    let value = value.ok_or_else(|| JwtError::InvalidKey(format!("JWK is missing `{field}`")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| JwtError::InvalidKey(format!("JWK `{field}` is not base64url")))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

impl Jwk {
    /// Can this key verify tokens signed with `alg`? Checks kty, `alg` (when the key
    /// names one), `use` (when present) and, for EC, the curve.
    pub(crate) fn check_usable_for(&self, alg: Algorithm) -> Result<(), JwtError> {
        if self.kty != alg.kty() {
            return Err(JwtError::KeyMismatch(format!(
                "{} needs a {} key",
                alg.name(),
                alg.kty()
            )));
        }
        if let Some(key_alg) = &self.alg
            && key_alg != alg.name()
        {
            return Err(JwtError::KeyMismatch(format!(
                "key is restricted to another algorithm than {}",
                alg.name()
            )));
        }
        if let Some(use_) = &self.use_
            && use_ != "sig"
        {
            return Err(JwtError::KeyMismatch("key is not a signature key".into()));
        }
        if alg.kty() == "EC" {
            let want = match alg {
                Algorithm::Es256 => "P-256",
                Algorithm::Es384 => "P-384",
                _ => "P-521",
            };
            if self.crv.as_deref() != Some(want) {
                return Err(JwtError::KeyMismatch(format!(
                    "{} needs curve {want}",
                    alg.name()
                )));
            }
        }
        Ok(())
    }

    /// Verifies `signature` over `message` with this key (after [`Self::check_usable_for`]).
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), JwtError> {
        self.check_usable_for(alg)?;
        parsed_key(self, alg)?
            .verify_sig(message, sig)
            .map_err(|_| JwtError::BadSignature)
    }

    /// The key material in aws-lc's parsed form, for `alg`.
    fn parse(&self, alg: Algorithm) -> Result<ParsedPublicKey, JwtError> {
        match alg {
            Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512 => {
                let (len, params) = match alg {
                    Algorithm::Es256 => (32, &signature::ECDSA_P256_SHA256_FIXED),
                    Algorithm::Es384 => (48, &signature::ECDSA_P384_SHA384_FIXED),
                    _ => (66, &signature::ECDSA_P521_SHA512_FIXED),
                };
                let x = b64("x", self.x.as_ref())?;
                let y = b64("y", self.y.as_ref())?;
                if x.len() != len || y.len() != len {
                    return Err(JwtError::InvalidKey(
                        "EC coordinates have the wrong length".into(),
                    ));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                // A point off the curve cannot verify anything: the same answer as a bad
                // signature, as before keys were parsed ahead.
                ParsedPublicKey::new(params, point).map_err(|_| JwtError::BadSignature)
            }
            _ => {
                let params = match alg {
                    Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                let n = b64("n", self.n.as_ref())?;
                let e = b64("e", self.e.as_ref())?;
                let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
                if n.is_empty() || e.is_empty() {
                    return Err(JwtError::InvalidKey(
                        "RSA modulus or exponent is zero".into(),
                    ));
                }
                // The modulus size (2048 to 8192 bits) is checked at each verification.
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(|_| JwtError::BadSignature)
            }
        }
    }
}

/// A key parsed for one algorithm, with the material it was parsed from (`n`, `e`, `crv`,
/// `x`, `y` as the JWK spells them), so equal JWKs from any issuer share one parse.
struct ParsedEntry {
    alg: Algorithm,
    material: [Option<String>; 5],
    key: Arc<ParsedPublicKey>,
}

fn material(jwk: &Jwk) -> [Option<&str>; 5] {
    [&jwk.n, &jwk.e, &jwk.crv, &jwk.x, &jwk.y].map(Option::as_deref)
}

/// Bound of the parsed-key cache.
const PARSED_KEYS_LIMIT: usize = 64;

/// Keys parsed once per process. Parsing an RSA key (its Montgomery constants) costs about
/// as much as verifying with it, and the same few keys verify every token. Only keys of
/// registered providers' fetched key sets (and the dev issuer's) get here, and the cache is
/// emptied when it reaches [`PARSED_KEYS_LIMIT`]; so a short list, searched in place
/// without allocating.
fn parsed_key(jwk: &Jwk, alg: Algorithm) -> Result<Arc<ParsedPublicKey>, JwtError> {
    static PARSED: Mutex<Vec<ParsedEntry>> = Mutex::new(Vec::new());
    let wanted = material(jwk);
    let find = |entries: &[ParsedEntry]| {
        entries
            .iter()
            .find(|e| e.alg == alg && e.material.each_ref().map(Option::as_deref) == wanted)
            .map(|e| Arc::clone(&e.key))
    };
    let lock = || {
        PARSED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(key) = find(&lock()) {
        return Ok(key);
    }
    let key = Arc::new(jwk.parse(alg)?);
    let mut entries = lock();
    if entries.len() >= PARSED_KEYS_LIMIT {
        entries.clear();
    }
    entries.push(ParsedEntry {
        alg,
        material: wanted.map(|m| m.map(str::to_owned)),
        key: Arc::clone(&key),
    });
    Ok(key)
}
