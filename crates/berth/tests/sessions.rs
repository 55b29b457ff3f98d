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

/// A `--dev` server with `flags`, and an identity provider whose one key is `key`.
fn start(dir: &std::path::Path, flags: &[&str]) -> (Server, Idp, RsaSigningKey) {
    let flags: Vec<&str> = ["--dev"].iter().chain(flags).copied().collect();
    let server = Server::start_with(&dir.join("data"), "127.0.0.1:0", &flags);
    let idp = Idp::start(&dir.join("idp"));
    let key = RsaSigningKey::generate("k1").unwrap();
    idp.write(
        "jwks.json",
        &json!({"keys": [serde_json::to_value(key.public_jwk()).unwrap()]}).to_string(),
    );
    (server, idp, key)
}

#[test]
fn session_policies_tags_source_identity_and_role_chaining() {
    let tmp = tempfile::tempdir().unwrap();
    // A metadata cache that never expires during the test: every IAM change below must
    // reach the next request through the cache's write invalidation alone.
    let (server, idp, key) = start(tmp.path(), &["--metadata-cache-ttl", "3600"]);
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

/// A role is its unique id, not its name (IAM User Guide, "Specifying a principal"): once
/// a role is deleted, the policies that named it name its id, a new role of the same
/// name is a stranger to them, and the old role's sessions — with the registry passwords
/// and download URLs made from them — are refused, whatever exists under the name now.
#[test]
fn a_role_is_its_unique_id_not_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, idp, key) = start(tmp.path(), &[]);
    let host = idp.host().to_owned();
    let provider_arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
    let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let web_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{host}:aud"): "sts.amazonaws.com"}}}]})
    .to_string();
    let by_chain_a = |actions: Value| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": role("ChainA")}, "Action": actions}]})
        .to_string()
    };
    let allow = |actions: Value| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
            .to_string()
    };
    let iam = |name: &str, op: &str, args: Value| call(name, Some("root"), "iam", op, args);
    let ecr =
        |name: &str, creds: &str, op: &str, args: Value| call(name, Some(creds), "ecr", op, args);
    let create_chain_a = |suffix: &str| {
        vec![
            iam(
                &format!("chain-a{suffix}"),
                "create_role",
                json!({"RoleName": "ChainA", "AssumeRolePolicyDocument": web_trust}),
            ),
            iam(
                &format!("chain-a-policy{suffix}"),
                "put_role_policy",
                json!({"RoleName": "ChainA", "PolicyName": "p", "PolicyDocument": allow(json!([
                    "sts:AssumeRole", "ecr:GetAuthorizationToken", "ecr:DescribeRepositories",
                    "ecr:GetDownloadUrlForLayer"]))}),
            ),
        ]
    };
    let t = now();
    let token = key
        .sign(&json!({"iss": idp.base, "aud": "sts.amazonaws.com", "sub": "repo:octo/app:ref:refs/heads/main",
                       "iat": t, "nbf": t - 60, "exp": t + 600}))
        .unwrap();
    let web = |name: &str| {
        call(
            name,
            None,
            "sts",
            "assume_role_with_web_identity",
            json!({"RoleArn": role("ChainA"), "RoleSessionName": name, "WebIdentityToken": token}),
        )
    };
    let assume_b = |name: &str, creds: &str| {
        call(
            name,
            Some(creds),
            "sts",
            "assume_role",
            json!({"RoleArn": role("ChainB"), "RoleSessionName": name}),
        )
    };
    let layer = "hello";
    let layer_digest = format!("sha256:{}", sha256_hex(layer.as_bytes()));
    let registry = |name: &str, auth: &str| json!({"name": name, "service": "http", "args": {"path": "/v2/app/tags/list", "auth": auth}});
    let download =
        |name: &str, url: &str| json!({"name": name, "service": "http", "args": {"url": url}});

    let mut calls = vec![
        iam(
            "provider",
            "create_open_id_connect_provider",
            json!({"Url": idp.base, "ClientIDList": ["sts.amazonaws.com"]}),
        ),
        // Policies name a role that does not exist yet: refused, as IAM and ECR do.
        iam(
            "early-b",
            "create_role",
            json!({"RoleName": "ChainB", "AssumeRolePolicyDocument": by_chain_a(json!("sts:AssumeRole"))}),
        ),
    ];
    calls.extend(create_chain_a(""));
    calls.extend([
        iam(
            "chain-b",
            "create_role",
            json!({"RoleName": "ChainB", "AssumeRolePolicyDocument": by_chain_a(json!("sts:AssumeRole"))}),
        ),
        iam(
            "chain-b-policy",
            "put_role_policy",
            json!({"RoleName": "ChainB", "PolicyName": "p", "PolicyDocument": allow(json!("ecr:DescribeRepositories"))}),
        ),
        ecr("repo", "root", "create_repository", json!({"repositoryName": "app"})),
        ecr(
            "repo-policy",
            "root",
            "set_repository_policy",
            json!({"repositoryName": "app", "policyText": json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": role("ChainA")}, "Action": "ecr:ListImages"}]}).to_string()}),
        ),
        ecr(
            "repo-policy-nobody",
            "root",
            "set_repository_policy",
            json!({"repositoryName": "app", "policyText": json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": role("Nobody")}, "Action": "ecr:ListImages"}]}).to_string()}),
        ),
        ecr("upload", "root", "initiate_layer_upload", json!({"repositoryName": "app"})),
        ecr(
            "part",
            "root",
            "upload_layer_part",
            json!({"repositoryName": "app", "uploadId": {"$from": ["upload", "uploadId"]},
                   "partFirstByte": 0, "partLastByte": layer.len() - 1, "layerPartBlob": layer}),
        ),
        ecr(
            "complete",
            "root",
            "complete_layer_upload",
            json!({"repositoryName": "app", "uploadId": {"$from": ["upload", "uploadId"]},
                   "layerDigests": [layer_digest]}),
        ),
        // The first ChainA: its session chains to ChainB, lists through the repository
        // policy, and gets a registry password and a download URL.
        web("a1"),
        assume_b("b1", "a1"),
        ecr("a1-list", "a1", "list_images", json!({"repositoryName": "app"})),
        ecr("a1-token", "a1", "get_authorization_token", json!({})),
        registry("a1-registry", "a1-token"),
        ecr(
            "a1-url",
            "a1",
            "get_download_url_for_layer",
            json!({"repositoryName": "app", "layerDigest": layer_digest}),
        ),
        download("a1-download", "a1-url"),
        iam("old-a", "get_role", json!({"RoleName": "ChainA"})),
        // ChainA deleted and created again under the same name.
        iam(
            "delete-a-policy",
            "delete_role_policy",
            json!({"RoleName": "ChainA", "PolicyName": "p"}),
        ),
        iam("delete-a", "delete_role", json!({"RoleName": "ChainA"})),
        iam("b-after-delete", "get_role", json!({"RoleName": "ChainB"})),
        ecr(
            "repo-policy-after-delete",
            "root",
            "get_repository_policy",
            json!({"repositoryName": "app"}),
        ),
        describe_call("a1-orphan", "a1"),
    ]);
    calls.extend(create_chain_a("-again"));
    calls.extend([
        describe_call("a1-after", "a1"),
        assume_b("b1-after", "a1"),
        registry("a1-registry-after", "a1-token"),
        download("a1-download-after", "a1-url"),
        // The new ChainA is another principal: ChainB's trust and the repository policy
        // name the old one.
        web("a2"),
        describe_call("a2-describe", "a2"),
        assume_b("b2", "a2"),
        ecr(
            "a2-list",
            "a2",
            "list_images",
            json!({"repositoryName": "app"}),
        ),
    ]);
    let r = run_calls(&server.endpoint(), tmp.path(), &calls);

    assert_code(&r, "early-b", "MalformedPolicyDocument");
    assert!(
        r["early-b"]["message"].as_str().unwrap().contains(&format!(
            r#"Invalid principal in policy: "AWS":"{}""#,
            role("ChainA")
        )),
        "{}",
        r["early-b"]
    );
    assert_code(&r, "repo-policy-nobody", "InvalidParameterException");
    for name in [
        "chain-b",
        "repo-policy",
        "complete",
        "a1",
        "b1",
        "a1-list",
        "a1-token",
        "a1-url",
        "delete-a",
        "a2",
        "a2-describe",
    ] {
        assert_ok(&r, name);
    }
    assert_eq!(r["a1-registry"]["status"], 200, "{}", r["a1-registry"]);
    assert_eq!(r["a1-download"]["status"], 200, "{}", r["a1-download"]);

    // What IAM and ECR show once the role is gone: its unique id.
    let old_id = r["old-a"]["Role"]["RoleId"].as_str().unwrap().to_owned();
    assert!(old_id.starts_with("AROA"), "{old_id}");
    let b_trust = &r["b-after-delete"]["Role"]["AssumeRolePolicyDocument"];
    assert_eq!(
        b_trust["Statement"][0]["Principal"]["AWS"], old_id,
        "{b_trust}"
    );
    let repo_policy: Value = serde_json::from_str(
        r["repo-policy-after-delete"]["policyText"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(repo_policy["Statement"][0]["Principal"]["AWS"], old_id);

    // The old session is refused (403, not a server error), before and after the name
    // is taken again.
    assert_code(&r, "a1-orphan", "AccessDeniedException");
    assert_code(&r, "a1-after", "AccessDeniedException");
    assert_code(&r, "b1-after", "AccessDenied");
    assert_eq!(
        r["a1-registry-after"]["status"], 403,
        "{}",
        r["a1-registry-after"]
    );
    assert_eq!(
        r["a1-download-after"]["status"], 403,
        "{}",
        r["a1-download-after"]
    );
    // The new role's session has the new role's permissions, and nothing the old name
    // was granted.
    assert_code(&r, "b2", "AccessDenied");
    assert_code(&r, "a2-list", "AccessDeniedException");
}

fn describe_call(name: &str, creds: &str) -> Value {
    call(name, Some(creds), "ecr", "describe_repositories", json!({}))
}
