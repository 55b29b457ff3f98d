//! Every route refuses a caller the policies do not allow, in its protocol's words. The
//! routes come from the routers' own tables (`RegistryOperation::ALL`, `EcrOperation::ALL`,
//! `IamOperation::ALL`, `CloudTrailOperation::ALL` and their samples, the same tables the
//! registry, the ECR API, IAM and CloudTrail dispatch on), so a route added without a decision shows up here as a route that
//! answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use berth_core::audit::CloudTrailOperation;
use berth_core::ecr::operation::EcrOperation;
use berth_core::iam::operation::IamOperation;
use berth_core::registry::RegistryOperation;
use berth_core::sts::operation::{StsAuthorization, StsOperation};
use berth_types::RepositoryName;
use common::*;
use serde_json::json;

/// A server on a fresh data directory, and clients for it.
fn start() -> (tempfile::TempDir, Server, Clients) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    (tmp, server, clients)
}

/// A role that may do only what has nothing to do with the API under test.
fn allowed_only_caller_identity() -> serde_json::Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]
    })
}

fn basic(password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    format!("Basic {token}")
}

#[tokio::test]
async fn every_registry_operation_refuses_a_caller_without_its_actions() {
    let (_tmp, server, clients) = start();
    let name = RepositoryName::parse("walk/app").unwrap();
    clients.aws_ok(
        Some(&root()),
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            name.as_str(),
        ],
    );
    // Allowed to sign in to the registry, and nothing else.
    let session = clients.role_session(
        "SignInOnly",
        &json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]
        }),
    );
    let password = clients.aws_ok(Some(&session), &["ecr", "get-login-password"]);
    let auth = basic(password.as_str().unwrap());
    let http = reqwest::Client::new();

    let mut walked = 0;
    for &operation in RegistryOperation::ALL {
        let (method, path) = operation.sample(&name);
        let url = format!("{}{path}", server.endpoint());
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();

        // Without credentials: 401 and a challenge, whatever the operation.
        let anonymous = http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{operation:?} without credentials");
        assert!(
            anonymous.headers().contains_key("www-authenticate"),
            "{operation:?}: no challenge"
        );

        // Signed in, without the operation's actions: 403 DENIED, or (the version check,
        // which needs no action) 200.
        let head = method == reqwest::Method::HEAD;
        let response = http
            .request(method, &url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        if operation.actions().is_empty() {
            assert_eq!(status, 200, "{operation:?}: {body}");
            continue;
        }
        assert_eq!(status, 403, "{operation:?} answered {status}: {body}");
        walked += 1;
        if head {
            continue; // no body to read the code from
        }
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            error["errors"][0]["code"], "DENIED",
            "{operation:?}: {body}"
        );
    }
    assert_eq!(walked, RegistryOperation::ALL.len() - 1);

    // The decision comes before the request's parameters are read: a malformed page is
    // refused as unauthorised, not as malformed.
    let bad_page = http
        .get(format!("{}/v2/_catalog?n=abc", server.endpoint()))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_page.status(), 403);
}

/// Sends one ECR JSON 1.1 request signed with `creds`; its status and JSON body.
async fn ecr_call(
    endpoint: &str,
    creds: &Creds,
    operation: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let target = format!("AmazonEC2ContainerRegistry_V20150921.{operation}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    let (status, text) = signed_call(endpoint, creds, "ecr", &headers, body).await;
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

/// Sends one IAM Query request signed with `creds`; its status and XML body.
async fn iam_call(endpoint: &str, creds: &Creds, operation: &str, params: &str) -> (u16, String) {
    let body = format!("Action={operation}&Version=2010-05-08&{params}");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    signed_call(endpoint, creds, "iam", &headers, &body).await
}

/// Sends one STS Query request signed with `creds`; its status and XML body.
async fn sts_call(endpoint: &str, creds: &Creds, operation: &str, params: &str) -> (u16, String) {
    let body = format!("Action={operation}&Version=2011-06-15&{params}");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    signed_call(endpoint, creds, "sts", &headers, &body).await
}

/// A POST of `body` to `/` with `extra_headers`, signed with `creds` for `service`.
async fn signed_call(
    endpoint: &str,
    creds: &Creds,
    service: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let url = reqwest::Url::parse(endpoint).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse().unwrap());
    for (name, value) in extra_headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.insert(name, value.parse().unwrap());
    }
    if let Some(token) = &creds.session_token {
        headers.insert("x-amz-security-token", token.parse().unwrap());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = berth_sigv4::sign(
        &berth_sigv4::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload_sha256_hex: &berth_sigv4::sha256_hex(body.as_bytes()),
        },
        &creds.access_key_id,
        &creds.secret_access_key,
        REGION,
        service,
        now,
    );
    let mut request = reqwest::Client::new().post(endpoint);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.to_str().unwrap());
    }
    let response = request
        .header("x-amz-date", signed.amz_date)
        .header("authorization", signed.authorization)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_ecr_operation_refuses_a_caller_without_its_action() {
    let (_tmp, server, clients) = start();
    let endpoint = server.endpoint();
    let repository = "walk/app";
    clients.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", repository],
    );
    let arn = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}");
    // Allowed nothing in ECR.
    let session = clients.role_session("NoEcr", &allowed_only_caller_identity());
    for &operation in EcrOperation::ALL {
        let body = operation
            .sample()
            .replace("{repo}", repository)
            .replace("{arn}", &arn);
        // The sample is a valid input: root, allowed everything, is not refused it.
        let (root_status, root_body) = ecr_call(&endpoint, &root(), operation.name(), &body).await;
        assert_ne!(
            root_body["__type"], "AccessDeniedException",
            "{operation:?} as root: {root_status} {root_body}"
        );
        let (status, answer) = ecr_call(&endpoint, &session, operation.name(), &body).await;
        assert_eq!(status, 400, "{operation:?}: {answer}");
        assert_eq!(
            answer["__type"], "AccessDeniedException",
            "{operation:?}: {answer}"
        );
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains(&operation.action()),
            "{operation:?}: the denial names another action: {answer}"
        );
    }
}

#[tokio::test]
async fn every_cloudtrail_operation_refuses_a_caller_without_its_action() {
    let (_tmp, server, clients) = start();
    let endpoint = server.endpoint();
    let session = clients.role_session("NoTrail", &allowed_only_caller_identity());
    for &operation in CloudTrailOperation::ALL {
        let call = |creds: Creds| {
            let endpoint = endpoint.clone();
            async move {
                let target = format!(
                    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{}",
                    operation.name()
                );
                let headers = [
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target.as_str()),
                ];
                let (status, text) = signed_call(
                    &endpoint,
                    &creds,
                    "cloudtrail",
                    &headers,
                    operation.sample(),
                )
                .await;
                let json: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
                (status, json)
            }
        };
        let (root_status, root_body) = call(root()).await;
        assert_eq!(root_status, 200, "{operation:?} as root: {root_body}");
        let (status, answer) = call(session.clone()).await;
        assert_eq!(
            answer["__type"], "AccessDeniedException",
            "{operation:?}: {answer}"
        );
        assert_eq!(status, 400, "{operation:?}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains(&operation.action()),
            "{operation:?}: the denial names another action: {answer}"
        );
    }
}

#[tokio::test]
async fn every_iam_operation_refuses_a_caller_without_its_action() {
    let (_tmp, server, clients) = start();
    let endpoint = server.endpoint();
    // Allowed nothing in IAM.
    let session = clients.role_session("NoIam", &allowed_only_caller_identity());
    for &operation in IamOperation::ALL {
        let params = operation.sample().replace("{account}", ACCOUNT);
        let (root_status, root_body) =
            iam_call(&endpoint, &root(), operation.name(), &params).await;
        assert!(
            !root_body.contains("<Code>AccessDenied</Code>"),
            "{operation:?} as root: {root_status} {root_body}"
        );
        let (status, body) = iam_call(&endpoint, &session, operation.name(), &params).await;
        assert_eq!(status, 403, "{operation:?}: {body}");
        assert!(
            body.contains("<Code>AccessDenied</Code>"),
            "{operation:?}: {body}"
        );
        assert!(
            body.contains(&operation.action()),
            "{operation:?}: the denial names another action: {body}"
        );
    }
}

/// A trust policy sees the request's global keys as every other policy does: here
/// `aws:UserAgent`, which the aws CLI sets to `aws-cli/...`.
#[tokio::test]
async fn trust_policies_see_the_request_keys() {
    let (_tmp, _server, clients) = start();
    let with_user_agent = |pattern: &str| {
        let mut trust = github_trust();
        trust["Statement"][0]["Condition"]["StringLike"]["aws:UserAgent"] = json!(pattern);
        trust
    };
    let policy = allowed_only_caller_identity();
    clients
        .role_session_trusting("FromTheCli", &with_user_agent("aws-cli/*"), &policy)
        .unwrap();
    let Err(refused) =
        clients.role_session_trusting("FromBoto3Only", &with_user_agent("Boto3/*"), &policy)
    else {
        panic!("a trust policy asking for another user agent let the aws CLI in");
    };
    assert!(refused.contains("AccessDenied"), "{refused}");
}

#[tokio::test]
async fn every_sts_operation_is_decided_as_its_table_says() {
    let (_tmp, server, clients) = start();
    let endpoint = server.endpoint();
    let session = clients.role_session(
        "NoSts",
        &json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:ListImages", "Resource": "*"}]
        }),
    );
    for &operation in StsOperation::ALL {
        let params = operation
            .sample()
            .replace("{account}", ACCOUNT)
            .replace("{token}", "not-a-token");
        let (status, body) = sts_call(&endpoint, &session, operation.name(), &params).await;
        match operation.authorization() {
            StsAuthorization::CallerPolicies => {
                assert_eq!(status, 403, "{operation:?}: {body}");
                assert!(
                    body.contains("<Code>AccessDenied</Code>"),
                    "{operation:?}: {body}"
                );
                assert!(body.contains(&operation.action()), "{operation:?}: {body}");
            }
            // The token decides, whoever signs: a bogus one is refused as such.
            StsAuthorization::TrustPolicyOnly => {
                assert_eq!(status, 400, "{operation:?}: {body}");
                assert!(
                    body.contains("<Code>InvalidIdentityToken</Code>"),
                    "{operation:?}: {body}"
                );
            }
            StsAuthorization::AnySignedCaller => {
                assert_eq!(status, 200, "{operation:?}: {body}");
            }
            // Refused to a role session, whatever its policies.
            StsAuthorization::LongTermCredentialsOnly => {
                assert_eq!(status, 403, "{operation:?}: {body}");
                assert!(
                    body.contains("with session credentials"),
                    "{operation:?}: {body}"
                );
            }
        }
    }
}
