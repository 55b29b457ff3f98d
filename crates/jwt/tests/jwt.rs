//! Sign/verify round trips, refusals and claim checks through the public API.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_jwt::{
    Jwk, JwkSet, JwtError, MAX_TOKEN_LEN, RsaSigningKey, UnverifiedToken, VerifiedToken,
    decode_unverified,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const ISS: &str = "https://token.actions.githubusercontent.com";
const NOW: i64 = 1_755_351_253;

/// RSA generation is slow: one key per test binary.
fn key() -> &'static RsaSigningKey {
    static KEY: OnceLock<RsaSigningKey> = OnceLock::new();
    KEY.get_or_init(|| RsaSigningKey::generate("key-1").unwrap())
}

fn other_key() -> &'static RsaSigningKey {
    static KEY: OnceLock<RsaSigningKey> = OnceLock::new();
    KEY.get_or_init(|| RsaSigningKey::generate("key-2").unwrap())
}

fn jwks() -> JwkSet {
    JwkSet {
        keys: vec![other_key().public_jwk(), key().public_jwk()],
    }
}

/// GitHub-shaped claims: nbf = iat - 600, exp = iat + 300.
fn github_claims() -> Value {
    json!({
        "iss": ISS, "aud": "sts.amazonaws.com", "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
        "repository": "octo-org/octo-repo", "ref": "refs/heads/main", "repository_id": "123",
        "iat": NOW, "nbf": NOW - 600, "exp": NOW + 300, "jti": "abc",
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims.as_object_mut().unwrap().insert(name.into(), value);
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn verified(claims: &Value) -> VerifiedToken {
    decode_unverified(&key().sign(claims).unwrap())
        .unwrap()
        .verify_signature(&jwks())
        .unwrap()
}

fn aud(a: &str) -> Vec<String> {
    vec![a.to_owned()]
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A token with an arbitrary header and signature bytes.
fn forge(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header),
        b64(claims),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[test]
fn round_trip_github_token() {
    let token = key().sign(&github_claims()).unwrap();
    let t = decode_unverified(&token).unwrap();
    assert_eq!(t.header().alg, "RS256");
    assert_eq!(t.header().kid.as_deref(), Some("key-1"));
    assert_eq!(t.header().typ.as_deref(), Some("JWT"));
    assert_eq!(t.issuer(), Some(ISS));
    let v = t.verify_signature(&jwks()).unwrap();
    assert_eq!(v.issuer(), ISS);
    assert_eq!(
        v.claim_str("sub"),
        Some("repo:octo-org/octo-repo:ref:refs/heads/main")
    );
    assert_eq!(v.claims()["repository_id"], "123");
    assert_eq!(
        v.check_claims(NOW, &aud("sts.amazonaws.com")).unwrap(),
        "sts.amazonaws.com"
    );
    // Valid until exp - 1, not at exp.
    assert!(v.check_claims(NOW + 299, &aud("sts.amazonaws.com")).is_ok());
}

#[test]
fn public_jwk_shape_and_persistence() {
    let jwk = key().public_jwk();
    let j = serde_json::to_value(&jwk).unwrap();
    assert_eq!(j["kty"], "RSA");
    assert_eq!(j["alg"], "RS256");
    assert_eq!(j["use"], "sig");
    assert_eq!(j["kid"], "key-1");
    assert_eq!(j["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(j["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
    assert!(j.get("crv").is_none() && j.get("x").is_none());
    // Persist and reload: same public key, tokens still verify.
    let der = key().to_pkcs8_der();
    let reloaded = RsaSigningKey::from_pkcs8_der("key-1", &der).unwrap();
    assert_eq!(reloaded.kid(), "key-1");
    assert_eq!(reloaded.public_jwk(), jwk);
    let token = reloaded.sign(&github_claims()).unwrap();
    decode_unverified(&token)
        .unwrap()
        .verify_signature(&jwks())
        .unwrap();
    assert!(matches!(
        RsaSigningKey::from_pkcs8_der("k", b"not a key"),
        Err(JwtError::InvalidKey(_))
    ));
    // Debug never shows key material.
    let dbg = format!("{:?}", key());
    assert!(dbg.contains("key-1") && dbg.contains("redacted") && dbg.len() < 80);
    // A real GitHub JWKS entry (with x5c/x5t we ignore) parses.
    let set: JwkSet = serde_json::from_str(
        r#"{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"abc","n":"AQAB","e":"AQAB","x5c":["MII"],"x5t":"x"}]}"#,
    )
    .unwrap();
    assert_eq!(set.keys[0].kid.as_deref(), Some("abc"));
    assert!(matches!(
        key().sign(&json!([1])),
        Err(JwtError::Malformed(_))
    ));
}

#[test]
fn jsonwebtoken_accepts_our_tokens() {
    let token = key().sign(&github_claims()).unwrap();
    let jwk = key().public_jwk();
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk.n.as_deref().unwrap(),
        jwk.e.as_deref().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(&token, &dk, &validation).unwrap();
    assert_eq!(
        data.claims["sub"],
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    assert_eq!(data.header.kid.as_deref(), Some("key-1"));
}

fn ec_key(alg: &'static signature::EcdsaSigningAlgorithm, kid: &str, crv: &str) -> (Vec<u8>, Jwk) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let len = (point.len() - 1) / 2;
    let jwk = Jwk {
        kty: "EC".into(),
        kid: Some(kid.into()),
        alg: None,
        use_: Some("sig".into()),
        n: None,
        e: None,
        crv: Some(crv.into()),
        x: Some(URL_SAFE_NO_PAD.encode(&point[1..=len])),
        y: Some(URL_SAFE_NO_PAD.encode(&point[len + 1..])),
    };
    (pkcs8.as_ref().to_vec(), jwk)
}

#[test]
fn ecdsa_tokens_from_jsonwebtoken_verify() {
    for (alg, sign_alg, crv) in [
        (
            jsonwebtoken::Algorithm::ES256,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "P-256",
        ),
        (
            jsonwebtoken::Algorithm::ES384,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "P-384",
        ),
    ] {
        let (pkcs8, jwk) = ec_key(sign_alg, "ec-1", crv);
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some("ec-1".into());
        let token = jsonwebtoken::encode(
            &header,
            &github_claims(),
            &jsonwebtoken::EncodingKey::from_ec_der(&pkcs8),
        )
        .unwrap();
        let set = JwkSet {
            keys: vec![key().public_jwk(), jwk.clone()],
        };
        let v = decode_unverified(&token)
            .unwrap()
            .verify_signature(&set)
            .unwrap();
        assert_eq!(v.issuer(), ISS);
        // Wrong curve on the key: refused before any crypto.
        let bad = JwkSet {
            keys: vec![Jwk {
                crv: Some("P-521".into()),
                ..jwk.clone()
            }],
        };
        assert!(matches!(
            decode_unverified(&token).unwrap().verify_signature(&bad),
            Err(JwtError::KeyMismatch(_))
        ));
        // Another EC key with the same kid: bad signature.
        let (_, other) = ec_key(sign_alg, "ec-1", crv);
        let set = JwkSet { keys: vec![other] };
        assert_eq!(
            decode_unverified(&token)
                .unwrap()
                .verify_signature(&set)
                .unwrap_err(),
            JwtError::BadSignature
        );
    }
}

#[test]
fn es512_and_no_kid_selection() {
    let (pkcs8, jwk) = ec_key(
        &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        "ec-521",
        "P-521",
    );
    let pair =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P521_SHA512_FIXED_SIGNING, &pkcs8).unwrap();
    let header = json!({"alg": "ES512"});
    let input = format!("{}.{}", b64(&header), b64(&github_claims()));
    let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    // No kid: the only EC key is used, RSA keys are ignored.
    let set = JwkSet {
        keys: vec![key().public_jwk(), jwk.clone()],
    };
    decode_unverified(&token)
        .unwrap()
        .verify_signature(&set)
        .unwrap();
    // No kid and two EC keys: ambiguous.
    let set = JwkSet {
        keys: vec![jwk.clone(), jwk],
    };
    assert_eq!(
        decode_unverified(&token)
            .unwrap()
            .verify_signature(&set)
            .unwrap_err(),
        JwtError::KeyNotFound
    );
    // No kid, RS256, one RSA key among EC keys: used.
    let rsa = signature::RsaKeyPair::from_pkcs8(&key().to_pkcs8_der()).unwrap();
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&github_claims())
    );
    let mut sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let no_kid = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
    let set = JwkSet {
        keys: vec![set.keys[0].clone(), key().public_jwk()],
    };
    decode_unverified(&no_kid)
        .unwrap()
        .verify_signature(&set)
        .unwrap();
    // No kid, two RSA keys: ambiguous.
    assert_eq!(
        decode_unverified(&no_kid)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err(),
        JwtError::KeyNotFound
    );
}

#[test]
fn tampered_payload_is_bad_signature() {
    let token = key().sign(&github_claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let evil = with(
        github_claims(),
        "sub",
        json!("repo:evil/repo:ref:refs/heads/main"),
    );
    let tampered = format!("{}.{}.{}", parts[0], b64(&evil), parts[2]);
    assert_eq!(
        decode_unverified(&tampered)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err(),
        JwtError::BadSignature
    );
    // Signed by a key that is not the one named by kid.
    let token = other_key().sign(&github_claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "key-1"});
    let swapped = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
    assert_eq!(
        decode_unverified(&swapped)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err(),
        JwtError::BadSignature
    );
    // Truncated / empty signature.
    let empty_sig = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(
        decode_unverified(&empty_sig)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err(),
        JwtError::BadSignature
    );
}

#[test]
fn refused_algorithms() {
    let claims = github_claims();
    for alg in ["none", "None", "HS256", "HS384", "HS512", "EdDSA", "RS1"] {
        let token = forge(&json!({"alg": alg, "kid": "key-1"}), &claims, b"");
        let err = decode_unverified(&token)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err();
        assert!(
            matches!(err, JwtError::UnsupportedAlgorithm(_)),
            "{alg}: {err:?}"
        );
    }
    // HS256 "signed" with the RSA public key bytes (the classic confusion attack).
    let n = key().public_jwk().n.unwrap();
    let token = forge(
        &json!({"alg": "HS256", "kid": "key-1"}),
        &claims,
        n.as_bytes(),
    );
    assert!(
        matches!(decode_unverified(&token).unwrap().verify_signature(&jwks()), Err(JwtError::UnsupportedAlgorithm(a)) if a == "HS256")
    );
    // ES256 against an RSA key.
    let token = forge(&json!({"alg": "ES256", "kid": "key-1"}), &claims, &[0; 64]);
    assert!(matches!(
        decode_unverified(&token).unwrap().verify_signature(&jwks()),
        Err(JwtError::KeyMismatch(_))
    ));
    // RS384 against a key whose JWK says RS256.
    let token = forge(&json!({"alg": "RS384", "kid": "key-1"}), &claims, &[0; 256]);
    assert!(matches!(
        decode_unverified(&token).unwrap().verify_signature(&jwks()),
        Err(JwtError::KeyMismatch(_))
    ));
    // A key marked for encryption.
    let enc = Jwk {
        use_: Some("enc".into()),
        ..key().public_jwk()
    };
    let token = key().sign(&claims).unwrap();
    let set = JwkSet { keys: vec![enc] };
    assert!(matches!(
        decode_unverified(&token).unwrap().verify_signature(&set),
        Err(JwtError::KeyMismatch(_))
    ));
}

#[test]
fn unknown_kid_is_key_not_found() {
    let token = forge(
        &json!({"alg": "RS256", "kid": "rotated-away"}),
        &github_claims(),
        &[0; 256],
    );
    assert_eq!(
        decode_unverified(&token)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err(),
        JwtError::KeyNotFound
    );
    let token = key().sign(&github_claims()).unwrap();
    assert_eq!(
        decode_unverified(&token)
            .unwrap()
            .verify_signature(&JwkSet::default())
            .unwrap_err(),
        JwtError::KeyNotFound
    );
}

#[test]
fn issuer_required_after_verification() {
    let t = key().sign(&without(github_claims(), "iss")).unwrap();
    assert_eq!(
        decode_unverified(&t)
            .unwrap()
            .verify_signature(&jwks())
            .unwrap_err(),
        JwtError::MissingClaim("iss")
    );
    let t = key().sign(&with(github_claims(), "iss", json!(7))).unwrap();
    let u = decode_unverified(&t).unwrap();
    assert_eq!(u.issuer(), None);
    assert_eq!(
        u.verify_signature(&jwks()).unwrap_err(),
        JwtError::InvalidClaim("iss")
    );
}

#[test]
fn expiry() {
    let v = verified(&github_claims());
    let a = aud("sts.amazonaws.com");
    assert_eq!(
        v.check_claims(NOW + 300, &a),
        Err(JwtError::Expired {
            exp: NOW + 300,
            now: NOW + 300
        })
    );
    assert_eq!(
        v.check_claims(NOW + 301, &a),
        Err(JwtError::Expired {
            exp: NOW + 300,
            now: NOW + 301
        })
    );
    assert_eq!(
        verified(&without(github_claims(), "exp")).check_claims(NOW, &a),
        Err(JwtError::MissingClaim("exp"))
    );
    for bad in [
        json!(1.0e10),
        json!(NOW as f64 + 300.5),
        json!("1755351553"),
        json!(null),
        json!([1]),
    ] {
        let v = verified(&with(github_claims(), "exp", bad.clone()));
        assert_eq!(
            v.check_claims(NOW, &a),
            Err(JwtError::InvalidClaim("exp")),
            "{bad}"
        );
    }
}

#[test]
fn not_yet_valid() {
    let a = aud("sts.amazonaws.com");
    let exp = json!(NOW + 10_000);
    let c = with(github_claims(), "exp", exp);
    assert!(
        verified(&with(c.clone(), "nbf", json!(NOW + 300)))
            .check_claims(NOW, &a)
            .is_ok()
    );
    assert_eq!(
        verified(&with(c.clone(), "nbf", json!(NOW + 301))).check_claims(NOW, &a),
        Err(JwtError::NotYetValid)
    );
    assert!(
        verified(&with(c.clone(), "iat", json!(NOW + 300)))
            .check_claims(NOW, &a)
            .is_ok()
    );
    assert_eq!(
        verified(&with(c.clone(), "iat", json!(NOW + 301))).check_claims(NOW, &a),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        verified(&with(c.clone(), "iat", json!("now"))).check_claims(NOW, &a),
        Err(JwtError::InvalidClaim("iat"))
    );
    assert_eq!(
        verified(&with(c.clone(), "nbf", json!(1.5))).check_claims(NOW, &a),
        Err(JwtError::InvalidClaim("nbf"))
    );
    // Both optional.
    assert!(
        verified(&without(without(c, "nbf"), "iat"))
            .check_claims(NOW, &a)
            .is_ok()
    );
}

#[test]
fn audiences() {
    let accepted = vec![
        "sts.amazonaws.com".to_owned(),
        "https://github.com/octo-org".to_owned(),
    ];
    let v = verified(&with(
        github_claims(),
        "aud",
        json!(["other", "https://github.com/octo-org"]),
    ));
    assert_eq!(
        v.check_claims(NOW, &accepted).unwrap(),
        "https://github.com/octo-org"
    );
    let v = verified(&with(github_claims(), "aud", json!(["other", "another"])));
    assert_eq!(v.check_claims(NOW, &accepted), Err(JwtError::WrongAudience));
    let v = verified(&with(
        github_claims(),
        "aud",
        json!("https://github.com/octo-org"),
    ));
    assert_eq!(
        v.check_claims(NOW, &accepted).unwrap(),
        "https://github.com/octo-org"
    );
    assert_eq!(v.check_claims(NOW, &[]), Err(JwtError::WrongAudience));
    let v = verified(&with(github_claims(), "aud", json!([])));
    assert_eq!(v.check_claims(NOW, &accepted), Err(JwtError::WrongAudience));
    let v = verified(&with(
        github_claims(),
        "aud",
        json!(["sts.amazonaws.com", 5]),
    ));
    assert_eq!(
        v.check_claims(NOW, &accepted),
        Err(JwtError::InvalidClaim("aud"))
    );
    let v = verified(&with(github_claims(), "aud", json!({"a": 1})));
    assert_eq!(
        v.check_claims(NOW, &accepted),
        Err(JwtError::InvalidClaim("aud"))
    );
    let v = verified(&without(github_claims(), "aud"));
    assert_eq!(
        v.check_claims(NOW, &accepted),
        Err(JwtError::MissingClaim("aud"))
    );
    // Case matters.
    let v = verified(&with(github_claims(), "aud", json!("STS.amazonaws.com")));
    assert_eq!(v.check_claims(NOW, &accepted), Err(JwtError::WrongAudience));
}

fn malformed(token: &str) -> bool {
    matches!(decode_unverified(token), Err(JwtError::Malformed(_)))
}

#[test]
fn decoding_refusals() {
    let good = key().sign(&github_claims()).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    assert!(malformed(""));
    assert!(malformed("abc"));
    assert!(malformed(&format!("{}.{}", parts[0], parts[1])));
    assert!(malformed(&format!("{good}.x.y"))); // JWE-like five parts
    assert!(malformed(&format!(
        "{}=.{}.{}",
        parts[0], parts[1], parts[2]
    ))); // padding
    assert!(malformed(&format!("{}.{}.{}", parts[0], "e30+", parts[2]))); // standard alphabet
    assert!(malformed(&forge(
        &json!({"kid": "key-1"}),
        &github_claims(),
        b"s"
    )));
    assert!(malformed(&forge(
        &json!({"alg": 256}),
        &github_claims(),
        b"s"
    )));
    assert!(malformed(&forge(
        &json!({"alg": "RS256", "kid": 1}),
        &github_claims(),
        b"s"
    )));
    assert!(malformed(&forge(
        &json!({"alg": "RS256", "crit": ["exp"]}),
        &github_claims(),
        b"s"
    )));
    assert!(malformed(&forge(
        &json!({"alg": "RS256"}),
        &json!("claims"),
        b"s"
    )));
    assert!(malformed(&forge(&json!(["RS256"]), &github_claims(), b"s")));
    let not_json = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode("{not json"),
        parts[2]
    );
    assert!(malformed(&not_json));
    // Size cap, before any parsing.
    let big = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(decode_unverified(&big).unwrap_err(), JwtError::TooLarge);
    let pad = "x".repeat(MAX_TOKEN_LEN);
    let big_token = key()
        .sign(&with(github_claims(), "pad", json!(pad)))
        .unwrap();
    assert_eq!(
        decode_unverified(&big_token).unwrap_err(),
        JwtError::TooLarge
    );
    // Error messages never echo the token.
    let err =
        decode_unverified(&format!("{}.{}.{}", parts[0], "bm90IGpzb24", parts[2])).unwrap_err();
    assert!(!err.to_string().contains(parts[0]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(s in "\\PC{0,400}") {
        if let Ok(t) = decode_unverified(&s) {
            let _ = t.issuer();
            let _ = t.verify_signature(&jwks());
        }
    }

    #[test]
    fn structured_tokens_never_panic(
        header in prop::sample::select(vec![
            json!({"alg": "RS256", "kid": "key-1"}), json!({"alg": "RS256"}), json!({"alg": "ES256"}),
            json!({"alg": "PS256", "kid": "key-2"}), json!({"alg": "ES512", "kid": "key-1"}),
        ]),
        exp in prop::option::of(any::<i64>()), nbf in prop::option::of(any::<i64>()),
        aud in prop::option::of("[a-z.]{0,12}"), sig in prop::collection::vec(any::<u8>(), 0..300),
        now in any::<i64>(),
    ) {
        let mut claims = json!({"iss": ISS});
        if let Some(e) = exp { claims = with(claims, "exp", json!(e)); }
        if let Some(n) = nbf { claims = with(claims, "nbf", json!(n)); }
        if let Some(a) = aud { claims = with(claims, "aud", json!(a)); }
        let token = forge(&header, &claims, &sig);
        let t: UnverifiedToken = decode_unverified(&token).unwrap();
        prop_assert!(t.verify_signature(&jwks()).is_err());
        // Claim checks on arbitrary values never panic either.
        let v = verified(&claims);
        let _ = v.check_claims(now, &["sts.amazonaws.com".to_owned()]);
    }

    #[test]
    fn arbitrary_jwks_never_panic(
        n in "[A-Za-z0-9_-]{0,40}", e in "[A-Za-z0-9_-]{0,8}", x in "[A-Za-z0-9_-]{0,90}", y in "[A-Za-z0-9_-]{0,90}",
        kty in prop::sample::select(vec!["RSA", "EC", "oct"]), crv in prop::sample::select(vec!["P-256", "P-384", "P-521", "X"]),
    ) {
        let jwk = Jwk { kty: kty.into(), kid: Some("key-1".into()), alg: None, use_: None,
            n: Some(n), e: Some(e), crv: Some(crv.into()), x: Some(x), y: Some(y) };
        let set = JwkSet { keys: vec![jwk] };
        for alg in ["RS256", "PS512", "ES256", "ES384", "ES512"] {
            let token = forge(&json!({"alg": alg, "kid": "key-1"}), &github_claims(), &[1; 64]);
            prop_assert!(decode_unverified(&token).unwrap().verify_signature(&set).is_err());
        }
    }
}
