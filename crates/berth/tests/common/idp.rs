//! An OIDC identity provider that is not Berth, for tests: a directory served over HTTP by
//! Python's standard `http.server` in its own process, and compact JWS signing with any
//! header, so tests can craft tokens honest and hostile.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn python() -> String {
    std::env::var("BERTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// An identity provider: a directory served over HTTP by its own process.
pub struct Idp {
    child: Child,
    dir: PathBuf,
    pub base: String,
}

impl Idp {
    pub fn start(dir: &Path) -> Idp {
        std::fs::create_dir_all(dir.join(".well-known")).unwrap();
        let mut child = Command::new(python())
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python http.server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected http.server output: {line}"));
        let base = format!("http://127.0.0.1:{port}");
        let idp = Idp {
            child,
            dir: dir.to_owned(),
            base,
        };
        idp.write(
            ".well-known/openid-configuration",
            &json!({
                "issuer": idp.base,
                "jwks_uri": format!("{}/jwks.json", idp.base),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            })
            .to_string(),
        );
        idp
    }

    pub fn write(&self, path: &str, body: &str) {
        std::fs::write(self.dir.join(path), body).unwrap();
    }

    /// `127.0.0.1:PORT`: the IAM provider URL without scheme, and the condition-key prefix.
    pub fn host(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS with any header, signed by `sign` over the signing input.
pub fn jws(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}
