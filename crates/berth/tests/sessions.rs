//! Sessions beyond the plain assume, through boto3: managed session policies
//! (`PolicyArns`) and `PackedPolicySize`; `SourceIdentity` and session tags read from the
//! token's `https://aws.amazon.com/*` claims (and refused without sts:SetSourceIdentity /
//! sts:TagSession in the trust policy); AssumeRole from a session (role chaining), with
//! trust by role ARN or by account, the one-hour cap, transitive tags and a source
//! identity that cannot change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use berth_jwt::RsaSigningKey;
use common::idp::{Idp, python};
use common::*;
use serde_json::{Value, json};

fn run_calls(endpoint: &str, dir: &std::path::Path, calls: &[Value]) -> Value {
    let file = dir.join("calls.json");
    std::fs::write(&file, Value::Array(calls.to_vec()).to_string()).unwrap();
    let out = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/sts_calls.py"
        ))
        .arg(endpoint)
        .arg(&file)
        .env_clear()
        .env("HOME", dir)
        .env("ROOT_KEY", ROOT_KEY)
        .env("ROOT_SECRET", ROOT_SECRET)
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run boto3 (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "sts_calls.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn call(name: &str, creds: Option<&str>, service: &str, op: &str, args: Value) -> Value {
    let mut c = json!({"name": name, "service": service, "op": op, "args": args});
    if let Some(creds) = creds {
        c["creds"] = json!(creds);
    }
    c
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[track_caller]
fn assert_code(results: &Value, name: &str, code: &str) {
    assert_eq!(results[name]["code"], code, "{name}: {}", results[name]);
}

#[track_caller]
fn assert_ok(results: &Value, name: &str) -> Value {
    assert!(results[name]["code"].is_null(), "{name}: {}", results[name]);
    results[name].clone()
}

#[test]
fn session_policies_tags_source_identity_and_role_chaining() {
    let tmp = tempfile::tempdir().unwrap();
    // A metadata cache that never expires during the test: every IAM change below must
    // reach the next request through the cache's write invalidation alone.
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--metadata-cache-ttl", "3600"],
    );
    let idp = Idp::start(&tmp.path().join("idp"));
    let key = RsaSigningKey::generate("k1").unwrap();
    idp.write(
        "jwks.json",
        &json!({"keys": [serde_json::to_value(key.public_jwk()).unwrap()]}).to_string(),
    );
    let host = idp.host().to_owned();
    let provider_arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let describe_only = format!("arn:aws:iam::{ACCOUNT}:policy/EcrDescribeOnly");
    let web_trust = |actions: Value| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": provider_arn}, "Action": actions,
            "Condition": {"StringEquals": {format!("{host}:aud"): "sts.amazonaws.com"},
                          "StringLike": {format!("{host}:sub"): "repo:octo/app:*"}}}]})
        .to_string()
    };
    let allow = |actions: Value| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
            .to_string()
    };
    let iam = |name: &str, op: &str, args: Value| call(name, Some("root"), "iam", op, args);
    let setup = vec![
        iam(
            "provider",
            "create_open_id_connect_provider",
            json!({"Url": idp.base, "ClientIDList": ["sts.amazonaws.com"]}),
        ),
        iam(
            "policy",
            "create_policy",
            json!({"PolicyName": "EcrDescribeOnly", "PolicyDocument": allow(json!("ecr:DescribeRepositories"))}),
        ),
        // Web: trusts the provider for the assume, tags and a source identity.
        iam(
            "web",
            "create_role",
            json!({"RoleName": "Web", "AssumeRolePolicyDocument": web_trust(json!([
                "sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"]))}),
        ),
        iam(
            "web-policy",
            "put_role_policy",
            json!({"RoleName": "Web", "PolicyName": "all", "PolicyDocument": allow(json!(["ecr:*", "sts:AssumeRole"]))}),
        ),
        // WebPlain: the assume only; its identity policy does not allow sts:AssumeRole.
        iam(
            "plain",
            "create_role",
            json!({"RoleName": "WebPlain", "AssumeRolePolicyDocument": web_trust(json!("sts:AssumeRoleWithWebIdentity"))}),
        ),
        iam(
            "plain-policy",
            "put_role_policy",
            json!({"RoleName": "WebPlain", "PolicyName": "ecr", "PolicyDocument": allow(json!("ecr:*"))}),
        ),
        // ByArn: trusts both roles by ARN; lets only team=blue sessions describe.
        iam(
            "byarn",
            "create_role",
            json!({"RoleName": "ByArn", "MaxSessionDuration": 43200,
                   "AssumeRolePolicyDocument": json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                       "Principal": {"AWS": [role("Web"), role("WebPlain")]},
                       "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]}).to_string()}),
        ),
        iam(
            "byarn-policy",
            "put_role_policy",
            json!({"RoleName": "ByArn", "PolicyName": "blue", "PolicyDocument": json!({"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*",
                               "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}]}).to_string()}),
        ),
        // AccountTrust: trusts the account, so the caller's identity policy decides too.
        iam(
            "account",
            "create_role",
            json!({"RoleName": "AccountTrust",
                   "AssumeRolePolicyDocument": json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                       "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]}).to_string()}),
        ),
        call(
            "repo",
            Some("root"),
            "ecr",
            "create_repository",
            json!({"repositoryName": "app"}),
        ),
    ];
    let results = run_calls(&server.endpoint(), tmp.path(), &setup);
    for c in &setup {
        assert_ok(&results, c["name"].as_str().unwrap());
    }

    let t = now();
    let claims = json!({"iss": idp.base, "aud": "sts.amazonaws.com", "sub": "repo:octo/app:ref:refs/heads/main",
                        "iat": t, "nbf": t - 60, "exp": t + 600});
    let plain_token = key.sign(&claims).unwrap();
    let mut tagged = claims.clone();
    tagged["https://aws.amazon.com/source_identity"] = json!("alice");
    tagged["https://aws.amazon.com/tags"] =
        json!({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]});
    let tagged_token = key.sign(&tagged).unwrap();
    let web = |name: &str, role_name: &str, token: &str, extra: Value| {
        let mut args =
            json!({"RoleArn": role(role_name), "RoleSessionName": name, "WebIdentityToken": token});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        call(name, None, "sts", "assume_role_with_web_identity", args)
    };
    let assume = |name: &str, creds: &str, role_name: &str, extra: Value| {
        let mut args = json!({"RoleArn": role(role_name), "RoleSessionName": name});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        call(name, Some(creds), "sts", "assume_role", args)
    };
    let describe = |name: &str, creds: &str| {
        call(name, Some(creds), "ecr", "describe_repositories", json!({}))
    };
    let big_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "ecr:DescribeRepositories", "Resource": "*", "Sid": "x".repeat(1900)}]})
    .to_string();
    let calls = vec![
        // Managed session policies narrow the session.
        web(
            "arns",
            "Web",
            &plain_token,
            json!({"PolicyArns": [{"arn": describe_only}]}),
        ),
        describe("arns-describe", "arns"),
        call(
            "arns-create",
            Some("arns"),
            "ecr",
            "create_repository",
            json!({"repositoryName": "other"}),
        ),
        web(
            "missing-arn",
            "Web",
            &plain_token,
            json!({"PolicyArns": [{"arn": format!("arn:aws:iam::{ACCOUNT}:policy/Nope")}]}),
        ),
        web(
            "foreign-arn",
            "Web",
            &plain_token,
            json!({"PolicyArns": [{"arn": "arn:aws:iam::210987654321:policy/EcrDescribeOnly"}]}),
        ),
        web(
            "too-big",
            "Web",
            &plain_token,
            json!({"Policy": big_policy, "PolicyArns": [{"arn": describe_only}]}),
        ),
        // The token's source identity and tags.
        web("tagged", "Web", &tagged_token, json!({})),
        call(
            "tagged-whoami",
            Some("tagged"),
            "sts",
            "get_caller_identity",
            json!({}),
        ),
        web("tagged-plain", "WebPlain", &tagged_token, json!({})),
        // Role chaining from the tagged session: tags and source identity carry over.
        assume("chained", "tagged", "ByArn", json!({})),
        describe("chained-describe", "chained"),
        call(
            "chained-whoami",
            Some("chained"),
            "sts",
            "get_caller_identity",
            json!({}),
        ),
        assume(
            "chained-long",
            "tagged",
            "ByArn",
            json!({"DurationSeconds": 7200}),
        ),
        assume(
            "chained-hour",
            "tagged",
            "ByArn",
            json!({"DurationSeconds": 3600}),
        ),
        assume(
            "chained-other-source",
            "tagged",
            "ByArn",
            json!({"SourceIdentity": "bob"}),
        ),
        assume(
            "chained-retag",
            "tagged",
            "ByArn",
            json!({"Tags": [{"Key": "team", "Value": "red"}]}),
        ),
        // Trust by ARN needs no identity permission; trust by account does.
        web("plain", "WebPlain", &plain_token, json!({})),
        assume("plain-byarn", "plain", "ByArn", json!({})),
        describe("plain-byarn-describe", "plain-byarn"),
        assume(
            "plain-byarn-tags",
            "plain",
            "ByArn",
            json!({"Tags": [{"Key": "team", "Value": "blue"}], "Policy": allow(json!("ecr:Describe*"))}),
        ),
        describe("plain-byarn-tags-describe", "plain-byarn-tags"),
        assume("plain-account", "plain", "AccountTrust", json!({})),
        web("web", "Web", &plain_token, json!({})),
        assume("web-account", "web", "AccountTrust", json!({})),
        // Transitive tags need sts:TagSession, which AccountTrust does not allow.
        assume("tagged-account", "tagged", "AccountTrust", json!({})),
        // A session policy without sts:AssumeRole stops chaining through the account.
        assume("arns-account", "arns", "AccountTrust", json!({})),
        assume("root-assume", "root", "ByArn", json!({})),
        assume("not-trusted", "plain", "Web", json!({})),
    ];
    let r = run_calls(&server.endpoint(), tmp.path(), &calls);

    let arns = assert_ok(&r, "arns");
    let packed = arns["PackedPolicySize"].as_i64().unwrap();
    assert!((1..=100).contains(&packed), "{arns}");
    assert!(r["plain"]["PackedPolicySize"].is_null());
    assert_ok(&r, "arns-describe");
    assert_code(&r, "arns-create", "AccessDeniedException");
    assert!(
        r["arns-create"]["message"]
            .as_str()
            .unwrap()
            .contains("because no session policy allows"),
        "{}",
        r["arns-create"]
    );
    assert_code(&r, "missing-arn", "MalformedPolicyDocument");
    assert_code(&r, "foreign-arn", "MalformedPolicyDocument");
    assert_code(&r, "too-big", "PackedPolicyTooLarge");

    let tagged = assert_ok(&r, "tagged");
    assert_eq!(tagged["SourceIdentity"], "alice");
    assert_ok(&r, "tagged-whoami");
    assert_code(&r, "tagged-plain", "AccessDenied");

    let chained = assert_ok(&r, "chained");
    assert_eq!(chained["SourceIdentity"], "alice");
    assert_eq!(
        chained["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/ByArn/chained")
    );
    assert_ok(&r, "chained-describe");
    assert_eq!(
        r["chained-whoami"]["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/ByArn/chained")
    );
    assert_code(&r, "chained-long", "ValidationError");
    assert!(
        r["chained-long"]["message"]
            .as_str()
            .unwrap()
            .contains("1 hour session limit"),
        "{}",
        r["chained-long"]
    );
    assert_ok(&r, "chained-hour");
    assert_code(&r, "chained-other-source", "AccessDenied");
    assert_code(&r, "chained-retag", "ValidationError");

    assert_ok(&r, "plain");
    assert_ok(&r, "plain-byarn");
    // No team tag: ByArn's tag condition does not hold.
    assert_code(&r, "plain-byarn-describe", "AccessDeniedException");
    let tagged_chain = assert_ok(&r, "plain-byarn-tags");
    assert!(tagged_chain["PackedPolicySize"].as_i64().unwrap() >= 1);
    assert_ok(&r, "plain-byarn-tags-describe");
    assert_code(&r, "plain-account", "AccessDenied");
    assert_ok(&r, "web-account");
    assert_code(&r, "tagged-account", "AccessDenied");
    // The inherited tag counts toward the packed size.
    assert!(r["chained"]["PackedPolicySize"].as_i64().unwrap() >= 1);
    assert_code(&r, "arns-account", "AccessDenied");
    assert_code(&r, "root-assume", "AccessDenied");
    assert_code(&r, "not-trusted", "AccessDenied");
}
