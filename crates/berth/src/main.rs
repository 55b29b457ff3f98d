//! `berth`: the server and its command-line tools.

mod config_file;
mod policy;
mod serve;
mod storage;
mod token;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
    /// Bring the metadata schema up to this version of Berth (run once before starting
    /// upgraded replicas on PostgreSQL).
    Migrate(storage::MigrateArgs),
}

fn main() -> ExitCode {
    let argv = match config_file::expand(&Cli::command(), std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => return finish(Err(e)),
    };
    let cli = Cli::parse_from(argv);
    if let Command::Policy(args) = cli.command {
        return match policy::run(args) {
            Ok(code) => code,
            Err(e) => finish(Err(e)),
        };
    }
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
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Token(args) => token::run(args).await,
            Command::Migrate(args) => storage::migrate(args).await,
            Command::Policy(_) => Ok(()),
        }
    });
    finish(result)
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
