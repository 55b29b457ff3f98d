//! Lint for role trust policies, above all those trusting GitHub's OIDC provider: the
//! mistakes that have let any GitHub workflow assume a role in someone's AWS account.
//!
//! Works on the document as written (JSON pointers into it), read leniently so that
//! duplicate member names, which the policy reader refuses, become findings.
//!
//! Sources: IAM User Guide, "Creating a role for web identity or OpenID Connect Federation"
//! and "Configuring a role for GitHub OIDC identity provider"; GitHub Docs, "About security
//! hardening with OpenID Connect" (subject formats, immutable `owner@id/repo@id` subjects).

use serde::Serialize;

use crate::json::{Json, escape_token, member};
use crate::web_identity::GITHUB_PROVIDER;
use crate::{Policy, PolicyKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem: where it is (a JSON pointer into the document), what and why, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable name for the rule, e.g. `no-sub-condition`.
    pub rule: &'static str,
    pub pointer: String,
    pub message: String,
    pub why: String,
    pub fix: String,
}

/// The input is not a JSON document at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not JSON: {0}")]
pub struct NotJson(pub String);

/// Lints one trust policy document.
pub fn lint(text: &str) -> Result<Vec<Finding>, NotJson> {
    let (doc, duplicates) = Json::parse_lenient(text).map_err(|e| NotJson(e.to_string()))?;
    let mut findings = Vec::new();
    for pointer in duplicates {
        findings.push(Finding {
            severity: Severity::Error,
            rule: "duplicate-key",
            message: format!("member `{}` appears more than once", last_token(&pointer)),
            pointer,
            why: "JSON readers disagree about duplicate keys; IAM keeps the last one silently, so \
                  a reviewer reading the first sees a different policy from the one enforced"
                .into(),
            fix: "keep one member; merge the values into it".into(),
        });
    }
    // Validation as IAM would do it, on the document as IAM reads it (last duplicate wins).
    if let Err(e) = Policy::parse(&doc.to_text(), PolicyKind::Trust) {
        findings.push(Finding {
            severity: Severity::Error,
            rule: "invalid-policy",
            pointer: e.pointer.clone(),
            message: format!("IAM rejects this trust policy: MalformedPolicyDocument: {e}"),
            why: "IAM refuses to create or update the role with this document".into(),
            fix: "correct the element at the location given".into(),
        });
    }
    let statements = statements(&doc);
    for s in &statements {
        lint_statement(s, &mut findings);
    }
    lint_job_workflow_ref(&statements, &mut findings);
    Ok(findings)
}

fn last_token(pointer: &str) -> String {
    pointer
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace("~1", "/")
        .replace("~0", "~")
}

/// A condition value as written, with its location.
struct Value<'a> {
    pointer: String,
    text: &'a str,
}

struct ConditionEntry<'a> {
    operator: &'a str,
    key: &'a str,
    pointer: String,
    values: Vec<Value<'a>>,
}

impl ConditionEntry<'_> {
    /// The operator without `ForAllValues:`/`ForAnyValue:` and `IfExists`.
    fn base(&self) -> &str {
        let op = self
            .operator
            .strip_prefix("ForAllValues:")
            .or_else(|| self.operator.strip_prefix("ForAnyValue:"))
            .unwrap_or(self.operator);
        op.strip_suffix("IfExists").unwrap_or(op)
    }

    /// A positive string test: it restricts the key to the values listed.
    fn restricts(&self) -> bool {
        matches!(
            self.base(),
            "StringEquals" | "StringLike" | "StringEqualsIgnoreCase"
        )
    }
}

struct Stmt<'a> {
    pointer: String,
    allow: bool,
    /// The GitHub provider's key prefix (`token.actions.githubusercontent.com`, or with an
    /// enterprise path) when the statement trusts GitHub's OIDC provider.
    github: Option<String>,
    conditions: Vec<ConditionEntry<'a>>,
}

impl Stmt<'_> {
    fn on_claim<'s>(&'s self, claim: &str) -> impl Iterator<Item = &'s ConditionEntry<'s>> {
        let key = self
            .github
            .as_ref()
            .map(|p| format!("{p}:{claim}"))
            .unwrap_or_default();
        self.conditions
            .iter()
            .filter(move |c| !key.is_empty() && c.key.eq_ignore_ascii_case(&key))
    }
}

fn strings<'a>(value: &'a Json, pointer: &str) -> Vec<Value<'a>> {
    match value {
        Json::String(s) => vec![Value {
            pointer: pointer.to_owned(),
            text: s,
        }],
        Json::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.as_str().map(|text| Value {
                    pointer: format!("{pointer}/{i}"),
                    text,
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Json) -> Vec<Stmt<'_>> {
    let Some(root) = doc.as_object() else {
        return Vec::new();
    };
    let listed: Vec<(String, &Json)> = match member(root, "Statement") {
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("/Statement/{i}"), s))
            .collect(),
        Some(one) => vec![("/Statement".to_owned(), one)],
        None => Vec::new(),
    };
    listed
        .into_iter()
        .filter_map(|(pointer, s)| {
            let obj = s.as_object()?;
            let allow = member(obj, "Effect").and_then(Json::as_str) == Some("Allow");
            let github = member(obj, "Principal")
                .and_then(Json::as_object)
                .and_then(|p| member(p, "Federated"))
                .map(|f| strings(f, ""))
                .unwrap_or_default()
                .iter()
                .find_map(|v| {
                    let provider = v.text.split_once(":oidc-provider/")?.1;
                    (provider == GITHUB_PROVIDER
                        || provider.starts_with(&format!("{GITHUB_PROVIDER}/")))
                    .then(|| provider.to_owned())
                });
            let mut conditions = Vec::new();
            if let Some(ops) = member(obj, "Condition").and_then(Json::as_object) {
                for (operator, block) in ops {
                    let op_pointer = format!("{pointer}/Condition/{}", escape_token(operator));
                    for (key, values) in block.as_object().unwrap_or_default() {
                        let key_pointer = format!("{op_pointer}/{}", escape_token(key));
                        conditions.push(ConditionEntry {
                            operator,
                            key,
                            values: strings(values, &key_pointer),
                            pointer: key_pointer,
                        });
                    }
                }
            }
            Some(Stmt {
                pointer,
                allow,
                github,
                conditions,
            })
        })
        .collect()
}

fn lint_statement(s: &Stmt<'_>, findings: &mut Vec<Finding>) {
    for c in &s.conditions {
        if s.allow && c.operator.starts_with("ForAllValues:") {
            findings.push(Finding {
                severity: Severity::Error,
                rule: "for-all-values-in-allow",
                pointer: c.pointer.clone(),
                message: format!("`{}` on `{}` in an Allow statement", c.operator, c.key),
                why: "ForAllValues is true when the request does not carry the key at all, so \
                      this condition allows requests without it"
                    .into(),
                fix: format!(
                    "use ForAnyValue: or a single-valued operator, or add \"Null\": {{\"{}\": \"false\"}}",
                    c.key
                ),
            });
        }
        if matches!(
            c.base(),
            "StringEquals"
                | "StringNotEquals"
                | "StringEqualsIgnoreCase"
                | "StringNotEqualsIgnoreCase"
        ) {
            for v in c.values.iter().filter(|v| v.text.contains(['*', '?'])) {
                findings.push(Finding {
                    severity: Severity::Warning,
                    rule: "string-equals-wildcard",
                    pointer: v.pointer.clone(),
                    message: format!("`{}` value `{}` contains a wildcard", c.operator, v.text),
                    why: format!(
                        "{} compares literally: `*` and `?` are not wildcards, so this value only \
                         matches a request value with those very characters",
                        c.operator
                    ),
                    fix: "use StringLike for a pattern, or remove the wildcard".into(),
                });
            }
        }
    }
    if !s.allow || s.github.is_none() {
        return;
    }
    let subs: Vec<&ConditionEntry<'_>> = s.on_claim("sub").filter(|c| c.restricts()).collect();
    if subs.is_empty() {
        findings.push(Finding {
            severity: Severity::Error,
            rule: "no-sub-condition",
            pointer: s.pointer.clone(),
            message: "the statement trusts GitHub's OIDC provider without a condition on `sub`"
                .into(),
            why: "every workflow in every repository on GitHub can get a token from this \
                  provider, so any of them can assume the role"
                .into(),
            fix: format!(
                "add \"StringEquals\": {{\"{}:sub\": \"repo:OWNER/REPO:ref:refs/heads/main\"}} (or StringLike with a pattern inside one repository)",
                s.github.as_deref().unwrap_or(GITHUB_PROVIDER)
            ),
        });
    }
    let mut legacy = Vec::new();
    let mut immutable = false;
    for c in &subs {
        let like = c.base() == "StringLike";
        for v in &c.values {
            if like {
                lint_sub_wildcard(v, findings);
            }
            lint_sub_shape(v, findings);
            match repository_part(v.text) {
                Some(repo) if repo.contains('@') => immutable = true,
                Some(_) => legacy.push(v),
                None => {}
            }
        }
    }
    if immutable {
        for v in legacy {
            findings.push(Finding {
                severity: Severity::Warning,
                rule: "legacy-subject-beside-immutable",
                pointer: v.pointer.clone(),
                message: format!(
                    "`{}` uses the repo:OWNER/REPO form next to repo:OWNER@ID/REPO@ID subjects",
                    v.text
                ),
                why: "the name form matches whoever owns that name: after a rename or \
                      deletion someone else can recreate OWNER/REPO and pass, which the \
                      immutable ID form was meant to prevent"
                    .into(),
                fix: "remove the name-based subject and keep the OWNER@ID/REPO@ID form".into(),
            });
        }
    }
    let auds: Vec<&ConditionEntry<'_>> = s.on_claim("aud").collect();
    if !auds.iter().any(|c| c.restricts()) {
        findings.push(Finding {
            severity: Severity::Warning,
            rule: "aud-missing",
            pointer: s.pointer.clone(),
            message: "no condition on `aud`".into(),
            why: "the role then relies only on the provider's client ID list; AWS's and \
                  GitHub's guidance pins the audience in the trust policy"
                .into(),
            fix: format!(
                "add \"StringEquals\": {{\"{}:aud\": \"sts.amazonaws.com\"}}",
                s.github.as_deref().unwrap_or(GITHUB_PROVIDER)
            ),
        });
    }
    for c in auds {
        if c.base() == "StringLike" {
            findings.push(Finding {
                severity: Severity::Warning,
                rule: "aud-string-like",
                pointer: c.pointer.clone(),
                message: "`aud` is tested with StringLike".into(),
                why: "the audience is one fixed value; a pattern invites wildcards that accept \
                      tokens minted for other audiences"
                    .into(),
                fix: "use StringEquals with \"sts.amazonaws.com\"".into(),
            });
        }
        for v in c.values.iter().filter(|v| v.text != "sts.amazonaws.com") {
            findings.push(Finding {
                severity: Severity::Warning,
                rule: "aud-not-sts",
                pointer: v.pointer.clone(),
                message: format!("`aud` value `{}` is not sts.amazonaws.com", v.text),
                why: "aws-actions/configure-aws-credentials requests tokens for \
                      sts.amazonaws.com; another audience means tokens meant for another \
                      service are accepted, or none are"
                    .into(),
                fix: "use \"sts.amazonaws.com\"".into(),
            });
        }
    }
}

/// `OWNER/REPO` (or `OWNER@ID/REPO@ID`) of a `repo:` subject, up to the next `:`.
fn repository_part(sub: &str) -> Option<&str> {
    let rest = sub.strip_prefix("repo:")?;
    Some(rest.split(':').next().unwrap_or(rest))
}

fn lint_sub_wildcard(v: &Value<'_>, findings: &mut Vec<Finding>) {
    let text = v.text;
    let Some(wild) = text.find(['*', '?']) else {
        return;
    };
    // Where the owner and the repository names end: the first `/`, then the next `:`.
    let rest_start = text.strip_prefix("repo:").map(|_| 5);
    let (spans_owner, spans_repo) = match rest_start {
        None => (true, true),
        Some(start) => {
            let slash = text
                .get(start..)
                .and_then(|r| r.find('/'))
                .map(|i| i + start);
            let repo_end = slash
                .and_then(|s| text.get(s..).and_then(|r| r.find(':')).map(|i| i + s))
                .unwrap_or(text.len());
            match slash {
                Some(slash) if wild > slash => (false, wild < repo_end),
                _ => (true, true),
            }
        }
    };
    if spans_owner {
        findings.push(Finding {
            severity: Severity::Error,
            rule: "sub-wildcard-spans-owners",
            pointer: v.pointer.clone(),
            message: format!("`sub` pattern `{text}` matches repositories of any owner"),
            why: "a wildcard before the `/` of OWNER/REPO matches other accounts' \
                  repositories (`repo:acme*` matches `repo:acme-evil/x`): anyone can create \
                  one and assume the role"
                .into(),
            fix: "spell the owner out: repo:OWNER/REPO:..., wildcards only after the repository"
                .into(),
        });
    } else if spans_repo {
        findings.push(Finding {
            severity: Severity::Warning,
            rule: "sub-wildcard-spans-repositories",
            pointer: v.pointer.clone(),
            message: format!("`sub` pattern `{text}` matches several repositories"),
            why: "every repository of the owner matching the pattern, including ones created \
                  later or by any member with repository creation rights, can assume the role"
                .into(),
            fix: "name the repository: repo:OWNER/REPO:ref:refs/heads/BRANCH".into(),
        });
    }
}

/// Subjects GitHub never emits: `ref:` followed by something other than `refs/...`, or a
/// `refs/...` without `ref:` in front.
fn lint_sub_shape(v: &Value<'_>, findings: &mut Vec<Finding>) {
    let Some(rest) = v.text.strip_prefix("repo:") else {
        return;
    };
    let Some((_, context)) = rest.split_once(':') else {
        return;
    };
    let wild = |s: &str| s.starts_with(['*', '?']);
    let bad = match context.strip_prefix("ref:") {
        Some(r) => !r.starts_with("refs/") && !wild(r),
        None => context.starts_with("refs/"),
    };
    if bad {
        findings.push(Finding {
            severity: Severity::Warning,
            rule: "sub-never-emitted",
            pointer: v.pointer.clone(),
            message: format!("GitHub never emits the subject `{}`", v.text),
            why: "branch and tag subjects are repo:OWNER/REPO:ref:refs/heads/BRANCH and \
                  ...:ref:refs/tags/TAG; this value matches no token, so the role cannot be \
                  assumed (and someone may later widen it to a wildcard to make it work)"
                .into(),
            fix: "write the full ref: repo:OWNER/REPO:ref:refs/heads/BRANCH".into(),
        });
    }
}

/// Statements are ORed: one restricting `job_workflow_ref` is undone by another GitHub
/// Allow statement that does not.
fn lint_job_workflow_ref(statements: &[Stmt<'_>], findings: &mut Vec<Finding>) {
    let github: Vec<&Stmt<'_>> = statements
        .iter()
        .filter(|s| s.allow && s.github.is_some())
        .collect();
    let restricted = |s: &Stmt<'_>| s.on_claim("job_workflow_ref").any(|c| c.restricts());
    let Some(with) = github.iter().find(|s| restricted(s)) else {
        return;
    };
    for s in github.iter().filter(|s| !restricted(s)) {
        findings.push(Finding {
            severity: Severity::Warning,
            rule: "job-workflow-ref-bypassed",
            pointer: s.pointer.clone(),
            message: format!(
                "this statement does not restrict `job_workflow_ref`, but {} does",
                with.pointer
            ),
            why: "statements are alternatives: a token this statement accepts assumes the role \
                  whatever workflow it comes from, so the other statement's restriction \
                  protects nothing"
                .into(),
            fix: "add the same job_workflow_ref condition here, or merge the statements".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

    fn trust(condition: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{condition}}}]}}"#
        )
    }

    fn rules(text: &str) -> Vec<(&'static str, Severity, String)> {
        lint(text)
            .unwrap()
            .into_iter()
            .map(|f| (f.rule, f.severity, f.pointer))
            .collect()
    }

    const AUD: &str =
        r#""StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}"#;

    fn with_sub(op: &str, sub: &str) -> String {
        if op == "StringEquals" {
            return trust(&format!(
                r#"{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":{sub}}}}}"#
            ));
        }
        trust(&format!(
            r#"{{{AUD},"{op}":{{"token.actions.githubusercontent.com:sub":{sub}}}}}"#
        ))
    }

    #[test]
    fn a_good_policy_is_clean() {
        assert_eq!(
            rules(&with_sub(
                "StringLike",
                r#""repo:acme/app:ref:refs/heads/*""#
            )),
            vec![]
        );
        assert_eq!(
            rules(&with_sub(
                "StringEquals",
                r#"["repo:acme/app:environment:prod","repo:acme/app:pull_request"]"#
            )),
            vec![]
        );
    }

    #[test]
    fn missing_sub_is_an_error() {
        let r = rules(&trust(&format!("{{{AUD}}}")));
        assert_eq!(
            r,
            vec![("no-sub-condition", Severity::Error, "/Statement/0".into())]
        );
        // A negated operator does not restrict.
        let r = rules(&with_sub("StringNotLike", r#""repo:evil/*""#));
        assert!(r.iter().any(|f| f.0 == "no-sub-condition"));
    }

    #[test]
    fn sub_wildcards() {
        let pointer = "/Statement/0/Condition/StringLike/token.actions.githubusercontent.com:sub";
        for owners in [
            r#""repo:*""#,
            r#""repo:acme*""#,
            r#""*""#,
            r#""repo:acme*/app:*""#,
        ] {
            assert_eq!(
                rules(&with_sub("StringLike", owners)),
                vec![("sub-wildcard-spans-owners", Severity::Error, pointer.into())],
                "{owners}"
            );
        }
        for repos in [
            r#""repo:acme/*""#,
            r#""repo:acme/app*""#,
            r#""repo:acme/a?p:ref:refs/heads/main""#,
        ] {
            assert_eq!(
                rules(&with_sub("StringLike", repos)),
                vec![(
                    "sub-wildcard-spans-repositories",
                    Severity::Warning,
                    pointer.into()
                )],
                "{repos}"
            );
        }
        // In a list, the pointer names the item.
        let r = rules(&with_sub("StringLike", r#"["repo:acme/app:*","repo:*"]"#));
        assert_eq!(
            r,
            vec![(
                "sub-wildcard-spans-owners",
                Severity::Error,
                format!("{pointer}/1")
            )]
        );
    }

    #[test]
    fn string_equals_with_a_wildcard_never_matches() {
        let r = rules(&with_sub("StringEquals", r#""repo:acme/app:*""#));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "string-equals-wildcard");
    }

    #[test]
    fn audience_rules() {
        let sub = r#""StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}"#;
        let r = rules(&trust(&format!("{{{sub}}}")));
        assert_eq!(
            r,
            vec![("aud-missing", Severity::Warning, "/Statement/0".into())]
        );
        let r = rules(&trust(
            r#"{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main","token.actions.githubusercontent.com:aud":"sts.*"}}"#,
        ));
        let names: Vec<_> = r.iter().map(|f| f.0).collect();
        assert_eq!(names, vec!["aud-string-like", "aud-not-sts"]);
        let r = rules(&trust(&format!(
            r#"{{{sub},"StringEquals":{{"token.actions.githubusercontent.com:aud":"sigstore"}}}}"#
        )));
        assert_eq!(
            r.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec!["aud-not-sts"]
        );
    }

    #[test]
    fn for_all_values_in_allow() {
        let r = rules(&trust(&format!(
            r#"{{{AUD},"StringLike":{{"token.actions.githubusercontent.com:sub":"repo:acme/app:*"}},"ForAllValues:StringEquals":{{"token.actions.githubusercontent.com:amr":["x"]}}}}"#
        )));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "for-all-values-in-allow");
        assert_eq!(r[0].1, Severity::Error);
    }

    #[test]
    fn duplicate_keys_are_reported_where_they_are() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}}]}"#;
        let r = rules(text);
        // The second Effect wins: the statement is an Allow and linted as such.
        assert_eq!(
            r,
            vec![(
                "duplicate-key",
                Severity::Error,
                "/Statement/0/Effect".into()
            )]
        );
        // The policy reader itself refuses the document.
        assert!(Policy::parse(text, PolicyKind::Trust).is_err());
    }

    #[test]
    fn job_workflow_ref_ored_away() {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main","token.actions.githubusercontent.com:job_workflow_ref":"acme/wf/.github/workflows/deploy.yml@refs/heads/main"}}}}}},
            {{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/app:environment:prod"}}}}}}]}}"#
        );
        assert_eq!(
            rules(&text),
            vec![(
                "job-workflow-ref-bypassed",
                Severity::Warning,
                "/Statement/1".into()
            )]
        );
    }

    #[test]
    fn subjects_github_never_emits_and_legacy_beside_immutable() {
        let r = rules(&with_sub("StringEquals", r#""repo:acme/app:ref:main""#));
        assert_eq!(
            r.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec!["sub-never-emitted"]
        );
        let r = rules(&with_sub(
            "StringEquals",
            r#""repo:acme/app:refs/heads/main""#,
        ));
        assert_eq!(
            r.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec!["sub-never-emitted"]
        );
        let r = rules(&with_sub(
            "StringEquals",
            r#"["repo:acme@1/app@2:ref:refs/heads/main","repo:acme/app:ref:refs/heads/main"]"#,
        ));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "legacy-subject-beside-immutable");
        assert!(r[0].2.ends_with("/1"));
    }

    #[test]
    fn invalid_policies_and_non_json() {
        let r = rules(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        );
        assert_eq!(
            r,
            vec![(
                "invalid-policy",
                Severity::Error,
                "/Statement/0/Resource".into()
            )]
        );
        assert!(lint("{").is_err());
        assert!(lint("").is_err());
        // Valid JSON that is no policy: an error finding, not a crash.
        assert_eq!(rules("[1]")[0].0, "invalid-policy");
    }
}
