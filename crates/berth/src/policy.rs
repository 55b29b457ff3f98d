//! `berth policy`: the policy engine offline. The engine (`berth-policy`) decides and
//! explains; this module reads input and renders.

use std::io::{BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_policy::lint::{Finding, Severity};
use berth_policy::{Context, Policy, PolicyKind};
use clap::{Args, Subcommand, ValueEnum};

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Evaluate requests read as JSON Lines on stdin, one decision line per input line.
    #[command(after_help = "Input, one JSON object per line:
  {\"id\": \"1\",
   \"identity_policies\": [POLICY, ...], \"resource_policy\": POLICY or null,
   \"request\": {\"principal\": ARN, \"action\": \"ecr:PutImage\",
               \"resource\": ARN, \"context\": {\"aws:SourceIp\": \"203.0.113.7\"}}}
Output, one line per input line:
  {\"id\": \"1\", \"decision\": \"Allow\" | \"ExplicitDeny\" | \"ImplicitDeny\"}
  or {\"id\": \"1\", \"error\": \"...\"}

Examples:
  berth policy eval < requests.jsonl
  berth policy eval < requests.jsonl | jq -r 'select(.decision != \"Allow\").id'")]
    Eval,
    /// Explain a decision: for every statement, whether it matched and, if not, the first
    /// thing that failed (action, resource, principal, or condition with both values).
    #[command(after_help = "Examples:
  berth policy explain request.json     # a request in `policy eval`'s format
  berth policy explain --trust-policy trust.json --token \"$JWT\"
  berth token --endpoint-url http://127.0.0.1:5000 \\
      --repository octo-org/octo-repo --ref refs/heads/feature \\
      | berth policy explain --trust-policy examples/trust.json --token -")]
    Explain(ExplainArgs),
    /// Lint role trust policies (above all those trusting GitHub's OIDC provider): each
    /// finding with its severity, JSON location, why it is dangerous and the fix.
    #[command(after_help = "Examples:
  berth policy lint examples/trust.json
  berth policy lint --fail-on error --output json policies/*.json

Exit status: 0 clean, 1 findings, 2 a file unreadable or not JSON.")]
    Lint(LintArgs),
}

#[derive(Args, Debug)]
struct LintArgs {
    /// Trust policy documents (JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    fail_on: FailOn,
    /// Findings as text for people or JSON for tools.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Warning,
    Error,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// One request in the `policy eval` format; `-` or nothing reads stdin.
    #[arg(conflicts_with_all = ["trust_policy", "token"])]
    file: Option<PathBuf>,
    /// A role trust policy to explain a web identity token against (with --token).
    #[arg(long, requires = "token")]
    trust_policy: Option<PathBuf>,
    /// A web identity token (JWT), or `-` to read it from stdin. Its claims become the
    /// condition keys STS would set; its signature and expiry are NOT verified.
    #[arg(long, requires = "trust_policy")]
    token: Option<String>,
    /// The role the trust policy belongs to (default: a role in the provider's account).
    #[arg(long, requires = "trust_policy")]
    role_arn: Option<String>,
    /// The explanation as text for people or JSON for tools.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Eval => eval().map(|()| ExitCode::SUCCESS),
        PolicyCommand::Explain(args) => explain(args).map(|()| ExitCode::SUCCESS),
        PolicyCommand::Lint(args) => lint(args),
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

/// The contents of `path`, or of stdin for `-` or no path.
fn read_input(path: Option<&Path>) -> anyhow::Result<String> {
    match path {
        Some(p) if p != Path::new("-") => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            Ok(text)
        }
    }
}

const UNVERIFIED: &str =
    "the token's signature, expiry and audience were NOT verified: its claims are taken as given";

fn explain(args: ExplainArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (Some(trust_path), Some(token)) = (&args.trust_policy, &args.token) else {
        let text = read_input(args.file.as_deref())?;
        let explanation =
            berth_policy::corpus::explain_case(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        match args.output {
            Output::Text => write!(out, "{explanation}")?,
            Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&explanation)?)?,
        }
        return Ok(());
    };

    let document = read_input(Some(trust_path))?;
    let trust = Policy::parse(&document, PolicyKind::Trust).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a valid trust policy: {} (at `{}`)",
            trust_path.display(),
            e.message,
            e.pointer
        )
    })?;
    let token = if token == "-" {
        read_input(None)?
    } else {
        token.clone()
    };
    let token = berth_jwt::decode_unverified(token.trim())
        .map_err(|e| anyhow::anyhow!("--token is not a JWT: {e}"))?;
    let Some(issuer) = token.issuer() else {
        bail!("--token has no `iss` claim: STS would refuse it");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut context = Context::new();
    context.insert("aws:EpochTime", now.to_string());
    if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(i64::try_from(now).unwrap_or(0))
        && let Ok(s) = t.format(&time::format_description::well_known::Rfc3339)
    {
        context.insert("aws:CurrentTime", s);
    }
    let explained = berth_policy::web_identity::explain_token(
        &trust,
        issuer,
        token.claims(),
        args.role_arn.as_deref(),
        context,
    );
    match args.output {
        Output::Text => {
            writeln!(out, "note: {UNVERIFIED}")?;
            writeln!(out, "provider:  {}", explained.provider_arn)?;
            write!(out, "{}", explained.explanation)?;
        }
        Output::Json => {
            let mut value = serde_json::to_value(&explained)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("token_verified".into(), false.into());
                object.insert("note".into(), UNVERIFIED.into());
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
    }
    Ok(())
}

/// What linting one file gave.
enum Linted {
    Findings(Vec<Finding>),
    Unreadable(String),
}

fn lint(args: LintArgs) -> anyhow::Result<ExitCode> {
    let results: Vec<(&Path, Linted)> = args
        .files
        .iter()
        .map(|path| {
            let linted = match std::fs::read_to_string(path) {
                Err(e) => Linted::Unreadable(format!("cannot read: {e}")),
                Ok(text) => match berth_policy::lint::lint(&text) {
                    Ok(findings) => Linted::Findings(findings),
                    Err(e) => Linted::Unreadable(e.to_string()),
                },
            };
            (path.as_path(), linted)
        })
        .collect();

    let threshold = match args.fail_on {
        FailOn::Warning => Severity::Warning,
        FailOn::Error => Severity::Error,
    };
    let mut status = 0u8;
    for (_, linted) in &results {
        match linted {
            Linted::Unreadable(_) => status = 2,
            Linted::Findings(f) if f.iter().any(|f| f.severity >= threshold) => {
                status = status.max(1);
            }
            Linted::Findings(_) => {}
        }
    }

    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            let files: Vec<serde_json::Value> = results
                .iter()
                .map(|(path, linted)| match linted {
                    Linted::Findings(findings) => serde_json::json!({
                        "file": path.display().to_string(),
                        "findings": findings,
                    }),
                    Linted::Unreadable(error) => serde_json::json!({
                        "file": path.display().to_string(),
                        "error": error,
                    }),
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&files)?)?;
        }
        Output::Text => {
            for (path, linted) in &results {
                let path = path.display();
                match linted {
                    Linted::Unreadable(error) => eprintln!("{path}: {error}"),
                    Linted::Findings(findings) if findings.is_empty() => {
                        writeln!(out, "{path}: no findings")?;
                    }
                    Linted::Findings(findings) => {
                        for f in findings {
                            let severity = match f.severity {
                                Severity::Error => "error",
                                Severity::Warning => "warning",
                            };
                            let at = if f.pointer.is_empty() {
                                "/"
                            } else {
                                &f.pointer
                            };
                            writeln!(out, "{path}: {severity}[{}] at {at}: {}", f.rule, f.message)?;
                            writeln!(out, "  why: {}", f.why)?;
                            writeln!(out, "  fix: {}", f.fix)?;
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::from(status))
}
