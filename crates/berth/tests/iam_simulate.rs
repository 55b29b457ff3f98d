//! IAM's policy simulator against the real binary, driven by the aws CLI: the document's
//! role and ECR policy (`simulate-principal-policy`) and policies given as text
//! (`simulate-custom-policy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{Value, json};

const ROLE: &str = "GitHubActionsECRRole";
const REPO: &str = "octo-repo";

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

fn results(v: &Value) -> Vec<Value> {
    v["EvaluationResults"].as_array().unwrap().clone()
}

#[test]
fn simulate_principal_and_custom_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    let r = Some(root());
    let r = r.as_ref();

    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    clients.aws_ok(
        r,
        &[
            "iam",
            "create-role",
            "--role-name",
            ROLE,
            "--assume-role-policy-document",
            &trust,
        ],
    );
    let policy = clients.aws_ok(
        r,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "GitHubActionsECRPolicy",
            "--policy-document",
            &ecr_policy(),
        ],
    );
    let policy_arn = policy["Policy"]["Arn"].as_str().unwrap().to_owned();
    clients.aws_ok(
        r,
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            ROLE,
            "--policy-arn",
            &policy_arn,
        ],
    );
    let mfa_deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ecr:BatchDeleteImage","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}}"#;
    clients.aws_ok(
        r,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            ROLE,
            "--policy-name",
            "NoDeleteWithoutMfa",
            "--policy-document",
            mfa_deny,
        ],
    );

    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let repo_arn = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}");
    let other_arn = format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other");

    // The document's role may push to its repository and nowhere else. --page-size 1 makes
    // the CLI page through the four results with MaxItems/Marker.
    let out = clients.aws_ok(
        r,
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &role_arn,
            "--action-names",
            "ecr:PutImage",
            "ecr:GetAuthorizationToken",
            "--resource-arns",
            &repo_arn,
            &other_arn,
            "--page-size",
            "1",
        ],
    );
    let got = results(&out);
    assert_eq!(got.len(), 4, "{out:#}");
    let decision = |action: &str, resource: &str| {
        got.iter()
            .find(|e| e["EvalActionName"] == action && e["EvalResourceName"] == resource)
            .unwrap_or_else(|| panic!("no result for {action} {resource}: {out:#}"))
            .clone()
    };
    let push = decision("ecr:PutImage", &repo_arn);
    assert_eq!(push["EvalDecision"], "allowed");
    // ECRPushPull: lines 5-18 of the policy, statement braces at columns 9.
    assert_eq!(
        push["MatchedStatements"],
        json!([{
            "SourcePolicyId": "GitHubActionsECRPolicy",
            "SourcePolicyType": "user-managed",
            "StartPosition": {"Line": 5, "Column": 10},
            "EndPosition": {"Line": 18, "Column": 10}
        }])
    );
    assert_eq!(push["MissingContextValues"], json!([]));
    let elsewhere = decision("ecr:PutImage", &other_arn);
    assert_eq!(elsewhere["EvalDecision"], "implicitDeny");
    assert_eq!(elsewhere["MatchedStatements"], json!([]));
    for resource in [&repo_arn, &other_arn] {
        let auth = decision("ecr:GetAuthorizationToken", resource);
        assert_eq!(auth["EvalDecision"], "allowed");
        assert_eq!(
            auth["MatchedStatements"][0]["StartPosition"],
            json!({"Line": 4, "Column": 10})
        );
    }

    // A condition key the simulation was not given is reported; given, it decides.
    let out = clients.aws_ok(
        r,
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &role_arn,
            "--action-names",
            "ecr:BatchDeleteImage",
        ],
    );
    let delete = &results(&out)[0];
    assert_eq!(delete["EvalResourceName"], "*");
    assert_eq!(delete["EvalDecision"], "implicitDeny");
    assert_eq!(
        delete["MissingContextValues"],
        json!(["aws:MultiFactorAuthPresent"])
    );
    let out = clients.aws_ok(
        r,
        &[
            "iam", "simulate-principal-policy", "--policy-source-arn", &role_arn, "--action-names", "ecr:BatchDeleteImage",
            "--context-entries", "ContextKeyName=aws:MultiFactorAuthPresent,ContextKeyValues=false,ContextKeyType=boolean",
        ],
    );
    let delete = &results(&out)[0];
    assert_eq!(delete["EvalDecision"], "explicitDeny");
    assert_eq!(
        delete["MatchedStatements"],
        json!([{
            "SourcePolicyId": "NoDeleteWithoutMfa",
            "SourcePolicyType": "role",
            "StartPosition": {"Line": 1, "Column": 38},
            "EndPosition": {"Line": 1, "Column": 161}
        }])
    );
    assert_eq!(delete["MissingContextValues"], json!([]));

    // simulate-custom-policy: AWS CLI's documented example, positions included.
    let dynamo = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;
    let out = clients.aws_ok(
        r,
        &[
            "iam", "simulate-custom-policy", "--policy-input-list", dynamo, "--action-names", "dynamodb:CreateBackup",
            "--context-entries", "ContextKeyName='aws:CurrentTime',ContextKeyValues='2019-04-25T11:00:00Z',ContextKeyType=date",
        ],
    );
    assert_eq!(
        out,
        json!({"EvaluationResults": [{
            "EvalActionName": "dynamodb:CreateBackup",
            "EvalResourceName": "*",
            "EvalDecision": "allowed",
            "MatchedStatements": [{
                "SourcePolicyId": "PolicyInputList.1",
                "SourcePolicyType": "none",
                "StartPosition": {"Line": 1, "Column": 38},
                "EndPosition": {"Line": 1, "Column": 167}
            }],
            "MissingContextValues": []
        }]})
    );

    // An explicit deny wins over an allow, and is the only statement reported.
    let allow_all = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}"#;
    let deny_delete = r#"{"Version":"2012-10-17","Statement":[{"Sid":"KeepRepos","Effect":"Deny","Action":"ecr:DeleteRepository","Resource":"*"}]}"#;
    let out = clients.aws_ok(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            allow_all,
            deny_delete,
            "--action-names",
            "ecr:DeleteRepository",
            "ecr:CreateRepository",
            "--resource-arns",
            &repo_arn,
        ],
    );
    let got = results(&out);
    assert_eq!(got[0]["EvalActionName"], "ecr:DeleteRepository");
    assert_eq!(got[0]["EvalDecision"], "explicitDeny");
    assert_eq!(got[0]["MatchedStatements"].as_array().unwrap().len(), 1);
    assert_eq!(
        got[0]["MatchedStatements"][0]["SourcePolicyId"],
        "PolicyInputList.2"
    );
    assert_eq!(got[1]["EvalDecision"], "allowed");
    assert_eq!(
        got[1]["MatchedStatements"][0]["SourcePolicyId"],
        "PolicyInputList.1"
    );

    // A permissions boundary limits; a resource policy grants a caller from the same account.
    let out = clients.aws_ok(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            allow_all,
            "--permissions-boundary-policy-input-list",
            deny_delete,
            "--action-names",
            "ecr:CreateRepository",
        ],
    );
    assert_eq!(results(&out)[0]["EvalDecision"], "implicitDeny");
    let resource_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{role_arn}"}},"Action":"ecr:BatchGetImage","Resource":"*"}}}}"#
    );
    let out = clients.aws_ok(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            deny_delete,
            "--resource-policy",
            &resource_policy,
            "--caller-arn",
            &role_arn,
            "--action-names",
            "ecr:BatchGetImage",
            "--resource-arns",
            &repo_arn,
        ],
    );
    let pull = &results(&out)[0];
    assert_eq!(pull["EvalDecision"], "allowed");
    assert_eq!(
        pull["MatchedStatements"][0]["SourcePolicyId"],
        "ResourcePolicy"
    );
    assert_eq!(pull["MatchedStatements"][0]["SourcePolicyType"], "resource");
    // Naming the account instead delegates to the caller's identity policies, which do
    // not allow the pull: the simulator agrees with the server.
    let account_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"ecr:BatchGetImage","Resource":"*"}}}}"#
    );
    let out = clients.aws_ok(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            deny_delete,
            "--resource-policy",
            &account_policy,
            "--caller-arn",
            &role_arn,
            "--action-names",
            "ecr:BatchGetImage",
            "--resource-arns",
            &repo_arn,
        ],
    );
    assert_eq!(results(&out)[0]["EvalDecision"], "implicitDeny");

    // Errors in IAM's codes.
    let err = clients.aws_err(
        r,
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/Nope"),
            "--action-names",
            "ecr:PutImage",
        ],
    );
    assert!(err.contains("(NoSuchEntity)"), "{err}");
    let err = clients.aws_err(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            r#"{"Statement":{"Effect":"Allow"}}"#,
            "--action-names",
            "ecr:PutImage",
        ],
    );
    assert!(err.contains("(MalformedPolicyDocument)"), "{err}");
    let err = clients.aws_err(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            allow_all,
            "--resource-policy",
            &resource_policy,
            "--action-names",
            "ecr:PutImage",
        ],
    );
    assert!(
        err.contains("(InvalidInput)") && err.contains("CallerArn"),
        "{err}"
    );
    let err = clients.aws_err(
        r,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            allow_all,
            "--action-names",
            "ecr:PutImage",
            "--context-entries",
            "ContextKeyName=aws:SourceIp,ContextKeyValues=1.2.3.4,ContextKeyType=address",
        ],
    );
    assert!(
        err.contains("ContextKeyType") || err.contains("contextKeyType"),
        "{err}"
    );
}
