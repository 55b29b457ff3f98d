//! The steps after a web identity token's signature verified, on its (untrusted) claims:
//! the claims that become trust-policy condition keys (`insert_token_keys`), the session
//! attributes STS reads from them (`token_session_attributes`: source identity, session
//! tags, transitive tag keys), and `explain_token` (`berth policy explain --token`).
//! The input is the claims' JSON. Nothing may panic, and what comes out must be what went
//! in: the keys hold the token's `sub` and the matched audience, a source identity that was
//! accepted obeys STS's rules, and every tag comes from the claim.
#![no_main]

use std::sync::OnceLock;

use berth_policy::web_identity::{
    GITHUB_PROVIDER, TAGS_CLAIM, explain_token, insert_token_keys, token_session_attributes,
    valid_source_identity,
};
use berth_policy::{Context, Policy, PolicyKind};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_ARN: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

fn trust() -> &'static Policy {
    static TRUST: OnceLock<Policy> = OnceLock::new();
    TRUST.get_or_init(|| {
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
                "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
                "Action":"sts:AssumeRoleWithWebIdentity",
                "Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},
                             "StringLike":{"token.actions.githubusercontent.com:sub":"repo:octo/*"}}}}"#,
            PolicyKind::Trust,
        )
        .expect("the fuzz target's trust policy parses")
    })
}

fn check_keys(issuer: &str, claims: &Map<String, Value>) {
    let mut context = Context::new();
    let audience = "sts.amazonaws.com";
    insert_token_keys(&mut context, issuer, GITHUB_ARN, claims, audience);
    let provider = berth_policy::web_identity::provider_url(issuer);
    let one = |v: &str| Some(vec![v.to_owned()]);
    let get = |k: &str| context.get(k).map(<[String]>::to_vec);
    assert_eq!(get(&format!("{provider}:aud")), one(audience));
    assert_eq!(get("aws:FederatedProvider"), one(GITHUB_ARN));
    match claims.get("sub") {
        Some(Value::String(sub)) => assert_eq!(get(&format!("{provider}:sub")), one(sub)),
        _ => assert_eq!(get(&format!("{provider}:sub")), None),
    }
    if provider != GITHUB_PROVIDER {
        assert_eq!(get(&format!("{provider}:repository")), None);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check_keys(GITHUB_ISSUER, &claims);
    check_keys("https://idp.example/realm/", &claims);
    if let Some(Value::String(iss)) = claims.get("iss") {
        check_keys(iss, &claims);
        let _ = explain_token(trust(), iss, &claims, None, Context::new());
    }
    let explained = explain_token(
        trust(),
        GITHUB_ISSUER,
        &claims,
        Some("arn:aws:iam::123456789012:role/r"),
        Context::new(),
    );
    let _ = explained.explanation.summary();

    match token_session_attributes(&claims) {
        Ok(attributes) => {
            if let Some(s) = &attributes.source_identity {
                assert!(valid_source_identity(s), "accepted source identity {s:?}");
            }
            let principal_tags = claims
                .get(TAGS_CLAIM)
                .and_then(|t| t.get("principal_tags"))
                .and_then(Value::as_object);
            assert_eq!(
                attributes.tags.len(),
                principal_tags.map_or(0, Map::len),
                "every principal tag, and nothing else"
            );
            for (key, _) in &attributes.tags {
                assert!(principal_tags.is_some_and(|t| t.contains_key(key)));
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
