//! Every route refuses a caller the policies do not allow, in its protocol's words. The
//! routes come from the router's own table (`RegistryOperation::ALL` and its samples, the
//! same table the registry dispatches on), so a route added without a decision shows
//! up here as a route that answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use berth_core::registry::RegistryOperation;
use berth_types::RepositoryName;
use common::*;
use serde_json::json;

fn basic(password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    format!("Basic {token}")
}

#[tokio::test]
async fn every_registry_operation_refuses_a_caller_without_its_actions() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
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
}
