//! Two `berth serve` replicas sharing PostgreSQL and an S3 bucket, and nothing else: each
//! has its own (empty) data directory and port. Credentials from one work on the other, a
//! push through one pulls through the other, an upload started on one finishes on the
//! other after the first is SIGKILLed, and a policy change through one is enforced by the
//! other. Also: `berth migrate`, and `serve` refusing a schema it does not match.
//!
//! Needs BERTH_TEST_POSTGRES_URL and BERTH_TEST_S3_ENDPOINT (scripts/with-test-services.sh
//! sets them): fails without them (`berth_store::suite::required_service`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use sqlx::Connection;

const ROLE: &str = "ReplicaRole";
const REPO: &str = "shared/app";
const S3_KEY: &str = "replica-test-key";
const S3_SECRET: &str = "replica-test-secret";

struct Shared {
    postgres: String,
    s3_endpoint: String,
    bucket: String,
}

/// A fresh PostgreSQL schema and S3 bucket (`None`: skipped on request).
async fn shared_stores() -> Option<Shared> {
    let base = berth_store::suite::required_service("BERTH_TEST_POSTGRES_URL")?;
    let s3_endpoint = berth_store::suite::required_service("BERTH_TEST_S3_ENDPOINT")?;
    let name = format!("replicas_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let postgres = format!("{base}{separator}options=-c%20search_path%3D{name}");
    let bucket = name.replace('_', "-");
    // moto does not check signatures: an unsigned CreateBucket is enough.
    let created = reqwest::Client::new()
        .put(format!("{s3_endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    Some(Shared {
        postgres,
        s3_endpoint,
        bucket,
    })
}

fn storage_flags(shared: &Shared) -> Vec<String> {
    vec![
        "--dev".into(),
        "--metadata".into(),
        shared.postgres.clone(),
        "--blobs".into(),
        format!("s3://{}/berth", shared.bucket),
        "--s3-endpoint".into(),
        shared.s3_endpoint.clone(),
        "--s3-region".into(),
        "us-east-1".into(),
    ]
}

const S3_ENV: &[(&str, &str)] = &[
    ("BERTH_S3_ACCESS_KEY_ID", S3_KEY),
    ("BERTH_S3_SECRET_ACCESS_KEY", S3_SECRET),
];

fn replica(dir: &Path, shared: &Shared) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let flags = storage_flags(shared);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Server::start_with_env(dir, "127.0.0.1:0", &flags, S3_ENV)
}

/// The same replica, configured through a TOML file instead of flags.
fn replica_from_config_file(dir: &Path, shared: &Shared) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "dev = true\nmetadata = \"{}\"\nblobs = \"s3://{}/berth\"\n\
             s3_endpoint = \"{}\"\ns3-region = \"us-east-1\"\n",
            shared.postgres, shared.bucket, shared.s3_endpoint
        ),
    )
    .unwrap();
    Server::start_with_env(
        dir,
        "127.0.0.1:0",
        &["--config", config.to_str().unwrap()],
        S3_ENV,
    )
}

/// Runs `berth serve` expecting it to refuse to start; returns stderr.
fn serve_refuses(dir: &Path, shared: &Shared) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .args(storage_flags(shared))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .envs(S3_ENV.iter().copied())
        .env("BERTH_ROOT_ACCESS_KEY_ID", ROOT_KEY)
        .env("BERTH_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve started on a wrong schema");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn migrate(shared: &Shared) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["migrate", "--metadata", &shared.postgres])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn trust_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
        "Principal":{{"Federated":"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"}},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}},
        "StringLike":{{"token.actions.githubusercontent.com:sub":"repo:octo/app:*"}}}}}}]}}"#
    )
}

fn push_pull_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}},
        {{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"}}]}}"#
    )
}

fn session_from(assumed: &serde_json::Value) -> Creds {
    let c = &assumed["Credentials"];
    Creds {
        access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: c["SecretAccessKey"].as_str().unwrap().into(),
        session_token: Some(c["SessionToken"].as_str().unwrap().into()),
    }
}

fn skopeo_ok(clients: &Clients, args: &[&str], stdin: Option<&str>) {
    let out = clients.skopeo(args, stdin);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn skopeo_login(clients: &Clients, password: &str, registry: &str, authfile: &Path) {
    skopeo_ok(
        clients,
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            authfile.to_str().unwrap(),
            "--username",
            "AWS",
            "--password-stdin",
            registry,
        ],
        Some(password),
    );
}

fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_everything_through_postgres_and_s3() {
    let Some(shared) = shared_stores().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // An empty database: serve refuses until `berth migrate` ran.
    let refused = serve_refuses(&tmp.path().join("refused"), &shared);
    assert!(refused.contains("run `berth migrate`"), "{refused}");
    assert!(migrate(&shared).contains("migrated from version 0"));
    assert!(migrate(&shared).contains("up to date"));

    let mut a = replica(&tmp.path().join("a"), &shared);
    let b = replica_from_config_file(&tmp.path().join("b"), &shared);
    let at_a = Clients {
        endpoint: a.endpoint(),
        home: home.clone(),
    };
    let at_b = Clients {
        endpoint: b.endpoint(),
        home: home.clone(),
    };
    let r = Some(root());

    // Set up through A: provider, role, policy, repository.
    at_a.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            "https://token.actions.githubusercontent.com",
            "--client-id-list",
            "sts.amazonaws.com",
        ],
    );
    at_a.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "create-role",
            "--role-name",
            ROLE,
            "--assume-role-policy-document",
            &trust_policy(),
        ],
    );
    at_a.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            ROLE,
            "--policy-name",
            "push-pull",
            "--policy-document",
            &push_pull_policy(),
        ],
    );
    at_b.aws_ok(
        r.as_ref(),
        &["ecr", "create-repository", "--repository-name", REPO],
    );

    // A token from A's dev issuer, assumed through A; the session works on B.
    let out = at_a.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &a.endpoint(),
            "--repository",
            "octo/app",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let assumed = at_a.aws_ok(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}"),
            "--role-session-name",
            "replicas",
            "--web-identity-token",
            &token,
        ],
    );
    let session = session_from(&assumed);
    let identity = at_b.aws_ok(Some(&session), &["sts", "get-caller-identity"]);
    assert_eq!(
        identity["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/replicas")
    );

    // Push through B (a login password from B), pull through A (a password from A).
    let auth_b = home.join("auth-b.json");
    let password_b = at_b.aws_ok(Some(&session), &["ecr", "get-login-password"]);
    skopeo_login(&at_b, password_b.as_str().unwrap(), &b.addr, &auth_b);
    let layout = tmp.path().join("image");
    // One layer above the S3 part size, so the push goes through a multipart upload.
    let pushed = write_oci_layout(&layout, "v1", 2, 9 * 1024 * 1024);
    skopeo_ok(
        &at_b,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-authfile",
            auth_b.to_str().unwrap(),
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{}/{REPO}:v1", b.addr),
        ],
        None,
    );
    let auth_a = home.join("auth-a.json");
    let password_a = at_a.aws_ok(Some(&session), &["ecr", "get-login-password"]);
    skopeo_login(&at_a, password_a.as_str().unwrap(), &a.addr, &auth_a);
    let pulled = tmp.path().join("pulled");
    skopeo_ok(
        &at_a,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-authfile",
            auth_a.to_str().unwrap(),
            &format!("docker://{}/{REPO}:v1", a.addr),
            &format!("oci:{}:v1", pulled.display()),
        ],
        None,
    );
    assert_eq!(read_layout_manifest(&pulled), pushed);

    // A chunked upload started on A; A is SIGKILLed; B finishes it.
    let http = reqwest::Client::new();
    let basic = |password: &serde_json::Value| {
        let raw = format!("AWS:{}", password.as_str().unwrap());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    let (auth_header_a, auth_header_b) = (basic(&password_a), basic(&password_b));
    let blob = pseudo_random(6 * 1024 * 1024 + 12_345, 7);
    let digest = format!("sha256:{}", sha256_hex(&blob));
    let (first, second) = blob.split_at(5 * 1024 * 1024 + 1);
    let started = http
        .post(format!("{}/v2/{REPO}/blobs/uploads/", a.endpoint()))
        .header("authorization", &auth_header_a)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let path = location
        .split_once("/v2/")
        .map(|(_, rest)| format!("/v2/{rest}"))
        .unwrap();
    let patched = http
        .patch(format!("{}{path}", a.endpoint()))
        .header("authorization", &auth_header_a)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202, "{:?}", patched.text().await);
    a.kill();
    let status = http
        .get(format!("{}{path}", b.endpoint()))
        .header("authorization", &auth_header_b)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(
        status.headers()["range"].to_str().unwrap(),
        format!("0-{}", first.len() - 1)
    );
    let location_b = status.headers()["location"].to_str().unwrap().to_owned();
    let path_b = location_b
        .split_once("/v2/")
        .map(|(_, rest)| format!("/v2/{rest}"))
        .unwrap();
    let separator = if path_b.contains('?') { '&' } else { '?' };
    let finished = http
        .put(format!(
            "{}{path_b}{separator}digest={digest}",
            b.endpoint()
        ))
        .header("authorization", &auth_header_b)
        .header("content-type", "application/octet-stream")
        .header(
            "content-range",
            format!("{}-{}", first.len(), blob.len() - 1),
        )
        .body(second.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201, "{:?}", finished.text().await);
    let fetched = http
        .get(format!("{}/v2/{REPO}/blobs/{digest}", b.endpoint()))
        .header("authorization", &auth_header_b)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), blob.as_slice());

    // A restarted A (same stores, fresh process) changes the policy; B enforces it.
    let a2 = replica(&tmp.path().join("a2"), &shared);
    let at_a2 = Clients {
        endpoint: a2.endpoint(),
        home: home.clone(),
    };
    at_b.aws_ok(
        Some(&session),
        &["ecr", "describe-repositories", "--repository-names", REPO],
    );
    at_a2.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "delete-role-policy",
            "--role-name",
            ROLE,
            "--policy-name",
            "push-pull",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = at_b.aws(
            Some(&session),
            &["ecr", "describe-repositories", "--repository-names", REPO],
        );
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("AccessDenied"), "{stderr}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B still allows the session 10 s after the policy was deleted through A"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(b);
    drop(a2);

    // A database migrated by a newer Berth: serve refuses to start on it.
    let mut conn = sqlx::PgConnection::connect(&shared.postgres).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from a newer berth', true, '\\x00'::bytea, 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let refused = serve_refuses(&tmp.path().join("newer"), &shared);
    assert!(refused.contains("newer than this Berth knows"), "{refused}");
}
