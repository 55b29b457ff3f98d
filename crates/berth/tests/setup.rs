//! `berth setup`, `teardown` and `workflow` against the real binary (`berth serve --dev`),
//! through the AWS SDK for Rust, checked with the aws CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use common::*;

const REPO: &str = "octo-org/octo-repo";
const ROLE: &str = "GitHubActionsECRRole";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assume(c: &Clients, git_ref: &str) -> Output {
    let out = c.berth(
        &root(),
        &[
            "token",
            "--endpoint-url",
            &c.endpoint,
            "--repository",
            REPO,
            "--ref",
            git_ref,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    c.aws(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}"),
            "--role-session-name",
            "GitHubActions",
            "--web-identity-token",
            &token,
        ],
    )
}

/// With the role's session (the output of assume-role-with-web-identity), logs skopeo in the
/// way amazon-ecr-login does and pushes an image to the repository setup created.
fn push_with_skopeo(c: &Clients, server: &Server, dir: &std::path::Path, assumed: &Output) {
    let assumed: serde_json::Value = serde_json::from_slice(&assumed.stdout).unwrap();
    let k = &assumed["Credentials"];
    let session = Creds {
        access_key_id: k["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: k["SecretAccessKey"].as_str().unwrap().into(),
        session_token: Some(k["SessionToken"].as_str().unwrap().into()),
    };
    let password = c.aws_ok(Some(&session), &["ecr", "get-login-password"]);
    let auth = dir.join("session-auth.json");
    let auth = auth.to_str().unwrap();
    let out = c.skopeo(
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            auth,
            "--username",
            "AWS",
            "--password-stdin",
            &server.addr,
        ],
        Some(password.as_str().unwrap()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let layout = dir.join("image");
    let manifest = write_oci_layout(&layout, "v1", 2, 64 * 1024);
    let out = c.skopeo(
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-authfile",
            auth,
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{}/octo-repo:v1", server.addr),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let images = c.aws_ok(
        Some(&root()),
        &["ecr", "describe-images", "--repository-name", "octo-repo"],
    );
    assert_eq!(
        images["imageDetails"][0]["imageDigest"],
        format!("sha256:{}", sha256_hex(&manifest))
    );
}

#[test]
fn setup_is_idempotent_repairs_drift_and_tears_down() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    let workflow = tmp.path().join("repo/.github/workflows/ecr-push.yml");
    let wf = workflow.to_str().unwrap();
    let setup = |extra: &[&str]| {
        let mut args = vec!["setup", "--repository", REPO, "--workflow", wf];
        args.extend_from_slice(extra);
        c.berth(&root(), &args)
    };

    // Without --yes and without a terminal it refuses, and changes nothing.
    let out = setup(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert!(
        c.aws(Some(&root()), &["iam", "get-role", "--role-name", ROLE])
            .status
            .code()
            != Some(0)
    );

    // From nothing: a dry run says what it would do and exits 2.
    let out = setup(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("create the role"), "{}", text(&out));

    let out = setup(&["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("repo:octo-org/octo-repo:ref:refs/heads/main: Allow"),
        "{log}"
    );
    assert!(log.contains("gh secret set AWS_ROLE_NAME"), "{log}");

    // What it made: tagged, attached, the repository exists, the workflow is YAML.
    let role = c.aws_ok(Some(&root()), &["iam", "get-role", "--role-name", ROLE]);
    let tags = role["Role"]["Tags"].to_string();
    assert!(tags.contains("managed-by") && tags.contains(REPO), "{tags}");
    let attached = c.aws_ok(
        Some(&root()),
        &["iam", "list-attached-role-policies", "--role-name", ROLE],
    );
    assert_eq!(
        attached["AttachedPolicies"][0]["PolicyName"],
        "GitHubActionsECRPolicy"
    );
    c.aws_ok(
        Some(&root()),
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "octo-repo",
        ],
    );
    let python = std::env::var("BERTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let parsed = Command::new(python)
        .args([
            "-c",
            "import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            wf,
        ])
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", text(&parsed));
    let yaml: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(yaml["permissions"]["id-token"], "write");
    assert_eq!(yaml["permissions"]["contents"], "read");
    let steps = yaml["jobs"]["push"]["steps"].to_string();
    for needle in [
        "aws-actions/configure-aws-credentials",
        "aws-actions/amazon-ecr-login",
        "secrets.AWS_ROLE_NAME",
        "secrets.AWS_ACCOUNT_ID",
        "secrets.AWS_REGION",
    ] {
        assert!(steps.contains(needle), "{needle}: {steps}");
    }

    // A second run changes nothing.
    let out = setup(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = setup(&["--yes"]);
    assert!(text(&out).contains("nothing to do"), "{}", text(&out));

    // Drift: someone widens the trust policy by hand; setup shows it and repairs it.
    let wide = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringLike":{{"token.actions.githubusercontent.com:sub":"repo:octo-org/*"}}}}}}]}}"#
    );
    c.aws_ok(
        Some(&root()),
        &[
            "iam",
            "update-assume-role-policy",
            "--role-name",
            ROLE,
            "--policy-document",
            &wide,
        ],
    );
    assert!(
        assume(&c, "refs/heads/feature").status.success(),
        "the drift is real"
    );
    let out = setup(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("- ") && text(&out).contains("repo:octo-org/*"),
        "{}",
        text(&out)
    );
    let out = setup(&["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(setup(&["--dry-run"]).status.code(), Some(0));

    // The configured branch assumes the role; another branch is refused.
    let ok = assume(&c, "refs/heads/main");
    assert!(ok.status.success(), "{}", text(&ok));
    push_with_skopeo(&c, &server, tmp.path(), &ok);
    let refused = assume(&c, "refs/heads/feature");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("AccessDenied"),
        "{}",
        text(&refused)
    );

    // Widening needs an explicit flag.
    let out = setup(&["--branch", "*", "--yes"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--allow-any-ref"), "{}", text(&out));

    // Teardown removes what setup made, but keeps the images' repository.
    let out = c.berth(&root(), &["teardown", "--repository", REPO, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !c.aws(Some(&root()), &["iam", "get-role", "--role-name", ROLE])
            .status
            .success()
    );
    let policies = c.aws_ok(Some(&root()), &["iam", "list-policies"]);
    assert_eq!(policies["Policies"].as_array().unwrap().len(), 0);
    let providers = c.aws_ok(Some(&root()), &["iam", "list-open-id-connect-providers"]);
    assert_eq!(
        providers["OpenIDConnectProviderList"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    c.aws_ok(
        Some(&root()),
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "octo-repo",
        ],
    );
    let out = c.berth(&root(), &["teardown", "--repository", REPO, "--yes"]);
    assert!(text(&out).contains("nothing to do"), "{}", text(&out));
}

#[test]
fn workflow_prints_the_workflow() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["workflow", "--ecr-repository", "web", "--branch", "release"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let w = String::from_utf8(out.stdout).unwrap();
    assert!(
        w.contains("REPOSITORY: \"web\"") && w.contains("- \"release\""),
        "{w}"
    );
}

/// A stand-in for the GitHub REST API endpoints setup calls: it holds the private key of the
/// public key it serves, opens each sealed box and keeps the plaintexts.
struct FakeGitHub {
    url: String,
    secrets: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const GITHUB_TOKEN: &str = "ghp_faketokenfortests";
const KEY_ID: &str = "568250167242549743";

impl FakeGitHub {
    fn start(owner_id: u64, repository_id: u64) -> FakeGitHub {
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::{get, put};
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;

        type Secrets = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>;
        #[derive(Clone)]
        struct Fake {
            key: crypto_box::SecretKey,
            secrets: Secrets,
        }
        fn authorised(headers: &HeaderMap) -> bool {
            headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {GITHUB_TOKEN}"))
                && headers.get("user-agent").is_some()
        }
        fn unauthorised() -> (StatusCode, axum::Json<serde_json::Value>) {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"message": "Bad credentials"})),
            )
        }
        let fake = Fake {
            key: crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng),
            secrets: Secrets::default(),
        };
        let secrets = fake.secrets.clone();
        let app = axum::Router::new()
            .route(
                "/repos/{owner}/{repo}",
                get(move |Path((owner, repo)): Path<(String, String)>, headers: HeaderMap| async move {
                    if !authorised(&headers) {
                        return unauthorised();
                    }
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({
                            "id": repository_id, "full_name": format!("{owner}/{repo}"),
                            "owner": {"login": owner, "id": owner_id},
                        })),
                    )
                }),
            )
            .route(
                "/repos/{owner}/{repo}/actions/secrets/public-key",
                get(move |State(f): State<Fake>, headers: HeaderMap| async move {
                    if !authorised(&headers) {
                        return unauthorised();
                    }
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({
                            "key_id": KEY_ID,
                            "key": STANDARD.encode(f.key.public_key().as_bytes()),
                        })),
                    )
                }),
            )
            .route(
                "/repos/{owner}/{repo}/actions/secrets/{name}",
                put(
                    move |State(f): State<Fake>,
                     Path((owner, repo, name)): Path<(String, String, String)>,
                     headers: HeaderMap,
                     body: axum::Json<serde_json::Value>| async move {
                        if !authorised(&headers) {
                            return unauthorised();
                        }
                        if body["key_id"] != KEY_ID {
                            return (
                                StatusCode::UNPROCESSABLE_ENTITY,
                                axum::Json(serde_json::json!({"message": "bad key_id"})),
                            );
                        }
                        let sealed = STANDARD
                            .decode(body["encrypted_value"].as_str().unwrap_or_default())
                            .unwrap_or_default();
                        let Ok(plain) = f.key.unseal(&sealed) else {
                            return (
                                StatusCode::UNPROCESSABLE_ENTITY,
                                axum::Json(serde_json::json!({"message": "cannot decrypt"})),
                            );
                        };
                        f.secrets.lock().unwrap().insert(
                            format!("{owner}/{repo}:{name}"),
                            String::from_utf8(plain).unwrap(),
                        );
                        (StatusCode::CREATED, axum::Json(serde_json::json!({})))
                    },
                ),
            )
            .with_state(fake);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .await
                    .unwrap();
            });
        });
        FakeGitHub {
            url,
            secrets,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    fn secrets(&self) -> std::collections::BTreeMap<String, String> {
        self.secrets.lock().unwrap().clone()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn setup_sets_the_repository_secrets_through_githubs_api() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    let github = FakeGitHub::start(4242, 977);
    let workflow = tmp.path().join("ecr-push.yml");
    let setup = |token: &str, subject_format: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &c.home)
            .env("AWS_ENDPOINT_URL", &c.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", ROOT_KEY)
            .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("AWS_CONFIG_FILE", c.home.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", c.home.join("no-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("GH_TOKEN", token)
            .args(["setup", "--repository", REPO, "--yes", "--workflow"])
            .arg(&workflow)
            .args([
                "--subject-format",
                subject_format,
                "--github-token-env",
                "GH_TOKEN",
                "--github-api-url",
                &github.url,
            ]);
        cmd.output().unwrap()
    };

    // A token GitHub refuses: a clear error, and no secret set.
    let out = setup("ghp_wrong", "immutable");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("Bad credentials") && text(&out).contains("token valid"),
        "{}",
        text(&out)
    );
    assert!(github.secrets().is_empty());

    let out = setup(GITHUB_TOKEN, "immutable");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("gh secret set"), "{}", text(&out));
    let expected: std::collections::BTreeMap<String, String> = [
        ("AWS_REGION", REGION),
        ("AWS_ACCOUNT_ID", ACCOUNT),
        ("AWS_ROLE_NAME", ROLE),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{REPO}:{k}"), v.to_owned()))
    .collect();
    assert_eq!(github.secrets(), expected);

    // The repository's ids came from GitHub: the immutable subject is trusted instead of
    // the name form, and a token carrying it assumes the role.
    let role = c.aws_ok(Some(&root()), &["iam", "get-role", "--role-name", ROLE]);
    let trust = role["Role"]["AssumeRolePolicyDocument"].to_string();
    assert!(
        trust.contains("repo:octo-org@4242/octo-repo@977:ref:refs/heads/main")
            && !trust.contains("repo:octo-org/octo-repo:ref:refs/heads/main"),
        "{trust}"
    );
    let token = |owner_id: &str| {
        let out = c.berth(
            &root(),
            &[
                "token",
                "--repository",
                REPO,
                "--subject-format",
                "immutable",
                "--owner-id",
                owner_id,
                "--repository-id",
                "977",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let assume_with = |token: &str| {
        c.aws(
            None,
            &[
                "sts",
                "assume-role-with-web-identity",
                "--role-arn",
                &format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}"),
                "--role-session-name",
                "GitHubActions",
                "--web-identity-token",
                token,
            ],
        )
    };
    let ok = assume_with(&token("4242"));
    assert!(ok.status.success(), "{}", text(&ok));
    // The same name under another owner id (a recreated organisation) is refused.
    let refused = assume_with(&token("4243"));
    assert!(
        text(&refused).contains("AccessDenied"),
        "{}",
        text(&refused)
    );

    // Nor is the name form: it is what the immutable form closes.
    let legacy = c.berth(&root(), &["token", "--repository", REPO]);
    assert!(legacy.status.success(), "{}", text(&legacy));
    let refused = assume_with(String::from_utf8(legacy.stdout).unwrap().trim());
    assert!(
        text(&refused).contains("AccessDenied"),
        "{}",
        text(&refused)
    );

    // The immutable form with no token and no ids: a clear error, nothing changed.
    let out = setup("", "immutable");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--subject-format immutable needs the repository's numeric ids"),
        "{}",
        text(&out)
    );

    // An unset variable falls back to printing the commands.
    let out = setup("", "legacy");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("GH_TOKEN is not set")
            && text(&out).contains("gh secret set AWS_ACCOUNT_ID --repo octo-org/octo-repo"),
        "{}",
        text(&out)
    );
}
