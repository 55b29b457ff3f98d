//! `berth login` and `docker-credential-berth` against `berth serve --dev`, used by skopeo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command with root's AWS credentials for the server and nothing else from the caller.
fn with_root(program: &Path, c: &Clients, path: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", &c.home)
        .env("AWS_ENDPOINT_URL", &c.endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("AWS_CONFIG_FILE", c.home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", c.home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

#[test]
fn skopeo_pushes_and_pulls_with_berth_login_and_the_credential_helper() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    let system_path = std::env::var("PATH").unwrap_or_default();
    c.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "web"],
    );

    // berth login writes the auth file, keeping what was there, readable by its owner only.
    let authfile = tmp.path().join("auth/auth.json");
    std::fs::create_dir_all(authfile.parent().unwrap()).unwrap();
    std::fs::write(&authfile, r#"{"auths":{"ghcr.io":{"auth":"dTpw"}}}"#).unwrap();
    let out = with_root(Path::new(env!("CARGO_BIN_EXE_berth")), &c, &system_path)
        .args(["login", "--authfile"])
        .arg(&authfile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).unwrap()).unwrap();
    assert_eq!(doc["auths"]["ghcr.io"]["auth"], "dTpw");
    assert!(doc["auths"][&server.addr]["auth"].is_string(), "{doc}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&authfile).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // skopeo pushes and pulls with nothing but that file.
    let layout = tmp.path().join("image");
    let manifest = write_oci_layout(&layout, "v1", 2, 32 * 1024);
    let image = format!("docker://{}/web:v1", server.addr);
    let auth = authfile.to_str().unwrap();
    let out = c.skopeo(
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-authfile",
            auth,
            &format!("oci:{}:v1", layout.display()),
            &image,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let pulled = tmp.path().join("pulled");
    let out = c.skopeo(
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-authfile",
            auth,
            &image,
            &format!("oci:{}:v1", pulled.display()),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_layout_manifest(&pulled), manifest);

    // Without the file the registry refuses: the credentials were what let skopeo in.
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let out = c.skopeo(
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-authfile",
            empty.to_str().unwrap(),
            &image,
            &format!("oci:{}:v1", tmp.path().join("refused").display()),
        ],
        None,
    );
    assert!(!out.status.success());

    // The same binary linked as docker-credential-berth answers docker's helper protocol.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-berth");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), &helper).unwrap();
    let run_helper = |action: &str, stdin: &str| {
        let mut child = with_root(&helper, &c, &system_path)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run_helper("get", &format!("{}\n", server.addr));
    assert!(out.status.success(), "{}", text(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["ServerURL"], server.addr.as_str());
    assert_eq!(got["Username"], "AWS");
    let secret = got["Secret"].as_str().unwrap();
    assert!(secret.len() > 20, "{got}");
    // Asked for another registry (docker asks a credsStore about every one), it answers
    // docker's "not found" rather than hand the ECR password elsewhere.
    let out = run_helper("get", "ghcr.io\n");
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "credentials not found in native keychain"
    );
    let out = run_helper("list", "");
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[&server.addr], "AWS", "{list}");
    assert!(
        run_helper(
            "store",
            r#"{"ServerURL":"x","Username":"AWS","Secret":"s"}"#
        )
        .status
        .success()
    );
    assert!(run_helper("erase", "x\n").status.success());
    let out = run_helper("bogus", "");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("get|store|erase|list"),
        "{}",
        text(&out)
    );

    // skopeo finds the helper on PATH through credHelpers and pulls with what it answers.
    let helper_auth = tmp.path().join("helper-auth.json");
    std::fs::write(
        &helper_auth,
        serde_json::json!({"credHelpers": {server.addr.clone(): "berth"}}).to_string(),
    )
    .unwrap();
    let policy = c.home.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let via_helper = tmp.path().join("via-helper");
    let out = with_root(
        Path::new("skopeo"),
        &c,
        &format!("{}:{system_path}", bin.display()),
    )
    .arg("--policy")
    .arg(&policy)
    .args([
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-authfile",
        helper_auth.to_str().unwrap(),
        &image,
        &format!("oci:{}:v1", via_helper.display()),
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_layout_manifest(&via_helper), manifest);
}
