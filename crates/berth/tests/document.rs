//! The document ("GitHub Actions OIDC with AWS ECR"), end to end on one machine: the real
//! binary, the aws CLI and skopeo, with the document's own JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::*;

const ORG: &str = "octo-org";
const REPO: &str = "octo-repo";
const ROLE: &str = "GitHubActionsECRRole";
const POLICY: &str = "GitHubActionsECRPolicy";

/// The document's trust policy, placeholders filled.
fn trust_policy() -> String {
    format!(
        r#"{{
    "Version": "2012-10-17",
    "Statement": [
        {{
            "Effect": "Allow",
            "Principal": {{
                "Federated": "arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
            }},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {{
                "StringEquals": {{
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
                }},
                "StringLike": {{
                    "token.actions.githubusercontent.com:sub": "repo:{ORG}/{REPO}:ref:refs/heads/main"
                }}
            }}
        }}
    ]
}}"#
    )
}

/// The document's ECR policy, placeholders filled.
fn ecr_policy() -> String {
    format!(
        r#"{{
    "Version": "2012-10-17",
    "Statement": [
        {{ "Sid": "ECRAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*" }},
        {{
            "Sid": "ECRPushPull",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:DescribeRepositories",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart"
            ],
            "Resource": "arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"
        }}
    ]
}}"#
    )
}

fn mint(clients: &Clients, args: &[&str]) -> String {
    let mut all = vec!["token", "--endpoint-url", clients.endpoint.as_str()];
    all.extend_from_slice(args);
    let out = clients.berth(&root(), &all);
    assert!(
        out.status.success(),
        "berth token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.matches('.').count(), 2, "not a JWT: {token}");
    token
}

fn assume(clients: &Clients, token: &str) -> std::process::Output {
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    clients.aws(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &role_arn,
            "--role-session-name",
            "GitHubActions",
            "--web-identity-token",
            token,
        ],
    )
}

fn skopeo_ok(clients: &Clients, args: &[&str], stdin: Option<&str>) {
    let out = clients.skopeo(args, stdin);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_document_end_to_end() {
    let test_started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut server = Server::start(&data, "127.0.0.1:0");
    let first_start = server.started_in;
    let clients = Clients {
        endpoint: server.endpoint(),
        home: home.clone(),
    };
    let r = Some(root());

    // --- The document's manual steps, with the aws CLI and root credentials. ---
    let provider = clients.aws_ok(
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
    let provider_arn = provider["OpenIDConnectProviderArn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        provider_arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
    );
    let trust_file = tmp.path().join("trust.json");
    std::fs::write(&trust_file, trust_policy()).unwrap();
    let policy_file = tmp.path().join("policy.json");
    std::fs::write(&policy_file, ecr_policy()).unwrap();
    let role = clients.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "create-role",
            "--role-name",
            ROLE,
            "--assume-role-policy-document",
            &format!("file://{}", trust_file.display()),
        ],
    );
    assert_eq!(
        role["Role"]["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}")
    );
    // boto3 decodes the URL-encoded document back into the document's JSON.
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"],
        serde_json::from_str::<serde_json::Value>(&trust_policy()).unwrap()
    );
    let policy = clients.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "create-policy",
            "--policy-name",
            POLICY,
            "--policy-document",
            &format!("file://{}", policy_file.display()),
        ],
    );
    let policy_arn = policy["Policy"]["Arn"].as_str().unwrap().to_owned();
    clients.aws_ok(
        r.as_ref(),
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            ROLE,
            "--policy-arn",
            &policy_arn,
        ],
    );
    let repo = clients.aws_ok(
        r.as_ref(),
        &["ecr", "create-repository", "--repository-name", REPO],
    );
    assert_eq!(
        repo["repository"]["repositoryUri"],
        format!("{}/{REPO}", server.addr)
    );
    clients.aws_ok(
        r.as_ref(),
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "other-repo",
        ],
    );

    // --- Restart between setup and push: nothing is lost. ---
    let addr = server.addr.clone();
    server.stop();
    let mut server = Server::start(&data, &addr);
    let attached = clients.aws_ok(
        r.as_ref(),
        &["iam", "list-attached-role-policies", "--role-name", ROLE],
    );
    assert_eq!(
        attached["AttachedPolicies"][0]["PolicyArn"],
        policy_arn.as_str()
    );

    // --- The workflow: a token, the role, a login, a push. ---
    let token = mint(&clients, &["--repository", &format!("{ORG}/{REPO}")]);
    let assumed = assume(&clients, &token);
    assert!(
        assumed.status.success(),
        "assume-role-with-web-identity failed: {}",
        String::from_utf8_lossy(&assumed.stderr)
    );
    let assumed: serde_json::Value = serde_json::from_slice(&assumed.stdout).unwrap();
    assert_eq!(
        assumed["SubjectFromWebIdentityToken"],
        format!("repo:{ORG}/{REPO}:ref:refs/heads/main")
    );
    assert_eq!(assumed["Provider"], provider_arn.as_str());
    assert_eq!(assumed["Audience"], "sts.amazonaws.com");
    let c = &assumed["Credentials"];
    let session = Creds {
        access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: c["SecretAccessKey"].as_str().unwrap().into(),
        session_token: Some(c["SessionToken"].as_str().unwrap().into()),
    };
    assert!(session.access_key_id.starts_with("ASIA"));
    let identity = clients.aws_ok(Some(&session), &["sts", "get-caller-identity"]);
    assert_eq!(
        identity["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/GitHubActions")
    );
    assert_eq!(identity["Account"], ACCOUNT);

    let password = clients.aws_ok(Some(&session), &["ecr", "get-login-password"]);
    let password = password.as_str().unwrap().to_owned();
    let session_auth = home.join("session-auth.json");
    let session_auth_arg = session_auth.to_str().unwrap();
    skopeo_ok(
        &clients,
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            session_auth_arg,
            "--username",
            "AWS",
            "--password-stdin",
            &server.addr,
        ],
        Some(&password),
    );
    let layout = tmp.path().join("image");
    let pushed_manifest = write_oci_layout(&layout, "v1", 3, 256 * 1024);
    let src = format!("oci:{}:v1", layout.display());
    let dest = format!("docker://{}/{REPO}:v1", server.addr);
    skopeo_ok(
        &clients,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-authfile",
            session_auth_arg,
            &src,
            &dest,
        ],
        None,
    );

    // The document's policy grants push, not ecr:GetDownloadUrlForLayer: a pull with the
    // session is refused at the first blob, as on AWS.
    let denied_pull = clients.skopeo(
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-authfile",
            session_auth_arg,
            &dest,
            &format!("oci:{}:v1", tmp.path().join("denied").display()),
        ],
        None,
    );
    assert!(
        !denied_pull.status.success(),
        "a pull with the session must be refused"
    );
    let stderr = String::from_utf8_lossy(&denied_pull.stderr);
    assert!(
        stderr.contains("403"),
        "pull refusal should be a 403: {stderr}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&pushed_manifest).unwrap();
    let first_blob = manifest["config"]["digest"].as_str().unwrap();
    let (status, body) = registry_request(
        &server.addr,
        "GET",
        &format!("/v2/{REPO}/blobs/{first_blob}"),
        &password,
    );
    assert_eq!(status, 403);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is not authorized to perform: ecr:GetDownloadUrlForLayer"),
        "{body}"
    );

    // A push outside the policy's Resource: 403 with an OCI DENIED body.
    let other_dest = format!("docker://{}/other-repo:v1", server.addr);
    let denied_push = clients.skopeo(
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-authfile",
            session_auth_arg,
            &src,
            &other_dest,
        ],
        None,
    );
    assert!(
        !denied_push.status.success(),
        "a push to other-repo must be refused"
    );
    let denied = registry_request(
        &server.addr,
        "POST",
        "/v2/other-repo/blobs/uploads/",
        &password,
    );
    assert_eq!(denied.0, 403);
    let body: serde_json::Value = serde_json::from_str(&denied.1).unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED", "{}", denied.1);

    // Pull with the root credentials: the manifest bytes are exactly what was pushed.
    let root_password = clients.aws_ok(r.as_ref(), &["ecr", "get-login-password"]);
    let root_auth = home.join("root-auth.json");
    let root_auth_arg = root_auth.to_str().unwrap();
    skopeo_ok(
        &clients,
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            root_auth_arg,
            "--username",
            "AWS",
            "--password-stdin",
            &server.addr,
        ],
        Some(root_password.as_str().unwrap()),
    );
    let out_layout = tmp.path().join("pulled");
    skopeo_ok(
        &clients,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-authfile",
            root_auth_arg,
            &dest,
            &format!("oci:{}:v1", out_layout.display()),
        ],
        None,
    );
    assert_eq!(read_layout_manifest(&out_layout), pushed_manifest);
    let images = clients.aws_ok(
        r.as_ref(),
        &["ecr", "list-images", "--repository-name", REPO],
    );
    assert_eq!(images["imageIds"][0]["imageTag"], "v1");
    assert_eq!(
        images["imageIds"][0]["imageDigest"],
        format!("sha256:{}", sha256_hex(&pushed_manifest))
    );

    // --- Refusals, each with the error a real client gets from AWS. ---
    let other_repo = mint(&clients, &["--repository", &format!("{ORG}/other")]);
    let e = String::from_utf8_lossy(&assume(&clients, &other_repo).stderr).into_owned();
    assert!(
        e.contains("AccessDenied"),
        "token for another repository: {e}"
    );
    let other_branch = mint(
        &clients,
        &[
            "--repository",
            &format!("{ORG}/{REPO}"),
            "--ref",
            "refs/heads/dev",
        ],
    );
    let e = String::from_utf8_lossy(&assume(&clients, &other_branch).stderr).into_owned();
    assert!(e.contains("AccessDenied"), "token for another branch: {e}");
    let expired = mint(
        &clients,
        &[
            "--repository",
            &format!("{ORG}/{REPO}"),
            "--expires-in",
            "-60",
        ],
    );
    let e = String::from_utf8_lossy(&assume(&clients, &expired).stderr).into_owned();
    assert!(e.contains("ExpiredTokenException"), "expired token: {e}");
    let wrong_aud = mint(
        &clients,
        &[
            "--repository",
            &format!("{ORG}/{REPO}"),
            "--audience",
            "https://github.com/octo-org",
        ],
    );
    let e = String::from_utf8_lossy(&assume(&clients, &wrong_aud).stderr).into_owned();
    assert!(e.contains("InvalidIdentityToken"), "wrong audience: {e}");
    let e = clients.aws_err(
        Some(&session),
        &[
            "iam",
            "create-role",
            "--role-name",
            "Escalate",
            "--assume-role-policy-document",
            &format!("file://{}", trust_file.display()),
        ],
    );
    assert!(
        e.contains("AccessDenied"),
        "role calling iam create-role: {e}"
    );

    server.stop();
    eprintln!(
        "timings: first start to ready {:?}, restart to ready {:?}, whole test {:?}",
        first_start,
        server.started_in,
        test_started.elapsed()
    );
}

/// A raw registry request with the ECR password, for checking wire details skopeo hides.
fn registry_request(addr: &str, method: &str, path: &str, password: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let auth = base64_encode(&format!("AWS:{password}"));
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
