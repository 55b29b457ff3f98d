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
