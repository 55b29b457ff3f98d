//! JSON Web Tokens for Berth: decoding a compact JWS (the GitHub Actions OIDC token given
//! to `AssumeRoleWithWebIdentity`), verifying its signature against the issuer's JWKS,
//! checking `exp`/`nbf`/`iat`/`aud`, and signing our own RS256 tokens.
//!
//! Pure logic: no I/O, no clock (the current time is a parameter, unix seconds). Fetching
//! the JWKS and caching it is the caller's job. All crypto is aws-lc-rs.
//!
//! Typical server flow (aws-semantics §1.2):
//! `decode_unverified` → look up the provider by `issuer()` → `verify_signature(&jwks)` →
//! `check_claims(now, &provider.client_ids)`.

mod error;
mod jwk;
mod signing;
mod token;

pub use error::JwtError;
pub use jwk::{Jwk, JwkSet};
pub use signing::RsaSigningKey;
pub use token::{
    Header, MAX_FUTURE_SKEW_SECONDS, UnverifiedToken, VerifiedToken, decode_unverified,
};

/// Largest token accepted (STS `WebIdentityToken` limit).
pub const MAX_TOKEN_LEN: usize = 20_000;
