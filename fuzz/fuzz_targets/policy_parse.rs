//! `Policy::parse` for every kind; a policy that parses is evaluated against fixed
//! requests, in every slot of a policy set its kind may take. Nothing may panic.
#![no_main]

use berth_policy::{
    Context, Policy, PolicyKind, PolicySet, Principal, PrincipalKind, Request, evaluate,
    non_whitespace_len,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 4] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Trust,
    PolicyKind::Session,
];

fn context() -> Context {
    let mut c = Context::new();
    c.insert("aws:username", "alice");
    c.insert("aws:CurrentTime", "2026-08-20T12:00:00Z");
    c.insert("aws:EpochTime", "1787227200");
    c.insert("aws:SourceIp", "203.0.113.7");
    c.insert("aws:SecureTransport", "true");
    c.insert(
        "token.actions.githubusercontent.com:aud",
        "sts.amazonaws.com",
    );
    c.insert(
        "token.actions.githubusercontent.com:sub",
        "repo:octo/app:ref:refs/heads/main",
    );
    c.insert_multi("aws:TagKeys", vec!["team".into(), "env".into()]);
    c
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = non_whitespace_len(text);
    let context = context();
    for kind in KINDS {
        let Ok(policy) = Policy::parse(text, kind) else {
            continue;
        };
        assert_eq!(policy.kind(), kind);
        let _ = (policy.version(), policy.id(), policy.statement_count());
        assert_eq!(policy.sids().count(), policy.statement_count());

        let principals = [
            Principal {
                kind: PrincipalKind::Aws,
                arn: "arn:aws:sts::123456789012:assumed-role/R/session",
                role_arn: Some("arn:aws:iam::123456789012:role/R"),
                role_id: None,
                account: Some("123456789012"),
            },
            Principal {
                kind: PrincipalKind::Federated,
                arn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
                role_arn: None,
                role_id: None,
                account: None,
            },
            Principal {
                kind: PrincipalKind::Service,
                arn: "ecs-tasks.amazonaws.com",
                role_arn: None,
                role_id: None,
                account: None,
            },
            Principal {
                kind: PrincipalKind::Anonymous,
                arn: "*",
                role_arn: None,
                role_id: None,
                account: None,
            },
        ];
        let requests = [
            (
                "ecr:PutImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/app",
            ),
            (
                "sts:AssumeRoleWithWebIdentity",
                "arn:aws:iam::123456789012:role/R",
            ),
            ("s3:GetObject", "*"),
        ];
        let ids = [("p", &policy)];
        let set = if matches!(kind, PolicyKind::Resource | PolicyKind::Trust) {
            PolicySet {
                resource: Some(("p", &policy)),
                resource_account: Some("210987654321"),
                ..PolicySet::default()
            }
        } else {
            PolicySet {
                identity: &ids,
                session: &ids,
                boundary: Some(("p", &policy)),
                ..PolicySet::default()
            }
        };
        for principal in principals {
            for (action, resource) in requests {
                let request = Request {
                    principal,
                    action,
                    resource,
                    context: &context,
                };
                let _ = evaluate(&set, &request);
            }
        }
    }
});
