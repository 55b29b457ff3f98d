//! `berth env`: turns an STS answer into shell `export` lines, so a session's keys can be
//! taken up with `eval "$(aws sts assume-role-with-web-identity … | berth env)"`.

use std::io::Read;

use anyhow::{Context, bail};

/// Most an STS answer on stdin may be: far above any real one.
const MAX_INPUT: u64 = 1024 * 1024;

pub fn run() -> anyhow::Result<()> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut text)
        .context("reading the STS answer from stdin")?;
    print!("{}", exports(&text)?);
    Ok(())
}

/// The `export` lines for the credentials in `text`: the JSON the aws CLI prints for
/// `sts assume-role-with-web-identity`, `assume-role` or `get-session-token` (or just its
/// `Credentials` object).
fn exports(text: &str) -> anyhow::Result<String> {
    if text.trim().is_empty() {
        bail!(
            "nothing on stdin: pipe an STS answer in, e.g. \
             `aws sts assume-role-with-web-identity ... | berth env`"
        );
    }
    let answer: serde_json::Value = serde_json::from_str(text)
        .context("stdin is not JSON: pipe the aws CLI's JSON output (--output json) in")?;
    let credentials = answer.get("Credentials").unwrap_or(&answer);
    let member = |name: &str| -> anyhow::Result<&str> {
        credentials
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .with_context(|| format!("the STS answer has no Credentials.{name}"))
    };
    let mut out = String::new();
    for (variable, name) in [
        ("AWS_ACCESS_KEY_ID", "AccessKeyId"),
        ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
        ("AWS_SESSION_TOKEN", "SessionToken"),
    ] {
        out.push_str(&format!(
            "export {variable}={}\n",
            shell_quote(member(name)?)
        ));
    }
    Ok(out)
}

/// `value` as one single-quoted shell word.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_aws_cli_answer_and_quotes_for_the_shell() {
        let answer = r#"{"Credentials": {"AccessKeyId": "ASIAEXAMPLE",
            "SecretAccessKey": "se'cret", "SessionToken": "tok$en", "Expiration": "x"},
            "SubjectFromWebIdentityToken": "repo:o/r:ref:refs/heads/main"}"#;
        assert_eq!(
            exports(answer).unwrap(),
            "export AWS_ACCESS_KEY_ID='ASIAEXAMPLE'\n\
             export AWS_SECRET_ACCESS_KEY='se'\\''cret'\n\
             export AWS_SESSION_TOKEN='tok$en'\n"
        );
        // The Credentials object alone works too.
        let inner = r#"{"AccessKeyId": "A", "SecretAccessKey": "B", "SessionToken": "C"}"#;
        assert!(exports(inner).unwrap().contains("AWS_SESSION_TOKEN='C'"));
    }

    #[test]
    fn says_what_is_missing() {
        assert!(
            exports("")
                .unwrap_err()
                .to_string()
                .contains("nothing on stdin")
        );
        assert!(
            exports("not json")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        let partial = r#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "B"}}"#;
        assert!(
            exports(partial)
                .unwrap_err()
                .to_string()
                .contains("Credentials.SessionToken")
        );
    }
}
