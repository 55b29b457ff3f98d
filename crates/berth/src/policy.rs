//! `berth policy`: the policy engine offline.

use std::io::{BufRead, BufWriter, Write};

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Evaluate requests read as JSON Lines on stdin, one decision line per input line:
    /// in  {"id", "identity_policies": [..], "resource_policy": ..|null, "request": {"principal", "action", "resource", "context"}}
    /// out {"id", "decision": "Allow" | "ExplicitDeny" | "ImplicitDeny"} or {"id", "error"}
    Eval,
}

pub fn run(args: PolicyArgs) -> anyhow::Result<()> {
    match args.command {
        PolicyCommand::Eval => eval(),
    }
}

fn eval() -> anyhow::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.write_all(berth_policy::corpus::eval_line(&line).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
