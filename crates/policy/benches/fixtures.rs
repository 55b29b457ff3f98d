//! The document's policies and the requests a push and a token exchange make; shared by
//! the benchmark and the allocation test (`tests/allocations.rs` includes this file).

use berth_policy::{Context, Policy, PolicyKind, Principal, PrincipalKind};

pub const ACCOUNT: &str = "123456789012";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/GitHubActionsECRRole";
pub const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/gha";
pub const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
pub const REPO: &str = "arn:aws:ecr:ap-northeast-2:123456789012:repository/octo/app";

/// The document's trust policy, placeholders filled in.
pub const TRUST: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/app:ref:refs/heads/main"}
        }
    }]
}"#;

/// The document's ECR permission policy, placeholders filled in.
pub const ECR: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ECRAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "ECRPushPull", "Effect": "Allow",
         "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
                    "ecr:DescribeRepositories", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"],
         "Resource": "arn:aws:ecr:ap-northeast-2:123456789012:repository/octo/app"}
    ]
}"#;

pub fn trust() -> Option<Policy> {
    Policy::parse(TRUST, PolicyKind::Trust).ok()
}

pub fn ecr() -> Option<Policy> {
    Policy::parse(ECR, PolicyKind::Identity).ok()
}

pub fn session_principal() -> Principal<'static> {
    Principal {
        kind: PrincipalKind::Aws,
        arn: SESSION,
        role_arn: Some(ROLE),
        role_id: None,
        account: Some(ACCOUNT),
    }
}

pub fn federated_principal() -> Principal<'static> {
    Principal {
        kind: PrincipalKind::Federated,
        arn: PROVIDER,
        role_arn: None,
        role_id: None,
        account: Some(ACCOUNT),
    }
}

/// The keys the authorizer sets for a role session's request.
pub fn session_context() -> Context {
    let mut c = Context::new();
    c.insert("aws:PrincipalArn", ROLE);
    c.insert("aws:PrincipalAccount", ACCOUNT);
    c.insert("aws:PrincipalType", "AssumedRole");
    c.insert("aws:userid", "AROAEXAMPLEID:gha");
    c.insert("aws:EpochTime", "1767225600");
    c.insert("aws:CurrentTime", "2026-01-01T00:00:00Z");
    c.insert("aws:SecureTransport", "true");
    c.insert("aws:SourceIp", "192.0.2.10");
    c.insert("aws:UserAgent", "aws-cli/2.0");
    c
}

/// A GitHub Actions token's claims, as the dev issuer mints them.
pub fn github_claims() -> serde_json::Map<String, serde_json::Value> {
    let claims = serde_json::json!({
        "iss": "https://token.actions.githubusercontent.com",
        "sub": "repo:octo/app:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
        "ref": "refs/heads/main",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "repository": "octo/app",
        "repository_owner": "octo",
        "repository_owner_id": "1",
        "repository_id": "2",
        "repository_visibility": "private",
        "run_id": "3",
        "run_number": "4",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "actor_id": "5",
        "workflow": "push",
        "workflow_ref": "octo/app/.github/workflows/push.yml@refs/heads/main",
        "job_workflow_ref": "octo/app/.github/workflows/push.yml@refs/heads/main",
        "event_name": "push",
        "ref_type": "branch",
        "iat": 1767225600,
        "nbf": 1767225600,
        "exp": 1767225900,
    });
    match claims {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The keys STS sets for the token exchange.
pub fn token_context() -> Context {
    let mut c = Context::new();
    berth_policy::web_identity::insert_token_keys(
        &mut c,
        "https://token.actions.githubusercontent.com",
        PROVIDER,
        &github_claims(),
        "sts.amazonaws.com",
    );
    c.insert("sts:RoleSessionName", "gha");
    c.insert("aws:EpochTime", "1767225600");
    c.insert("aws:CurrentTime", "2026-01-01T00:00:00Z");
    c.insert("aws:SecureTransport", "true");
    c.insert("aws:SourceIp", "192.0.2.10");
    c
}
