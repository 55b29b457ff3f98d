//! The IAM policy language: parse and validate policy documents as IAM does (with IAM's
//! `MalformedPolicyDocument` messages), compile them once, and evaluate requests against
//! identity, resource-based, trust, boundary and session policies.
//!
//! Pure logic: no I/O and no clock. Time reaches conditions as context keys
//! (`aws:CurrentTime`, `aws:EpochTime`) set by the caller.
//!
//! The pipeline, one module per phase: `json` (strict reader: document order, duplicate
//! member names rejected) → `parser` (validation in IAM's order, then compilation) →
//! `policy` (compiled form: lower-cased action globs, resource templates, typed condition
//! values) → `evaluator`. `corpus` runs JSON Lines test cases through the same path.

mod condition;
mod context;
pub mod corpus;
mod error;
mod evaluator;
pub mod explain;
mod glob;
mod json;
pub mod lint;
mod parser;
mod policy;
mod rewrite;
pub mod simulate;
pub mod web_identity;

pub use context::Context;
pub use error::PolicyError;
pub use evaluator::{
    Decision, Evaluation, MatchedStatement, PolicySet, Principal, PrincipalKind, Request, decide,
    evaluate,
};
pub use explain::{Explanation, explain};
pub use policy::{Effect, Policy, PolicyKind, PolicyVersion};
pub use rewrite::replace_aws_principal;

/// Characters other than JSON whitespace (space, tab, line feed, carriage return): what
/// IAM's policy size quotas count.
pub fn non_whitespace_len(json: &str) -> usize {
    json.chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .count()
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::glob::{Glob, Template};

    const ACTIONS: &[&str] = &[
        "ecr:*",
        "ecr:Put*",
        "*",
        "s3:Get?bject",
        "iam:CreateRole",
        "ECR:BatchGetImage",
    ];
    const RESOURCES: &[&str] = &[
        "*",
        "arn:aws:ecr:*:*:repository/a*",
        "arn:aws:s3:::b/*",
        "arn:aws:ecr:us-east-1:123456789012:repository/a?",
    ];

    fn statement() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            any::<bool>(),
            proptest::sample::subsequence(ACTIONS, 1..3),
            proptest::sample::subsequence(RESOURCES, 1..3),
            proptest::option::of(prop_oneof![
                Just("StringLike"),
                Just("StringNotEquals"),
                Just("ForAnyValue:StringEquals")
            ]),
        )
            .prop_map(|(deny, not_action, actions, resources, condition)| {
                let effect = if deny { "Deny" } else { "Allow" };
                let action_key = if not_action { "NotAction" } else { "Action" };
                let condition = condition
                    .map(|op| format!(r#","Condition":{{"{op}":{{"k":["a*","b"]}}}}"#))
                    .unwrap_or_default();
                format!(
                    r#"{{"Effect":"{effect}","{action_key}":{},"Resource":{}{condition}}}"#,
                    serde_json::to_string(&actions).unwrap(),
                    serde_json::to_string(&resources).unwrap()
                )
            })
    }

    fn document(statements: &[String]) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        )
    }

    fn request_parts() -> impl Strategy<Value = (String, String, Vec<String>)> {
        (
            prop_oneof![
                Just("ecr:PutImage".to_owned()),
                Just("s3:GetObject".to_owned()),
                Just("iam:CreateRole".to_owned()),
                "[a-z]{1,4}:[A-Za-z]{1,6}"
            ],
            prop_oneof![
                Just("*".to_owned()),
                Just("arn:aws:ecr:us-east-1:123456789012:repository/ab".to_owned()),
                Just("arn:aws:s3:::b/k".to_owned()),
                "arn:aws:[a-z]{1,3}:[a-z0-9-]{0,4}:[0-9]{0,3}:[a-z/]{0,6}"
            ],
            proptest::collection::vec("[ab*]{0,3}", 0..3),
        )
    }

    proptest! {
        #[test]
        fn literal_glob_matches_itself(s in "[^*?]*") {
            prop_assert!(Glob::new(&s).matches(&s));
            prop_assert!(Glob::new("*").matches(&s));
            let star_prefix = format!("{s}*");
            let longer = format!("{s}tail");
            prop_assert!(Glob::new(&star_prefix).matches(&longer));
        }

        #[test]
        fn escaped_template_matches_itself(s in any::<String>()) {
            let escaped: String = s.chars().map(|c| match c {
                '*' => "${*}".to_owned(),
                '?' => "${?}".to_owned(),
                '$' => "${$}".to_owned(),
                c => c.to_string(),
            }).collect();
            let t = Template::new(&escaped, true, true);
            prop_assert!(t.matches(&s, &Context::new()));
        }

        #[test]
        fn adding_a_deny_never_allows_more(
            statements in proptest::collection::vec(statement(), 1..4),
            extra in statement(),
            (action, resource, values) in request_parts(),
        ) {
            let extra = extra.replacen("\"Allow\"", "\"Deny\"", 1);
            let before = Policy::parse(&document(&statements), PolicyKind::Identity).unwrap();
            let mut more = statements.clone();
            more.push(extra);
            let after = Policy::parse(&document(&more), PolicyKind::Identity).unwrap();
            let mut context = Context::new();
            context.insert_multi("k", values);
            let principal = Principal { kind: PrincipalKind::Aws, arn: "arn:aws:iam::123456789012:user/u", role_arn: None, role_id: None, account: None };
            let request = Request { principal, action: &action, resource: &resource, context: &context };
            let decide = |p: &Policy| {
                let ids = [("p", p)];
                evaluate(&PolicySet { identity: &ids, ..PolicySet::default() }, &request).decision
            };
            let (b, a) = (decide(&before), decide(&after));
            if b != Decision::Allow {
                prop_assert_ne!(a, Decision::Allow);
            }
            if b == Decision::ExplicitDeny {
                prop_assert_eq!(a, Decision::ExplicitDeny);
            }
        }

        #[test]
        fn parse_and_evaluate_never_panic(
            doc in any::<String>(),
            principal in any::<String>(),
            action in any::<String>(),
            resource in any::<String>(),
            key in any::<String>(),
            values in proptest::collection::vec(any::<String>(), 0..3),
        ) {
            for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust, PolicyKind::Session] {
                let _ = Policy::parse(&doc, kind);
            }
            let _ = corpus::eval_line(&doc);
            let _ = corpus::explain_case(&doc);
            let _ = lint::lint(&doc);
            let identity = Policy::parse(r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"*","Resource":"arn:aws:*:*:*:${aws:username}/*","Condition":{
                    "StringLike":{"k":"${k}*"},"NumericLessThan":{"k":"5"},"DateGreaterThan":{"k":"2020-01-01"},
                    "IpAddress":{"k":"10.0.0.0/8"},"ArnLike":{"k":"arn:*:*:*:*:*"},"BinaryEquals":{"k":"AAAA"}}},
                {"Effect":"Deny","NotAction":"a:?","NotResource":"*","Condition":{"ForAllValues:StringNotEqualsIgnoreCase":{"k":["x"]},"Null":{"k":"false"},"BoolIfExists":{"k":true}}}]}"#,
                PolicyKind::Identity).unwrap();
            let resource_policy = Policy::parse(r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/R"],"Federated":"x","Service":"y"},"Action":"*","Condition":{"ForAnyValue:ArnNotLike":{"k":"arn:aws:iam::*:${k}"}}}]}"#,
                PolicyKind::Resource).unwrap();
            let mut context = Context::new();
            context.insert_multi(&key, values.clone());
            context.insert_multi("k", values);
            for kind in [PrincipalKind::Aws, PrincipalKind::Federated, PrincipalKind::Service, PrincipalKind::Anonymous] {
                let ids = [("i", &identity)];
                let set = PolicySet { identity: &ids, resource: Some(("r", &resource_policy)), session: &ids, boundary: Some(("b", &identity)), resource_account: Some(&key), resource_required: false };
                let request = Request {
                    principal: Principal { kind, arn: &principal, role_arn: Some(&resource), role_id: None, account: None },
                    action: &action,
                    resource: &resource,
                    context: &context,
                };
                let _ = evaluate(&set, &request);
                let _ = explain(&set, &request).summary();
            }
        }

        #[test]
        fn negated_string_operators_are_complements(pattern in "[ab*?]{0,4}", value in "[ab]{0,4}") {
            let doc = |op: &str| format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{{"{op}":{{"k":"{pattern}"}}}}}}}}"#
            );
            let mut context = Context::new();
            context.insert("k", value);
            let principal = Principal { kind: PrincipalKind::Aws, arn: "arn:aws:iam::123456789012:user/u", role_arn: None, role_id: None, account: None };
            let request = Request { principal, action: "a:b", resource: "*", context: &context };
            let allowed = |op: &str| {
                let p = Policy::parse(&doc(op), PolicyKind::Identity).unwrap();
                let ids = [("p", &p)];
                evaluate(&PolicySet { identity: &ids, ..PolicySet::default() }, &request).decision == Decision::Allow
            };
            prop_assert_ne!(allowed("StringLike"), allowed("StringNotLike"));
            prop_assert_ne!(allowed("StringEquals"), allowed("StringNotEquals"));
            prop_assert_ne!(allowed("ArnLike"), allowed("ArnNotLike"));
        }
    }

    #[test]
    fn non_whitespace_len_counts_what_iam_counts() {
        assert_eq!(non_whitespace_len(" { \"a\" :\t\"b c\"\r\n}"), 10);
        assert_eq!(non_whitespace_len(""), 0);
        assert_eq!(non_whitespace_len("é"), 1);
    }
}
