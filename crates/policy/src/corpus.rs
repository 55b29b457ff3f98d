//! One JSON Lines test case in, one decision out: the contract a differential corpus runs
//! against (the same lines can drive another IAM implementation).
//!
//! ```text
//! in : {"id": "...", "identity_policies": [<policy>...], "resource_policy": <policy>|null,
//!       "request": {"principal": "arn:...", "action": "ecr:PutImage", "resource": "arn:...|*",
//!                   "context": {"<key>": "value" | ["v1", "v2"]}}}
//! out: {"id": "...", "decision": "Allow" | "ExplicitDeny" | "ImplicitDeny"}
//!      {"id": "...", "error": "..."}   (malformed line, or a policy IAM rejects)
//! ```
//!
//! Choices where the contract leaves room:
//! * Identity policies are parsed as [`PolicyKind::Session`]: the identity-policy rules
//!   without the managed-policy `Version` rule, so inline-style `2008-10-17` documents run.
//! * The resource policy is a [`PolicyKind::Trust`] policy when no statement has
//!   `Resource`/`NotResource` and every `Action` starts with `sts:`; otherwise
//!   [`PolicyKind::Resource`].
//! * Principal: `*` or `anonymous` is anonymous; an ARN with `:oidc-provider/` or
//!   `:saml-provider/` is federated; any other ARN is AWS (an `assumed-role/R/S` session
//!   gets role ARN `arn:aws:iam::A:role/R`); anything else is a service principal name.
//! * The principal's account is the ARN's fifth field; the resource's account is its
//!   ARN's fifth field, or the principal's when the resource is `*` or that field is empty.
//! * Context values may be strings, booleans, numbers or arrays of them.
//! * Unknown fields are ignored; `id` is echoed as given (`null` when absent).

use serde_json::Value;

use crate::{
    Context, Decision, Explanation, Policy, PolicyKind, PolicySet, Principal, PrincipalKind,
    Request, evaluate, explain,
};

/// Evaluates one corpus line. Never panics; the output has no trailing newline.
pub fn eval_line(line: &str) -> String {
    let parsed: Result<Value, _> = serde_json::from_str(line);
    let (id, outcome) = match parsed {
        Ok(case) => {
            let id = case.get("id").cloned().unwrap_or(Value::Null);
            (id, run(&case))
        }
        Err(e) => (Value::Null, Err(format!("malformed line: {e}"))),
    };
    let id = serde_json::to_string(&id).unwrap_or_else(|_| "null".to_owned());
    match outcome {
        Ok(decision) => {
            let decision = match decision {
                Decision::Allow => "Allow",
                Decision::ExplicitDeny => "ExplicitDeny",
                Decision::ImplicitDeny => "ImplicitDeny",
            };
            format!("{{\"id\":{id},\"decision\":\"{decision}\"}}")
        }
        Err(message) => {
            let message =
                serde_json::to_string(&message).unwrap_or_else(|_| "\"error\"".to_owned());
            format!("{{\"id\":{id},\"error\":{message}}}")
        }
    }
}

fn run(case: &Value) -> Result<Decision, String> {
    let case = Case::from_json(case)?;
    Ok(case.with_request(|set, request| evaluate(set, request).decision))
}

/// Explains one test case (the `berth policy eval` input format, one JSON document):
/// the decision and, statement by statement, what matched and what did not.
pub fn explain_case(text: &str) -> Result<Explanation, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("malformed request: {e}"))?;
    let case = Case::from_json(&value)?;
    Ok(case.with_request(explain))
}

/// One parsed test case: the policies, compiled, and the request's parts.
struct Case {
    identity: Vec<Policy>,
    resource_policy: Option<Policy>,
    principal: String,
    action: String,
    resource: String,
    context: Context,
}

impl Case {
    fn from_json(case: &Value) -> Result<Case, String> {
        if !case.is_object() {
            return Err("malformed line: not an object".to_owned());
        }
        let identity: Vec<Policy> = match case.get("identity_policies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|p| parse_policy(p, PolicyKind::Session))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("malformed line: identity_policies is not an array".to_owned()),
        };
        let resource_policy = match case.get("resource_policy") {
            None | Some(Value::Null) => None,
            Some(p) => Some(parse_policy(p, resource_kind(p))?),
        };

        let request = case
            .get("request")
            .filter(|r| r.is_object())
            .ok_or("malformed line: missing request")?;
        let text = |field: &str| request.get(field).and_then(Value::as_str);
        let principal = text("principal").ok_or("malformed line: missing request.principal")?;
        let action = text("action").ok_or("malformed line: missing request.action")?;
        let resource = text("resource").unwrap_or("*");
        let context = match request.get("context") {
            None | Some(Value::Null) => Context::new(),
            Some(Value::Object(keys)) => {
                let mut context = Context::new();
                for (key, value) in keys {
                    let values = match value {
                        Value::Array(items) => {
                            items.iter().map(context_text).collect::<Option<Vec<_>>>()
                        }
                        other => context_text(other).map(|v| vec![v]),
                    };
                    let values = values.ok_or_else(|| {
                        format!("malformed line: bad value for context key `{key}`")
                    })?;
                    context.insert_multi(key, values);
                }
                context
            }
            Some(_) => return Err("malformed line: request.context is not an object".to_owned()),
        };
        Ok(Case {
            identity,
            resource_policy,
            principal: principal.to_owned(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            context,
        })
    }

    /// Calls `f` with the policy set and request this case describes.
    fn with_request<T>(&self, f: impl FnOnce(&PolicySet<'_>, &Request<'_>) -> T) -> T {
        let role_arn = session_role_arn(&self.principal);
        let principal = principal_of(&self.principal, role_arn.as_deref());
        let resource_account = arn_account(&self.resource).or(principal.account);

        let identity_labels: Vec<String> = (1..=self.identity.len())
            .map(|i| format!("PolicyInputList.{i}"))
            .collect();
        let identity_set: Vec<(&str, &Policy)> = identity_labels
            .iter()
            .map(String::as_str)
            .zip(self.identity.iter())
            .collect();
        let set = PolicySet {
            identity: &identity_set,
            resource: self.resource_policy.as_ref().map(|p| ("ResourcePolicy", p)),
            session: &[],
            boundary: None,
            resource_account,
            resource_required: false,
        };
        let request = Request {
            principal,
            action: &self.action,
            resource: &self.resource,
            context: &self.context,
        };
        f(&set, &request)
    }
}

fn parse_policy(value: &Value, kind: PolicyKind) -> Result<Policy, String> {
    let text = match value {
        // A policy given as a JSON string holds the document text itself.
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).map_err(|e| e.to_string())?,
    };
    Policy::parse(&text, kind).map_err(|e| e.message)
}

fn resource_kind(policy: &Value) -> PolicyKind {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let has_resource = statements
        .iter()
        .any(|s| s.get("Resource").is_some() || s.get("NotResource").is_some());
    let all_sts = statements.iter().all(|s| match s.get("Action") {
        Some(Value::String(a)) => is_sts(a),
        Some(Value::Array(items)) => items.iter().all(|a| a.as_str().is_some_and(is_sts)),
        _ => false,
    });
    if !has_resource && all_sts && !statements.is_empty() {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    }
}

fn is_sts(action: &str) -> bool {
    action
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("sts:"))
}

fn context_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The account field of an ARN, if it has a non-empty one.
fn arn_account(arn: &str) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// `arn:aws:sts::A:assumed-role/R/S` → `arn:aws:iam::A:role/R`.
fn session_role_arn(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if prefix != "arn" || service != "sts" {
        return None;
    }
    let (role, _session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

fn principal_of<'a>(arn: &'a str, role_arn: Option<&'a str>) -> Principal<'a> {
    let kind = if arn == "*" || arn.eq_ignore_ascii_case("anonymous") {
        PrincipalKind::Anonymous
    } else if arn.starts_with("arn:") {
        if arn.contains(":oidc-provider/") || arn.contains(":saml-provider/") {
            PrincipalKind::Federated
        } else {
            PrincipalKind::Aws
        }
    } else {
        PrincipalKind::Service
    };
    Principal {
        kind,
        arn,
        role_arn,
        role_id: None,
        account: arn_account(arn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_and_errors() {
        let allow = r#"{"id":"a","identity_policies":[{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}],"resource_policy":null,"request":{"principal":"arn:aws:iam::123456789012:user/u","action":"ecr:PutImage","resource":"arn:aws:ecr:us-east-1:123456789012:repository/x"}}"#;
        assert_eq!(eval_line(allow), r#"{"id":"a","decision":"Allow"}"#);

        let none = r#"{"id":"b","identity_policies":[],"resource_policy":null,"request":{"principal":"arn:aws:iam::123456789012:user/u","action":"ecr:PutImage","resource":"*"}}"#;
        assert_eq!(eval_line(none), r#"{"id":"b","decision":"ImplicitDeny"}"#);

        let bad = r#"{"id":"c","identity_policies":[{"Statement":{"Effect":"allow","Action":"ecr:*","Resource":"*"}}],"request":{"principal":"p","action":"a:b"}}"#;
        assert_eq!(
            eval_line(bad),
            r#"{"id":"c","error":"The policy failed legacy parsing"}"#
        );

        let out = eval_line("not json");
        assert!(
            out.starts_with(r#"{"id":null,"error":"malformed line"#),
            "{out}"
        );
        assert!(eval_line(r#"{"id": 7}"#).starts_with(r#"{"id":7,"error":"#));
        assert!(eval_line("[]").starts_with(r#"{"id":null,"error":"#));
    }

    #[test]
    fn web_identity_through_a_trust_policy() {
        let line = r#"{"id":"w","identity_policies":[],"resource_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},"StringLike":{"token.actions.githubusercontent.com:sub":"repo:octo/app:*"}}}]},"request":{"principal":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com","action":"sts:AssumeRoleWithWebIdentity","resource":"arn:aws:iam::123456789012:role/R","context":{"token.actions.githubusercontent.com:aud":["sts.amazonaws.com"],"token.actions.githubusercontent.com:sub":"repo:octo/app:ref:refs/heads/main"}}}"#;
        assert_eq!(eval_line(line), r#"{"id":"w","decision":"Allow"}"#);
        let other = line.replace("repo:octo/app:ref", "repo:evil/app:ref");
        assert_eq!(eval_line(&other), r#"{"id":"w","decision":"ImplicitDeny"}"#);
    }

    #[test]
    fn cross_account_and_sessions() {
        // A repository policy in account B naming a role of account A: needs A's identity
        // policy too.
        let base = r#"{"id":"x","identity_policies":IDENTITY,"resource_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/R"},"Action":"ecr:BatchGetImage"}]},"request":{"principal":"arn:aws:sts::111111111111:assumed-role/R/s1","action":"ecr:BatchGetImage","resource":"arn:aws:ecr:us-east-1:222222222222:repository/x"}}"#;
        let with = base.replace("IDENTITY", r#"[{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}]"#);
        let without = base.replace("IDENTITY", "[]");
        assert_eq!(eval_line(&with), r#"{"id":"x","decision":"Allow"}"#);
        assert_eq!(
            eval_line(&without),
            r#"{"id":"x","decision":"ImplicitDeny"}"#
        );
        assert_eq!(
            session_role_arn("arn:aws:sts::111111111111:assumed-role/R/s1").as_deref(),
            Some("arn:aws:iam::111111111111:role/R")
        );
        assert_eq!(session_role_arn("arn:aws:iam::111111111111:role/R"), None);
    }
}
