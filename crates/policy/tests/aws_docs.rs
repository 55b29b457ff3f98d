//! A corpus of cases, each from a section of AWS's IAM documentation (cited above it),
//! run through the `berth policy eval` contract (`corpus::eval_line`), and property tests
//! of the combination rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use berth_policy::corpus::eval_line;
use berth_policy::{
    Context, Decision, Policy, PolicyKind, PolicySet, Principal, PrincipalKind, Request, decide,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const USER: &str = "arn:aws:iam::111122223333:user/alice";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Builder/ci";
const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";
const OTHER_ACCOUNT_REPO: &str = "arn:aws:ecr:us-east-1:444455556666:repository/shared/app";
const GITHUB: &str = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";
const ROLE: &str = "arn:aws:iam::111122223333:role/Builder";

fn doc(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn case(identity: Vec<Value>, resource_policy: Value, request: Value) -> Value {
    json!({"id": "c", "identity_policies": identity, "resource_policy": resource_policy, "request": request})
}

fn decision(c: &Value) -> String {
    let out: Value = serde_json::from_str(&eval_line(&c.to_string())).unwrap();
    match (out.get("decision"), out.get("error")) {
        (Some(d), _) => d.as_str().unwrap().to_owned(),
        (_, Some(e)) => format!("error: {}", e.as_str().unwrap()),
        _ => panic!("{out}"),
    }
}

fn push(principal: &str, resource: &str, context: Value) -> Value {
    json!({"principal": principal, "action": "ecr:PutImage", "resource": resource, "context": context})
}

fn allow_ecr(condition: Value) -> Value {
    doc(json!([{"Effect": "Allow", "Action": "ecr:*", "Resource": "*", "Condition": condition}]))
}

fn check(expected: &str, c: Value) {
    assert_eq!(decision(&c), expected, "{c}");
}

// IAM User Guide, "Policy evaluation logic" › "Determining whether a request is allowed or
// denied within an account": an explicit deny in any policy overrides any allow.
#[test]
fn explicit_deny_overrides_allow() {
    let allow = doc(json!({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}));
    let deny = doc(json!({"Effect": "Deny", "Action": "ecr:PutImage", "Resource": REPO}));
    check(
        "ExplicitDeny",
        case(
            vec![allow.clone(), deny],
            Value::Null,
            push(USER, REPO, json!({})),
        ),
    );
    check(
        "Allow",
        case(vec![allow], Value::Null, push(USER, REPO, json!({}))),
    );
}

// "Policy evaluation logic": by default all requests are implicitly denied.
#[test]
fn nothing_allows_is_implicit_deny() {
    check(
        "ImplicitDeny",
        case(vec![], Value::Null, push(USER, REPO, json!({}))),
    );
}

// "IAM JSON policy elements: Action": action names are case-insensitive.
// "IAM JSON policy elements: Resource": resource ARNs are case-sensitive.
#[test]
fn action_case_insensitive_resource_case_sensitive() {
    let p = doc(json!({"Effect": "Allow", "Action": "ECR:put*", "Resource": REPO}));
    check(
        "Allow",
        case(vec![p.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    check(
        "ImplicitDeny",
        case(
            vec![p],
            Value::Null,
            push(USER, &REPO.replace("team/app", "Team/App"), json!({})),
        ),
    );
}

// "IAM JSON policy elements: NotAction" › "Using NotAction with Allow": allows everything
// except the listed actions (it does not deny them).
#[test]
fn not_action_with_allow() {
    let p = doc(json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}));
    check(
        "Allow",
        case(vec![p.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    let create_role = json!({"principal": USER, "action": "iam:CreateRole", "resource": "*"});
    check("ImplicitDeny", case(vec![p], Value::Null, create_role));
}

// "IAM JSON policy elements: NotResource": a Deny with NotResource denies everything but the
// listed resources.
#[test]
fn deny_with_not_resource() {
    let allow = doc(json!({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}));
    let fence = doc(
        json!({"Effect": "Deny", "Action": "ecr:*", "NotResource": "arn:aws:ecr:*:111122223333:repository/team/*"}),
    );
    check(
        "Allow",
        case(
            vec![allow.clone(), fence.clone()],
            Value::Null,
            push(USER, REPO, json!({})),
        ),
    );
    let elsewhere = "arn:aws:ecr:us-east-1:111122223333:repository/other/app";
    check(
        "ExplicitDeny",
        case(
            vec![allow, fence],
            Value::Null,
            push(USER, elsewhere, json!({})),
        ),
    );
}

// "IAM JSON policy elements: Condition operators" › "String condition operators": StringLike
// `*` matches any run of characters, `?` exactly one.
#[test]
fn string_like_wildcards() {
    let p = allow_ecr(json!({"StringLike": {"aws:PrincipalTag/team": "plat?orm-*"}}));
    check(
        "Allow",
        case(
            vec![p.clone()],
            Value::Null,
            push(USER, REPO, json!({"aws:PrincipalTag/team": "platform-eu"})),
        ),
    );
    check(
        "ImplicitDeny",
        case(
            vec![p],
            Value::Null,
            push(USER, REPO, json!({"aws:PrincipalTag/team": "platforms-eu"})),
        ),
    );
}

// "Condition operators" › "...IfExists condition operators": when the key is absent the
// condition evaluates to true.
#[test]
fn if_exists_with_absent_key() {
    let p = allow_ecr(json!({"StringEqualsIfExists": {"aws:PrincipalTag/team": "platform"}}));
    check(
        "Allow",
        case(vec![p.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    check(
        "ImplicitDeny",
        case(
            vec![p],
            Value::Null,
            push(USER, REPO, json!({"aws:PrincipalTag/team": "web"})),
        ),
    );
}

// "Condition operators" › "Condition operator to check existence of condition keys": Null
// "true" holds when the key is absent.
#[test]
fn null_checks_absence() {
    let p = allow_ecr(json!({"Null": {"aws:TokenIssueTime": "true"}}));
    check(
        "Allow",
        case(vec![p.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    check(
        "ImplicitDeny",
        case(
            vec![p],
            Value::Null,
            push(
                USER,
                REPO,
                json!({"aws:TokenIssueTime": "2026-01-01T00:00:00Z"}),
            ),
        ),
    );
}

// "Single-valued vs. multivalued context keys" › "ForAllValues": returns true if the key is
// absent or its set is empty; "ForAnyValue": false when the key is absent.
#[test]
fn set_operators_and_absent_keys() {
    let all = allow_ecr(json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}));
    check(
        "Allow",
        case(vec![all.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    check(
        "Allow",
        case(
            vec![all.clone()],
            Value::Null,
            push(USER, REPO, json!({"aws:TagKeys": ["env"]})),
        ),
    );
    check(
        "ImplicitDeny",
        case(
            vec![all],
            Value::Null,
            push(USER, REPO, json!({"aws:TagKeys": ["env", "cost"]})),
        ),
    );
    let any = allow_ecr(json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}));
    check(
        "ImplicitDeny",
        case(vec![any.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    check(
        "Allow",
        case(
            vec![any],
            Value::Null,
            push(USER, REPO, json!({"aws:TagKeys": ["cost", "env"]})),
        ),
    );
}

// "IAM policy elements: Variables and tags" › "Specifying default values": `${key, 'default'}`
// stands for the default when the key is absent.
#[test]
fn policy_variables_in_resources() {
    let p = doc(json!({"Effect": "Allow", "Action": "ecr:*",
        "Resource": "arn:aws:ecr:*:111122223333:repository/${aws:PrincipalTag/team, 'shared'}/*"}));
    check(
        "Allow",
        case(
            vec![p.clone()],
            Value::Null,
            push(USER, REPO, json!({"aws:PrincipalTag/team": "team"})),
        ),
    );
    check(
        "ImplicitDeny",
        case(vec![p.clone()], Value::Null, push(USER, REPO, json!({}))),
    );
    let shared = "arn:aws:ecr:us-east-1:111122223333:repository/shared/app";
    check(
        "Allow",
        case(vec![p], Value::Null, push(USER, shared, json!({}))),
    );
}

// "Cross-account policy evaluation logic": the identity policy in the trusted account and
// the resource-based policy in the trusting account must both allow.
#[test]
fn cross_account_needs_both() {
    let identity = doc(json!({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}));
    let repo_policy = doc(
        json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Builder"}, "Action": "ecr:PutImage"}),
    );
    check(
        "ImplicitDeny",
        case(
            vec![identity.clone()],
            Value::Null,
            push(SESSION, OTHER_ACCOUNT_REPO, json!({})),
        ),
    );
    check(
        "ImplicitDeny",
        case(
            vec![],
            repo_policy.clone(),
            push(SESSION, OTHER_ACCOUNT_REPO, json!({})),
        ),
    );
    check(
        "Allow",
        case(
            vec![identity],
            repo_policy,
            push(SESSION, OTHER_ACCOUNT_REPO, json!({})),
        ),
    );
}

// "Policy evaluation logic" › "Identity-based policies with resource-based policies": within
// one account, a resource-based policy naming the principal is enough.
#[test]
fn same_account_resource_policy_alone() {
    let repo_policy = doc(
        json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Builder"}, "Action": "ecr:PutImage"}),
    );
    check(
        "Allow",
        case(vec![], repo_policy, push(SESSION, REPO, json!({}))),
    );
}

// IAM User Guide, "Configuring a role for GitHub OIDC identity provider": the trust policy
// pins `aud` to sts.amazonaws.com and `sub` to the repository and branch.
#[test]
fn github_trust_policy() {
    let trust = doc(
        json!({"Effect": "Allow", "Principal": {"Federated": GITHUB},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                      "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/app:ref:refs/heads/*"}}}),
    );
    let token = |sub: &str| {
        json!({"principal": GITHUB, "action": "sts:AssumeRoleWithWebIdentity", "resource": ROLE,
        "context": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com", "token.actions.githubusercontent.com:sub": sub}})
    };
    check(
        "Allow",
        case(
            vec![],
            trust.clone(),
            token("repo:octo/app:ref:refs/heads/main"),
        ),
    );
    check(
        "ImplicitDeny",
        case(vec![], trust.clone(), token("repo:octo/app:pull_request")),
    );
    check(
        "ImplicitDeny",
        case(
            vec![],
            trust,
            token("repo:octo/app-fork:ref:refs/heads/main"),
        ),
    );
}

// "Condition operators" › "IP address condition operators": CIDR ranges.
// "Date condition operators" and "Numeric condition operators".
// "Boolean condition operators": aws:SecureTransport.
// "Amazon Resource Name (ARN) condition operators": ArnLike per segment.
#[test]
fn typed_operators() {
    let p = allow_ecr(json!({
        "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
        "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
        "NumericLessThanEquals": {"aws:MultiFactorAuthAge": "3600"},
        "Bool": {"aws:SecureTransport": "true"},
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Build*"}
    }));
    let good = json!({"aws:SourceIp": "203.0.113.7", "aws:CurrentTime": "2026-05-01T00:00:00Z",
        "aws:MultiFactorAuthAge": "60", "aws:SecureTransport": "true", "aws:PrincipalArn": ROLE});
    check(
        "Allow",
        case(
            vec![p.clone()],
            Value::Null,
            push(SESSION, REPO, good.clone()),
        ),
    );
    for (key, bad) in [
        ("aws:SourceIp", "198.51.100.1"),
        ("aws:CurrentTime", "2031-01-01T00:00:00Z"),
        ("aws:MultiFactorAuthAge", "7200"),
        ("aws:SecureTransport", "false"),
        ("aws:PrincipalArn", "arn:aws:iam::111122223333:user/Builder"),
    ] {
        let mut context = good.clone();
        context[key] = json!(bad);
        check(
            "ImplicitDeny",
            case(vec![p.clone()], Value::Null, push(SESSION, REPO, context)),
        );
    }
}

// "IAM JSON policy elements: Effect": only `Allow` and `Deny` as written; IAM rejects others
// with MalformedPolicyDocument.
#[test]
fn iam_rejects_malformed_policies() {
    let p = doc(json!({"Effect": "allow", "Action": "ecr:*", "Resource": "*"}));
    check(
        "error: The policy failed legacy parsing",
        case(vec![p], Value::Null, push(USER, REPO, json!({}))),
    );
}

// Property tests: the combination rules of "Policy evaluation logic" do not depend on the
// order of statements, NotAction is the complement of Action, and a Deny never grants.

const ACTIONS: &[&str] = &[
    "ecr:*",
    "ecr:Put*",
    "*",
    "s3:Get?bject",
    "iam:CreateRole",
    "ECR:BatchGetImage",
];
const RESOURCES: &[&str] = &["*", "arn:aws:ecr:*:*:repository/a*", "arn:aws:s3:::b/*"];

fn statement() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::sample::subsequence(ACTIONS, 1..3),
        proptest::sample::subsequence(RESOURCES, 1..3),
        proptest::option::of(prop_oneof![
            Just("StringLike"),
            Just("StringNotEquals"),
            Just("ForAllValues:StringEquals")
        ]),
    )
        .prop_map(|(deny, not_action, actions, resources, condition)| {
            let mut s =
                json!({"Effect": if deny { "Deny" } else { "Allow" }, "Resource": resources});
            s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
            if let Some(op) = condition {
                s["Condition"] = json!({op: {"k": ["a*", "b"]}});
            }
            s
        })
}

fn request_parts() -> impl Strategy<Value = (String, String, Vec<String>)> {
    (
        prop_oneof![
            Just("ecr:PutImage".to_owned()),
            Just("s3:GetObject".to_owned()),
            Just("iam:CreateRole".to_owned()),
            "[a-z]{1,3}:[A-Za-z]{1,5}"
        ],
        prop_oneof![
            Just("*".to_owned()),
            Just("arn:aws:ecr:us-east-1:111122223333:repository/ab".to_owned()),
            Just("arn:aws:s3:::b/k".to_owned())
        ],
        proptest::collection::vec("[ab*]{0,2}", 0..3),
    )
}

fn decide_statements(
    statements: &[Value],
    action: &str,
    resource: &str,
    values: &[String],
) -> Decision {
    let policy = Policy::parse(&doc(json!(statements)).to_string(), PolicyKind::Identity).unwrap();
    let ids = [("p", &policy)];
    let mut context = Context::new();
    context.insert_multi("k", values.to_vec());
    let request = Request {
        principal: Principal {
            kind: PrincipalKind::Aws,
            arn: USER,
            role_arn: None,
            role_id: None,
            account: None,
        },
        action,
        resource,
        context: &context,
    };
    decide(
        &PolicySet {
            identity: &ids,
            ..PolicySet::default()
        },
        &request,
    )
}

proptest! {
    #[test]
    fn statement_order_never_matters(
        (statements, shuffled) in proptest::collection::vec(statement(), 1..5)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        (action, resource, values) in request_parts(),
    ) {
        prop_assert_eq!(
            decide_statements(&statements, &action, &resource, &values),
            decide_statements(&shuffled, &action, &resource, &values)
        );
    }

    #[test]
    fn not_action_is_the_complement_of_action(
        actions in proptest::sample::subsequence(ACTIONS, 1..4),
        (action, resource, values) in request_parts(),
    ) {
        let with = |element: &str| decide_statements(
            &[json!({"Effect": "Allow", element: actions.clone(), "Resource": "*"})],
            &action, &resource, &values,
        ) == Decision::Allow;
        prop_assert_ne!(with("Action"), with("NotAction"));
    }

    #[test]
    fn adding_a_deny_never_turns_deny_into_allow(
        statements in proptest::collection::vec(statement(), 1..4),
        extra in statement(),
        (action, resource, values) in request_parts(),
    ) {
        let mut deny = extra;
        deny["Effect"] = json!("Deny");
        let before = decide_statements(&statements, &action, &resource, &values);
        let mut more = statements.clone();
        more.push(deny);
        let after = decide_statements(&more, &action, &resource, &values);
        if before != Decision::Allow {
            prop_assert_ne!(after, Decision::Allow);
        }
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }
}
