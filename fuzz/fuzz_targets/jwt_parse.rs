//! `decode_unverified`, then `verify_signature` against a JWKS holding one RSA key
//! (generated once per process) and `check_claims`. Nothing may panic, and claims that
//! decode, signed again with that key, must verify (when they carry a string `iss`).
#![no_main]

use std::sync::OnceLock;

use berth_jwt::{JwkSet, MAX_TOKEN_LEN, RsaSigningKey, decode_unverified};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// 2026-08-20T12:00:00Z.
const NOW: i64 = 1_787_227_200;
const KID: &str = "berth-fuzz";

fn key() -> &'static (RsaSigningKey, JwkSet) {
    static KEY: OnceLock<(RsaSigningKey, JwkSet)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaSigningKey::generate(KID).expect("RSA key generation");
        let jwks = JwkSet {
            keys: vec![key.public_jwk()],
        };
        (key, jwks)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let (key, jwks) = key();
    let audiences = ["sts.amazonaws.com".to_owned()];
    let unverified = match decode_unverified(token) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = (unverified.header(), unverified.issuer());
    let claims = unverified.claims().clone();
    match unverified.verify_signature(jwks) {
        Ok(verified) => {
            let _ = verified.check_claims(NOW, &audiences);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    // Round trip through our own signer.
    let has_iss = matches!(claims.get("iss"), Some(Value::String(_)));
    let resigned = key
        .sign(&Value::Object(claims))
        .unwrap_or_else(|e| panic!("signing decoded claims failed: {e}"));
    if resigned.len() > MAX_TOKEN_LEN {
        return;
    }
    let decoded = decode_unverified(&resigned)
        .unwrap_or_else(|e| panic!("our own token does not decode: {e}"));
    assert_eq!(decoded.header().kid.as_deref(), Some(KID));
    match decoded.verify_signature(jwks) {
        Ok(verified) => {
            assert!(has_iss, "verified a token without a string iss");
            let _ = (verified.issuer(), verified.claim_str("sub"));
            let _ = verified.check_claims(NOW, &audiences);
            let _ = verified.check_claims(i64::MIN, &audiences);
            let _ = verified.check_claims(i64::MAX, &[]);
        }
        Err(e) => assert!(!has_iss, "our own signature does not verify: {e}"),
    }
});
