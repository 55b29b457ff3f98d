//! `berth token`: asks a `berth serve --dev` server to mint a GitHub-Actions-shaped OIDC
//! token. The request is SigV4-signed with root credentials; the JWT alone goes to stdout.

use anyhow::{Context, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The Berth server, e.g. http://127.0.0.1:5000.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: String,
    /// The GitHub repository the token is for, OWNER/REPO.
    #[arg(long)]
    repository: String,
    /// The git ref the workflow runs on.
    #[arg(long = "ref", default_value = "refs/heads/main")]
    git_ref: String,
    /// A deployment environment (the subject becomes repo:OWNER/REPO:environment:NAME).
    #[arg(long)]
    environment: Option<String>,
    /// The triggering event (pull_request gives the subject repo:OWNER/REPO:pull_request).
    #[arg(long, default_value = "push")]
    event_name: String,
    /// The token's audience.
    #[arg(long, default_value = "sts.amazonaws.com")]
    audience: String,
    /// Lifetime in seconds; negative gives an already expired token (for tests).
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    expires_in: i64,
    /// GitHub's numeric id of the repository owner (default: derived from its name).
    #[arg(long)]
    owner_id: Option<u64>,
    /// GitHub's numeric id of the repository (default: derived from its name).
    #[arg(long)]
    repository_id: Option<u64>,
    /// `legacy`: repo:OWNER/REPO:...; `immutable`: repo:OWNER@OWNER_ID/REPO@REPO_ID:...
    /// (GitHub's subject for repositories created from 2026-07-15, or opted in).
    #[arg(long, value_parser = ["legacy", "immutable"], default_value = "legacy")]
    subject_format: String,
    /// Instead of a token, print `export ACTIONS_ID_TOKEN_REQUEST_URL=...` and
    /// `export ACTIONS_ID_TOKEN_REQUEST_TOKEN=...` for this claim set, so code written for
    /// GitHub Actions (`core.getIDToken(audience)`) gets its tokens from this server. The
    /// request token stands for six hours; each token requested lives --expires-in seconds.
    #[arg(long)]
    actions_env: bool,
}

/// The credentials that sign the mint request: the server's root keys. `BERTH_ROOT_*`
/// when set; otherwise `AWS_*`, unless those are a session's (temporary keys cannot mint).
fn credentials(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<(String, String)> {
    let pair = |id: &str, secret: &str| match (var(id), var(secret)) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Some((i, s)),
        _ => None,
    };
    if let Some(root) = pair("BERTH_ROOT_ACCESS_KEY_ID", "BERTH_ROOT_SECRET_ACCESS_KEY") {
        return Ok(root);
    }
    let Some((id, secret)) = pair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") else {
        bail!(
            "no credentials: set BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY \
             (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to the server's root credentials"
        )
    };
    let session = var("AWS_SESSION_TOKEN").is_some_and(|t| !t.is_empty());
    if session || id.starts_with("ASIA") {
        bail!(
            "the AWS_* credentials are a session's (temporary keys), and minting a token \
             needs the server's root credentials: set BERTH_ROOT_ACCESS_KEY_ID and \
             BERTH_ROOT_SECRET_ACCESS_KEY (they win over AWS_*)"
        );
    }
    Ok((id, secret))
}

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let (access_key_id, secret) = credentials(|name| std::env::var(name).ok())?;
    let base = args.endpoint_url.trim_end_matches('/');
    let url: reqwest::Url = format!("{base}/_berth/dev/token")
        .parse()
        .with_context(|| format!("--endpoint-url `{}` is not a URL", args.endpoint_url))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => bail!("--endpoint-url `{}` has no host", args.endpoint_url),
    };
    let body = serde_json::json!({
        "repository": args.repository,
        "ref": args.git_ref,
        "environment": args.environment,
        "event_name": args.event_name,
        "audience": args.audience,
        "expires_in": args.expires_in,
        "owner_id": args.owner_id,
        "repository_id": args.repository_id,
        "subject_format": args.subject_format,
        "actions_grant": args.actions_env,
    })
    .to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse()?);
    headers.insert(http::header::CONTENT_TYPE, "application/json".parse()?);
    let payload_hash = berth_sigv4::sha256_hex(body.as_bytes());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let signed = berth_sigv4::sign(
        &berth_sigv4::RequestParts {
            method: "POST",
            path: url.path(),
            query: "",
            headers: &headers,
            payload_sha256_hex: &payload_hash,
        },
        &access_key_id,
        &secret,
        &region,
        "berth",
        now,
    );
    let response = reqwest::Client::new()
        .post(url.clone())
        .header("host", host)
        .header("content-type", "application/json")
        .header("x-amz-date", signed.amz_date)
        .header("authorization", signed.authorization)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        let message = value["message"].as_str().unwrap_or(text.as_str());
        bail!("the server refused to mint a token ({status}): {message}");
    }
    if args.actions_env {
        let grant = value["actions_id_token_request_token"]
            .as_str()
            .context("the server's answer has no request token (is it running with --dev?)")?;
        let path = value["actions_id_token_request_path"]
            .as_str()
            .context("the server's answer has no request path")?;
        // Single quotes: the URL's `?` must not glob in the shell that evals these lines.
        println!("export ACTIONS_ID_TOKEN_REQUEST_URL='{base}{path}'");
        println!("export ACTIONS_ID_TOKEN_REQUEST_TOKEN='{grant}'");
        return Ok(());
    }
    let token = value["value"]
        .as_str()
        .context("the server's answer has no token (is it running with --dev?)")?;
    println!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn root_keys_win_and_session_keys_are_refused_with_the_fix() {
        let root = [
            ("BERTH_ROOT_ACCESS_KEY_ID", "AKIAROOT0000000001"),
            ("BERTH_ROOT_SECRET_ACCESS_KEY", "root-secret"),
        ];
        let session = [
            ("AWS_ACCESS_KEY_ID", "ASIASESSION000001"),
            ("AWS_SECRET_ACCESS_KEY", "session-secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        let both: Vec<_> = root.iter().chain(session.iter()).copied().collect();
        assert_eq!(
            credentials(env(&both)).unwrap(),
            ("AKIAROOT0000000001".to_owned(), "root-secret".to_owned())
        );
        let refused = credentials(env(&session)).unwrap_err().to_string();
        assert!(refused.contains("BERTH_ROOT_ACCESS_KEY_ID"), "{refused}");
        assert!(refused.contains("session"), "{refused}");
        // Long-term keys in AWS_* still work (the root keys given as AWS_*).
        let long_term = [
            ("AWS_ACCESS_KEY_ID", "AKIAROOT0000000001"),
            ("AWS_SECRET_ACCESS_KEY", "root-secret"),
        ];
        assert!(credentials(env(&long_term)).is_ok());
        assert!(
            credentials(env(&[]))
                .unwrap_err()
                .to_string()
                .contains("no credentials")
        );
    }
}
