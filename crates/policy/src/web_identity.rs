//! The condition keys STS sets from a web identity token when it evaluates a role's trust
//! policy for `AssumeRoleWithWebIdentity`. One place, used by STS itself and by
//! `berth policy explain --token`, so the explanation sees exactly the keys STS sees.
//!
//! AWS: "Available keys for AWS OIDC federation" (IAM User Guide, IAM and AWS STS
//! condition context keys) and "Configuring a role for GitHub OIDC identity provider".

use serde_json::{Map, Value};

use crate::{Context, Explanation, Policy, PolicySet, Principal, PrincipalKind, Request, explain};

/// The action a web identity token is checked for.
const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

/// GitHub Actions' issuer host, which is also the condition-key prefix of its claims.
pub const GITHUB_PROVIDER: &str = "token.actions.githubusercontent.com";

/// GitHub claims STS exposes as `<provider>:<claim>` condition keys in trust policies
/// (besides `sub`, `aud` and `amr`).
pub const GITHUB_CLAIM_KEYS: &[&str] = &[
    "actor",
    "actor_id",
    "enterprise",
    "enterprise_id",
    "environment",
    "event_name",
    "job_workflow_ref",
    "ref",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "runner_environment",
    "workflow",
    "workflow_ref",
];

/// The provider's URL as IAM stores it and as condition keys are prefixed: the issuer
/// without its scheme and without a trailing `/` (`token.actions.githubusercontent.com`).
/// `http://` only reaches here for the loopback providers `--dev` allows
/// (`127.0.0.1:8123`); the scheme never appears in a key.
pub fn provider_url(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
        .trim_end_matches('/')
}

/// Inserts the token's keys into `context`: `<provider>:sub`, `<provider>:aud` (the
/// audience that matched one of the provider's client IDs), `<provider>:amr`, GitHub's
/// claims when the issuer is GitHub's, and `aws:FederatedProvider` (the provider's ARN).
pub fn insert_token_keys(
    context: &mut Context,
    issuer: &str,
    provider_arn: &str,
    claims: &Map<String, Value>,
    audience: &str,
) {
    let provider = provider_url(issuer);
    let key = |claim: &str| format!("{provider}:{claim}");
    if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
        context.insert(&key("sub"), sub);
    }
    context.insert(&key("aud"), audience);
    if let Some(amr) = claims.get("amr") {
        let values: Vec<String> = match amr {
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        context.insert_multi(&key("amr"), values);
    }
    if provider == GITHUB_PROVIDER {
        for claim in GITHUB_CLAIM_KEYS {
            if let Some(v) = claims.get(*claim).and_then(Value::as_str) {
                context.insert(&key(claim), v);
            }
        }
    }
    context.insert("aws:FederatedProvider", provider_arn);
}

/// The claims AWS reads session attributes from (IAM: "Passing session tags using
/// AssumeRoleWithWebIdentity", "Monitor and control actions taken with assumed roles").
pub const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";

/// `SourceIdentity`: 2-64 characters of `[\w+=,.@-]`, and not starting with `aws:`.
pub fn valid_source_identity(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
        })
        && !s.to_ascii_lowercase().starts_with("aws:")
}

/// A token's source identity, session tags and transitive tag keys, as STS reads them.
/// The tags' own rules (count, characters, duplicate keys) are checked by STS with the
/// request's tags; here only the claims' shapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSessionAttributes {
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
}

/// Source identity and session tags from a web identity token's claims; `Err` holds the
/// message for STS's `InvalidIdentityToken` when a claim has the wrong shape.
pub fn token_session_attributes(
    claims: &Map<String, Value>,
) -> Result<TokenSessionAttributes, String> {
    let source_identity = match claims.get(SOURCE_IDENTITY_CLAIM) {
        None => None,
        Some(Value::String(s)) if valid_source_identity(s) => Some(s.clone()),
        Some(_) => {
            return Err(format!(
                "The {SOURCE_IDENTITY_CLAIM} claim must be 2-64 characters of [\\w+=,.@-]"
            ));
        }
    };
    let Some(tags_claim) = claims.get(TAGS_CLAIM) else {
        return Ok(TokenSessionAttributes {
            source_identity,
            ..TokenSessionAttributes::default()
        });
    };
    let invalid = || {
        format!(
            "The {TAGS_CLAIM} claim must be {{\"principal_tags\": {{KEY: [VALUE]}}, \"transitive_tag_keys\": [KEY]}}"
        )
    };
    let mut tags = Vec::new();
    if let Some(principal_tags) = tags_claim.get("principal_tags") {
        for (key, value) in principal_tags.as_object().ok_or_else(invalid)? {
            // One value per key, as a one-element array (AWS's documented form) or a string.
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Array(values) => match values.as_slice() {
                    [Value::String(s)] => s.clone(),
                    _ => return Err(invalid()),
                },
                _ => return Err(invalid()),
            };
            tags.push((key.clone(), value));
        }
    }
    let transitive_tag_keys = match tags_claim.get("transitive_tag_keys") {
        None => Vec::new(),
        Some(keys) => keys
            .as_array()
            .ok_or_else(invalid)?
            .iter()
            .map(|k| k.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect::<Result<_, _>>()?,
    };
    Ok(TokenSessionAttributes {
        source_identity,
        tags,
        transitive_tag_keys,
    })
}

/// A token explained against a trust policy, with the choices made on the way.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenExplanation {
    pub provider_arn: String,
    pub role_arn: String,
    /// The audience used as `<provider>:aud`.
    pub audience: String,
    pub explanation: Explanation,
}

/// Explains how STS would decide `AssumeRoleWithWebIdentity` for a token with `issuer` and
/// `claims` against the role trust policy `trust`. The token is taken as given: whoever
/// calls this must say whether it was verified.
///
/// The provider ARN is the trust policy's `Federated` principal for the token's issuer, or
/// else one in the role's account (or `000000000000`); the role ARN defaults to a role in
/// the provider's account. The audience is `sts.amazonaws.com` when the token lists it,
/// else its first. `context` holds keys the caller sets besides the token's (time).
pub fn explain_token(
    trust: &Policy,
    issuer: &str,
    claims: &Map<String, Value>,
    role_arn: Option<&str>,
    mut context: Context,
) -> TokenExplanation {
    let provider = provider_url(issuer);
    let suffix = format!(":oidc-provider/{provider}");
    let provider_arn = trust
        .federated_principals()
        .find(|f| f.ends_with(&suffix))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let account = role_arn
                .and_then(|r| r.split(':').nth(4))
                .filter(|a| !a.is_empty())
                .unwrap_or("000000000000");
            format!("arn:aws:iam::{account}{suffix}")
        });
    let account = provider_arn
        .split(':')
        .nth(4)
        .unwrap_or_default()
        .to_owned();
    let role_arn = role_arn
        .map(str::to_owned)
        .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/explained-role"));
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let audience = audiences
        .iter()
        .find(|a| **a == "sts.amazonaws.com")
        .or(audiences.first())
        .copied()
        .unwrap_or_default()
        .to_owned();
    insert_token_keys(&mut context, issuer, &provider_arn, claims, &audience);
    let set = PolicySet {
        resource: Some(("trust", trust)),
        resource_account: role_arn.split(':').nth(4),
        resource_required: true,
        ..PolicySet::default()
    };
    let request = Request {
        principal: Principal {
            kind: PrincipalKind::Federated,
            arn: &provider_arn,
            role_arn: None,
            role_id: None,
            account: role_arn.split(':').nth(4),
        },
        action: ASSUME_ROLE_WITH_WEB_IDENTITY,
        resource: &role_arn,
        context: &context,
    };
    let explanation = explain(&set, &request);
    TokenExplanation {
        provider_arn,
        role_arn,
        audience,
        explanation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_token_keys() {
        let claims = serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:acme/app:ref:refs/heads/main",
            "aud": ["sts.amazonaws.com", "other"],
            "job_workflow_ref": "acme/wf/.github/workflows/b.yml@refs/heads/main",
            "repository_id": "42",
            "run_id": "7",
            "amr": ["a", "b"],
        });
        let mut context = Context::new();
        let arn = "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com";
        insert_token_keys(
            &mut context,
            "https://token.actions.githubusercontent.com/",
            arn,
            claims.as_object().unwrap(),
            "sts.amazonaws.com",
        );
        let get = |k: &str| context.get(k).map(<[String]>::to_vec);
        let one = |v: &str| Some(vec![v.to_owned()]);
        let p = GITHUB_PROVIDER;
        assert_eq!(
            get(&format!("{p}:sub")),
            one("repo:acme/app:ref:refs/heads/main")
        );
        assert_eq!(get(&format!("{p}:aud")), one("sts.amazonaws.com"));
        assert_eq!(get(&format!("{p}:repository_id")), one("42"));
        assert_eq!(
            get(&format!("{p}:job_workflow_ref")),
            one("acme/wf/.github/workflows/b.yml@refs/heads/main")
        );
        assert_eq!(get(&format!("{p}:amr")).map(|v| v.len()), Some(2));
        // Claims GitHub sets but STS does not expose stay out.
        assert_eq!(get(&format!("{p}:run_id")), None);
        assert_eq!(get("aws:FederatedProvider"), one(arn));
    }

    #[test]
    fn explains_a_token_against_a_trust_policy() {
        let trust = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
                "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
                "Action":"sts:AssumeRoleWithWebIdentity",
                "Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}}}"#,
            crate::PolicyKind::Trust,
        )
        .unwrap();
        let claims = serde_json::json!({"sub": "repo:acme/app:environment:prod", "aud": "sts.amazonaws.com"});
        let e = explain_token(
            &trust,
            "https://token.actions.githubusercontent.com",
            claims.as_object().unwrap(),
            None,
            Context::new(),
        );
        assert_eq!(
            e.provider_arn,
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        );
        assert_eq!(e.role_arn, "arn:aws:iam::123456789012:role/explained-role");
        assert_eq!(e.explanation.decision, crate::Decision::ImplicitDeny);
        let main = serde_json::json!({"sub": "repo:acme/app:ref:refs/heads/main", "aud": ["x", "sts.amazonaws.com"]});
        let e = explain_token(
            &trust,
            "https://token.actions.githubusercontent.com",
            main.as_object().unwrap(),
            Some("arn:aws:iam::123456789012:role/R"),
            Context::new(),
        );
        assert_eq!(e.audience, "sts.amazonaws.com");
        assert_eq!(e.explanation.decision, crate::Decision::Allow);
    }

    #[test]
    fn session_attributes_from_claims() {
        let claims = serde_json::json!({
            "https://aws.amazon.com/source_identity": "octocat",
            "https://aws.amazon.com/tags": {
                "principal_tags": {"team": ["build"], "env": "prod"},
                "transitive_tag_keys": ["team"],
            },
        });
        let a = token_session_attributes(claims.as_object().unwrap()).unwrap();
        assert_eq!(a.source_identity.as_deref(), Some("octocat"));
        assert_eq!(a.tags.len(), 2);
        assert!(a.tags.contains(&("team".into(), "build".into())));
        assert_eq!(a.transitive_tag_keys, vec!["team".to_owned()]);
        assert_eq!(
            token_session_attributes(&Map::new()).unwrap(),
            TokenSessionAttributes::default()
        );
        for bad in [
            serde_json::json!({"https://aws.amazon.com/source_identity": "aws:x"}),
            serde_json::json!({"https://aws.amazon.com/source_identity": 7}),
            serde_json::json!({"https://aws.amazon.com/tags": {"principal_tags": {"k": ["a", "b"]}}}),
            serde_json::json!({"https://aws.amazon.com/tags": {"principal_tags": {"k": [1]}}}),
            serde_json::json!({"https://aws.amazon.com/tags": {"principal_tags": []}}),
            serde_json::json!({"https://aws.amazon.com/tags": {"transitive_tag_keys": "k"}}),
        ] {
            assert!(
                token_session_attributes(bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_issuers_get_only_the_standard_keys() {
        let claims = serde_json::json!({"sub": "s", "ref": "r"});
        let mut context = Context::new();
        insert_token_keys(
            &mut context,
            "https://idp.example/realm",
            "arn:aws:iam::1:oidc-provider/idp.example/realm",
            claims.as_object().unwrap(),
            "client",
        );
        assert!(context.get("idp.example/realm:sub").is_some());
        assert!(context.get("idp.example/realm:ref").is_none());
        assert_eq!(provider_url("idp.example/realm"), "idp.example/realm");
    }
}
