//! A client of upstream registries, for the pull-through cache: the distribution API's
//! manifest and blob GETs, anonymous, with the token handshake registries use
//! (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`). Everything an upstream
//! sends is hostile input: answers are bounded, digests are checked by the caller, and
//! without `--allow-any-upstream` only HTTPS is spoken, redirects included.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_oci::parse_bearer_challenge;
use berth_types::Digest;

/// The manifest media types a pull asks upstream for, as distribution clients do.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// Manifests larger than this are refused (the registry's own bound on pushes).
pub const MANIFEST_MAX: usize = 4 * 1024 * 1024;
/// A token endpoint's answer larger than this is refused.
const TOKEN_ANSWER_MAX: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A manifest or token request must be answered whole within this: a slow upstream then
/// fails fast enough for a refresh to fall back to the cached image.
const SMALL_ANSWER_DEADLINE: Duration = Duration::from_secs(30);
/// Imports the server runs at once.
const IMPORTS_AT_ONCE: usize = 8;
/// A stalled upstream: no bytes for this long ends the request.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Tokens are reused at most this long (registries issue them for 60 s to 5 min).
const TOKEN_REUSE_MAX: Duration = Duration::from_secs(240);
const TOKENS_KEPT: usize = 1_000;
/// Tag refreshes remembered at most; past it the memory starts again (a forgotten tag
/// is checked upstream once more, nothing worse).
const REFRESHES_KEPT: usize = 100_000;

/// Why an upstream request failed, in words for the caller.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream says it has no such manifest or blob.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// An upstream registry's base URL: `https://host[:port]`, or `http://` when allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamBase {
    pub scheme: &'static str,
    /// `host` or `host:port`.
    pub authority: String,
}

impl UpstreamBase {
    fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.authority)
    }
}

/// The HTTP client and what it remembers: tokens, and when each cached tag was last
/// checked upstream.
pub struct Upstreams {
    http: reqwest::Client,
    /// Plain HTTP and any registry URL are allowed (`--allow-any-upstream`).
    pub allow_any: bool,
    /// How long a cached tag is served before upstream is asked again.
    pub refresh: Duration,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    refreshed: Mutex<HashMap<String, Instant>>,
    /// One import at a time per repository and reference: a deployment's fan-out of
    /// pulls of an uncached image fetches it once, the others waiting for it.
    importing: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Imports under way at once, server-wide: each holds a buffer of a few MiB.
    imports: tokio::sync::Semaphore,
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new(false, Duration::from_secs(24 * 3600))
    }
}

impl Upstreams {
    pub fn new(allow_any: bool, refresh: Duration) -> Self {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if !allow_any && attempt.url().scheme() != "https" {
                attempt.error("a redirect away from HTTPS")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(policy)
            .user_agent(concat!(
                "berth/",
                env!("CARGO_PKG_VERSION"),
                " (pull-through cache)"
            ))
            .build()
            .unwrap_or_default();
        Self {
            http,
            allow_any,
            refresh,
            tokens: Mutex::default(),
            refreshed: Mutex::default(),
            importing: Mutex::default(),
            imports: tokio::sync::Semaphore::new(IMPORTS_AT_ONCE),
        }
    }

    /// Whether `key` (a repository and tag) was checked upstream within the refresh time.
    pub fn fresh(&self, key: &str) -> bool {
        self.refreshed
            .lock()
            .ok()
            .and_then(|m| m.get(key).copied())
            .is_some_and(|at| at.elapsed() < self.refresh)
    }

    pub fn mark_fresh(&self, key: &str) {
        if let Ok(mut m) = self.refreshed.lock() {
            if m.len() >= REFRESHES_KEPT {
                m.clear();
            }
            m.insert(key.to_owned(), Instant::now());
        }
    }

    /// Waits for a turn among the imports the server runs at once.
    pub async fn import_permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.imports.acquire().await.ok()
    }

    /// Waits for any import of `key` (a repository and reference) under way, and holds
    /// the right to import it until the guard drops.
    pub async fn import_turn(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = match self.importing.lock() {
            Ok(mut m) => {
                if m.len() >= REFRESHES_KEPT {
                    // Forget the locks no one holds or waits for.
                    m.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
                }
                m.entry(key.to_owned()).or_default().clone()
            }
            Err(_) => std::sync::Arc::default(),
        };
        lock.lock_owned().await
    }

    /// Whether the upstream answers the distribution API's version check, with a token
    /// if it asks for one.
    pub async fn ping(&self, base: &UpstreamBase) -> Result<(), UpstreamError> {
        let response = self
            .get(base, "/v2/", None, None, Some(SMALL_ANSWER_DEADLINE))
            .await?;
        expect_success(response, "the version check /v2/")
            .await
            .map(drop)
    }

    /// A manifest by tag or digest: its bytes and media type.
    pub async fn manifest(
        &self,
        base: &UpstreamBase,
        repository: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>), UpstreamError> {
        let what = format!("manifest {repository}:{reference}");
        let response = self
            .get(
                base,
                &format!("/v2/{repository}/manifests/{reference}"),
                Some(repository),
                Some(MANIFEST_ACCEPT),
                Some(SMALL_ANSWER_DEADLINE),
            )
            .await?;
        let mut response = expect_success(response, &what).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let bytes = read_bounded(&mut response, MANIFEST_MAX, &what).await?;
        Ok((bytes, content_type))
    }

    /// A blob's bytes, as a response to read in chunks.
    pub async fn blob(
        &self,
        base: &UpstreamBase,
        repository: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, UpstreamError> {
        let response = self
            .get(
                base,
                &format!("/v2/{repository}/blobs/{digest}"),
                Some(repository),
                None,
                None,
            )
            .await?;
        expect_success(response, &format!("blob {digest} of {repository}")).await
    }

    /// A GET, answered once more with a token when the registry challenges for one.
    async fn get(
        &self,
        base: &UpstreamBase,
        path: &str,
        repository: Option<&str>,
        accept: Option<&str>,
        deadline: Option<Duration>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = base.url(path);
        let token_key = format!("{}|{}", base.authority, repository.unwrap_or_default());
        let cached = self.tokens.lock().ok().and_then(|m| {
            m.get(&token_key)
                .filter(|(_, at)| at.elapsed() < TOKEN_REUSE_MAX)
                .map(|(t, _)| t.clone())
        });
        let send = |token: Option<&str>| {
            let mut request = self.http.get(&url);
            if let Some(deadline) = deadline {
                request = request.timeout(deadline);
            }
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let response = send(cached.as_deref())
            .await
            .map_err(|e| unreachable(base, &e))?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer_challenge)
            .ok_or_else(|| {
                UpstreamError::Failed(format!(
                    "the upstream registry {} requires credentials (only anonymous pulls are supported)",
                    base.authority
                ))
            })?;
        let token = self.token(base, &challenge, repository).await?;
        if let Ok(mut m) = self.tokens.lock() {
            if m.len() >= TOKENS_KEPT {
                m.clear();
            }
            m.insert(token_key, (token.clone(), Instant::now()));
        }
        send(Some(&token)).await.map_err(|e| unreachable(base, &e))
    }

    /// An anonymous token from the challenge's realm, for pulling `repository`.
    async fn token(
        &self,
        base: &UpstreamBase,
        challenge: &berth_oci::BearerChallenge,
        repository: Option<&str>,
    ) -> Result<String, UpstreamError> {
        let realm = reqwest::Url::parse(&challenge.realm).map_err(|_| {
            UpstreamError::Failed(format!(
                "the upstream registry {} named a token endpoint that is not a URL",
                base.authority
            ))
        })?;
        if realm.scheme() != "https" && !(self.allow_any && realm.scheme() == "http") {
            return Err(UpstreamError::Failed(format!(
                "the upstream registry {} named a token endpoint that is not HTTPS",
                base.authority
            )));
        }
        let mut url = realm;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            match (repository, &challenge.scope) {
                (Some(r), _) => {
                    query.append_pair("scope", &format!("repository:{r}:pull"));
                }
                (None, Some(scope)) => {
                    query.append_pair("scope", scope);
                }
                (None, None) => {}
            }
        }
        let response = self
            .http
            .get(url)
            .timeout(SMALL_ANSWER_DEADLINE)
            .send()
            .await
            .map_err(|e| unreachable(base, &e))?;
        let mut response = expect_success(response, "the token endpoint").await?;
        let body = read_bounded(&mut response, TOKEN_ANSWER_MAX, "the token").await?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            UpstreamError::Failed(format!(
                "the token endpoint of {} answered something other than a token",
                base.authority
            ))
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                UpstreamError::Failed(format!(
                    "the token endpoint of {} gave no token",
                    base.authority
                ))
            })
    }
}

fn unreachable(base: &UpstreamBase, e: &reqwest::Error) -> UpstreamError {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not be reached"
    } else if e.is_redirect() {
        "redirected where Berth does not follow"
    } else {
        "failed"
    };
    UpstreamError::Failed(format!("the upstream registry {} {why}", base.authority))
}

async fn expect_success(
    response: reqwest::Response,
    what: &str,
) -> Result<reqwest::Response, UpstreamError> {
    let status = response.status();
    if status.is_success() {
        Ok(response)
    } else if status == reqwest::StatusCode::NOT_FOUND {
        Err(UpstreamError::NotFound(format!(
            "the upstream registry has no {what}"
        )))
    } else {
        Err(UpstreamError::Failed(format!(
            "the upstream registry answered {what} with HTTP {}",
            status.as_u16()
        )))
    }
}

/// The body, refused once it passes `max` bytes.
async fn read_bounded(
    response: &mut reqwest::Response,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, UpstreamError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| UpstreamError::Failed(format!("reading {what} from upstream failed")))?
    {
        if bytes.len() + chunk.len() > max {
            return Err(UpstreamError::Failed(format!(
                "the upstream's {what} is larger than {max} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
