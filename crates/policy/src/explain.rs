//! Why a request was decided as it was: for every statement of every policy that bears on
//! it, whether it applied and, if not, the first element that did not match (action,
//! resource, principal, or a condition with its operator, key and both sides' values).
//!
//! For operators only (`berth policy explain`, the server's denial log): callers of the
//! API get AWS's terse `AccessDenied`, never this.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::evaluator::{Decision, PolicySet, Request, decide};
use crate::policy::{ActionName, Effect, Listed, Policy, PrincipalScope, Statement};

/// The decision and, policy by policy, what each statement made of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub decision: Decision,
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// The request's condition keys (lower case) and values.
    pub context: BTreeMap<String, Vec<String>>,
    pub policies: Vec<PolicyExplanation>,
}

/// What a policy is to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyRole {
    Identity,
    /// A resource-based policy: a repository policy or a role's trust policy.
    Resource,
    PermissionsBoundary,
    Session,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyExplanation {
    pub label: String,
    pub role: PolicyRole,
    pub statements: Vec<StatementExplanation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementExplanation {
    /// Index in the policy's `Statement` list.
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub outcome: Outcome,
}

/// Whether a statement applied, or the first element that did not match. Elements are
/// checked in the order action, resource, principal, conditions (in document order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Matched,
    /// An Allow that matched, but names the caller only through its account (`account`):
    /// it delegates to the account's identity policies and grants nothing by itself.
    Delegated {
        account: String,
    },
    /// `element` is `Action` or `NotAction`.
    Action {
        element: &'static str,
        request: String,
        policy: Vec<String>,
    },
    /// `element` is `Resource` or `NotResource`.
    Resource {
        element: &'static str,
        request: String,
        policy: Vec<String>,
    },
    /// `element` is `Principal` or `NotPrincipal`; policy values as `<type> <value>`.
    Principal {
        element: &'static str,
        request: String,
        policy: Vec<String>,
    },
    /// `request` is `None` when the request does not carry the key.
    Condition {
        operator: String,
        key: String,
        request: Option<Vec<String>>,
        policy: Vec<String>,
    },
}

/// Explains the decision [`crate::evaluate`] makes for `request` against `set`.
pub fn explain(set: &PolicySet<'_>, request: &Request<'_>) -> Explanation {
    let action = ActionName::new(request.action);
    let mut policies = Vec::new();
    let mut add = |role: PolicyRole, label: &str, policy: &Policy| {
        policies.push(PolicyExplanation {
            label: label.to_owned(),
            role,
            statements: policy
                .inner
                .statements
                .iter()
                .enumerate()
                .map(|(index, s)| StatementExplanation {
                    index,
                    sid: s.sid.clone(),
                    effect: s.effect,
                    outcome: outcome(s, request, &action),
                })
                .collect(),
        });
    };
    for (label, policy) in set.identity {
        add(PolicyRole::Identity, label, policy);
    }
    if let Some((label, policy)) = set.resource {
        add(PolicyRole::Resource, label, policy);
    }
    if let Some((label, policy)) = set.boundary {
        add(PolicyRole::PermissionsBoundary, label, policy);
    }
    for (label, policy) in set.session {
        add(PolicyRole::Session, label, policy);
    }
    Explanation {
        decision: decide(set, request),
        principal: request.principal.arn.to_owned(),
        action: request.action.to_owned(),
        resource: request.resource.to_owned(),
        context: request
            .context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_vec()))
            .collect(),
        policies,
    }
}

fn element_name<T>(
    listed: &Listed<T>,
    positive: &'static str,
    negative: &'static str,
) -> &'static str {
    if listed.not { negative } else { positive }
}

fn outcome(s: &Statement, request: &Request<'_>, action: &ActionName<'_>) -> Outcome {
    if !s.action_matches(action) {
        return Outcome::Action {
            element: element_name(&s.action, "Action", "NotAction"),
            request: request.action.to_owned(),
            policy: s.source.action.clone(),
        };
    }
    if let Some(r) = &s.resource
        && !r.applies(|t| t.matches(request.resource, request.context))
    {
        return Outcome::Resource {
            element: element_name(r, "Resource", "NotResource"),
            request: request.resource.to_owned(),
            policy: s.source.resource.clone(),
        };
    }
    let scope = s.principal_scope(&request.principal);
    if let (Some(p), None) = (&s.principal, scope) {
        return Outcome::Principal {
            element: element_name(p, "Principal", "NotPrincipal"),
            request: request.principal.arn.to_owned(),
            policy: s.source.principal.clone(),
        };
    }
    match s.conditions.iter().find(|c| !c.evaluate(request.context)) {
        Some(c) => Outcome::Condition {
            operator: c.source.operator.clone(),
            key: c.source.key.clone(),
            request: request.context.get_lower(&c.key).map(<[String]>::to_vec),
            policy: c.source.values.clone(),
        },
        None if s.effect == Effect::Allow && scope == Some(PrincipalScope::Account) => {
            Outcome::Delegated {
                account: request
                    .principal
                    .account_id()
                    .unwrap_or_default()
                    .to_owned(),
            }
        }
        None => Outcome::Matched,
    }
}

impl Explanation {
    /// One line for a log: the decision and, per statement, `matched` or what failed.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for p in &self.policies {
            for s in &p.statements {
                parts.push(format!(
                    "{} {}: {}",
                    p.label,
                    statement_name(s),
                    OutcomeText(&s.outcome)
                ));
            }
        }
        if parts.is_empty() {
            parts.push("no policy applies".to_owned());
        }
        format!("{:?}: {}", self.decision, parts.join("; "))
    }
}

fn statement_name(s: &StatementExplanation) -> String {
    match &s.sid {
        Some(sid) if !sid.is_empty() => format!("statement {} ({sid}, {:?})", s.index, s.effect),
        _ => format!("statement {} ({:?})", s.index, s.effect),
    }
}

fn quoted(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    match items.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", items.join(", ")),
    }
}

/// An outcome in words: `matched`, or the element that failed with both sides.
struct OutcomeText<'a>(&'a Outcome);

impl fmt::Display for OutcomeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Outcome::Matched => f.write_str("matched"),
            Outcome::Delegated { account } => write!(
                f,
                "matched through account {account} only: this delegates to the account's \
                 identity policies and grants nothing by itself"
            ),
            Outcome::Action {
                element,
                request,
                policy,
            }
            | Outcome::Resource {
                element,
                request,
                policy,
            }
            | Outcome::Principal {
                element,
                request,
                policy,
            } => {
                let subject = match self.0 {
                    Outcome::Action { .. } => "action",
                    Outcome::Resource { .. } => "resource",
                    _ => "principal",
                };
                let relation = if element.starts_with("Not") {
                    "is listed in"
                } else {
                    "is not matched by"
                };
                write!(
                    f,
                    "{subject} {request:?} {relation} {element} {}",
                    quoted(policy)
                )
            }
            Outcome::Condition {
                operator,
                key,
                request,
                policy,
            } => {
                let have = match request {
                    Some(values) => format!("is {}", quoted(values)),
                    None => "is absent from the request".to_owned(),
                };
                write!(
                    f,
                    "condition failed: {key} {have}, the statement needs {operator} {}",
                    quoted(policy)
                )
            }
        }
    }
}

impl fmt::Display for Explanation {
    /// Human text for `berth policy explain`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "decision:  {:?}", self.decision)?;
        writeln!(f, "principal: {}", self.principal)?;
        writeln!(f, "action:    {}", self.action)?;
        writeln!(f, "resource:  {}", self.resource)?;
        if !self.context.is_empty() {
            writeln!(f, "condition keys:")?;
            for (key, values) in &self.context {
                writeln!(f, "  {key} = {}", quoted(values))?;
            }
        }
        if self.policies.is_empty() {
            writeln!(f, "\nno policy applies to the request")?;
        }
        for p in &self.policies {
            let role = match p.role {
                PolicyRole::Identity => "identity policy",
                PolicyRole::Resource => "resource-based policy",
                PolicyRole::PermissionsBoundary => "permissions boundary",
                PolicyRole::Session => "session policy",
            };
            writeln!(f, "\n{role} {}", p.label)?;
            for s in &p.statements {
                writeln!(f, "  {}: {}", statement_name(s), OutcomeText(&s.outcome))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, PolicyKind, Principal, PrincipalKind};

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"GitHub","Effect":"Allow",
        "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},
                     "StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}}]}"#;
    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

    fn trust_explanation(principal: &str, action: &str, sub: &str) -> Explanation {
        let trust = Policy::parse(TRUST, PolicyKind::Trust).unwrap();
        let mut context = Context::new();
        context.insert(
            "token.actions.githubusercontent.com:aud",
            "sts.amazonaws.com",
        );
        context.insert("token.actions.githubusercontent.com:sub", sub);
        let set = PolicySet {
            resource: Some(("trust", &trust)),
            ..PolicySet::default()
        };
        explain(
            &set,
            &Request {
                principal: Principal {
                    kind: PrincipalKind::Federated,
                    arn: principal,
                    role_arn: None,
                    role_id: None,
                    account: Some("123456789012"),
                },
                action,
                resource: "arn:aws:iam::123456789012:role/R",
                context: &context,
            },
        )
    }

    fn only_outcome(e: &Explanation) -> &Outcome {
        &e.policies[0].statements[0].outcome
    }

    #[test]
    fn names_the_failing_condition_with_both_sides() {
        let e = trust_explanation(
            PROVIDER,
            "sts:AssumeRoleWithWebIdentity",
            "repo:acme/app:environment:prod",
        );
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert_eq!(
            only_outcome(&e),
            &Outcome::Condition {
                operator: "StringLike".into(),
                key: "token.actions.githubusercontent.com:sub".into(),
                request: Some(vec!["repo:acme/app:environment:prod".into()]),
                policy: vec!["repo:acme/app:ref:refs/heads/main".into()],
            }
        );
        let text = e.to_string();
        assert!(
            text.contains(r#"condition failed: token.actions.githubusercontent.com:sub is "repo:acme/app:environment:prod", the statement needs StringLike "repo:acme/app:ref:refs/heads/main""#),
            "{text}"
        );
        assert!(
            e.summary()
                .starts_with("ImplicitDeny: trust statement 0 (GitHub, Allow): condition failed")
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json["policies"][0]["statements"][0]["outcome"]["result"],
            "condition"
        );
        assert_eq!(json["decision"], "ImplicitDeny");
    }

    #[test]
    fn names_action_principal_and_match() {
        let e = trust_explanation(
            PROVIDER,
            "sts:AssumeRole",
            "repo:acme/app:ref:refs/heads/main",
        );
        assert!(matches!(
            only_outcome(&e),
            Outcome::Action {
                element: "Action",
                ..
            }
        ));
        let e = trust_explanation(
            "arn:aws:iam::123456789012:oidc-provider/evil.example",
            "sts:AssumeRoleWithWebIdentity",
            "repo:acme/app:ref:refs/heads/main",
        );
        assert_eq!(
            only_outcome(&e),
            &Outcome::Principal {
                element: "Principal",
                request: "arn:aws:iam::123456789012:oidc-provider/evil.example".into(),
                policy: vec![format!("Federated {PROVIDER}")],
            }
        );
        let e = trust_explanation(
            PROVIDER,
            "STS:assumerolewithwebidentity",
            "repo:acme/app:ref:refs/heads/main",
        );
        assert_eq!(e.decision, Decision::Allow);
        assert_eq!(only_outcome(&e), &Outcome::Matched);
    }

    #[test]
    fn names_the_resource_and_absent_keys() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:1:repository/a"},
                {"Effect":"Deny","NotAction":"ecr:Get*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        let ids = [("p", &p)];
        let context = Context::new();
        let e = explain(
            &PolicySet {
                identity: &ids,
                ..PolicySet::default()
            },
            &Request {
                principal: Principal {
                    kind: PrincipalKind::Aws,
                    arn: "arn:aws:iam::1:user/u",
                    role_arn: None,
                    role_id: None,
                    account: None,
                },
                action: "ecr:PutImage",
                resource: "arn:aws:ecr:us-east-1:1:repository/b",
                context: &context,
            },
        );
        let outcomes: Vec<&Outcome> = e.policies[0]
            .statements
            .iter()
            .map(|s| &s.outcome)
            .collect();
        assert!(matches!(
            outcomes[0],
            Outcome::Resource {
                element: "Resource",
                ..
            }
        ));
        assert!(matches!(
            outcomes[1],
            Outcome::Condition { request: None, .. }
        ));
        assert!(
            e.to_string()
                .contains("aws:SecureTransport is absent from the request")
        );
    }
}
