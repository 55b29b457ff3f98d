//! `berth setup` and `berth teardown`: the document's manual steps as one idempotent
//! command, through the AWS SDK for Rust, against real AWS or a Berth server.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_iam::types::Tag;
use berth_policy::lint::Severity;
use berth_policy::{Context, Decision, Policy, PolicyKind, PolicySet, Principal, PrincipalKind};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::github::RepositoryIds;

const ISSUER_HOST: &str = "token.actions.githubusercontent.com";
const AUDIENCE: &str = "sts.amazonaws.com";
const MANAGED_BY: &str = "managed-by";
const GITHUB_REPOSITORY: &str = "github-repository";

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The GitHub repository, ORG/REPO.
    #[arg(long)]
    pub repository: String,
    /// The AWS region (default: from the profile or AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// A Berth server instead of AWS, e.g. http://127.0.0.1:5000.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The AWS profile to use.
    #[arg(long)]
    pub profile: Option<String>,
    /// The IAM role the workflow assumes (created, or brought up to date).
    #[arg(long, default_value = "GitHubActionsECRRole")]
    pub role_name: String,
    /// The managed policy with the push permissions, attached to the role.
    #[arg(long, default_value = "GitHubActionsECRPolicy")]
    pub policy_name: String,
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct SetupArgs {
    #[command(flatten)]
    pub target: Target,
    /// A branch allowed to push (repeatable; default `main` when no branch, environment
    /// or tag is given).
    #[arg(long = "branch")]
    pub branches: Vec<String>,
    /// A deployment environment allowed to push (repeatable).
    #[arg(long = "environment")]
    pub environments: Vec<String>,
    /// A git tag pattern allowed to push, e.g. `v*` (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// The ECR repository (default: the GitHub repository's name).
    #[arg(long)]
    pub ecr_repository: Option<String>,
    /// Where to write the workflow.
    #[arg(long, default_value = ".github/workflows/ecr-push.yml")]
    pub workflow: PathBuf,
    /// Show the plan; exit 0 when nothing would change, 2 when something would.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow a trust policy that any repository could satisfy.
    #[arg(long)]
    pub allow_any_repository: bool,
    /// Allow a trust policy that any branch or tag could satisfy.
    #[arg(long)]
    pub allow_any_ref: bool,
    /// text or json.
    #[arg(long, default_value = "text")]
    pub output: String,
    /// The environment variable holding a GitHub token (admin on the repository, or the
    /// `repo` scope): setup then sets the repository secrets itself instead of printing the
    /// `gh secret set` commands.
    #[arg(long, value_name = "VAR")]
    pub github_token_env: Option<String>,
    /// The `sub` form the repository's tokens carry: `legacy` (repo:OWNER/REPO:...) or
    /// `immutable` (repo:OWNER@OWNER_ID/REPO@REPO_ID:..., GitHub's subject for repositories
    /// created from 2026-07-15, or opted in), which a renamed or recreated repository of
    /// the same name cannot match. `immutable` needs the ids: --owner-id and
    /// --repository-id, or a GitHub token to read them with.
    #[arg(long, value_parser = ["legacy", "immutable"], default_value = "legacy")]
    pub subject_format: String,
    /// GitHub's numeric id of the repository owner, for --subject-format immutable
    /// (with --repository-id; read from GitHub's API when a token is given).
    #[arg(long, requires = "repository_id")]
    pub owner_id: Option<u64>,
    /// GitHub's numeric id of the repository (see --owner-id).
    #[arg(long, requires = "owner_id")]
    pub repository_id: Option<u64>,
    /// GitHub's REST API (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long, value_name = "URL", default_value = crate::github::DEFAULT_API_URL)]
    pub github_api_url: String,
}

#[derive(Args, Debug)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub target: Target,
    /// Also delete the ECR repository and its images.
    #[arg(long)]
    pub delete_ecr_repository: bool,
    /// The ECR repository (default: the GitHub repository's name).
    #[arg(long)]
    pub ecr_repository: Option<String>,
}

// --- What setup wants ---------------------------------------------------------------------

/// The subjects (`sub` claims) the role trusts.
pub fn subjects(
    repository: &str,
    branches: &[String],
    envs: &[String],
    tags: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let default_branch = ["main".to_owned()];
    let branches = if branches.is_empty() && envs.is_empty() && tags.is_empty() {
        &default_branch[..]
    } else {
        branches
    };
    for b in branches {
        out.push(format!("repo:{repository}:ref:refs/heads/{b}"));
    }
    for t in tags {
        out.push(format!("repo:{repository}:ref:refs/tags/{t}"));
    }
    for e in envs {
        out.push(format!("repo:{repository}:environment:{e}"));
    }
    out
}

/// Each `repo:OWNER/REPO:...` subject in GitHub's immutable form
/// `repo:OWNER@OWNER_ID/REPO@REPO_ID:...`, which a renamed or recreated repository of the same
/// name cannot match. The name form does not stay beside it: it is what the immutable form
/// exists to close (the linter's `legacy-subject-beside-immutable`), and a repository's
/// tokens carry one form or the other.
pub fn immutable_subjects(
    subjects: Vec<String>,
    repository: &str,
    ids: RepositoryIds,
) -> Vec<String> {
    let Some((owner, repo)) = repository.split_once('/') else {
        return subjects;
    };
    let prefix = format!("repo:{repository}:");
    subjects
        .into_iter()
        .map(|s| match s.strip_prefix(&prefix) {
            Some(context) => format!(
                "repo:{owner}@{}/{repo}@{}:{context}",
                ids.owner_id, ids.repository_id
            ),
            None => s,
        })
        .collect()
}

/// The subjects the trust policy admits: the refs asked for, in the form asked for (`ids`
/// is `Some` exactly for `--subject-format immutable`).
fn trusted_subjects(args: &SetupArgs, ids: Option<RepositoryIds>) -> Vec<String> {
    let subjects = subjects(
        &args.target.repository,
        &args.branches,
        &args.environments,
        &args.tags,
    );
    match ids {
        Some(ids) => immutable_subjects(subjects, &args.target.repository, ids),
        None => subjects,
    }
}

/// The trust policy: the GitHub provider, the STS audience, exactly these subjects.
pub fn trust_policy(account: &str, subjects: &[String]) -> Value {
    let wildcard = subjects.iter().any(|s| s.contains(['*', '?']));
    let audience = (format!("{ISSUER_HOST}:aud"), json!(AUDIENCE));
    let subject = (format!("{ISSUER_HOST}:sub"), json!(subjects));
    // Exact subjects share `StringEquals` with the audience: one object with both keys,
    // never the same operator twice (a JSON object keeps only one of them).
    let condition: serde_json::Map<String, Value> = if wildcard {
        [
            ("StringEquals".to_owned(), json!(Map::from_iter([audience]))),
            ("StringLike".to_owned(), json!(Map::from_iter([subject]))),
        ]
        .into_iter()
        .collect()
    } else {
        [(
            "StringEquals".to_owned(),
            json!(Map::from_iter([audience, subject])),
        )]
        .into_iter()
        .collect()
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{ISSUER_HOST}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }]
    })
}

/// Least privilege: a registry login token, and push/pull on the one repository.
pub fn ecr_policy(region: &str, account: &str, repository: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ECRAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "ECRPushPull", "Effect": "Allow", "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:DescribeRepositories",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart"
            ], "Resource": format!("arn:aws:ecr:{region}:{account}:repository/{repository}")}
        ]
    })
}

/// Refuses trust that reaches further than one repository and named refs.
fn lint(args: &SetupArgs) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    let Some((org, repo)) = args.target.repository.split_once('/') else {
        bail!(
            "--repository must be ORG/REPO, got `{}`",
            args.target.repository
        );
    };
    if org.is_empty() || repo.is_empty() || repo.contains('/') {
        bail!(
            "--repository must be ORG/REPO, got `{}`",
            args.target.repository
        );
    }
    if args.target.repository.contains(['*', '?']) {
        if !args.allow_any_repository {
            bail!(
                "--repository `{}` would let other repositories assume the role; pass --allow-any-repository if that is what you want",
                args.target.repository
            );
        }
        warnings.push("the trust policy admits more than one repository".to_owned());
    }
    let any_ref = args
        .branches
        .iter()
        .chain(&args.tags)
        .chain(&args.environments)
        .any(|r| r == "*" || r == "**");
    if any_ref {
        if !args.allow_any_ref {
            bail!(
                "`*` would let any branch, tag or environment push; pass --allow-any-ref if that is what you want"
            );
        }
        warnings.push("the trust policy admits any ref".to_owned());
    }
    Ok(warnings)
}

/// Runs `berth policy lint` on the trust policy about to be written: errors refuse, warnings
/// are shown (there should be none: a property test holds setup to that).
fn refuse_lint_errors(trust: &Value) -> anyhow::Result<()> {
    let findings = berth_policy::lint::lint(&pretty(trust)).map_err(|e| {
        anyhow::anyhow!("the trust policy setup would write is {e}; this is a bug in berth")
    })?;
    let mut errors = Vec::new();
    for f in findings {
        let line = format!(
            "{} at {}: {} (fix: {})",
            f.rule, f.pointer, f.message, f.fix
        );
        match f.severity {
            Severity::Error => errors.push(line),
            Severity::Warning => eprintln!("warning: trust policy: {line}"),
        }
    }
    if !errors.is_empty() {
        bail!(
            "refusing to write a trust policy the linter rejects:\n  {}",
            errors.join("\n  ")
        );
    }
    Ok(())
}

/// Evaluates a token's claims against a trust policy, as STS does.
pub fn trust_verdict(
    trust: &Value,
    account: &str,
    role_arn: &str,
    sub: &str,
) -> anyhow::Result<Decision> {
    let policy = Policy::parse(&trust.to_string(), PolicyKind::Trust)
        .map_err(|e| anyhow::anyhow!("the trust policy is invalid: {}", e.message))?;
    let provider = format!("arn:aws:iam::{account}:oidc-provider/{ISSUER_HOST}");
    let mut context = Context::new();
    context.insert(&format!("{ISSUER_HOST}:sub"), sub.to_owned());
    context.insert(&format!("{ISSUER_HOST}:aud"), AUDIENCE.to_owned());
    context.insert("aws:FederatedProvider", provider.clone());
    let set = PolicySet {
        resource: Some(("trust", &policy)),
        resource_account: Some(account),
        resource_required: true,
        ..PolicySet::default()
    };
    let request = berth_policy::Request {
        principal: Principal {
            kind: PrincipalKind::Federated,
            arn: &provider,
            role_arn: None,
            role_id: None,
            account: Some(account),
        },
        action: "sts:AssumeRoleWithWebIdentity",
        resource: role_arn,
        context: &context,
    };
    Ok(berth_policy::evaluate(&set, &request).decision)
}

// --- Diffs --------------------------------------------------------------------------------

/// A line diff of two pretty-printed JSON documents (`-` current, `+` wanted).
pub fn diff(current: &Value, wanted: &Value) -> String {
    let a: Vec<String> = pretty(current).lines().map(str::to_owned).collect();
    let b: Vec<String> = pretty(wanted).lines().map(str::to_owned).collect();
    // Longest common subsequence; policies are small.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("      {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("    + {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("    - {}\n", a[i]));
            i += 1;
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Policy documents as IAM returns them: percent-encoded JSON (the Rust SDK leaves them so).
fn decode_policy(document: &str) -> anyhow::Result<Value> {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    serde_json::from_str(&decoded).context("IAM returned a policy document that is not JSON")
}

// --- The plan -----------------------------------------------------------------------------

#[derive(Debug)]
enum Step {
    CreateProvider,
    AddAudience {
        arn: String,
    },
    TagProvider {
        arn: String,
    },
    CreateRole,
    UpdateTrust {
        diff: String,
    },
    TagRole,
    CreatePolicy,
    UpdatePolicy {
        diff: String,
        oldest_extra: Option<String>,
    },
    TagPolicy,
    Attach,
    CreateRepository,
    WriteWorkflow,
}

impl Step {
    fn describe(&self, s: &State) -> String {
        match self {
            Step::CreateProvider => {
                format!("create the OIDC provider https://{ISSUER_HOST} (audience {AUDIENCE})")
            }
            Step::AddAudience { arn } => format!("add the audience {AUDIENCE} to {arn}"),
            Step::TagProvider { arn } => format!("tag {arn} {MANAGED_BY}=berth"),
            Step::CreateRole => format!("create the role {}", s.role_arn),
            Step::UpdateTrust { diff } => {
                format!("update the trust policy of {}:\n{diff}", s.role_arn)
            }
            Step::TagRole => format!("tag {} {MANAGED_BY}=berth", s.role_arn),
            Step::CreatePolicy => format!("create the policy {}", s.policy_arn),
            Step::UpdatePolicy { diff, .. } => {
                format!("set a new default version of {}:\n{diff}", s.policy_arn)
            }
            Step::TagPolicy => format!("tag {} {MANAGED_BY}=berth", s.policy_arn),
            Step::Attach => format!("attach {} to {}", s.policy_arn, s.role_arn),
            Step::CreateRepository => format!("create the ECR repository {}", s.ecr_repository),
            Step::WriteWorkflow => format!("write {}", s.workflow.display()),
        }
    }
}

/// Everything setup needs to know about the account.
struct State {
    account: String,
    region: String,
    role_arn: String,
    policy_arn: String,
    provider_arn: String,
    ecr_repository: String,
    workflow: PathBuf,
    trust: Value,
    permissions: Value,
    workflow_text: String,
}

pub struct Clients {
    iam: aws_sdk_iam::Client,
    ecr: aws_sdk_ecr::Client,
    sts: aws_sdk_sts::Client,
    region: String,
}

pub async fn clients(target: &Target) -> anyhow::Result<Clients> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = &target.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &target.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(url) = &target.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let Some(region) = config.region().map(|r| r.to_string()) else {
        bail!("no AWS region: pass --region or set AWS_REGION");
    };
    Ok(Clients {
        iam: aws_sdk_iam::Client::new(&config),
        ecr: aws_sdk_ecr::Client::new(&config),
        sts: aws_sdk_sts::Client::new(&config),
        region,
    })
}

fn err<E: std::error::Error + 'static>(what: &str, e: E) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", DisplayErrorContext(e))
}

fn is_code<E: ProvideErrorMetadata>(e: &E, code: &str) -> bool {
    e.code() == Some(code)
}

fn tag(key: &str, value: &str) -> anyhow::Result<Tag> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| anyhow::anyhow!("building a tag: {e}"))
}

fn berth_tags(repository: &str) -> anyhow::Result<Vec<Tag>> {
    Ok(vec![
        tag(MANAGED_BY, "berth")?,
        tag(GITHUB_REPOSITORY, repository)?,
    ])
}

fn has_berth_tag(tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == MANAGED_BY && t.value() == "berth")
}

async fn account(c: &Clients) -> anyhow::Result<String> {
    let who = c.sts.get_caller_identity().send().await.map_err(|e| {
        err(
            "cannot tell which AWS account these credentials are for (sts:GetCallerIdentity)",
            e,
        )
    })?;
    who.account()
        .map(str::to_owned)
        .context("sts:GetCallerIdentity returned no account")
}

async fn find_provider(
    c: &Clients,
    account: &str,
) -> anyhow::Result<Option<(String, Vec<String>, Vec<Tag>)>> {
    let arn = format!("arn:aws:iam::{account}:oidc-provider/{ISSUER_HOST}");
    match c
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
    {
        Ok(p) => Ok(Some((arn, p.client_id_list().to_vec(), p.tags().to_vec()))),
        Err(e) if is_code(&e, "NoSuchEntity") => Ok(None),
        Err(e) => Err(err("reading the OIDC provider", e)),
    }
}

async fn plan(
    c: &Clients,
    args: &SetupArgs,
    ids: Option<RepositoryIds>,
) -> anyhow::Result<(State, Vec<Step>)> {
    let account = account(c).await?;
    let repo_name = args
        .target
        .repository
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let ecr_repository = args.ecr_repository.clone().unwrap_or(repo_name);
    let subjects = trusted_subjects(args, ids);
    let mut branches = args.branches.clone();
    if branches.is_empty() && args.environments.is_empty() && args.tags.is_empty() {
        branches.push("main".into());
    }
    let state = State {
        role_arn: format!("arn:aws:iam::{account}:role/{}", args.target.role_name),
        policy_arn: format!("arn:aws:iam::{account}:policy/{}", args.target.policy_name),
        provider_arn: format!("arn:aws:iam::{account}:oidc-provider/{ISSUER_HOST}"),
        trust: trust_policy(&account, &subjects),
        permissions: ecr_policy(&c.region, &account, &ecr_repository),
        workflow_text: crate::workflow::render(&branches, &ecr_repository),
        workflow: args.workflow.clone(),
        region: c.region.clone(),
        ecr_repository,
        account,
    };
    let mut steps = Vec::new();

    match find_provider(c, &state.account).await? {
        None => steps.push(Step::CreateProvider),
        Some((arn, audiences, tags)) => {
            if !audiences.iter().any(|a| a == AUDIENCE) {
                steps.push(Step::AddAudience { arn: arn.clone() });
            }
            if !has_berth_tag(&tags) {
                steps.push(Step::TagProvider { arn });
            }
        }
    }

    let role = match c
        .iam
        .get_role()
        .role_name(&args.target.role_name)
        .send()
        .await
    {
        Ok(r) => r.role,
        Err(e) if is_code(&e, "NoSuchEntity") => None,
        Err(e) => return Err(err("reading the role", e)),
    };
    match &role {
        None => steps.push(Step::CreateRole),
        Some(role) => {
            let current = decode_policy(role.assume_role_policy_document().unwrap_or("{}"))?;
            if current != state.trust {
                steps.push(Step::UpdateTrust {
                    diff: diff(&current, &state.trust),
                });
            }
            if !has_berth_tag(role.tags()) {
                steps.push(Step::TagRole);
            }
        }
    }

    let policy = match c
        .iam
        .get_policy()
        .policy_arn(&state.policy_arn)
        .send()
        .await
    {
        Ok(p) => p.policy,
        Err(e) if is_code(&e, "NoSuchEntity") => None,
        Err(e) => return Err(err("reading the policy", e)),
    };
    match &policy {
        None => steps.push(Step::CreatePolicy),
        Some(p) => {
            let default = p.default_version_id().unwrap_or("v1");
            let version = c
                .iam
                .get_policy_version()
                .policy_arn(&state.policy_arn)
                .version_id(default)
                .send()
                .await
                .map_err(|e| err("reading the policy's default version", e))?;
            let current = decode_policy(
                version
                    .policy_version()
                    .and_then(|v| v.document())
                    .unwrap_or("{}"),
            )?;
            if current != state.permissions {
                // IAM keeps at most 5 versions: make room by dropping the oldest other one.
                let versions = c
                    .iam
                    .list_policy_versions()
                    .policy_arn(&state.policy_arn)
                    .send()
                    .await
                    .map_err(|e| err("listing the policy's versions", e))?;
                let others: Vec<&str> = versions
                    .versions()
                    .iter()
                    .filter(|v| !v.is_default_version())
                    .filter_map(|v| v.version_id())
                    .collect();
                let oldest_extra = (versions.versions().len() >= 5)
                    .then(|| others.last().map(|s| (*s).to_owned()))
                    .flatten();
                steps.push(Step::UpdatePolicy {
                    diff: diff(&current, &state.permissions),
                    oldest_extra,
                });
            }
            if !has_berth_tag(p.tags()) {
                let tags = c
                    .iam
                    .list_policy_tags()
                    .policy_arn(&state.policy_arn)
                    .send()
                    .await
                    .map_err(|e| err("reading the policy's tags", e))?;
                if !has_berth_tag(tags.tags()) {
                    steps.push(Step::TagPolicy);
                }
            }
        }
    }

    let attached = if role.is_some() {
        let list = c
            .iam
            .list_attached_role_policies()
            .role_name(&args.target.role_name)
            .send()
            .await
            .map_err(|e| err("listing the role's policies", e))?;
        list.attached_policies()
            .iter()
            .any(|p| p.policy_arn() == Some(state.policy_arn.as_str()))
    } else {
        false
    };
    if !attached {
        steps.push(Step::Attach);
    }

    match c
        .ecr
        .describe_repositories()
        .repository_names(&state.ecr_repository)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_code(&e, "RepositoryNotFoundException") => steps.push(Step::CreateRepository),
        Err(e) => return Err(err("reading the ECR repository", e)),
    }

    let on_disk = std::fs::read_to_string(&state.workflow).ok();
    if on_disk.as_deref() != Some(state.workflow_text.as_str()) {
        steps.push(Step::WriteWorkflow);
    }
    Ok((state, steps))
}

async fn apply(c: &Clients, args: &SetupArgs, state: &State, step: &Step) -> anyhow::Result<()> {
    let repo = &args.target.repository;
    match step {
        Step::CreateProvider => {
            c.iam
                .create_open_id_connect_provider()
                .url(format!("https://{ISSUER_HOST}"))
                .client_id_list(AUDIENCE)
                .set_tags(Some(berth_tags(repo)?))
                .send()
                .await
                .map_err(|e| err("creating the OIDC provider", e))?;
        }
        Step::AddAudience { arn } => {
            c.iam
                .add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(AUDIENCE)
                .send()
                .await
                .map_err(|e| err("adding the audience", e))?;
        }
        Step::TagProvider { arn } => {
            c.iam
                .tag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .tags(tag(MANAGED_BY, "berth")?)
                .send()
                .await
                .map_err(|e| err("tagging the OIDC provider", e))?;
        }
        Step::CreateRole => {
            c.iam
                .create_role()
                .role_name(&args.target.role_name)
                .assume_role_policy_document(pretty(&state.trust))
                .description(format!(
                    "GitHub Actions in {repo} push to ECR (berth setup)"
                ))
                .set_tags(Some(berth_tags(repo)?))
                .send()
                .await
                .map_err(|e| err("creating the role", e))?;
        }
        Step::UpdateTrust { .. } => {
            c.iam
                .update_assume_role_policy()
                .role_name(&args.target.role_name)
                .policy_document(pretty(&state.trust))
                .send()
                .await
                .map_err(|e| err("updating the trust policy", e))?;
        }
        Step::TagRole => {
            c.iam
                .tag_role()
                .role_name(&args.target.role_name)
                .set_tags(Some(berth_tags(repo)?))
                .send()
                .await
                .map_err(|e| err("tagging the role", e))?;
        }
        Step::CreatePolicy => {
            c.iam
                .create_policy()
                .policy_name(&args.target.policy_name)
                .policy_document(pretty(&state.permissions))
                .description(format!(
                    "Push and pull {} (berth setup)",
                    state.ecr_repository
                ))
                .set_tags(Some(berth_tags(repo)?))
                .send()
                .await
                .map_err(|e| err("creating the policy", e))?;
        }
        Step::UpdatePolicy { oldest_extra, .. } => {
            if let Some(v) = oldest_extra {
                c.iam
                    .delete_policy_version()
                    .policy_arn(&state.policy_arn)
                    .version_id(v)
                    .send()
                    .await
                    .map_err(|e| err("deleting the oldest policy version", e))?;
            }
            c.iam
                .create_policy_version()
                .policy_arn(&state.policy_arn)
                .policy_document(pretty(&state.permissions))
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| err("creating a policy version", e))?;
        }
        Step::TagPolicy => {
            c.iam
                .tag_policy()
                .policy_arn(&state.policy_arn)
                .set_tags(Some(berth_tags(repo)?))
                .send()
                .await
                .map_err(|e| err("tagging the policy", e))?;
        }
        Step::Attach => {
            c.iam
                .attach_role_policy()
                .role_name(&args.target.role_name)
                .policy_arn(&state.policy_arn)
                .send()
                .await
                .map_err(|e| err("attaching the policy", e))?;
        }
        Step::CreateRepository => {
            c.ecr
                .create_repository()
                .repository_name(&state.ecr_repository)
                .send()
                .await
                .map_err(|e| err("creating the ECR repository", e))?;
        }
        Step::WriteWorkflow => {
            if let Some(dir) = state
                .workflow
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&state.workflow, &state.workflow_text)
                .with_context(|| format!("writing {}", state.workflow.display()))?;
        }
    }
    Ok(())
}

fn confirm(yes: bool, question: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to change anything without --yes: there is no terminal to ask on");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Exit code: 0 done (or nothing to do), 2 a dry run that would change something.
pub async fn setup(args: SetupArgs) -> anyhow::Result<u8> {
    let json_output = match args.output.as_str() {
        "text" => false,
        "json" => true,
        other => bail!("--output must be text or json, not `{other}`"),
    };
    for warning in lint(&args)? {
        eprintln!("warning: {warning}");
    }
    let github =
        crate::github::GitHub::from_env(args.github_token_env.as_deref(), &args.github_api_url);
    if let (Some(var), None) = (&args.github_token_env, &github) {
        eprintln!("warning: {var} is not set: the repository secrets are not set, only printed");
    }
    if github.is_some() && args.target.repository.contains(['*', '?']) {
        bail!("a GitHub token sets the secrets of one repository, not of a pattern");
    }
    let ids = match (args.owner_id, args.repository_id, &github) {
        _ if args.subject_format != "immutable" => None,
        (Some(owner_id), Some(repository_id), _) => Some(RepositoryIds {
            owner_id,
            repository_id,
        }),
        (_, _, Some(github)) => Some(github.repository_ids(&args.target.repository).await?),
        _ => bail!(
            "--subject-format immutable needs the repository's numeric ids: pass --owner-id and \
             --repository-id, or a GitHub token (--github-token-env) to read them with"
        ),
    };
    let c = clients(&args.target).await?;
    let (state, steps) = plan(&c, &args, ids).await?;
    refuse_lint_errors(&state.trust)?;

    // Prove the trust policy before anyone relies on it.
    let wanted_sub = trusted_subjects(&args, ids)
        .first()
        .cloned()
        .unwrap_or_default();
    let other_sub = format!(
        "repo:{}-other/elsewhere:ref:refs/heads/main",
        args.target.repository.split('/').next().unwrap_or("org")
    );
    let allowed = trust_verdict(&state.trust, &state.account, &state.role_arn, &wanted_sub)?;
    let other = trust_verdict(&state.trust, &state.account, &state.role_arn, &other_sub)?;
    if allowed != Decision::Allow || other == Decision::Allow {
        bail!(
            "the trust policy does not do what it should ({wanted_sub}: {allowed:?}, {other_sub}: {other:?}); this is a bug in berth"
        );
    }
    let descriptions: Vec<String> = steps.iter().map(|s| s.describe(&state)).collect();

    if json_output {
        println!(
            "{}",
            json!({
                "account": state.account, "region": state.region, "role": state.role_arn,
                "policy": state.policy_arn, "provider": state.provider_arn,
                "ecr_repository": state.ecr_repository, "changes": descriptions,
                "dry_run": args.dry_run,
                "proof": {wanted_sub.clone(): format!("{allowed:?}"), other_sub.clone(): format!("{other:?}")},
            })
        );
    } else {
        println!("account {} in {}", state.account, state.region);
        if steps.is_empty() {
            println!("nothing to do");
        } else {
            println!("plan:");
            for d in &descriptions {
                println!("  - {d}");
            }
        }
    }
    if args.dry_run {
        return Ok(if steps.is_empty() { 0 } else { 2 });
    }
    if !steps.is_empty() {
        if !confirm(args.target.yes, "apply these changes?")? {
            bail!("nothing changed");
        }
        for (step, d) in steps.iter().zip(&descriptions) {
            apply(&c, &args, &state, step).await?;
            if !json_output {
                println!("done: {}", d.lines().next().unwrap_or_default());
            }
        }
    }
    if !json_output {
        println!("trust policy check:");
        println!("  {wanted_sub}: {allowed:?}");
        println!("  {other_sub}: {other:?}");
    }
    let secrets = [
        ("AWS_REGION", state.region.as_str()),
        ("AWS_ACCOUNT_ID", state.account.as_str()),
        ("AWS_ROLE_NAME", args.target.role_name.as_str()),
    ];
    match github {
        // GitHub cannot show a secret's value, so there is nothing to compare with: the
        // values are written on every run, which changes nothing when they are the same.
        Some(github) => {
            github
                .set_secrets(&args.target.repository, &secrets)
                .await?;
            if !json_output {
                println!(
                    "set the repository secrets AWS_REGION, AWS_ACCOUNT_ID, AWS_ROLE_NAME on {}",
                    args.target.repository
                );
            }
        }
        None if !json_output => {
            println!(
                "set these repository secrets (or pass --github-token-env VAR to have setup do it):"
            );
            for (name, value) in secrets {
                println!(
                    "  gh secret set {name} --repo {} --body {value}",
                    args.target.repository
                );
            }
        }
        None => {}
    }
    Ok(0)
}

pub async fn teardown(args: TeardownArgs) -> anyhow::Result<u8> {
    let c = clients(&args.target).await?;
    let account = account(&c).await?;
    let repo = &args.target.repository;
    let role_name = &args.target.role_name;
    let policy_arn = format!("arn:aws:iam::{account}:policy/{}", args.target.policy_name);
    let owned = |tags: &[Tag]| {
        has_berth_tag(tags)
            && tags
                .iter()
                .any(|t| t.key() == GITHUB_REPOSITORY && t.value() == repo.as_str())
    };
    let mut plan: Vec<String> = Vec::new();
    let role = match c.iam.get_role().role_name(role_name).send().await {
        Ok(r) => r.role.filter(|r| owned(r.tags())),
        Err(e) if is_code(&e, "NoSuchEntity") => None,
        Err(e) => return Err(err("reading the role", e)),
    };
    let policy_owned = match c
        .iam
        .list_policy_tags()
        .policy_arn(&policy_arn)
        .send()
        .await
    {
        Ok(t) => owned(t.tags()),
        Err(e) if is_code(&e, "NoSuchEntity") => false,
        Err(e) => return Err(err("reading the policy", e)),
    };
    let provider = find_provider(&c, &account)
        .await?
        .filter(|(_, _, tags)| has_berth_tag(tags));
    if let Some(r) = &role {
        plan.push(format!("delete the role {}", r.arn()));
    }
    if policy_owned {
        plan.push(format!("delete the policy {policy_arn}"));
    }
    // The provider goes only when no other role trusts it.
    let provider = match provider {
        Some((arn, _, _)) => {
            let roles = c
                .iam
                .list_roles()
                .send()
                .await
                .map_err(|e| err("listing roles", e))?;
            let still_used = roles.roles().iter().any(|r| {
                r.role_name() != role_name.as_str()
                    && r.assume_role_policy_document()
                        .map(|d| {
                            percent_encoding::percent_decode_str(d)
                                .decode_utf8_lossy()
                                .contains(&arn)
                        })
                        .unwrap_or(false)
            });
            if still_used {
                println!("keeping {arn}: other roles trust it");
                None
            } else {
                plan.push(format!("delete the OIDC provider {arn}"));
                Some(arn)
            }
        }
        None => None,
    };
    let ecr_repository = args
        .ecr_repository
        .clone()
        .unwrap_or_else(|| repo.rsplit('/').next().unwrap_or_default().to_lowercase());
    if args.delete_ecr_repository {
        plan.push(format!(
            "delete the ECR repository {ecr_repository} and its images"
        ));
    }
    if plan.is_empty() {
        println!("nothing to do");
        return Ok(0);
    }
    println!("plan:");
    for p in &plan {
        println!("  - {p}");
    }
    if !confirm(args.target.yes, "delete these?")? {
        bail!("nothing changed");
    }
    if role.is_some() {
        let attached = c
            .iam
            .list_attached_role_policies()
            .role_name(role_name)
            .send()
            .await
            .map_err(|e| err("listing the role's policies", e))?;
        for p in attached.attached_policies() {
            c.iam
                .detach_role_policy()
                .role_name(role_name)
                .set_policy_arn(p.policy_arn().map(str::to_owned))
                .send()
                .await
                .map_err(|e| err("detaching a policy", e))?;
        }
        c.iam
            .delete_role()
            .role_name(role_name)
            .send()
            .await
            .map_err(|e| err("deleting the role", e))?;
    }
    if policy_owned {
        let versions = c
            .iam
            .list_policy_versions()
            .policy_arn(&policy_arn)
            .send()
            .await
            .map_err(|e| err("listing the policy's versions", e))?;
        for v in versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
        {
            c.iam
                .delete_policy_version()
                .policy_arn(&policy_arn)
                .set_version_id(v.version_id().map(str::to_owned))
                .send()
                .await
                .map_err(|e| err("deleting a policy version", e))?;
        }
        c.iam
            .delete_policy()
            .policy_arn(&policy_arn)
            .send()
            .await
            .map_err(|e| err("deleting the policy", e))?;
    }
    if let Some(arn) = provider {
        c.iam
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .map_err(|e| err("deleting the OIDC provider", e))?;
    }
    if args.delete_ecr_repository {
        c.ecr
            .delete_repository()
            .repository_name(&ecr_repository)
            .force(true)
            .send()
            .await
            .map_err(|e| err("deleting the ECR repository", e))?;
    }
    for p in &plan {
        println!("done: {p}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_default_to_main_and_combine() {
        assert_eq!(
            subjects("o/r", &[], &[], &[]),
            ["repo:o/r:ref:refs/heads/main"]
        );
        assert_eq!(
            subjects("o/r", &["dev".into()], &["prod".into()], &["v*".into()]),
            [
                "repo:o/r:ref:refs/heads/dev",
                "repo:o/r:ref:refs/tags/v*",
                "repo:o/r:environment:prod"
            ]
        );
    }

    #[test]
    fn the_trust_policy_admits_exactly_the_subjects() {
        let role = "arn:aws:iam::123456789012:role/R";
        let exact = trust_policy("123456789012", &subjects("o/r", &[], &[], &[]));
        assert!(exact.to_string().contains("StringEquals"));
        let verdict = |p: &Value, sub: &str| trust_verdict(p, "123456789012", role, sub).unwrap();
        assert_eq!(
            verdict(&exact, "repo:o/r:ref:refs/heads/main"),
            Decision::Allow
        );
        assert_ne!(
            verdict(&exact, "repo:o/r:ref:refs/heads/dev"),
            Decision::Allow
        );
        assert_ne!(
            verdict(&exact, "repo:o/other:ref:refs/heads/main"),
            Decision::Allow
        );
        let tags = trust_policy("123456789012", &subjects("o/r", &[], &[], &["v*".into()]));
        assert!(tags.to_string().contains("StringLike"));
        assert_eq!(
            verdict(&tags, "repo:o/r:ref:refs/tags/v1.2"),
            Decision::Allow
        );
        assert_ne!(
            verdict(&tags, "repo:o/r:ref:refs/heads/main"),
            Decision::Allow
        );
    }

    #[test]
    fn immutable_subjects_replace_the_legacy_ones() {
        let legacy = subjects("o/r", &["main".into()], &["prod".into()], &[]);
        let ids = RepositoryIds {
            owner_id: 7,
            repository_id: 42,
        };
        let immutable = immutable_subjects(legacy, "o/r", ids);
        assert_eq!(
            immutable,
            [
                "repo:o@7/r@42:ref:refs/heads/main",
                "repo:o@7/r@42:environment:prod",
            ]
        );
        let role = "arn:aws:iam::123456789012:role/R";
        let trust = trust_policy("123456789012", &immutable);
        for sub in &immutable {
            assert_eq!(
                trust_verdict(&trust, "123456789012", role, sub).unwrap(),
                Decision::Allow
            );
        }
        for refused in [
            "repo:o@8/r@42:ref:refs/heads/main",
            "repo:o/r:ref:refs/heads/main",
        ] {
            assert_ne!(
                trust_verdict(&trust, "123456789012", role, refused).unwrap(),
                Decision::Allow,
                "{refused}"
            );
        }
    }

    /// The audience condition is kept beside exact subjects (one `StringEquals` with
    /// both keys).
    #[test]
    fn the_trust_policy_pins_the_audience() {
        let trust = trust_policy("123456789012", &subjects("o/r", &[], &[], &[]));
        let condition = &trust["Statement"][0]["Condition"];
        assert_eq!(
            condition["StringEquals"]["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com",
            "{trust}"
        );
        let findings = berth_policy::lint::lint(&pretty(&trust)).unwrap();
        assert!(
            findings.iter().all(|f| f.rule != "aud-missing"),
            "{findings:?}"
        );
    }

    proptest::proptest! {
        /// Every trust policy setup writes passes `berth policy lint` with no finding, for
        /// any mix of branches, tags (exact or patterns), environments and subject form.
        #[test]
        fn every_trust_policy_setup_writes_lints_clean(
            branches in proptest::collection::vec("[a-z][a-z0-9._-]{0,8}(/[a-z0-9*]{1,6})?\\*?", 0..3),
            tags in proptest::collection::vec("v[0-9.]{0,4}\\*?", 0..3),
            envs in proptest::collection::vec("[a-z][a-z0-9-]{0,8}", 0..3),
            ids in proptest::option::of((1u64..1_000_000, 1u64..1_000_000)),
        ) {
            let subjects = subjects("octo-org/octo-repo", &branches, &envs, &tags);
            let subjects = match ids {
                Some((owner_id, repository_id)) => immutable_subjects(
                    subjects,
                    "octo-org/octo-repo",
                    RepositoryIds { owner_id, repository_id },
                ),
                None => subjects,
            };
            let trust = trust_policy("123456789012", &subjects);
            let findings = berth_policy::lint::lint(&pretty(&trust)).unwrap();
            proptest::prop_assert!(findings.is_empty(), "{findings:#?}\n{trust}");
        }
    }

    #[test]
    fn the_linter_refuses_a_trust_policy_spanning_owners() {
        let trust = trust_policy("123456789012", &["repo:*/r:ref:refs/heads/main".into()]);
        let e = refuse_lint_errors(&trust).unwrap_err().to_string();
        assert!(e.contains("sub-wildcard-spans-owners"), "{e}");
        refuse_lint_errors(&trust_policy(
            "123456789012",
            &subjects("o/r", &[], &[], &["v*".into()]),
        ))
        .unwrap();
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3}));
        assert!(
            d.contains("-   \"b\": 2") && d.contains("+   \"b\": 3"),
            "{d}"
        );
        assert!(d.contains("      \"a\": 1"), "{d}");
    }

    #[test]
    fn policy_documents_are_decoded() {
        assert_eq!(decode_policy("%7B%22a%22%3A1%7D").unwrap(), json!({"a": 1}));
        assert_eq!(decode_policy("{\"a\":1}").unwrap(), json!({"a": 1}));
    }
}
