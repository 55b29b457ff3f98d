//! `berth policy eval` against the document's policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

fn eval(input: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["policy", "eval"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn eval_reads_json_lines_and_keeps_going_after_errors() {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},"StringLike":{"token.actions.githubusercontent.com:sub":"repo:octo/app:ref:refs/heads/main"}}}]}"#;
    let ecr = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:PutImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/app"}]}"#;
    let request = |sub: &str| {
        format!(
            r#"{{"id":"{sub}","identity_policies":[],"resource_policy":{trust},"request":{{"principal":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com","action":"sts:AssumeRoleWithWebIdentity","resource":"arn:aws:iam::123456789012:role/R","context":{{"token.actions.githubusercontent.com:sub":"{sub}","token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}}}}"#
        )
    };
    let push = |repo: &str| {
        format!(
            r#"{{"id":"{repo}","identity_policies":[{ecr}],"resource_policy":null,"request":{{"principal":"arn:aws:sts::123456789012:assumed-role/R/S","action":"ecr:PutImage","resource":"arn:aws:ecr:us-east-1:123456789012:repository/{repo}","context":{{}}}}}}"#
        )
    };
    let input = [
        request("repo:octo/app:ref:refs/heads/main"),
        request("repo:octo/app:ref:refs/heads/dev"),
        "not json".to_owned(),
        push("app"),
        push("other"),
    ]
    .join("\n");
    let out = eval(&input);
    assert_eq!(out.len(), 5);
    assert_eq!(out[0]["decision"], "Allow");
    assert_eq!(out[1]["decision"], "ImplicitDeny");
    assert!(out[2]["error"].is_string());
    assert_eq!(out[3]["decision"], "Allow");
    assert_eq!(out[4]["decision"], "ImplicitDeny");
}

const GITHUB_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"GitHub","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}}]}"#;

fn berth(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// An unsigned token with `claims`: explain must not need a valid signature.
fn token(claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#),
        b64(claims.to_string().as_bytes()),
        b64(b"not a signature")
    )
}

#[test]
fn explain_names_the_failing_sub_condition_for_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    std::fs::write(&trust, GITHUB_TRUST).unwrap();
    let jwt = token(&serde_json::json!({
        "iss": "https://token.actions.githubusercontent.com",
        "sub": "repo:acme/app:environment:prod",
        "aud": "sts.amazonaws.com",
        "environment": "prod",
    }));
    let trust = trust.to_str().unwrap();
    let out = berth(
        &[
            "policy",
            "explain",
            "--trust-policy",
            trust,
            "--token",
            &jwt,
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("NOT verified"), "{text}");
    assert!(text.contains("decision:  ImplicitDeny"), "{text}");
    assert!(
        text.contains(r#"token.actions.githubusercontent.com:sub is "repo:acme/app:environment:prod", the statement needs StringLike "repo:acme/app:ref:refs/heads/main""#),
        "{text}"
    );
    assert!(text.contains(r#"token.actions.githubusercontent.com:environment = "prod""#));

    // JSON, token from stdin, a matching subject.
    let main = token(&serde_json::json!({
        "iss": "https://token.actions.githubusercontent.com",
        "sub": "repo:acme/app:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
    }));
    let out = berth(
        &[
            "policy",
            "explain",
            "--trust-policy",
            trust,
            "--token",
            "-",
            "--output",
            "json",
        ],
        &main,
    );
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["token_verified"], false);
    assert_eq!(json["explanation"]["decision"], "Allow");
    assert_eq!(
        json["explanation"]["policies"][0]["statements"][0]["outcome"]["result"],
        "matched"
    );

    // Not a JWT: a clear error.
    let out = berth(
        &[
            "policy",
            "explain",
            "--trust-policy",
            trust,
            "--token",
            "abc",
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token is not a JWT"));
}

#[test]
fn explain_reads_one_eval_request() {
    let ecr = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Push","Effect":"Allow","Action":["ecr:PutImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/app"}]}"#;
    let request = format!(
        r#"{{"identity_policies":[{ecr}],"request":{{"principal":"arn:aws:sts::123456789012:assumed-role/R/S","action":"ecr:PutImage","resource":"arn:aws:ecr:us-east-1:123456789012:repository/other"}}}}"#
    );
    let out = berth(&["policy", "explain"], &request);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r#"statement 0 (Push, Allow): resource "arn:aws:ecr:us-east-1:123456789012:repository/other" is not matched by Resource "arn:aws:ecr:us-east-1:123456789012:repository/app""#),
        "{text}"
    );
    let out = berth(&["policy", "explain", "--output", "json"], &request);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"], "ImplicitDeny");
    assert_eq!(
        json["policies"][0]["statements"][0]["outcome"]["element"],
        "Resource"
    );
    let out = berth(&["policy", "explain"], "{");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed request"));
}

#[test]
fn lint_reports_findings_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let clean = write("clean.json", GITHUB_TRUST);
    let open = write(
        "open.json",
        &GITHUB_TRUST.replace("repo:acme/app:ref:refs/heads/main", "repo:acme*"),
    );
    let audless = write(
        "audless.json",
        &GITHUB_TRUST.replace(
            r#""StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},"#,
            "",
        ),
    );
    let not_json = write("bad.json", "{ nope");

    let out = berth(&["policy", "lint", &clean], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no findings"));

    let out = berth(&["policy", "lint", &open], "");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("error[sub-wildcard-spans-owners] at /Statement/0/Condition/StringLike/token.actions.githubusercontent.com:sub"),
        "{text}"
    );
    assert!(text.contains("  why: ") && text.contains("  fix: "));

    // A warning fails by default, not with --fail-on error.
    assert_eq!(
        berth(&["policy", "lint", &audless], "").status.code(),
        Some(1)
    );
    let out = berth(&["policy", "lint", "--fail-on", "error", &audless], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning[aud-missing]"));

    // Unreadable input wins: exit 2, the other files still reported.
    let missing = dir.path().join("missing.json");
    let out = berth(
        &[
            "policy",
            "lint",
            "--output",
            "json",
            &open,
            &not_json,
            missing.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["findings"][0]["rule"], "sub-wildcard-spans-owners");
    assert_eq!(json[0]["findings"][0]["severity"], "error");
    assert!(json[1]["error"].as_str().unwrap().starts_with("not JSON"));
    assert!(
        json[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read")
    );
    // A directory is not a file.
    let out = berth(&["policy", "lint", dir.path().to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(2));
}
