//! The IAM operations `berth setup` relies on (policy versions, listings, tags, OIDC
//! provider updates), driven with the aws CLI against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:sub":"repo:o/r:ref:refs/heads/main"}}}]}"#;
const POLICY_V1: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}"#;
const POLICY_V2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:DescribeRepositories","Resource":"*"}]}"#;

/// A server on `dir` and the clients to call it with.
fn start(dir: &std::path::Path, flags: &[&str]) -> (Server, Clients) {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start_with(&dir.join("data"), "127.0.0.1:0", flags);
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    (server, c)
}

#[test]
fn policy_versions_listings_tags_and_provider_updates() {
    let tmp = tempfile::tempdir().unwrap();
    // A metadata cache that never expires during the test: every IAM change below must
    // reach the next request through the cache's write invalidation alone.
    let (_server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();

    // Tags on create, returned by Get*.
    let provider = c.aws_ok(
        r,
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            "https://token.actions.githubusercontent.com",
            "--client-id-list",
            "sts.amazonaws.com",
            "--tags",
            "Key=managed-by,Value=berth",
        ],
    );
    assert_eq!(provider["Tags"][0]["Key"], "managed-by");
    let parn = provider["OpenIDConnectProviderArn"].as_str().unwrap();
    let role = c.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Pusher",
            "--assume-role-policy-document",
            TRUST,
            "--tags",
            "Key=managed-by,Value=berth",
            "Key=github-repository,Value=o/r",
        ],
    );
    assert_eq!(role["Role"]["Tags"][1]["Value"], "o/r");
    let got = c.aws_ok(r, &["iam", "get-role", "--role-name", "pusher"]);
    assert_eq!(got["Role"]["Tags"].as_array().unwrap().len(), 2);
    let policy = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "Push",
            "--policy-document",
            POLICY_V1,
            "--tags",
            "Key=managed-by,Value=berth",
        ],
    );
    let arn = policy["Policy"]["Arn"].as_str().unwrap().to_owned();
    assert_eq!(policy["Policy"]["Tags"][0]["Value"], "berth");

    // Duplicate keys (any case) and bad characters are refused with IAM's codes.
    let err = c.aws_err(
        r,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "Pusher",
            "--tags",
            "Key=team,Value=a",
            "Key=Team,Value=b",
        ],
    );
    assert!(
        err.contains("InvalidInput") && err.contains("case insensitive"),
        "{err}"
    );
    let err = c.aws_err(
        r,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "Pusher",
            "--tags",
            "Key=a;b,Value=x",
        ],
    );
    assert!(err.contains("ValidationError"), "{err}");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "Nobody",
            "--tags",
            "Key=a,Value=x",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");

    // Tag, retag (replaces), untag, list.
    c.aws_ok(
        r,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "Pusher",
            "--tags",
            "Key=team,Value=ci",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "Pusher",
            "--tags",
            "Key=TEAM,Value=platform",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "untag-role",
            "--role-name",
            "Pusher",
            "--tag-keys",
            "github-repository",
        ],
    );
    let tags = c.aws_ok(r, &["iam", "list-role-tags", "--role-name", "Pusher"]);
    assert_eq!(
        tags["Tags"],
        serde_json::json!([
            {"Key": "managed-by", "Value": "berth"},
            {"Key": "TEAM", "Value": "platform"}
        ])
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "tag-policy",
            "--policy-arn",
            &arn,
            "--tags",
            "Key=env,Value=prod",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "untag-policy",
            "--policy-arn",
            &arn,
            "--tag-keys",
            "managed-by",
        ],
    );
    let tags = c.aws_ok(r, &["iam", "list-policy-tags", "--policy-arn", &arn]);
    assert_eq!(
        tags["Tags"],
        serde_json::json!([{"Key": "env", "Value": "prod"}])
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "tag-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            parn,
            "--tags",
            "Key=github-repository,Value=o/r",
        ],
    );
    let tags = c.aws_ok(
        r,
        &[
            "iam",
            "list-open-id-connect-provider-tags",
            "--open-id-connect-provider-arn",
            parn,
        ],
    );
    assert_eq!(tags["Tags"].as_array().unwrap().len(), 2);
    c.aws_ok(
        r,
        &[
            "iam",
            "untag-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            parn,
            "--tag-keys",
            "github-repository",
        ],
    );
    let tags = c.aws_ok(
        r,
        &[
            "iam",
            "list-open-id-connect-provider-tags",
            "--open-id-connect-provider-arn",
            parn,
        ],
    );
    assert_eq!(tags["Tags"].as_array().unwrap().len(), 1);

    // Policy versions.
    let v2 = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy-version",
            "--policy-arn",
            &arn,
            "--policy-document",
            POLICY_V2,
            "--set-as-default",
        ],
    );
    assert_eq!(v2["PolicyVersion"]["VersionId"], "v2");
    assert_eq!(v2["PolicyVersion"]["IsDefaultVersion"], true);
    let got = c.aws_ok(r, &["iam", "get-policy", "--policy-arn", &arn]);
    assert_eq!(got["Policy"]["DefaultVersionId"], "v2");
    let doc = c.aws_ok(
        r,
        &[
            "iam",
            "get-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v2",
        ],
    );
    assert_eq!(
        doc["PolicyVersion"]["Document"]["Statement"][0]["Action"],
        "ecr:DescribeRepositories"
    );
    let err = c.aws_err(
        r,
        &[
            "iam",
            "create-policy-version",
            "--policy-arn",
            &arn,
            "--policy-document",
            "{",
        ],
    );
    assert!(err.contains("MalformedPolicyDocument"), "{err}");
    for _ in 0..3 {
        c.aws_ok(
            r,
            &[
                "iam",
                "create-policy-version",
                "--policy-arn",
                &arn,
                "--policy-document",
                POLICY_V1,
            ],
        );
    }
    let err = c.aws_err(
        r,
        &[
            "iam",
            "create-policy-version",
            "--policy-arn",
            &arn,
            "--policy-document",
            POLICY_V1,
        ],
    );
    assert!(err.contains("LimitExceeded"), "{err}");
    let versions = c.aws_ok(r, &["iam", "list-policy-versions", "--policy-arn", &arn]);
    let ids: Vec<&str> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VersionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["v5", "v4", "v3", "v2", "v1"]);
    // The CLI follows markers on its own: a page size of 2 still returns all five.
    let paged = c.aws_ok(
        r,
        &[
            "iam",
            "list-policy-versions",
            "--policy-arn",
            &arn,
            "--page-size",
            "2",
        ],
    );
    assert_eq!(paged["Versions"].as_array().unwrap().len(), 5);
    let err = c.aws_err(
        r,
        &[
            "iam",
            "delete-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v2",
        ],
    );
    assert!(err.contains("DeleteConflict"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "set-default-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v1",
        ],
    );
    let err = c.aws_err(
        r,
        &[
            "iam",
            "set-default-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v9",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
    // A policy with versions besides the default cannot be deleted yet.
    let err = c.aws_err(r, &["iam", "delete-policy", "--policy-arn", &arn]);
    assert!(err.contains("DeleteConflict"), "{err}");
    for v in ["v2", "v3", "v4", "v5"] {
        c.aws_ok(
            r,
            &[
                "iam",
                "delete-policy-version",
                "--policy-arn",
                &arn,
                "--version-id",
                v,
            ],
        );
    }

    // Listings, with paging.
    for name in ["Alpha", "beta", "Gamma"] {
        c.aws_ok(
            r,
            &[
                "iam",
                "create-role",
                "--role-name",
                name,
                "--path",
                "/ci/",
                "--assume-role-policy-document",
                TRUST,
            ],
        );
    }
    let roles = c.aws_ok(r, &["iam", "list-roles", "--page-size", "1"]);
    let names: Vec<&str> = roles["Roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RoleName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "beta", "Gamma", "Pusher"]);
    assert!(roles["Roles"][0].get("Tags").is_none());
    let roles = c.aws_ok(r, &["iam", "list-roles", "--path-prefix", "/ci/"]);
    assert_eq!(roles["Roles"].as_array().unwrap().len(), 3);
    let first = c.aws_ok(r, &["iam", "list-roles", "--max-items", "2"]);
    assert_eq!(first["Roles"].as_array().unwrap().len(), 2);
    assert!(first["NextToken"].is_string(), "{first}");

    c.aws_ok(
        r,
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            "Pusher",
            "--policy-arn",
            &arn,
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "Unattached",
            "--policy-document",
            POLICY_V1,
        ],
    );
    let all = c.aws_ok(r, &["iam", "list-policies", "--scope", "Local"]);
    assert_eq!(all["Policies"].as_array().unwrap().len(), 2);
    let attached = c.aws_ok(r, &["iam", "list-policies", "--only-attached"]);
    let policies = attached["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["PolicyName"], "Push");
    assert_eq!(policies[0]["AttachmentCount"], 1);
    let aws = c.aws_ok(r, &["iam", "list-policies", "--scope", "AWS"]);
    assert_eq!(aws["Policies"].as_array().unwrap().len(), 0);
    let err = c.aws_err(r, &["iam", "list-policies", "--scope", "Mine"]);
    assert!(
        err.contains("ValidationError") || err.contains("Invalid"),
        "{err}"
    );

    // OIDC provider updates.
    c.aws_ok(
        r,
        &[
            "iam",
            "add-client-id-to-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            parn,
            "--client-id",
            "sigstore",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "update-open-id-connect-provider-thumbprint",
            "--open-id-connect-provider-arn",
            parn,
            "--thumbprint-list",
            &"a".repeat(40),
        ],
    );
    let got = c.aws_ok(
        r,
        &[
            "iam",
            "get-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            parn,
        ],
    );
    assert_eq!(
        got["ClientIDList"],
        serde_json::json!(["sts.amazonaws.com", "sigstore"])
    );
    assert_eq!(got["ThumbprintList"], serde_json::json!(["a".repeat(40)]));
    assert_eq!(got["Tags"][0]["Key"], "managed-by");
    c.aws_ok(
        r,
        &[
            "iam",
            "remove-client-id-from-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            parn,
            "--client-id",
            "sigstore",
        ],
    );
    let err = c.aws_err(
        r,
        &[
            "iam",
            "update-open-id-connect-provider-thumbprint",
            "--open-id-connect-provider-arn",
            parn,
            "--thumbprint-list",
            &"z".repeat(40),
        ],
    );
    assert!(err.contains("ValidationError"), "{err}");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "add-client-id-to-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            "arn:aws:iam::123456789012:oidc-provider/nowhere.example.com",
            "--client-id",
            "x",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
    let got = c.aws_ok(
        r,
        &[
            "iam",
            "get-open-id-connect-provider",
            "--open-id-connect-provider-arn",
            parn,
        ],
    );
    assert_eq!(
        got["ClientIDList"],
        serde_json::json!(["sts.amazonaws.com"])
    );
}

/// What role modules call besides create and delete: the inline policies' names, a new
/// description and maximum session duration, which the next assume is held to.
#[test]
fn role_updates_and_inline_policy_names() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    // A role with one inline policy ("only"), by the document's flow.
    c.role_session("Deployer", &serde_json::from_str(POLICY_V1).unwrap());
    c.aws_ok(
        r,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "Deployer",
            "--policy-name",
            "another",
            "--policy-document",
            POLICY_V2,
        ],
    );
    let names = c.aws_ok(r, &["iam", "list-role-policies", "--role-name", "deployer"]);
    assert_eq!(names["PolicyNames"], serde_json::json!(["another", "only"]));

    // Two hours are refused while the role allows one...
    let token = c.dev_token("octo-org/octo-repo");
    let assume_for_two_hours = || {
        c.aws(
            None,
            &[
                "sts",
                "assume-role-with-web-identity",
                "--role-arn",
                "arn:aws:iam::123456789012:role/Deployer",
                "--role-session-name",
                "long",
                "--web-identity-token",
                &token,
                "--duration-seconds",
                "7200",
            ],
        )
    };
    let refused = assume_for_two_hours();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("MaxSessionDuration"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // ...and granted once UpdateRole raises the maximum (through the metadata cache).
    c.aws_ok(
        r,
        &[
            "iam",
            "update-role",
            "--role-name",
            "Deployer",
            "--max-session-duration",
            "7200",
            "--description",
            "pushes images",
        ],
    );
    let granted = assume_for_two_hours();
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    let role = c.aws_ok(r, &["iam", "get-role", "--role-name", "Deployer"]);
    assert_eq!(role["Role"]["MaxSessionDuration"], 7200);
    assert_eq!(role["Role"]["Description"], "pushes images");

    // UpdateRoleDescription answers with the role; the duration is left as it was.
    let updated = c.aws_ok(
        r,
        &[
            "iam",
            "update-role-description",
            "--role-name",
            "Deployer",
            "--description",
            "pushes and pulls",
        ],
    );
    assert_eq!(updated["Role"]["Description"], "pushes and pulls");
    assert_eq!(updated["Role"]["MaxSessionDuration"], 7200);
    assert_eq!(updated["Role"]["RoleName"], "Deployer");

    // Out of IAM's range, or no such role: IAM's errors, nothing changed.
    let err = c.aws_err(
        r,
        &[
            "iam",
            "update-role",
            "--role-name",
            "Deployer",
            "--max-session-duration",
            "50000",
        ],
    );
    assert!(err.contains("ValidationError"), "{err}");
    for args in [
        &[
            "iam",
            "update-role",
            "--role-name",
            "Nobody",
            "--description",
            "x",
        ][..],
        &["iam", "list-role-policies", "--role-name", "Nobody"][..],
    ] {
        let err = c.aws_err(r, args);
        assert!(err.contains("NoSuchEntity"), "{args:?}: {err}");
    }
    let role = c.aws_ok(r, &["iam", "get-role", "--role-name", "Deployer"]);
    assert_eq!(role["Role"]["MaxSessionDuration"], 7200);
}

/// Instance profiles, which role modules create beside each role by default: one role
/// each, and neither deleted while the other holds on.
#[test]
fn instance_profiles_hold_one_role() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev"]);
    let r = Some(root());
    let r = r.as_ref();
    for role in ["Builder", "Other"] {
        c.aws_ok(
            r,
            &[
                "iam",
                "create-role",
                "--role-name",
                role,
                "--assume-role-policy-document",
                TRUST,
            ],
        );
    }
    let created = c.aws_ok(
        r,
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "Builder",
            "--path",
            "/ci/",
            "--tags",
            "Key=managed-by,Value=berth",
        ],
    );
    let profile = &created["InstanceProfile"];
    assert_eq!(
        profile["Arn"],
        "arn:aws:iam::123456789012:instance-profile/ci/Builder"
    );
    assert!(
        profile["InstanceProfileId"]
            .as_str()
            .unwrap()
            .starts_with("AIPA")
    );
    assert_eq!(profile["Roles"], serde_json::json!([]));
    let err = c.aws_err(
        r,
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "BUILDER",
        ],
    );
    assert!(err.contains("EntityAlreadyExists"), "{err}");

    // Putting a role in a profile passes the role: without iam:PassRole, refused.
    let add_builder = [
        "iam",
        "add-role-to-instance-profile",
        "--instance-profile-name",
        "Builder",
        "--role-name",
        "Builder",
    ];
    let no_pass_role = c.role_session(
        "ProfileAdmin",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:AddRoleToInstanceProfile", "Resource": "*"}]}),
    );
    let err = c.aws_err(Some(&no_pass_role), &add_builder);
    assert!(
        err.contains("AccessDenied") && err.contains("iam:PassRole"),
        "{err}"
    );
    c.aws_ok(r, &add_builder);
    let got = c.aws_ok(
        r,
        &[
            "iam",
            "get-instance-profile",
            "--instance-profile-name",
            "builder",
        ],
    );
    assert_eq!(got["InstanceProfile"]["Roles"][0]["RoleName"], "Builder");
    assert_eq!(got["InstanceProfile"]["Tags"][0]["Key"], "managed-by");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "Builder",
            "--role-name",
            "Other",
        ],
    );
    assert!(err.contains("LimitExceeded"), "{err}");

    let listed = c.aws_ok(
        r,
        &["iam", "list-instance-profiles", "--path-prefix", "/ci/"],
    );
    assert_eq!(listed["InstanceProfiles"].as_array().unwrap().len(), 1);
    for (role, expected) in [("Builder", 1), ("Other", 0)] {
        let for_role = c.aws_ok(
            r,
            &[
                "iam",
                "list-instance-profiles-for-role",
                "--role-name",
                role,
            ],
        );
        assert_eq!(
            for_role["InstanceProfiles"].as_array().unwrap().len(),
            expected,
            "{role}"
        );
    }

    // Neither goes while the other holds on; the role stays usable after the refusal.
    let err = c.aws_err(r, &["iam", "delete-role", "--role-name", "Builder"]);
    assert!(err.contains("DeleteConflict"), "{err}");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "delete-instance-profile",
            "--instance-profile-name",
            "Builder",
        ],
    );
    assert!(err.contains("DeleteConflict"), "{err}");
    c.aws_ok(r, &["iam", "get-role", "--role-name", "Builder"]);

    let err = c.aws_err(
        r,
        &[
            "iam",
            "remove-role-from-instance-profile",
            "--instance-profile-name",
            "Builder",
            "--role-name",
            "Other",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "remove-role-from-instance-profile",
            "--instance-profile-name",
            "Builder",
            "--role-name",
            "Builder",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "delete-instance-profile",
            "--instance-profile-name",
            "Builder",
        ],
    );
    c.aws_ok(r, &["iam", "delete-role", "--role-name", "Builder"]);
    let err = c.aws_err(
        r,
        &[
            "iam",
            "get-instance-profile",
            "--instance-profile-name",
            "Builder",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
}

/// The account's alias: one at a time, set, replaced, listed and deleted.
#[test]
fn the_account_alias() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev"]);
    let r = Some(root());
    let r = r.as_ref();
    let aliases =
        |c: &Clients| c.aws_ok(r, &["iam", "list-account-aliases"])["AccountAliases"].clone();
    assert_eq!(aliases(&c), serde_json::json!([]));
    for alias in ["acme", "acme-prod"] {
        c.aws_ok(
            r,
            &["iam", "create-account-alias", "--account-alias", alias],
        );
    }
    assert_eq!(aliases(&c), serde_json::json!(["acme-prod"]));
    let err = c.aws_err(
        r,
        &[
            "iam",
            "create-account-alias",
            "--account-alias",
            "Acme--Prod",
        ],
    );
    assert!(err.contains("ValidationError"), "{err}");
    let err = c.aws_err(
        r,
        &["iam", "delete-account-alias", "--account-alias", "acme"],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "delete-account-alias",
            "--account-alias",
            "acme-prod",
        ],
    );
    assert_eq!(aliases(&c), serde_json::json!([]));
}

/// What a tool does before deleting a managed policy: find the roles it is attached to
/// (ListEntitiesForPolicy), detach it from each, then delete it.
#[test]
fn a_policy_is_found_on_its_roles_detached_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev"]);
    let r = Some(root());
    let r = r.as_ref();
    let created = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "push",
            "--policy-document",
            POLICY_V1,
        ],
    );
    let arn = created["Policy"]["Arn"].as_str().unwrap().to_owned();
    for role in ["zeta", "Alpha", "Unattached"] {
        c.aws_ok(
            r,
            &[
                "iam",
                "create-role",
                "--role-name",
                role,
                "--assume-role-policy-document",
                TRUST,
            ],
        );
        if role != "Unattached" {
            c.aws_ok(
                r,
                &[
                    "iam",
                    "attach-role-policy",
                    "--role-name",
                    role,
                    "--policy-arn",
                    &arn,
                ],
            );
        }
    }
    let entities = c.aws_ok(
        r,
        &["iam", "list-entities-for-policy", "--policy-arn", &arn],
    );
    let names: Vec<&str> = entities["PolicyRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|role| role["RoleName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "zeta"]);
    assert!(
        entities["PolicyRoles"][0]["RoleId"]
            .as_str()
            .unwrap()
            .starts_with("AROA")
    );
    assert_eq!(entities["PolicyUsers"], serde_json::json!([]));
    // Berth has no users, groups or permissions boundaries: those filters find nothing.
    for filter in [
        &["--entity-filter", "User"][..],
        &["--policy-usage-filter", "PermissionsBoundary"][..],
    ] {
        let mut args = vec!["iam", "list-entities-for-policy", "--policy-arn", &arn];
        args.extend_from_slice(filter);
        let none = c.aws_ok(r, &args);
        assert_eq!(none["PolicyRoles"], serde_json::json!([]), "{filter:?}");
    }
    let err = c.aws_err(
        r,
        &[
            "iam",
            "list-entities-for-policy",
            "--policy-arn",
            "arn:aws:iam::123456789012:policy/absent",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");

    let err = c.aws_err(r, &["iam", "delete-policy", "--policy-arn", &arn]);
    assert!(err.contains("DeleteConflict"), "{err}");
    for role in names {
        c.aws_ok(
            r,
            &[
                "iam",
                "detach-role-policy",
                "--role-name",
                role,
                "--policy-arn",
                &arn,
            ],
        );
    }
    c.aws_ok(r, &["iam", "delete-policy", "--policy-arn", &arn]);
}

/// A permissions boundary caps what the role's sessions may do, whatever the role's own
/// policies allow; it is evaluated on every request (through a cache that never expires),
/// and `iam:PermissionsBoundary` lets an administrator delegate role creation only with a
/// boundary set.
#[test]
fn a_permissions_boundary_caps_the_roles_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    let boundary = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "ReadOnlyBoundary",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:Describe*","iam:CreateRole","iam:GetRole"],"Resource":"*"}]}"#,
        ],
    );
    let boundary_arn = boundary["Policy"]["Arn"].as_str().unwrap().to_owned();

    // The role may do anything in ECR and create roles, but only with this boundary.
    let session = c.role_session(
        "Bounded",
        &serde_json::json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["ecr:*","iam:GetRole"],"Resource":"*"},
            {"Effect":"Allow","Action":"iam:CreateRole","Resource":"*",
             "Condition":{"StringEquals":{"iam:PermissionsBoundary":boundary_arn}}}
        ]}),
    );
    let s = Some(&session);
    let create_repository =
        |name: &str| c.aws(s, &["ecr", "create-repository", "--repository-name", name]);
    assert!(create_repository("before").status.success());

    c.aws_ok(
        r,
        &[
            "iam",
            "put-role-permissions-boundary",
            "--role-name",
            "bounded",
            "--permissions-boundary",
            &boundary_arn,
        ],
    );
    let role = c.aws_ok(r, &["iam", "get-role", "--role-name", "Bounded"]);
    assert_eq!(
        role["Role"]["PermissionsBoundary"],
        serde_json::json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary_arn})
    );
    // The same session, its next request: what the boundary does not allow is refused,
    // and AWS's message says the boundary refused it.
    let refused = create_repository("after");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("AccessDenied")
            && err
                .contains("because no permissions boundary allows the ecr:CreateRepository action"),
        "{err}"
    );
    c.aws_ok(s, &["ecr", "describe-repositories"]);

    // Delegation: the session may create roles only with the boundary on them.
    let trust = github_trust().to_string();
    let unbounded = c.aws_err(
        s,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Escalated",
            "--assume-role-policy-document",
            &trust,
        ],
    );
    assert!(unbounded.contains("AccessDenied"), "{unbounded}");
    let created = c.aws_ok(
        s,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Delegated",
            "--assume-role-policy-document",
            &trust,
            "--permissions-boundary",
            &boundary_arn,
        ],
    );
    assert_eq!(
        created["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"],
        boundary_arn.as_str()
    );

    // Counted and listed on the policy; the policy cannot go while it bounds roles.
    let policy = c.aws_ok(r, &["iam", "get-policy", "--policy-arn", &boundary_arn]);
    assert_eq!(policy["Policy"]["PermissionsBoundaryUsageCount"], 2);
    assert_eq!(policy["Policy"]["AttachmentCount"], 0);
    let entities = c.aws_ok(
        r,
        &[
            "iam",
            "list-entities-for-policy",
            "--policy-arn",
            &boundary_arn,
            "--policy-usage-filter",
            "PermissionsBoundary",
        ],
    );
    let names: Vec<&str> = entities["PolicyRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RoleName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bounded", "Delegated"]);
    let as_permissions = c.aws_ok(
        r,
        &[
            "iam",
            "list-entities-for-policy",
            "--policy-arn",
            &boundary_arn,
            "--policy-usage-filter",
            "PermissionsPolicy",
        ],
    );
    assert_eq!(as_permissions["PolicyRoles"], serde_json::json!([]));
    let err = c.aws_err(r, &["iam", "delete-policy", "--policy-arn", &boundary_arn]);
    assert!(err.contains("DeleteConflict"), "{err}");

    // A boundary that is not a policy, or no such policy: IAM's errors, nothing changed.
    let err = c.aws_err(
        r,
        &[
            "iam",
            "put-role-permissions-boundary",
            "--role-name",
            "Bounded",
            "--permissions-boundary",
            "arn:aws:iam::123456789012:policy/Missing",
        ],
    );
    assert!(
        err.contains("NoSuchEntity") && err.contains("Scope ARN"),
        "{err}"
    );
    let err = c.aws_err(
        r,
        &[
            "iam",
            "put-role-permissions-boundary",
            "--role-name",
            "Bounded",
            "--permissions-boundary",
            "arn:aws:iam::123456789012:role/Bounded",
        ],
    );
    assert!(err.contains("InvalidInput"), "{err}");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Ghost",
            "--assume-role-policy-document",
            &trust,
            "--permissions-boundary",
            "arn:aws:iam::123456789012:policy/Missing",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
    let err = c.aws_err(r, &["iam", "get-role", "--role-name", "Ghost"]);
    assert!(err.contains("NoSuchEntity"), "{err}");

    // The simulator includes the role's boundary.
    let simulated = c.aws_ok(
        r,
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            "arn:aws:iam::123456789012:role/Bounded",
            "--action-names",
            "ecr:CreateRepository",
            "ecr:DescribeRepositories",
        ],
    );
    let decisions: Vec<&str> = simulated["EvaluationResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EvalDecision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["implicitDeny", "allowed"]);

    // Removed: the session's next request may do what its role allows again.
    c.aws_ok(
        r,
        &[
            "iam",
            "delete-role-permissions-boundary",
            "--role-name",
            "Bounded",
        ],
    );
    let role = c.aws_ok(r, &["iam", "get-role", "--role-name", "Bounded"]);
    assert!(role["Role"].get("PermissionsBoundary").is_none(), "{role}");
    assert!(create_repository("again").status.success());
}

/// GetRole says when and where the role was last assumed; listings leave it out, as IAM's do.
#[test]
fn get_role_shows_the_last_assume() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev"]);
    let r = Some(root());
    let r = r.as_ref();
    c.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Idle",
            "--assume-role-policy-document",
            &github_trust().to_string(),
        ],
    );
    let idle = c.aws_ok(r, &["iam", "get-role", "--role-name", "Idle"]);
    assert_eq!(idle["Role"]["RoleLastUsed"], serde_json::json!({}));

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    c.role_session("Used", &serde_json::from_str(POLICY_V1).unwrap());
    // Uses are written in batches every few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let used = loop {
        let role = c.aws_ok(r, &["iam", "get-role", "--role-name", "Used"]);
        if role["Role"]["RoleLastUsed"].get("LastUsedDate").is_some() {
            break role;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "RoleLastUsed never filled in: {role}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(used["Role"]["RoleLastUsed"]["Region"], "us-east-1");
    let date = used["Role"]["RoleLastUsed"]["LastUsedDate"]
        .as_str()
        .unwrap();
    let at = time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp();
    assert!(at >= before as i64 - 1, "{date} is before the assume");
    let listed = c.aws_ok(r, &["iam", "list-roles"]);
    let listed_used = listed["Roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["RoleName"] == "Used")
        .unwrap();
    assert!(listed_used.get("RoleLastUsed").is_none(), "{listed_used}");
    let idle = c.aws_ok(r, &["iam", "get-role", "--role-name", "Idle"]);
    assert_eq!(idle["Role"]["RoleLastUsed"], serde_json::json!({}));
}

/// GetAccountSummary counts what the account holds; GetAccountAuthorizationDetails lists
/// every role and customer managed policy with its documents, across pages.
#[test]
fn the_account_summary_and_authorization_details() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev"]);
    let r = Some(root());
    let r = r.as_ref();
    c.role_session("Deployer", &serde_json::from_str(POLICY_V1).unwrap());
    c.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "auditor",
            "--assume-role-policy-document",
            TRUST,
            "--tags",
            "Key=team,Value=sec",
        ],
    );
    let policy = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "Push",
            "--policy-document",
            POLICY_V1,
        ],
    );
    let arn = policy["Policy"]["Arn"].as_str().unwrap().to_owned();
    c.aws_ok(
        r,
        &[
            "iam",
            "create-policy-version",
            "--policy-arn",
            &arn,
            "--policy-document",
            POLICY_V2,
            "--set-as-default",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            "Deployer",
            "--policy-arn",
            &arn,
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "put-role-permissions-boundary",
            "--role-name",
            "auditor",
            "--permissions-boundary",
            &arn,
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "Deployer",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "Deployer",
            "--role-name",
            "Deployer",
        ],
    );

    let summary = c.aws_ok(r, &["iam", "get-account-summary"]);
    let map = &summary["SummaryMap"];
    assert_eq!(map["Roles"], 2, "{summary}");
    assert_eq!(map["Policies"], 1);
    assert_eq!(map["PolicyVersionsInUse"], 2);
    assert_eq!(map["Providers"], 1);
    assert_eq!(map["InstanceProfiles"], 1);
    assert_eq!(map["VersionsPerPolicyQuota"], 5);
    assert_eq!(map["AssumeRolePolicySizeQuota"], 2048);

    // One item per request: the CLI follows the markers and merges the pages.
    let details = c.aws_ok(
        r,
        &[
            "iam",
            "get-account-authorization-details",
            "--page-size",
            "1",
        ],
    );
    let roles = details["RoleDetailList"].as_array().unwrap();
    let names: Vec<&str> = roles
        .iter()
        .map(|r| r["RoleName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["auditor", "Deployer"], "{details}");
    let auditor = &roles[0];
    assert_eq!(
        auditor["PermissionsBoundary"]["PermissionsBoundaryArn"],
        arn.as_str()
    );
    assert_eq!(auditor["Tags"][0]["Value"], "sec");
    assert_eq!(
        auditor["AssumeRolePolicyDocument"],
        serde_json::from_str::<serde_json::Value>(TRUST).unwrap()
    );
    let deployer = &roles[1];
    assert_eq!(deployer["RolePolicyList"][0]["PolicyName"], "only");
    assert_eq!(
        deployer["RolePolicyList"][0]["PolicyDocument"],
        serde_json::from_str::<serde_json::Value>(POLICY_V1).unwrap()
    );
    assert_eq!(
        deployer["AttachedManagedPolicies"][0]["PolicyArn"],
        arn.as_str()
    );
    assert_eq!(
        deployer["InstanceProfileList"][0]["InstanceProfileName"],
        "Deployer"
    );
    assert!(deployer["RoleLastUsed"].is_object());
    let policies = details["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["Arn"], arn.as_str());
    assert_eq!(policies[0]["DefaultVersionId"], "v2");
    assert_eq!(policies[0]["PermissionsBoundaryUsageCount"], 1);
    let versions = policies[0]["PolicyVersionList"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().any(|v| v["IsDefaultVersion"] == true
        && v["Document"] == serde_json::from_str::<serde_json::Value>(POLICY_V2).unwrap()));
    assert_eq!(details["UserDetailList"], serde_json::json!([]));

    // Filters: roles only; users only (Berth has none); a filter IAM does not know.
    let roles_only = c.aws_ok(
        r,
        &[
            "iam",
            "get-account-authorization-details",
            "--filter",
            "Role",
        ],
    );
    assert_eq!(roles_only["RoleDetailList"].as_array().unwrap().len(), 2);
    assert_eq!(roles_only["Policies"], serde_json::json!([]));
    let users = c.aws_ok(
        r,
        &[
            "iam",
            "get-account-authorization-details",
            "--filter",
            "User",
        ],
    );
    assert_eq!(users["RoleDetailList"], serde_json::json!([]));
    let err = c.aws_err(
        r,
        &[
            "iam",
            "get-account-authorization-details",
            "--filter",
            "Robot",
        ],
    );
    assert!(err.contains("ValidationError"), "{err}");
}

/// GetAccessKeyInfo names the account of a key, for callers allowed to ask.
#[test]
fn get_access_key_info_names_the_account() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev"]);
    let r = Some(root());
    let info = c.aws_ok(
        r.as_ref(),
        &["sts", "get-access-key-info", "--access-key-id", ROOT_KEY],
    );
    assert_eq!(info["Account"], ACCOUNT);
    let err = c.aws_err(
        r.as_ref(),
        &[
            "sts",
            "get-access-key-info",
            "--access-key-id",
            "AKIA-NOT-A-KEY-ID!",
        ],
    );
    assert!(err.contains("ValidationError"), "{err}");
    let allowed = c.role_session(
        "Asker",
        &serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetAccessKeyInfo","Resource":"*"}]}),
    );
    let info = c.aws_ok(
        Some(&allowed),
        &[
            "sts",
            "get-access-key-info",
            "--access-key-id",
            &allowed.access_key_id,
        ],
    );
    assert_eq!(info["Account"], ACCOUNT);
    let refused = c.role_session("Other", &serde_json::from_str(POLICY_V1).unwrap());
    let err = c.aws_err(
        Some(&refused),
        &["sts", "get-access-key-info", "--access-key-id", ROOT_KEY],
    );
    assert!(err.contains("AccessDenied"), "{err}");
}

/// IAM users sign requests with their own access keys and get exactly what their
/// policies (narrowed by a boundary) allow; keys can be deactivated and deleted; a user
/// is its unique id, so a deleted user's credentials never work for a new user of the
/// same name; secrets never reach the audit trail.
#[test]
fn iam_users_sign_with_their_own_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    let read = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "Read",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:Describe*","ecr:GetAuthorizationToken","ecr:CreateRepository","sts:AssumeRole"],"Resource":"*"}]}"#,
        ],
    );
    let read_arn = read["Policy"]["Arn"].as_str().unwrap().to_owned();
    let created = c.aws_ok(
        r,
        &[
            "iam",
            "create-user",
            "--user-name",
            "ci-bot",
            "--path",
            "/ci/",
            "--tags",
            "Key=team,Value=platform",
        ],
    );
    let user_arn = "arn:aws:iam::123456789012:user/ci/ci-bot";
    assert_eq!(created["User"]["Arn"], user_arn);
    let user_id = created["User"]["UserId"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("AIDA"), "{user_id}");
    let got = c.aws_ok(r, &["iam", "get-user", "--user-name", "CI-BOT"]);
    assert_eq!(got["User"]["Tags"][0]["Value"], "platform");
    let key = c.aws_ok(r, &["iam", "create-access-key", "--user-name", "ci-bot"]);
    let key = &key["AccessKey"];
    assert_eq!(key["Status"], "Active");
    let bot = Creds {
        access_key_id: key["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: key["SecretAccessKey"].as_str().unwrap().into(),
        session_token: None,
    };
    assert!(bot.access_key_id.starts_with("AKIA"));
    let b = Some(&bot);

    // Signed in as the user, allowed nothing yet.
    let me = c.aws_ok(b, &["sts", "get-caller-identity"]);
    assert_eq!(me["Arn"], user_arn);
    assert_eq!(me["UserId"], user_id.as_str());
    // Even about itself, a user asks only what its policies allow, as in IAM.
    let err = c.aws_err(b, &["iam", "get-user"]);
    assert!(
        err.contains(&format!("iam:GetUser on resource: {user_arn}")),
        "{err}"
    );
    let err = c.aws_err(b, &["ecr", "describe-repositories"]);
    assert!(
        err.contains("AccessDenied")
            && err.contains(&format!(
                "User: {user_arn} is not authorized to perform: ecr:DescribeRepositories"
            )),
        "{err}"
    );

    // Policies, attached and inline, decide the next request (through the cache).
    c.aws_ok(
        r,
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "ci-bot",
            "--policy-arn",
            &read_arn,
        ],
    );
    c.aws_ok(b, &["ecr", "describe-repositories"]);
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "ci-bot",
            "--policy-name",
            "no-prod",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecr:CreateRepository","Resource":"arn:aws:ecr:*:*:repository/prod/*"}]}"#,
        ],
    );
    let err = c.aws_err(
        b,
        &["ecr", "create-repository", "--repository-name", "prod/app"],
    );
    assert!(err.contains("explicit deny"), "{err}");
    c.aws_ok(
        b,
        &["ecr", "create-repository", "--repository-name", "dev/app"],
    );
    // A boundary caps it, whatever the policies allow.
    let boundary = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "DescribeOnly",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:Describe*","ecr:GetAuthorizationToken","sts:AssumeRole"],"Resource":"*"}]}"#,
        ],
    );
    let boundary_arn = boundary["Policy"]["Arn"].as_str().unwrap().to_owned();
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-permissions-boundary",
            "--user-name",
            "ci-bot",
            "--permissions-boundary",
            &boundary_arn,
        ],
    );
    let err = c.aws_err(
        b,
        &["ecr", "create-repository", "--repository-name", "dev/other"],
    );
    assert!(err.contains("no permissions boundary allows"), "{err}");
    let entities = c.aws_ok(
        r,
        &["iam", "list-entities-for-policy", "--policy-arn", &read_arn],
    );
    assert_eq!(entities["PolicyUsers"][0]["UserName"], "ci-bot");
    assert_eq!(entities["PolicyUsers"][0]["UserId"], user_id.as_str());

    // A user may assume a role whose trust policy names it, for as long as the role allows.
    c.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Deployer",
            "--max-session-duration",
            "7200",
            "--assume-role-policy-document",
            &serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":user_arn},"Action":"sts:AssumeRole"}]}).to_string(),
        ],
    );
    let assumed = c.aws_ok(
        b,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/Deployer",
            "--role-session-name",
            "deploy",
            "--duration-seconds",
            "7200",
        ],
    );
    assert_eq!(
        assumed["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/Deployer/deploy"
    );

    // Deactivated, the key signs nothing; active again, it does.
    c.aws_ok(
        r,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "ci-bot",
            "--access-key-id",
            &bot.access_key_id,
            "--status",
            "Inactive",
        ],
    );
    let err = c.aws_err(b, &["sts", "get-caller-identity"]);
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    let keys = c.aws_ok(r, &["iam", "list-access-keys", "--user-name", "ci-bot"]);
    assert_eq!(keys["AccessKeyMetadata"][0]["Status"], "Inactive");
    c.aws_ok(
        r,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "ci-bot",
            "--access-key-id",
            &bot.access_key_id,
            "--status",
            "Active",
        ],
    );
    c.aws_ok(b, &["sts", "get-caller-identity"]);
    // Uses are written every few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let last = loop {
        let last = c.aws_ok(
            r,
            &[
                "iam",
                "get-access-key-last-used",
                "--access-key-id",
                &bot.access_key_id,
            ],
        );
        if last["AccessKeyLastUsed"].get("LastUsedDate").is_some() {
            break last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {last}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(last["UserName"], "ci-bot");
    assert_eq!(last["AccessKeyLastUsed"]["Region"], "us-east-1");
    let service = last["AccessKeyLastUsed"]["ServiceName"].as_str().unwrap();
    assert!(["sts", "ecr", "iam"].contains(&service), "{service}");
    // Two keys at most, as in IAM (for rotation).
    c.aws_ok(r, &["iam", "create-access-key", "--user-name", "ci-bot"]);
    let err = c.aws_err(r, &["iam", "create-access-key", "--user-name", "ci-bot"]);
    assert!(err.contains("LimitExceeded"), "{err}");

    // A registry password made by the user, before it is deleted.
    let password = c
        .aws_ok(b, &["ecr", "get-login-password"])
        .as_str()
        .unwrap()
        .to_owned();
    let catalog = |password: &str| -> u16 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                reqwest::Client::new()
                    .get(format!("{}/v2/_catalog", server.endpoint()))
                    .basic_auth("AWS", Some(password))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
    };
    assert_eq!(catalog(&password), 200);

    // Deleted only once its keys and policies are gone.
    let err = c.aws_err(r, &["iam", "delete-user", "--user-name", "ci-bot"]);
    assert!(err.contains("DeleteConflict"), "{err}");
    let keys = c.aws_ok(r, &["iam", "list-access-keys", "--user-name", "ci-bot"]);
    for k in keys["AccessKeyMetadata"].as_array().unwrap() {
        c.aws_ok(
            r,
            &[
                "iam",
                "delete-access-key",
                "--user-name",
                "ci-bot",
                "--access-key-id",
                k["AccessKeyId"].as_str().unwrap(),
            ],
        );
    }
    let err = c.aws_err(b, &["sts", "get-caller-identity"]);
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "delete-user-policy",
            "--user-name",
            "ci-bot",
            "--policy-name",
            "no-prod",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "detach-user-policy",
            "--user-name",
            "ci-bot",
            "--policy-arn",
            &read_arn,
        ],
    );
    c.aws_ok(r, &["iam", "delete-user", "--user-name", "ci-bot"]);
    // A new user of the same name, with the same policy, is another principal: the old
    // user's registry password is refused.
    c.aws_ok(
        r,
        &[
            "iam",
            "create-user",
            "--user-name",
            "ci-bot",
            "--path",
            "/ci/",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "ci-bot",
            "--policy-arn",
            &read_arn,
        ],
    );
    assert_ne!(
        catalog(&password),
        200,
        "a deleted user's password still works"
    );
    let summary = c.aws_ok(r, &["iam", "get-account-summary"]);
    assert_eq!(summary["SummaryMap"]["Users"], 1);

    // No secret access key is in the audit trail.
    let trail = c.aws(r, &["cloudtrail", "lookup-events", "--max-results", "50"]);
    let trail = String::from_utf8_lossy(&trail.stdout);
    assert!(trail.contains("CreateAccessKey"), "{trail}");
    assert!(
        !trail.contains(&bot.secret_access_key),
        "a secret reached the audit trail"
    );
}

/// A group's policies apply to every user in it, from the next request after the user
/// joins, and stop when it leaves.
#[test]
fn group_policies_apply_to_their_members() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    c.aws_ok(r, &["iam", "create-user", "--user-name", "dev"]);
    let key = c.aws_ok(r, &["iam", "create-access-key", "--user-name", "dev"]);
    let dev = Creds {
        access_key_id: key["AccessKey"]["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into(),
        session_token: None,
    };
    let d = Some(&dev);
    let group = c.aws_ok(
        r,
        &[
            "iam",
            "create-group",
            "--group-name",
            "Readers",
            "--path",
            "/teams/",
        ],
    );
    assert_eq!(
        group["Group"]["Arn"],
        "arn:aws:iam::123456789012:group/teams/Readers"
    );
    assert!(
        group["Group"]["GroupId"]
            .as_str()
            .unwrap()
            .starts_with("AGPA")
    );
    let err = c.aws_err(r, &["iam", "create-group", "--group-name", "readers"]);
    assert!(err.contains("EntityAlreadyExists"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "put-group-policy",
            "--group-name",
            "Readers",
            "--policy-name",
            "describe",
            "--policy-document",
            POLICY_V2,
        ],
    );
    let policy = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "Token",
            "--policy-document",
            POLICY_V1,
        ],
    );
    let token_arn = policy["Policy"]["Arn"].as_str().unwrap().to_owned();
    c.aws_ok(
        r,
        &[
            "iam",
            "attach-group-policy",
            "--group-name",
            "readers",
            "--policy-arn",
            &token_arn,
        ],
    );

    let err = c.aws_err(d, &["ecr", "describe-repositories"]);
    assert!(err.contains("AccessDenied"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "add-user-to-group",
            "--group-name",
            "Readers",
            "--user-name",
            "dev",
        ],
    );
    c.aws_ok(d, &["ecr", "describe-repositories"]);
    c.aws_ok(d, &["ecr", "get-authorization-token"]);
    let got = c.aws_ok(r, &["iam", "get-group", "--group-name", "readers"]);
    assert_eq!(got["Users"][0]["UserName"], "dev");
    let groups = c.aws_ok(r, &["iam", "list-groups-for-user", "--user-name", "dev"]);
    assert_eq!(groups["Groups"][0]["GroupName"], "Readers");
    assert_eq!(
        c.aws_ok(
            r,
            &["iam", "list-group-policies", "--group-name", "Readers"]
        )["PolicyNames"],
        serde_json::json!(["describe"])
    );
    assert_eq!(
        c.aws_ok(
            r,
            &[
                "iam",
                "list-attached-group-policies",
                "--group-name",
                "Readers"
            ]
        )["AttachedPolicies"][0]["PolicyArn"],
        token_arn.as_str()
    );
    let entities = c.aws_ok(
        r,
        &[
            "iam",
            "list-entities-for-policy",
            "--policy-arn",
            &token_arn,
        ],
    );
    assert_eq!(entities["PolicyGroups"][0]["GroupName"], "Readers");
    let summary = c.aws_ok(r, &["iam", "get-account-summary"]);
    assert_eq!(summary["SummaryMap"]["Groups"], 1);

    // Renamed and moved, it keeps its member and policies.
    c.aws_ok(
        r,
        &[
            "iam",
            "update-group",
            "--group-name",
            "Readers",
            "--new-group-name",
            "Viewers",
            "--new-path",
            "/people/",
        ],
    );
    let got = c.aws_ok(r, &["iam", "get-group", "--group-name", "viewers"]);
    assert_eq!(
        got["Group"]["Arn"],
        "arn:aws:iam::123456789012:group/people/Viewers"
    );
    assert_eq!(got["Users"][0]["UserName"], "dev");
    c.aws_ok(d, &["ecr", "describe-repositories"]);
    c.aws_ok(
        r,
        &[
            "iam",
            "update-group",
            "--group-name",
            "Viewers",
            "--new-group-name",
            "Readers",
            "--new-path",
            "/teams/",
        ],
    );

    // Neither the user nor the group goes while the other holds on.
    let err = c.aws_err(r, &["iam", "delete-group", "--group-name", "Readers"]);
    assert!(err.contains("DeleteConflict"), "{err}");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "delete-access-key",
            "--user-name",
            "dev",
            "--access-key-id",
            "AKIANOTAKEY0000000000",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");

    // Out of the group, the next request is refused again.
    c.aws_ok(
        r,
        &[
            "iam",
            "remove-user-from-group",
            "--group-name",
            "Readers",
            "--user-name",
            "dev",
        ],
    );
    let err = c.aws_err(d, &["ecr", "describe-repositories"]);
    assert!(err.contains("AccessDenied"), "{err}");
    let err = c.aws_err(
        r,
        &[
            "iam",
            "remove-user-from-group",
            "--group-name",
            "Readers",
            "--user-name",
            "dev",
        ],
    );
    assert!(err.contains("NoSuchEntity"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "delete-group-policy",
            "--group-name",
            "Readers",
            "--policy-name",
            "describe",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "detach-group-policy",
            "--group-name",
            "Readers",
            "--policy-arn",
            &token_arn,
        ],
    );
    c.aws_ok(r, &["iam", "delete-group", "--group-name", "Readers"]);
    let err = c.aws_err(r, &["iam", "get-group", "--group-name", "Readers"]);
    assert!(err.contains("NoSuchEntity"), "{err}");
}

/// What an attacker tried against users, fixed: a boundary that guards itself through
/// `iam:PermissionsBoundary`; a rename that would hand a new user of the old name the old
/// user's grants; registry passwords outliving a deactivated key; a long-term key with a
/// session token. And the audit tools' view: users and groups in the authorization details.
#[test]
fn user_escapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    let new_user = |name: &str| -> Creds {
        c.aws_ok(r, &["iam", "create-user", "--user-name", name]);
        let key = c.aws_ok(r, &["iam", "create-access-key", "--user-name", name]);
        Creds {
            access_key_id: key["AccessKey"]["AccessKeyId"].as_str().unwrap().into(),
            secret_access_key: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into(),
            session_token: None,
        }
    };

    // A boundary whose holder may do anything in IAM except remove it.
    let boundary = c.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "Bnd",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","ecr:*","sts:*"],"Resource":"*"}]}"#,
        ],
    );
    let boundary_arn = boundary["Policy"]["Arn"].as_str().unwrap().to_owned();
    let bounded = new_user("bounded");
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "bounded",
            "--policy-name",
            "guard",
            "--policy-document",
            &serde_json::json!({"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":["iam:*","ecr:*","sts:*"],"Resource":"*"},
                {"Effect":"Deny","Action":["iam:DeleteUserPermissionsBoundary","iam:PutUserPolicy","iam:DeleteUserPolicy"],"Resource":"*",
                 "Condition":{"StringEquals":{"iam:PermissionsBoundary":boundary_arn}}}]}).to_string(),
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-permissions-boundary",
            "--user-name",
            "bounded",
            "--permissions-boundary",
            &boundary_arn,
        ],
    );
    let b = Some(&bounded);
    for args in [
        &[
            "iam",
            "delete-user-permissions-boundary",
            "--user-name",
            "bounded",
        ][..],
        &[
            "iam",
            "delete-user-policy",
            "--user-name",
            "bounded",
            "--policy-name",
            "guard",
        ][..],
    ] {
        let err = c.aws_err(b, args);
        assert!(err.contains("explicit deny"), "{args:?}: {err}");
    }
    let still = c.aws_ok(r, &["iam", "get-user", "--user-name", "bounded"]);
    assert_eq!(
        still["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"],
        boundary_arn.as_str()
    );

    // A trust policy naming a user follows it through a rename.
    let dep = new_user("dep");
    let trust = serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::123456789012:user/dep"},"Action":"sts:AssumeRole"}]});
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "dep",
            "--policy-name",
            "assume",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "DeployRole",
            "--assume-role-policy-document",
            &trust.to_string(),
        ],
    );
    let assume = |creds: &Creds| {
        c.aws(
            Some(creds),
            &[
                "sts",
                "assume-role",
                "--role-arn",
                "arn:aws:iam::123456789012:role/DeployRole",
                "--role-session-name",
                "session",
            ],
        )
    };
    let first = assume(&dep);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "update-user",
            "--user-name",
            "dep",
            "--new-user-name",
            "dep-old",
        ],
    );
    let role = c.aws_ok(r, &["iam", "get-role", "--role-name", "DeployRole"]);
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::123456789012:user/dep-old"
    );
    assert!(
        assume(&dep).status.success(),
        "the renamed user lost its role"
    );
    let impostor = new_user("dep");
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "dep",
            "--policy-name",
            "assume",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        ],
    );
    assert!(
        !assume(&impostor).status.success(),
        "a new user of the old name took over the role"
    );
    // A policy may not name a user that does not exist.
    let err = c.aws_err(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Ghostly",
            "--assume-role-policy-document",
            &serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                "Principal":{"AWS":"arn:aws:iam::123456789012:user/not-yet"},"Action":"sts:AssumeRole"}]}).to_string(),
        ],
    );
    assert!(err.contains("MalformedPolicyDocument"), "{err}");

    // A registry password stops working when its key is deactivated.
    let password = c
        .aws_ok(Some(&bounded), &["ecr", "get-login-password"])
        .as_str()
        .unwrap()
        .to_owned();
    let catalog = || -> u16 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                reqwest::Client::new()
                    .get(format!("{}/v2/_catalog", server.endpoint()))
                    .basic_auth("AWS", Some(&password))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
    };
    assert_eq!(catalog(), 200);
    c.aws_ok(
        r,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "bounded",
            "--access-key-id",
            &bounded.access_key_id,
            "--status",
            "Inactive",
        ],
    );
    assert_eq!(catalog(), 401);

    // A long-term key with a session token is refused, as by STS.
    let with_token = Creds {
        session_token: Some("not-a-session".into()),
        ..dep.clone()
    };
    let err = c.aws_err(Some(&with_token), &["sts", "get-caller-identity"]);
    assert!(err.contains("InvalidClientTokenId"), "{err}");

    // Audit tools see users (with their policies and groups) and groups.
    c.aws_ok(r, &["iam", "create-group", "--group-name", "ops"]);
    c.aws_ok(
        r,
        &[
            "iam",
            "add-user-to-group",
            "--group-name",
            "ops",
            "--user-name",
            "bounded",
        ],
    );
    let details = c.aws_ok(
        r,
        &[
            "iam",
            "get-account-authorization-details",
            "--filter",
            "User",
            "Group",
        ],
    );
    let users = details["UserDetailList"].as_array().unwrap();
    let bounded_detail = users
        .iter()
        .find(|u| u["UserName"] == "bounded")
        .expect("the bounded user");
    assert_eq!(bounded_detail["GroupList"], serde_json::json!(["ops"]));
    assert_eq!(bounded_detail["UserPolicyList"][0]["PolicyName"], "guard");
    assert_eq!(
        bounded_detail["PermissionsBoundary"]["PermissionsBoundaryArn"],
        boundary_arn.as_str()
    );
    assert_eq!(details["GroupDetailList"][0]["GroupName"], "ops");
    assert_eq!(details["RoleDetailList"], serde_json::json!([]));
}

/// `aws:PrincipalTag/KEY` is a user's tags, and for a role session its role's tags (with
/// the session's own tags over them), as in AWS; a retag applies to the next request.
#[test]
fn principal_tags_come_from_the_user_or_the_role() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    let team_a = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:DescribeRepositories","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"a"}}}]}"#;
    c.aws_ok(
        r,
        &[
            "iam",
            "create-user",
            "--user-name",
            "tagged",
            "--tags",
            "Key=team,Value=a",
        ],
    );
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "tagged",
            "--policy-name",
            "team-a",
            "--policy-document",
            team_a,
        ],
    );
    let key = c.aws_ok(r, &["iam", "create-access-key", "--user-name", "tagged"]);
    let user = Creds {
        access_key_id: key["AccessKey"]["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into(),
        session_token: None,
    };
    c.aws_ok(Some(&user), &["ecr", "describe-repositories"]);
    c.aws_ok(
        r,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "tagged",
            "--tags",
            "Key=team,Value=b",
        ],
    );
    let err = c.aws_err(Some(&user), &["ecr", "describe-repositories"]);
    assert!(err.contains("AccessDenied"), "{err}");

    // A role session: refused until its role carries the tag.
    let session = c.role_session("TeamRole", &serde_json::from_str(team_a).unwrap());
    let err = c.aws_err(Some(&session), &["ecr", "describe-repositories"]);
    assert!(err.contains("AccessDenied"), "{err}");
    c.aws_ok(
        r,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "TeamRole",
            "--tags",
            "Key=team,Value=a",
        ],
    );
    c.aws_ok(Some(&session), &["ecr", "describe-repositories"]);
}

/// Credentials from an STS answer's `Credentials`.
fn creds_of(answer: &serde_json::Value) -> Creds {
    let c = &answer["Credentials"];
    Creds {
        access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
        secret_access_key: c["SecretAccessKey"].as_str().unwrap().into(),
        session_token: Some(c["SessionToken"].as_str().unwrap().into()),
    }
}

/// Seconds from now to a timestamp as the aws CLI prints it: ISO 8601 (the Query
/// protocol's) or epoch seconds (the JSON protocol's).
fn seconds_until(expiration: &serde_json::Value) -> i64 {
    let at = match expiration.as_f64() {
        Some(epoch) => epoch as i64,
        None => time::OffsetDateTime::parse(
            expiration.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp(),
    };
    at - time::OffsetDateTime::now_utc().unix_timestamp()
}

#[test]
fn get_session_token_lends_the_callers_own_identity_for_a_while() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c) = start(tmp.path(), &["--dev", "--metadata-cache-ttl", "3600"]);
    let r = Some(root());
    let r = r.as_ref();
    c.aws_ok(r, &["iam", "create-user", "--user-name", "deployer"]);
    // AWS's usual guard: nothing that creates without MFA. Long-term keys carry no
    // aws:MultiFactorAuthPresent, so the guard only bites temporary credentials.
    c.aws_ok(
        r,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "deployer",
            "--policy-name",
            "deploy",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":["ecr:DescribeRepositories","ecr:CreateRepository","sts:AssumeRole"],"Resource":"*"},
                {"Effect":"Deny","Action":"ecr:CreateRepository","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
        ],
    );
    let key = c.aws_ok(r, &["iam", "create-access-key", "--user-name", "deployer"]);
    let key_id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    let user = Creds {
        access_key_id: key_id.clone(),
        secret_access_key: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into(),
        session_token: None,
    };
    let u = Some(&user);
    c.aws_ok(
        u,
        &["ecr", "create-repository", "--repository-name", "long-term"],
    );

    // With an MFA code Berth cannot check: refused, nothing issued. (The CLI itself
    // refuses durations out of range; the server's check has a unit test.)
    let err = c.aws_err(
        u,
        &[
            "sts",
            "get-session-token",
            "--serial-number",
            "arn:aws:iam::123456789012:mfa/deployer",
            "--token-code",
            "123456",
        ],
    );
    assert!(
        err.contains("AccessDenied") && err.contains("MultiFactorAuthentication failed"),
        "{err}"
    );

    // A user's session: 12 hours by default, up to 36.
    let answer = c.aws_ok(u, &["sts", "get-session-token"]);
    let left = seconds_until(&answer["Credentials"]["Expiration"]);
    assert!((43_000..=43_200).contains(&left), "{left}");
    let answer = c.aws_ok(
        u,
        &["sts", "get-session-token", "--duration-seconds", "129600"],
    );
    assert!(seconds_until(&answer["Credentials"]["Expiration"]) > 129_000);
    let session = creds_of(&answer);
    assert!(session.access_key_id.starts_with("ASIA"));
    let s = Some(&session);
    // It is the user, with the user's policies.
    let me = c.aws_ok(s, &["sts", "get-caller-identity"]);
    assert_eq!(me["Arn"], "arn:aws:iam::123456789012:user/deployer");
    assert!(me["UserId"].as_str().unwrap().starts_with("AIDA"), "{me}");
    c.aws_ok(s, &["ecr", "describe-repositories"]);
    // Temporary credentials have aws:MultiFactorAuthPresent false: the guard denies.
    let err = c.aws_err(
        s,
        &["ecr", "create-repository", "--repository-name", "session"],
    );
    assert!(err.contains("explicit deny"), "{err}");
    // Without MFA, IAM refuses them, as AWS does; STS answers only AssumeRole and
    // GetCallerIdentity.
    let err = c.aws_err(s, &["iam", "get-user"]);
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    let err = c.aws_err(s, &["sts", "get-session-token"]);
    assert!(
        err.contains("AccessDenied")
            && err.contains("Cannot call GetSessionToken with session credentials"),
        "{err}"
    );
    let err = c.aws_err(
        s,
        &["sts", "get-access-key-info", "--access-key-id", &key_id],
    );
    assert!(err.contains("AccessDenied"), "{err}");
    // A role it may assume: AssumeRole works, and is not a chain (no one-hour cap).
    c.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            "Deploy",
            "--max-session-duration",
            "7200",
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/deployer"},"Action":"sts:AssumeRole"}]}"#,
        ],
    );
    let assumed = c.aws_ok(
        s,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/Deploy",
            "--role-session-name",
            "deploy",
            "--duration-seconds",
            "7200",
        ],
    );
    assert!(seconds_until(&assumed["Credentials"]["Expiration"]) > 7000);
    // Deactivating the key the session was made with ends the session at once.
    c.aws_ok(
        r,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "deployer",
            "--access-key-id",
            &key_id,
            "--status",
            "Inactive",
        ],
    );
    let err = c.aws_err(s, &["ecr", "describe-repositories"]);
    assert!(
        err.contains("UnrecognizedClientException")
            && err.contains("The security token included in the request is invalid"),
        "{err}"
    );

    // The root user's session lasts at most an hour: a longer request is cut to it.
    let answer = c.aws_ok(
        r,
        &["sts", "get-session-token", "--duration-seconds", "7200"],
    );
    let left = seconds_until(&answer["Credentials"]["Expiration"]);
    assert!((3_400..=3_600).contains(&left), "{left}");
    let root_session = creds_of(&answer);
    let rs = Some(&root_session);
    let me = c.aws_ok(rs, &["sts", "get-caller-identity"]);
    assert_eq!(me["Arn"], "arn:aws:iam::123456789012:root");
    c.aws_ok(
        rs,
        &["ecr", "create-repository", "--repository-name", "by-root"],
    );
    let err = c.aws_err(rs, &["iam", "list-roles"]);
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    // Tokens outlive the session: the dev issuer mints them for the long-term keys only.
    // (`berth token` refuses session keys itself; this asks the server directly.)
    let mint = r#"
import sys, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
endpoint, key, secret, token = sys.argv[1:5]
request = AWSRequest(method="POST", url=endpoint + "/_berth/dev/token", data=b'{"repository":"o/r"}')
SigV4Auth(Credentials(key, secret, token), "berth", "us-east-1").add_auth(request)
try:
    urllib.request.urlopen(urllib.request.Request(request.url, data=request.body, headers=dict(request.headers), method="POST"))
    print("minted")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;
    let minted = |creds: &Creds| {
        let out = std::process::Command::new(common::idp::python())
            .args([
                "-c",
                mint,
                &c.endpoint,
                &creds.access_key_id,
                &creds.secret_access_key,
            ])
            .arg(creds.session_token.as_deref().unwrap_or(""))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = minted(&root_session);
    assert!(
        refused.starts_with("403") && refused.contains("not a session"),
        "{refused}"
    );
    assert_eq!(minted(&root()).trim(), "minted");
    // A registry password from it lasts no longer than the session.
    let token = c.aws_ok(rs, &["ecr", "get-authorization-token"]);
    let left = seconds_until(&token["authorizationData"][0]["expiresAt"]);
    assert!(left <= 3_600, "{left}");
}
