//! The dev issuer: what it publishes, and that it mints only for the root credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::*;

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn dev_issuer_publishes_keys_and_mints_only_for_root() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home: tmp.path().to_owned(),
    };

    let (status, body) = get(&server.addr, "/.well-known/openid-configuration");
    assert_eq!(status, 200);
    let discovery: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        discovery["issuer"],
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks", server.endpoint())
    );
    let (status, body) = get(&server.addr, "/.well-known/jwks");
    assert_eq!(status, 200);
    let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();

    // Root credentials mint a GitHub-shaped token signed with the published key.
    let out = clients.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &server.endpoint(),
            "--repository",
            "octo/app",
            "--environment",
            "prod",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine;
    let decode = |s: &str| -> serde_json::Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let header = decode(parts[0]);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], kid.as_str());
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "https://token.actions.githubusercontent.com");
    assert_eq!(claims["sub"], "repo:octo/app:environment:prod");
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    assert_eq!(claims["repository"], "octo/app");
    assert_eq!(claims["repository_owner"], "octo");
    assert_eq!(claims["environment"], "prod");
    assert_eq!(claims["ref"], "refs/heads/main");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    // GitHub's immutable subject form.
    let out = clients.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &server.endpoint(),
            "--repository",
            "octo/app",
            "--owner-id",
            "42",
            "--repository-id",
            "7",
            "--subject-format",
            "immutable",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = decode(token.trim().split('.').nth(1).unwrap());
    assert_eq!(claims["sub"], "repo:octo@42/app@7:ref:refs/heads/main");
    assert_eq!(claims["repository_id"], "7");

    // Anyone else is refused: a wrong secret, an unknown key.
    let wrong = Creds {
        access_key_id: ROOT_KEY.into(),
        secret_access_key: "not-the-secret-not-the-secret-not-the-se".into(),
        session_token: None,
    };
    let out = clients.berth(
        &wrong,
        &[
            "token",
            "--endpoint-url",
            &server.endpoint(),
            "--repository",
            "octo/app",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
    let stranger = Creds {
        access_key_id: "AKIASTRANGERKEY00001".into(),
        ..wrong
    };
    let out = clients.berth(
        &stranger,
        &[
            "token",
            "--endpoint-url",
            &server.endpoint(),
            "--repository",
            "octo/app",
        ],
    );
    assert!(!out.status.success());
    // Bad input gets a message that says what to fix.
    let out = clients.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &server.endpoint(),
            "--repository",
            "no-slash",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OWNER/REPO"));
}

#[test]
fn without_dev_there_is_no_issuer() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), "127.0.0.1:0", &[]);
    assert_eq!(
        get(&server.addr, "/.well-known/openid-configuration").0,
        404
    );
    assert_eq!(get(&server.addr, "/healthz").0, 200);
}

#[test]
fn dev_refuses_a_non_loopback_address() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--dev", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev-allow-remote"));
}

#[test]
fn root_credentials_are_generated_once_and_kept_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("BERTH_ROOT_ACCESS_KEY_ID")
            .env_remove("BERTH_ROOT_SECRET_ACCESS_KEY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            first.push(byte[0] as char);
        }
        assert!(first.starts_with("berth ready"), "{first}");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = run();
    assert!(first.contains("AWS_ACCESS_KEY_ID=AKIA"), "{first}");
    let file = data.join("root-credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let second = run();
    assert!(
        !second.contains("AWS_SECRET_ACCESS_KEY="),
        "shown again: {second}"
    );
}
