//! `berth`: the server and its command-line tools.

mod github;
mod login;
mod policy;
mod serve;
mod setup;
mod token;
mod workflow;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Keyless container pushes from CI: IAM, STS, ECR and an OCI registry in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: IAM, STS, ECR and the registry on one port.
    Serve(serve::ServeArgs),
    /// Mint a GitHub-Actions-shaped OIDC token from a `berth serve --dev` server.
    Token(token::TokenArgs),
    /// Evaluate IAM policies offline.
    Policy(policy::PolicyArgs),
    /// Create the OIDC provider, role, policy and ECR repository for a GitHub repository,
    /// prove the trust policy, and write the workflow (idempotent; --dry-run shows the plan).
    Setup(setup::SetupArgs),
    /// Remove what `berth setup` created for a GitHub repository (never the images unless
    /// --delete-ecr-repository).
    Teardown(setup::TeardownArgs),
    /// Print the workflow `berth setup` writes.
    Workflow(workflow::WorkflowArgs),
    /// Write registry credentials for docker, podman and skopeo from ECR's
    /// GetAuthorizationToken (or link this binary as docker-credential-berth).
    Login(login::LoginArgs),
    /// docker's credential helper protocol; what `docker-credential-berth` runs.
    #[command(hide = true)]
    CredentialHelper { action: Option<String> },
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
            Command::Setup(args) => setup::setup(args).await,
            Command::Teardown(args) => setup::teardown(args).await,
            Command::Login(args) => login::run(args).await.map(|()| 0),
            Command::CredentialHelper { action } => login::credential_helper(action.as_deref())
                .await
                .map(|()| 0),
            Command::Policy(_) | Command::Workflow(_) => Ok(0),
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
