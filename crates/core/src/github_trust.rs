//! The GitHub trust-policy guard: a role whose trust policy lets GitHub's OIDC provider
//! assume it with no condition on the token's `sub` (or `repository` / `repository_id`)
//! can be assumed by any workflow of any repository on GitHub. IAM refuses such a policy
//! (`MalformedPolicyDocument`, aws-semantics §1.3); `berth serve
//! --allow-unscoped-github-trust` turns the check off.

use serde_json::Value;

/// GitHub's issuer host; enterprise issuers add `/<slug>`.
const GITHUB_PROVIDER: &str = "token.actions.githubusercontent.com";
/// Claims that pin the workflow's repository.
const SCOPING_CLAIMS: &[&str] = &["sub", "repository", "repository_id"];

/// `Some(message)` when an `Allow` statement trusts a GitHub OIDC provider for
/// `sts:AssumeRoleWithWebIdentity` without a scoping condition. Expects a document that
/// already parsed as a trust policy.
pub fn unscoped_github_trust(document: &str) -> Option<String> {
    let doc: Value = serde_json::from_str(document).ok()?;
    let statements = match doc.get("Statement")? {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        single => vec![single],
    };
    for statement in statements {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if !allows_web_identity(statement) {
            continue;
        }
        for provider in github_providers(statement) {
            if !scoped(statement.get("Condition"), &provider) {
                return Some(format!(
                    "Trust policy lets any GitHub workflow assume this role: a statement allows sts:AssumeRoleWithWebIdentity for {provider} without a condition on {provider}:sub (or :repository / :repository_id). Add e.g. \"StringLike\": {{\"{provider}:sub\": \"repo:OWNER/REPO:*\"}} (berth serve --allow-unscoped-github-trust turns this check off)"
                ));
            }
        }
    }
    None
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether the statement's action covers `sts:AssumeRoleWithWebIdentity` (`NotAction`
/// that does not exclude it counts too).
fn allows_web_identity(statement: &Value) -> bool {
    let covers = |pattern: &str| {
        wildcard_match(
            pattern.to_ascii_lowercase().as_bytes(),
            b"sts:assumerolewithwebidentity",
        )
    };
    if let Some(actions) = statement.get("Action") {
        strings(Some(actions)).into_iter().any(covers)
    } else {
        !strings(statement.get("NotAction")).into_iter().any(covers)
    }
}

/// IAM action matching: `*` any run, `?` one character (inputs already lowercased).
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The GitHub providers (`token.actions.githubusercontent.com[/slug]`) the statement's
/// `Federated` principal names.
fn github_providers(statement: &Value) -> Vec<String> {
    let Some(Value::Object(principal)) = statement.get("Principal") else {
        return Vec::new();
    };
    strings(principal.get("Federated"))
        .into_iter()
        .filter_map(|arn| arn.split_once(":oidc-provider/").map(|(_, p)| p))
        .filter(|p| {
            p.strip_prefix(GITHUB_PROVIDER)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map(str::to_owned)
        .collect()
}

/// Whether some condition (other than `Null`) tests a scoping claim of `provider` against
/// a value that is not wildcards alone.
fn scoped(condition: Option<&Value>, provider: &str) -> bool {
    let Some(Value::Object(operators)) = condition else {
        return false;
    };
    operators.iter().any(|(operator, block)| {
        if operator.eq_ignore_ascii_case("Null") {
            return false;
        }
        let Value::Object(keys) = block else {
            return false;
        };
        keys.iter().any(|(key, values)| {
            let claim = key
                .to_ascii_lowercase()
                .strip_prefix(&format!("{}:", provider.to_ascii_lowercase()))
                .map(str::to_owned);
            claim.is_some_and(|c| SCOPING_CLAIMS.contains(&c.as_str()))
                && strings(Some(values))
                    .into_iter()
                    .any(|v| !v.chars().all(|c| matches!(c, '*' | '?')))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(principal: &str, action: &str, condition: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":{action}{condition}}}]}}"#
        )
    }
    const GH: &str = r#"{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}"#;
    const ACTION: &str = r#""sts:AssumeRoleWithWebIdentity""#;

    #[test]
    fn wildcards() {
        for (p, yes) in [
            ("*", true),
            ("sts:*", true),
            ("sts:assumerole*", true),
            ("sts:assumerole", false),
            ("s?s:*identity", true),
            ("iam:*", false),
        ] {
            assert_eq!(
                wildcard_match(p.as_bytes(), b"sts:assumerolewithwebidentity"),
                yes,
                "{p}"
            );
        }
    }

    #[test]
    fn refuses_unscoped_github_trust() {
        assert!(unscoped_github_trust(&trust(GH, ACTION, "")).is_some());
        let aud_only = r#","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}"#;
        assert!(unscoped_github_trust(&trust(GH, ACTION, aud_only)).is_some());
        let star = r#","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"*"}}"#;
        assert!(unscoped_github_trust(&trust(GH, ACTION, star)).is_some());
        let null = r#","Condition":{"Null":{"token.actions.githubusercontent.com:sub":"false"}}"#;
        assert!(unscoped_github_trust(&trust(GH, ACTION, null)).is_some());
        assert!(unscoped_github_trust(&trust(GH, r#""sts:*""#, "")).is_some());
        assert!(unscoped_github_trust(&trust(GH, r#"["*"]"#, "")).is_some());
        let enterprise = r#"{"Federated":["arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com/acme"]}"#;
        assert!(unscoped_github_trust(&trust(enterprise, ACTION, "")).is_some());
    }

    #[test]
    fn accepts_scoped_or_other_trust() {
        let sub = r#","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:octo/app:*"}}"#;
        assert_eq!(unscoped_github_trust(&trust(GH, ACTION, sub)), None);
        let repo_id = r#","Condition":{"StringEquals":{"Token.Actions.GithubUserContent.com:Repository_ID":"42"}}"#;
        assert_eq!(unscoped_github_trust(&trust(GH, ACTION, repo_id)), None);
        let other = r#"{"Federated":"arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com.evil"}"#;
        assert_eq!(unscoped_github_trust(&trust(other, ACTION, "")), None);
        let local = r#"{"Federated":"arn:aws:iam::1:oidc-provider/127.0.0.1:8123"}"#;
        assert_eq!(unscoped_github_trust(&trust(local, ACTION, "")), None);
        assert_eq!(
            unscoped_github_trust(&trust(GH, r#""sts:AssumeRole""#, "")),
            None
        );
        let deny = trust(GH, ACTION, "").replace("Allow", "Deny");
        assert_eq!(unscoped_github_trust(&deny), None);
    }
}
