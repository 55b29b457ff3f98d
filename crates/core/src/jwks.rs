//! The JWKS cache: an OIDC issuer's signing keys, found the way STS finds them
//! (aws-semantics §1.2 step 4): `<iss>/.well-known/openid-configuration` → `jwks_uri` →
//! the JWKS, over HTTPS with the normal CA store (a provider's thumbprints are advisory).
//!
//! Keys are cached per issuer and refreshed only when a token names a `kid` the cache does
//! not hold, or when they are older than [`KEYS_MAX_AGE`]. A refresh happens at most once per issuer per [`MIN_REFRESH_INTERVAL`], so a
//! flood of tokens with made-up `kid`s costs the issuer one request a second, and concurrent
//! refreshes for one issuer are merged into a single fetch (the others wait for its result).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use berth_jwt::JwkSet;
use serde::Deserialize;
use tokio::time::Instant;

/// At most one fetch per issuer in this interval.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Keys older than this are refetched before use, so a key the issuer withdrew stops
/// verifying within this time.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Whole-request timeout for each of the two fetches.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest discovery document or JWKS read; anything longer is refused.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Why an issuer's keys could not be had. The split follows what STS tells the caller:
/// a transport failure is the IdP's transient fault (`IDPCommunicationError`, retryable);
/// an answer that holds no usable key is `InvalidIdentityToken` ("Couldn't retrieve
/// verification key ...").
#[derive(Debug, Clone, thiserror::Error)]
pub enum JwksError {
    /// Connection refused, timeout, TLS failure, or a 5xx from the issuer.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The issuer answered, but not with a discovery document / JWKS holding the key.
    #[error("no usable verification key: {0}")]
    NoUsableKey(String),
}

/// Per-issuer state.
#[derive(Default)]
struct IssuerKeys {
    /// The last JWKS fetched successfully, and when.
    keys: RwLock<Option<(Arc<JwkSet>, Instant)>>,
    /// Bumped on every completed fetch, so a waiter can tell that a fetch happened while
    /// it waited for the lock.
    generation: AtomicU64,
    /// Held during a fetch: the single-flight lock. Guards the time and outcome of the
    /// last fetch.
    refresh: tokio::sync::Mutex<LastFetch>,
}

#[derive(Default)]
struct LastFetch {
    at: Option<Instant>,
    error: Option<JwksError>,
}

pub struct JwksCache {
    client: reqwest::Client,
    issuers: Mutex<HashMap<String, Arc<IssuerKeys>>>,
    /// `--dev`: `http://` issuers on loopback addresses are fetched too.
    allow_loopback_http: bool,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl JwksCache {
    pub fn new(allow_loopback_http: bool) -> Result<Self, crate::error::InternalError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::error::InternalError(format!("http client: {e}")))?;
        Ok(Self {
            client,
            issuers: Mutex::new(HashMap::new()),
            allow_loopback_http,
        })
    }

    /// Whether keys for `issuer` may be fetched at all: `https://`, or in `--dev` an
    /// `http://` URL on a loopback address.
    pub fn fetchable(&self, url: &str) -> bool {
        if url.starts_with("https://") {
            return true;
        }
        self.allow_loopback_http
            && url
                .strip_prefix("http://")
                .is_some_and(|rest| is_loopback_authority(rest.split('/').next().unwrap_or("")))
    }

    /// Keys of `issuer` that should hold `kid`: the cached set if it has the key (or the
    /// token names no key), else a fresh fetch, rate-limited and merged with concurrent
    /// fetches. The caller verifies the signature; if the key is still missing it fails.
    pub async fn keys_for(
        &self,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, JwksError> {
        let entry = {
            let mut map = self
                .issuers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(issuer.to_owned()).or_default().clone()
        };
        let holds = |set: &JwkSet| match kid {
            Some(kid) => set.keys.iter().any(|k| k.kid.as_deref() == Some(kid)),
            None => !set.keys.is_empty(),
        };
        let cached = || {
            entry
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        if let Some((set, at)) = cached()
            && holds(&set)
            && at.elapsed() < KEYS_MAX_AGE
        {
            return Ok(set);
        }
        let seen = entry.generation.load(Ordering::Acquire);
        let mut last = entry.refresh.lock().await;
        // A fetch finished while we waited: its result is as fresh as ours would be.
        let fetched_meanwhile = entry.generation.load(Ordering::Acquire) != seen;
        let too_soon = last
            .at
            .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL);
        if fetched_meanwhile || too_soon {
            if let (Some((set, _)), None) = (cached(), &last.error) {
                return Ok(set);
            }
            return Err(last
                .error
                .clone()
                .unwrap_or_else(|| JwksError::NoUsableKey("no keys fetched yet".into())));
        }
        let result = self.fetch(issuer).await;
        last.at = Some(Instant::now());
        let outcome = match result {
            Ok(set) => {
                let set = Arc::new(set);
                *entry
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((set.clone(), Instant::now()));
                last.error = None;
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(issuer, error = %e, "fetching the identity provider's keys failed");
                last.error = Some(e.clone());
                Err(e)
            }
        };
        entry.generation.fetch_add(1, Ordering::Release);
        outcome
    }

    async fn fetch(&self, issuer: &str) -> Result<JwkSet, JwksError> {
        let fetched = self.fetch_keys(issuer).await;
        berth_metrics::metrics().jwks_fetch(fetched.is_ok());
        fetched
    }

    async fn fetch_keys(&self, issuer: &str) -> Result<JwkSet, JwksError> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = self.get(&discovery_url).await?;
        let discovery: Discovery = serde_json::from_slice(&body).map_err(|e| {
            JwksError::NoUsableKey(format!("discovery document is not JSON with jwks_uri: {e}"))
        })?;
        if !self.fetchable(&discovery.jwks_uri) {
            return Err(JwksError::NoUsableKey(
                "jwks_uri is not an https URL".into(),
            ));
        }
        let body = self.get(&discovery.jwks_uri).await?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| JwksError::NoUsableKey(format!("JWKS is not a JSON key set: {e}")))?;
        Ok(set)
    }

    /// GET with the size cap; the body is read in chunks so an endless answer stops at
    /// the cap.
    async fn get(&self, url: &str) -> Result<Vec<u8>, JwksError> {
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| JwksError::Unreachable(describe(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(JwksError::Unreachable(format!("{url} answered {status}")));
        }
        if !status.is_success() {
            return Err(JwksError::NoUsableKey(format!("{url} answered {status}")));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(JwksError::NoUsableKey(format!(
                "{url} is larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| JwksError::Unreachable(describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(JwksError::NoUsableKey(format!(
                    "{url} is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match e.url() {
        Some(url) => format!("{url}: {kind}"),
        None => kind.to_owned(),
    }
}

/// `127.0.0.1:8123`, `[::1]:8123`, `localhost:8123` (port optional).
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']').map_or("", |(h, _)| h)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A real HTTP server on loopback serving discovery + JWKS; counts JWKS fetches.
    async fn idp(jwks: Arc<RwLock<String>>, hits: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let base2 = base.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let jwks = jwks.clone();
                let hits = hits.clone();
                let base = base2.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let body = if req.starts_with("GET /.well-known/openid-configuration") {
                        format!("{{\"issuer\":\"{base}\",\"jwks_uri\":\"{base}/jwks\"}}")
                    } else {
                        hits.fetch_add(1, Ordering::SeqCst);
                        // Slow enough that concurrent callers overlap.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        jwks.read().unwrap().clone()
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        base
    }

    fn jwks_with(kids: &[&str]) -> String {
        let keys: Vec<String> = kids
            .iter()
            .map(|k| format!("{{\"kty\":\"RSA\",\"kid\":\"{k}\",\"n\":\"AQAB\",\"e\":\"AQAB\"}}"))
            .collect();
        format!("{{\"keys\":[{}]}}", keys.join(","))
    }

    #[tokio::test]
    async fn caches_refreshes_on_unknown_kid_rate_limits_and_merges() {
        let jwks = Arc::new(RwLock::new(jwks_with(&["a"])));
        let hits = Arc::new(AtomicUsize::new(0));
        let base = idp(jwks.clone(), hits.clone()).await;
        let cache = Arc::new(JwksCache::new(true).unwrap());

        // Ten concurrent first requests: one fetch.
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let cache = cache.clone();
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                cache.keys_for(&base, Some("a")).await.map(|s| s.keys.len())
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // Known kid: served from the cache.
        cache.keys_for(&base, Some("a")).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // A rotated-in key within the second: not fetched yet; flood of unknown kids: no fetch.
        *jwks.write().unwrap() = jwks_with(&["a", "b"]);
        for i in 0..20 {
            let set = cache.keys_for(&base, Some(&format!("x{i}"))).await.unwrap();
            assert!(!set.keys.iter().any(|k| k.kid.as_deref() == Some("b")));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // After the interval, an unknown kid refreshes once.
        tokio::time::sleep(MIN_REFRESH_INTERVAL + Duration::from_millis(50)).await;
        let set = cache.keys_for(&base, Some("b")).await.unwrap();
        assert!(set.keys.iter().any(|k| k.kid.as_deref() == Some("b")));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_classified() {
        let cache = JwksCache::new(true).unwrap();
        // Nothing listens on this port once the listener is dropped.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let down = cache
            .keys_for(&format!("http://127.0.0.1:{port}"), Some("a"))
            .await;
        assert!(matches!(down, Err(JwksError::Unreachable(_))), "{down:?}");

        let html = Arc::new(RwLock::new("<html>hello</html>".to_owned()));
        let base = idp(html, Arc::new(AtomicUsize::new(0))).await;
        let bad = cache.keys_for(&base, Some("a")).await;
        assert!(matches!(bad, Err(JwksError::NoUsableKey(_))), "{bad:?}");

        let big = Arc::new(RwLock::new(format!(
            "{{\"keys\":[],\"pad\":\"{}\"}}",
            "x".repeat(MAX_RESPONSE_BYTES)
        )));
        let base = idp(big, Arc::new(AtomicUsize::new(0))).await;
        let bad = cache.keys_for(&base, Some("a")).await;
        assert!(matches!(bad, Err(JwksError::NoUsableKey(_))), "{bad:?}");
    }

    #[test]
    fn fetchable_urls() {
        let dev = JwksCache::new(true).unwrap();
        let prod = JwksCache::new(false).unwrap();
        assert!(prod.fetchable("https://token.actions.githubusercontent.com"));
        assert!(!prod.fetchable("http://127.0.0.1:8123"));
        assert!(dev.fetchable("http://127.0.0.1:8123"));
        assert!(dev.fetchable("http://[::1]:8123/x"));
        assert!(dev.fetchable("http://localhost:9"));
        assert!(!dev.fetchable("http://10.0.0.1:8123"));
        assert!(!dev.fetchable("http://127.0.0.1.example.com"));
    }
}
