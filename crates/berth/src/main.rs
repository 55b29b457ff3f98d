//! `berth`: the server and its command-line tools.

mod audit;
mod config_file;
mod env;
mod gc;
mod github;
mod login;
mod policy;
mod serve;
mod setup;
mod storage;
mod token;
mod workflow;

use std::process::ExitCode;

/// mimalloc: many small allocations freed on other threads than made them (request
/// handlers hand records to the audit trail's writer) made glibc's allocator spend a
/// third of the server's CPU on its arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory as _, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Keyless container pushes from CI: IAM, STS, ECR and an OCI registry in one binary",
    after_help = "Examples:
  berth serve --dev                     # the AWS side of the document, locally
  BERTH=target/release/berth examples/quickstart.sh   # the whole document
  berth setup --repository octo-org/octo-repo --dry-run
  berth policy lint examples/trust.json

Environment: BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY (the root user's keys,
for serve and token), BERTH_LOG (the log filter, e.g. info or berth=debug), AWS_* for the
commands that call AWS or a Berth server (setup, teardown, login)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: IAM, STS, ECR and the registry on one port.
    #[command(after_help = "Examples:
  berth serve --dev                     # local development, mints tokens
  berth serve --listen 0.0.0.0:5000 --data-dir /var/lib/berth \\
      --public-url https://registry.example.com

Environment: BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY choose the root
user's keys (else generated on first start, kept in DATA_DIR/root-credentials.json);
BERTH_LOG sets the log filter (default info); BERTH_S3_ACCESS_KEY_ID and
BERTH_S3_SECRET_ACCESS_KEY are the S3 store's keys; each flag also reads the BERTH_*
variable shown beside it.")]
    Serve(serve::ServeArgs),
    /// Delete unreferenced blobs and stale uploads (safe while the server runs).
    #[command(after_help = "Examples:
  berth gc                           # ./berth-data; the server may be running
  berth gc --data-dir /var/lib/berth --gc-blob-grace 2h
  berth gc --config /etc/berth/berth.toml   # PostgreSQL + S3, as the replicas")]
    Gc(gc::GcArgs),
    /// The audit trail: who called what, allowed or refused, and why (CloudTrail's
    /// LookupEvents, with your AWS credentials).
    #[command(after_help = "Examples:
  berth audit --endpoint-url http://127.0.0.1:5000 --since 1h
  berth audit --denied --role GitHubActionsECRRole
  berth audit --repository octo-repo --follow
  berth audit why EVENT_ID
  berth audit export --to ./trail --since 7d")]
    Audit(audit::AuditArgs),
    /// Mint a GitHub-Actions-shaped OIDC token from a `berth serve --dev` server.
    #[command(after_help = "Examples:
  berth token --endpoint-url http://127.0.0.1:5000 \\
      --repository octo-org/octo-repo
  berth token --repository octo-org/octo-repo --ref refs/tags/v1.0 \\
      --subject-format immutable
  aws sts assume-role-with-web-identity \\
      --role-arn arn:aws:iam::123456789012:role/GitHubActionsECRRole \\
      --role-session-name ci \\
      --web-identity-token \"$(berth token --repository octo-org/octo-repo)\"")]
    Token(token::TokenArgs),
    /// Print `export AWS_ACCESS_KEY_ID=…` lines for the session in an STS answer on stdin.
    #[command(after_help = "Examples:
  eval \"$(aws sts assume-role-with-web-identity \\
      --role-arn \"$ROLE_ARN\" --role-session-name ci --output json \\
      --web-identity-token \"$(berth token --repository octo-org/octo-repo)\" \\
      | berth env)\"
  aws sts assume-role --role-arn \"$ROLE_ARN\" --role-session-name ops \\
      --output json | berth env")]
    Env,
    /// Evaluate IAM policies offline.
    #[command(after_help = "Examples:
  berth policy lint trust-policy.json
  berth policy explain --trust-policy trust-policy.json --token \"$JWT\"
  berth policy eval < requests.jsonl")]
    Policy(policy::PolicyArgs),
    /// Create the OIDC provider, role, policy and ECR repository for a GitHub repository,
    /// prove the trust policy, and write the workflow (idempotent; --dry-run shows the plan).
    #[command(after_help = "Examples:
  berth setup --repository octo-org/octo-repo --dry-run
  berth setup --repository octo-org/octo-repo --branch main \\
      --environment prod --tag 'v*'
  GH_TOKEN=$(gh auth token) berth setup --repository octo-org/octo-repo \\
      --github-token-env GH_TOKEN --yes
  berth setup --repository octo-org/octo-repo \\
      --endpoint-url http://127.0.0.1:5000 --yes

Exit status: 0 done or nothing to do, 1 error, 2 a --dry-run that would change something.")]
    Setup(setup::SetupArgs),
    /// Remove what `berth setup` created for a GitHub repository (never the images unless
    /// --delete-ecr-repository).
    #[command(after_help = "Examples:
  berth teardown --repository octo-org/octo-repo
  berth teardown --repository octo-org/octo-repo \\
      --endpoint-url http://127.0.0.1:5000 --yes")]
    Teardown(setup::TeardownArgs),
    /// Print the workflow `berth setup` writes.
    #[command(after_help = "Examples:
  berth workflow --ecr-repository web > .github/workflows/ecr-push.yml
  berth workflow --ecr-repository web --branch main --branch release")]
    Workflow(workflow::WorkflowArgs),
    /// Write registry credentials for docker, podman and skopeo from ECR's
    /// GetAuthorizationToken (or link this binary as docker-credential-berth).
    #[command(after_help = "Examples:
  berth login              # the profile's region's ECR, ~/.docker/config.json
  berth login --endpoint-url http://127.0.0.1:5000 --authfile auth.json
  skopeo copy --dest-authfile auth.json oci:image:v1 \\
      docker://127.0.0.1:5000/web:v1
  # the credential helper:
  ln -s \"$(command -v berth)\" ~/.local/bin/docker-credential-berth")]
    Login(login::LoginArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  berth completions bash > /etc/bash_completion.d/berth
  berth completions zsh > \"${fpath[1]}/_berth\"
  berth completions fish > ~/.config/fish/completions/berth.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// docker's credential helper protocol; what `docker-credential-berth` runs.
    #[command(hide = true)]
    CredentialHelper { action: Option<String> },
    /// Bring the metadata schema up to this version of Berth (run once before starting
    /// upgraded replicas on PostgreSQL).
    #[command(after_help = "Examples:
  berth migrate --metadata postgres://berth@db.internal/berth
  berth migrate --config /etc/berth/berth.toml")]
    Migrate(storage::MigrateArgs),
}

fn main() -> ExitCode {
    // Invoked as docker-credential-berth (a link to this binary): the helper protocol.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if invoked_as.as_deref() == Some("docker-credential-berth") {
        args.insert(1, "credential-helper".into());
    } else {
        args = match config_file::expand(&Cli::command(), args) {
            Ok(argv) => argv,
            Err(e) => return finish(Err(e)),
        };
    }
    let cli = Cli::parse_from(args);
    let command = match cli.command {
        Command::Policy(args) => {
            return match policy::run(args) {
                Ok(code) => code,
                Err(e) => finish(Err(e)),
            };
        }
        Command::Workflow(args) => return finish(workflow::run(args)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve::run(args).await.map(|()| 0),
            Command::Token(args) => token::run(args).await.map(|()| 0),
            Command::Env => env::run().map(|()| 0),
            Command::Setup(args) => setup::setup(args).await,
            Command::Teardown(args) => setup::teardown(args).await,
            Command::Login(args) => login::run(args).await.map(|()| 0),
            Command::CredentialHelper { action } => login::credential_helper(action.as_deref())
                .await
                .map(|()| 0),
            Command::Migrate(args) => storage::migrate(args).await.map(|()| 0),
            Command::Gc(args) => gc::run(args).await.map(|()| 0),
            Command::Audit(args) => audit::run(args).await,
            Command::Policy(_) | Command::Workflow(_) | Command::Completions { .. } => Ok(0),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => finish(Err(e)),
    }
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
