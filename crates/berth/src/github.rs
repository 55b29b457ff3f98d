//! The few GitHub REST API calls `berth setup` makes: a repository's numeric ids (for the
//! immutable `sub` form) and its Actions secrets, which GitHub accepts only as libsodium
//! sealed boxes for the repository's public key.
//!
//! GitHub Docs, "REST API endpoints for GitHub Actions secrets": GET
//! /repos/{owner}/{repo}/actions/secrets/public-key, then PUT
//! /repos/{owner}/{repo}/actions/secrets/{name} with `encrypted_value` and `key_id`.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

pub struct GitHub {
    http: reqwest::Client,
    api_url: String,
    token: String,
}

/// A repository's numeric ids: they survive renames, unlike OWNER/REPO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepositoryIds {
    pub owner_id: u64,
    pub repository_id: u64,
}

#[derive(Deserialize)]
struct PublicKey {
    key_id: String,
    key: String,
}

#[derive(Deserialize)]
struct Owner {
    id: u64,
}

#[derive(Deserialize)]
struct Repository {
    id: u64,
    owner: Owner,
}

impl GitHub {
    /// `None` when no variable is named or it is unset or empty: setup then prints the
    /// `gh secret set` commands instead.
    pub fn from_env(token_env: Option<&str>, api_url: &str) -> Option<GitHub> {
        let token = std::env::var(token_env?).ok().filter(|t| !t.is_empty())?;
        Some(GitHub {
            http: reqwest::Client::new(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<Vec<u8>> {
        // Paths are built from OWNER/REPO: only GitHub's name characters may reach the URL.
        let name_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
        if !path.chars().all(name_chars) || path.contains("..") {
            bail!("`{path}` is not a GitHub repository path (letters, digits, `-`, `_`, `.`)");
        }
        let url = format!("{}{path}", self.api_url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach GitHub at {url}"))?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default().to_vec();
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            let hint = match status.as_u16() {
                401 => " (is the token valid?)",
                403 | 404 => {
                    " (does the token have admin access to the repository's secrets, or the `repo` scope?)"
                }
                _ => "",
            };
            bail!("GitHub refused {method} {path} ({status}): {message}{hint}");
        }
        Ok(bytes)
    }

    pub async fn repository_ids(&self, repository: &str) -> anyhow::Result<RepositoryIds> {
        let bytes = self
            .call(reqwest::Method::GET, &format!("/repos/{repository}"), None)
            .await?;
        let r: Repository = serde_json::from_slice(&bytes)
            .context("GitHub's answer for the repository has no numeric ids")?;
        Ok(RepositoryIds {
            owner_id: r.owner.id,
            repository_id: r.id,
        })
    }

    /// Sets (creates or replaces) Actions secrets on the repository.
    pub async fn set_secrets(
        &self,
        repository: &str,
        secrets: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let bytes = self
            .call(
                reqwest::Method::GET,
                &format!("/repos/{repository}/actions/secrets/public-key"),
                None,
            )
            .await?;
        let key: PublicKey = serde_json::from_slice(&bytes)
            .context("GitHub's answer for the repository's public key is not {key_id, key}")?;
        for (name, value) in secrets {
            let body = serde_json::json!({
                "encrypted_value": seal(&key.key, value.as_bytes())?,
                "key_id": key.key_id,
            })
            .to_string();
            self.call(
                reqwest::Method::PUT,
                &format!("/repos/{repository}/actions/secrets/{name}"),
                Some(body),
            )
            .await
            .with_context(|| format!("setting the secret {name}"))?;
        }
        Ok(())
    }
}

/// A libsodium sealed box (X25519 + XSalsa20-Poly1305 with an ephemeral key) of `plaintext`
/// for the base64 X25519 public key, base64-encoded: what GitHub expects as `encrypted_value`.
pub fn seal(public_key_base64: &str, plaintext: &[u8]) -> anyhow::Result<String> {
    let raw = STANDARD
        .decode(public_key_base64.trim())
        .context("GitHub's public key is not base64")?;
    let raw: [u8; crypto_box::KEY_SIZE] = raw
        .try_into()
        .map_err(|_| anyhow::anyhow!("GitHub's public key is not 32 bytes"))?;
    let sealed = crypto_box::PublicKey::from(raw)
        .seal(&mut crypto_box::aead::OsRng, plaintext)
        .map_err(|_| anyhow::anyhow!("sealing a secret failed"))?;
    Ok(STANDARD.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_boxes_open_with_the_matching_secret_key_only() {
        let secret = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let public = STANDARD.encode(secret.public_key().as_bytes());
        let sealed = STANDARD
            .decode(seal(&public, b"123456789012").unwrap())
            .unwrap();
        // Ephemeral public key (32) + Poly1305 tag (16) + ciphertext.
        assert_eq!(sealed.len(), 32 + 16 + 12);
        assert_eq!(secret.unseal(&sealed).unwrap(), b"123456789012");
        let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        assert!(other.unseal(&sealed).is_err());
        // A fresh ephemeral key each time: equal values do not give equal ciphertexts.
        assert_ne!(seal(&public, b"x").unwrap(), seal(&public, b"x").unwrap());
    }

    #[test]
    fn bad_public_keys_are_errors() {
        assert!(seal("not base64!", b"x").is_err());
        assert!(seal(&STANDARD.encode([0u8; 31]), b"x").is_err());
    }
}
