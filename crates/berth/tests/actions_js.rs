//! GitHub Actions' token request endpoint on the dev issuer, driven by the real JavaScript
//! libraries a workflow uses: `@actions/core`'s `getIDToken` and the AWS SDK v3 STS client
//! (`@aws-sdk/client-sts`, what `configure-aws-credentials` uses). `node_modules` is
//! installed by scripts/test.sh (`npm ci` in tests/js).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// `berth token --actions-env` output, parsed into (URL, request token).
fn actions_env(clients: &Clients, server: &Server, extra: &[&str]) -> (String, String) {
    let endpoint = server.endpoint();
    let mut args = vec![
        "token",
        "--endpoint-url",
        &endpoint,
        "--repository",
        "octo/app",
        "--actions-env",
    ];
    args.extend_from_slice(extra);
    let out = clients.berth(&root(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "two export lines: {text}");
    let value = |name: &str| -> String {
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("no export {name}= in {text}"));
        line.trim_matches('\'').to_owned()
    };
    (
        value("ACTIONS_ID_TOKEN_REQUEST_URL"),
        value("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    )
}

/// A raw GET, for the answers the libraries hide.
fn get(addr: &str, path_and_query: &str, bearer: Option<&str>) -> (u16, serde_json::Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = bearer
        .map(|b| format!("Authorization: Bearer {b}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or_default())
}

fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn actions_core_get_id_token_and_aws_sdk_js_assume_the_role() {
    assert!(
        js_dir().join("node_modules/@actions/core").exists()
            && js_dir().join("node_modules/@aws-sdk/client-sts").exists(),
        "the JavaScript clients are not installed: run scripts/test.sh (npm ci in {})",
        js_dir().display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home: tmp.path().to_owned(),
    };
    let provider = clients.aws_ok(
        Some(&root()),
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            "https://token.actions.githubusercontent.com",
            "--client-id-list",
            "sts.amazonaws.com",
        ],
    );
    let provider_arn = provider["OpenIDConnectProviderArn"].as_str().unwrap();
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/app:*"},
            },
        }],
    })
    .to_string();
    let role = clients.aws_ok(
        Some(&root()),
        &[
            "iam",
            "create-role",
            "--role-name",
            "gha-push",
            "--assume-role-policy-document",
            &trust,
        ],
    );
    let role_arn = role["Role"]["Arn"].as_str().unwrap().to_owned();

    let (url, grant) = actions_env(&clients, &server, &["--environment", "prod"]);
    assert!(
        url.starts_with(&format!("{}/_berth/dev/actions-token?", server.endpoint())),
        "{url}"
    );

    // The libraries, as a workflow step runs them.
    let out = Command::new("node")
        .arg(js_dir().join("actions_oidc.mjs"))
        .arg("sts.amazonaws.com")
        .current_dir(js_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &url)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &grant)
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", tmp.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            tmp.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ROLE_ARN", &role_arn)
        .output()
        .expect("run node (Node 20 is installed on the test machine)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no RESULT line: {stdout}")),
    )
    .unwrap();
    let token = result["token"].as_str().unwrap();
    // getIDToken masks the token in the job log, as on GitHub.
    assert!(stdout.contains(&format!("::add-mask::{token}")), "{stdout}");
    let c = claims(token);
    assert_eq!(c["aud"], "sts.amazonaws.com");
    assert_eq!(c["sub"], "repo:octo/app:environment:prod");
    assert_eq!(c["iss"], "https://token.actions.githubusercontent.com");
    assert_eq!(result["subject"], "repo:octo/app:environment:prod");
    assert_eq!(result["audience"], "sts.amazonaws.com");
    assert_eq!(result["provider"], provider_arn);
    assert_eq!(
        result["identity"]["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/gha-push/GitHubActions")
    );
    assert_eq!(result["identity"]["Account"], ACCOUNT);

    // The endpoint's own answers: the audience parameter, one run per grant, refusals.
    let path = url.strip_prefix(&server.endpoint()).unwrap();
    let (status, body) = get(
        &server.addr,
        &format!("{path}&audience=api%3A%2F%2Fx"),
        Some(&grant),
    );
    assert_eq!(status, 200, "{body}");
    let other = claims(body["value"].as_str().unwrap());
    assert_eq!(other["aud"], "api://x");
    assert_eq!(other["run_id"], c["run_id"]);
    assert_eq!(other["sha"], c["sha"]);
    assert_ne!(other["jti"], c["jti"]);
    // Without the parameter: the audience the grant was made with.
    let (status, body) = get(&server.addr, path, Some(&grant));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["value"].as_str().unwrap())["aud"],
        "sts.amazonaws.com"
    );
    let (status, _) = get(&server.addr, path, None);
    assert_eq!(status, 401);
    let mut tampered = grant.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let (status, body) = get(
        &server.addr,
        path,
        Some(std::str::from_utf8(&tampered).unwrap()),
    );
    assert_eq!(status, 401, "{body}");
    // A session token is not a request grant (the seal names its purpose).
    let session = clients.aws_ok(
        Some(&root()),
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &role_arn,
            "--role-session-name",
            "cli",
            "--web-identity-token",
            token,
        ],
    );
    let session_token = session["Credentials"]["SessionToken"].as_str().unwrap();
    let (status, _) = get(&server.addr, path, Some(session_token));
    assert_eq!(status, 401);
    // A bad claim set fails when the grant is made, not in the job.
    let out = clients.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &server.endpoint(),
            "--repository",
            "not-a-repo",
            "--actions-env",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OWNER/REPO"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
