//! The one error type of JWT handling. Messages never contain the token, a claim value
//! or key material.

/// Why a token (or a key) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS with a JSON object header and claims.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Longer than [`crate::MAX_TOKEN_LEN`].
    #[error("token is longer than {} characters", crate::MAX_TOKEN_LEN)]
    TooLarge,
    /// `alg` is `none`, an HMAC algorithm, or otherwise not supported.
    #[error("unsupported signing algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// No key in the JWKS for the token's `kid` (or, without a `kid`, not exactly one
    /// key of the right type).
    #[error("no matching key in the JWKS")]
    KeyNotFound,
    /// The selected key cannot be used with the token's `alg` (kty, crv, alg or use
    /// disagree).
    #[error("key does not match the token algorithm: {0}")]
    KeyMismatch(String),
    /// A JWK or a private key could not be used (bad encoding, too small, ...).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// A required claim is absent.
    #[error("token is missing the `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type (e.g. a non-integer `exp`).
    #[error("token claim `{0}` has an invalid type or value")]
    InvalidClaim(&'static str),
    /// `exp` is not after `now`.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The time it was checked at.
        now: i64,
    },
    /// `nbf` or `iat` lies more than the allowed skew in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// No `aud` value is among the accepted audiences.
    #[error("incorrect token audience")]
    WrongAudience,
    /// Key generation or signing failed inside the crypto library.
    #[error("cryptographic operation failed")]
    Crypto,
}
