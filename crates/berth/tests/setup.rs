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
