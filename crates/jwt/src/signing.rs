//! Our own RS256 signing key (Berth issues tokens too, e.g. for the registry).

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::{Jwk, JwtError};

/// An RSA private key with its key id. `Debug` shows only the kid.
pub struct RsaSigningKey {
    kid: String,
    key: RsaKeyPair,
    pkcs8: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Reads one DER TLV with the expected tag; returns (contents, rest).
fn der_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, after) = (rest.get(..count)?, rest.get(count..)?);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// (n, e) from an RFC 8017 `RSAPublicKey` DER, without leading zero bytes.
fn rsa_public_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (seq, _) = der_tlv(der, 0x30)?;
    let (n, rest) = der_tlv(seq, 0x02)?;
    let (e, _) = der_tlv(rest, 0x02)?;
    let strip = |b: &[u8]| -> Vec<u8> {
        let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        b.get(first..).unwrap_or_default().to_vec()
    };
    let (n, e) = (strip(n), strip(e));
    (!n.is_empty() && !e.is_empty()).then_some((n, e))
}

impl RsaSigningKey {
    fn from_key(kid: &str, key: RsaKeyPair) -> Result<Self, JwtError> {
        let pkcs8 = key
            .as_der()
            .map_err(|_| JwtError::Crypto)?
            .as_ref()
            .to_vec();
        let (n, e) = rsa_public_components(key.public_key().as_ref())
            .ok_or_else(|| JwtError::InvalidKey("cannot read the RSA public key".into()))?;
        Ok(Self {
            kid: kid.to_owned(),
            key,
            pkcs8,
            n,
            e,
        })
    }

    /// Generates a new RSA 2048 key.
    pub fn generate(kid: &str) -> Result<Self, JwtError> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JwtError::Crypto)?;
        Self::from_key(kid, key)
    }

    /// Loads a key persisted with [`Self::to_pkcs8_der`] (unencrypted PKCS#8 v1).
    pub fn from_pkcs8_der(kid: &str, der: &[u8]) -> Result<Self, JwtError> {
        let key = RsaKeyPair::from_pkcs8(der)
            .map_err(|_| JwtError::InvalidKey("not an RSA PKCS#8 private key".into()))?;
        Self::from_key(kid, key)
    }

    /// The private key as unencrypted PKCS#8 DER, for persisting.
    #[must_use]
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.pkcs8.clone()
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK: `kty` RSA, `alg` RS256, `use` sig, `kid`, `n`, `e`.
    #[must_use]
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            kid: Some(self.kid.clone()),
            alg: Some("RS256".into()),
            use_: Some("sig".into()),
            n: Some(URL_SAFE_NO_PAD.encode(&self.n)),
            e: Some(URL_SAFE_NO_PAD.encode(&self.e)),
            crv: None,
            x: None,
            y: None,
        }
    }

    /// Signs `claims` (a JSON object) as a compact JWS with header
    /// `{"typ":"JWT","alg":"RS256","kid":...}`.
    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        if !claims.is_object() {
            return Err(JwtError::Malformed("claims must be a JSON object".into()));
        }
        let header = serde_json::json!({ "typ": "JWT", "alg": "RS256", "kid": self.kid });
        let header = serde_json::to_vec(&header).map_err(|_| JwtError::Crypto)?;
        let claims = serde_json::to_vec(claims).map_err(|_| JwtError::Crypto)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut sig,
            )
            .map_err(|_| JwtError::Crypto)?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_rejects_garbage() {
        assert_eq!(rsa_public_components(&[]), None);
        assert_eq!(rsa_public_components(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(rsa_public_components(&[0x30, 0x03, 0x02, 0x05, 0x00]), None);
        assert_eq!(
            rsa_public_components(&[0x30, 0x06, 0x02, 0x02, 0x00, 0x81, 0x02, 0x00, 0x03]),
            None,
            "empty e"
        );
        assert_eq!(
            rsa_public_components(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x81, 0x02, 0x01, 0x03]),
            Some((vec![0x81], vec![0x03]))
        );
    }
}
