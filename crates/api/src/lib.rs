//! The HTTP side of Berth: one port, each request routed by what it is (DESIGN.md,
//! "Requests: one port"). CloudTrail's LookupEvents is routed like ECR, by its
//! `X-Amz-Target`. This crate is the only place that knows wire formats.

mod audit;
mod auth;
mod cloudtrail;
mod ecr;
mod error;
mod iam;
mod issuer;
mod observe;
mod query;
mod registry;
pub mod server;
mod sts;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use berth_core::Services;
use berth_core::authorizer::RequestFacts;
use http::{Method, Request, StatusCode, header};

/// Largest control-plane request body: an UploadLayerPart of 20 MiB, base64-encoded, in JSON.
pub const MAX_CONTROL_BODY: usize = 30 * 1024 * 1024;
/// Largest IAM/STS (Query) body: a 131,072-character policy document, percent-encoded,
/// with room for the other parameters. Every Query body is held to it before it is read,
/// signed or not (AssumeRoleWithWebIdentity is unsigned).
pub const MAX_QUERY_BODY: usize = 2 * 1024 * 1024;

pub type AppState = Arc<Services>;

/// The request's `Content-Length`, when it has a valid one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Control-plane bodies up to this size are read without waiting for [`BODY_BUDGET`].
const SMALL_BODY: usize = 64 * 1024;

/// KiB of control-plane bodies held in memory at once (beyond the small ones): the
/// largest, an UploadLayerPart, takes 30 MiB of it.
const BODY_BUDGET_KIB: usize = 64 * 1024;
static BODY_BUDGET: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(BODY_BUDGET_KIB);
// Every body must fit the budget alone, or it would wait for ever.
const _: () = assert!(MAX_CONTROL_BODY.div_ceil(1024) <= BODY_BUDGET_KIB);
/// How long a large body waits for its share of the budget before the client is told to
/// retry (503).
const BODY_BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

enum BodyError {
    TooLarge,
    Client(String),
}

/// The whole body, at most `limit` bytes, read into one buffer of the expected size (no
/// second copy). A large body goes to an anonymous memory map of its own, unmapped when the
/// request is done: through malloc, freed buffers of many megabytes stayed with the
/// allocator's per-thread arenas (glibc raises its mmap threshold after each such free),
/// and 16 hostile 10 MiB bodies at once took the server from 17 to 300 MB.
async fn read_body(body: Body, limit: usize, expected: usize) -> Result<bytes::Bytes, BodyError> {
    use http_body_util::BodyExt;
    let capacity = expected.min(limit);
    let mut buffer = if capacity > SMALL_BODY {
        let map = memmap2::MmapMut::map_anon(capacity)
            .map_err(|e| BodyError::Client(format!("no memory for the body: {e}")))?;
        BodyBuffer::Mapped { map, len: 0 }
    } else {
        BodyBuffer::Heap(Vec::with_capacity(capacity))
    };
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Client(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            buffer.append(&data, limit)?;
        }
    }
    Ok(buffer.into_bytes())
}

enum BodyBuffer {
    Heap(Vec<u8>),
    Mapped { map: memmap2::MmapMut, len: usize },
}

impl BodyBuffer {
    fn append(&mut self, data: &[u8], limit: usize) -> Result<(), BodyError> {
        match self {
            Self::Heap(v) if v.len() + data.len() <= limit => v.extend_from_slice(data),
            Self::Mapped { map, len } if *len + data.len() <= map.len() => {
                map[*len..*len + data.len()].copy_from_slice(data);
                *len += data.len();
            }
            _ => return Err(BodyError::TooLarge),
        }
        Ok(())
    }

    fn into_bytes(self) -> bytes::Bytes {
        match self {
            Self::Heap(v) => bytes::Bytes::from(v),
            Self::Mapped { map, len } => bytes::Bytes::from_owner(map).slice(..len),
        }
    }
}

/// Work on a request's bytes above this size (hashing, parsing, decoding) is moved off the
/// async worker, so that a few large bodies do not stall every other request.
const CPU_HEAVY_BYTES: usize = 512 * 1024;

/// Runs `f`, the CPU-bound processing of `len` bytes, where it cannot hold up other
/// requests: inline when small, else on this worker turned blocking (`block_in_place`,
/// which hands the worker's other tasks to another thread).
pub(crate) fn cpu_heavy<T>(len: usize, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if len > CPU_HEAVY_BYTES && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// The metrics endpoint (`--metrics-listen`): `GET /metrics`, Prometheus's text format.
pub fn metrics_router() -> Router {
    Router::new().fallback(|request: Request<Body>| async move {
        if request.uri().path() != "/metrics" || request.method() != Method::GET {
            return (StatusCode::NOT_FOUND, "metrics are at GET /metrics\n").into_response();
        }
        let mut response = berth_metrics::metrics().render().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        response
    })
}

/// The whole HTTP surface.
pub fn router(services: Arc<Services>) -> Router {
    Router::new().fallback(dispatch).with_state(services)
}

async fn dispatch(
    State(services): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (observed, request) = observe::Observed::begin(request);
    let response = route(services, peer, request).await;
    observed.end(response)
}

async fn route(services: AppState, peer: SocketAddr, request: Request<Body>) -> Response {
    let facts = RequestFacts {
        source_ip: Some(peer.ip().to_string()),
        secure_transport: request
            .extensions()
            .get::<server::SecureTransport>()
            .is_some(),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_keys: Vec::new(),
    };
    let path = request.uri().path();
    if path == "/v2" || path.starts_with("/v2/") {
        return registry::handle(services, facts, request).await;
    }
    match (request.method(), path) {
        (&Method::GET | &Method::HEAD, "/healthz") => observe::handled(
            (StatusCode::OK, "ok\n").into_response(),
            "operations",
            "healthz",
            None,
        ),
        (&Method::GET | &Method::HEAD, "/readyz") => {
            observe::handled(readiness(&services).await, "operations", "readyz", None)
        }
        (&Method::GET, issuer::DISCOVERY_PATH | issuer::JWKS_PATH | issuer::ACTIONS_TOKEN_PATH)
        | (&Method::POST, issuer::MINT_PATH)
            if services.issuer.is_some() =>
        {
            let response = issuer::handle(services, request).await;
            observe::handled(response, "issuer", "issuer", None)
        }
        (&Method::POST | &Method::GET, "/") => aws(services, facts, request).await,
        _ => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// Whether the stores answer (`GET /readyz`): 200, or 503 naming the one that does not.
/// Each gets two seconds.
async fn readiness(services: &Services) -> Response {
    match services.readiness(std::time::Duration::from_secs(2)).await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response()
        }
    }
}

/// AWS control-plane requests: ECR (JSON 1.1, by `X-Amz-Target`) or IAM/STS (Query, by
/// the `Version` parameter).
async fn aws(services: AppState, facts: RequestFacts, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .map(|t| t.to_str().unwrap_or_default().to_owned());
    // The limit is chosen from the headers, before a byte of the body is read: a body
    // that announces more is refused at once, one that sends more is cut off at it.
    let limit = match &target {
        Some(target) if target.starts_with(cloudtrail::TARGET_PREFIX) => cloudtrail::BODY_LIMIT,
        Some(target) => ecr::body_limit(target),
        None => MAX_QUERY_BODY,
    };
    let announced = content_length(&parts.headers);
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: at most {limit} bytes for this operation\n"),
        )
            .into_response()
    };
    if announced.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    // Large bodies are held whole (SigV4 signs the body's hash), so they share a memory
    // budget: a body waits for its share before a byte is read, and many large bodies at
    // once wait instead of growing the server. A body without a length counts at its limit.
    let expected = announced.map_or(limit, |n| n as usize);
    let _budget = match expected {
        n if n <= SMALL_BODY => None,
        n => {
            let kib = u32::try_from(n.div_ceil(1024)).unwrap_or(u32::MAX);
            match tokio::time::timeout(BODY_BUDGET_WAIT, BODY_BUDGET.acquire_many(kib)).await {
                Ok(Ok(permit)) => Some(permit),
                // Other large bodies hold the budget: the client retries, rather than wait
                // and then find its body timeout spent.
                _ => {
                    let mut response = (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the server is reading other large request bodies; retry shortly\n",
                    )
                        .into_response();
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
                    return response;
                }
            }
        }
    };
    let body = match read_body(body, limit, expected).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Client(e)) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}\n"),
            )
                .into_response();
        }
    };
    let request_id = parts
        .extensions
        .get::<observe::RequestId>()
        .map_or_else(berth_core::ids::uuid, |id| id.0.clone());
    if let Some(target) = target.as_deref()
        && target.starts_with(cloudtrail::TARGET_PREFIX)
    {
        return cloudtrail::handle(&services, &facts, &parts, &body, target, &request_id).await;
    }
    if let Some(target) = target {
        return ecr::handle(&services, &facts, &parts, &body, &target, &request_id).await;
    }
    let params = match query::Params::from_request(&parts, &body) {
        Ok(params) => params,
        Err(too_many) => {
            return query::error_response(
                StatusCode::BAD_REQUEST,
                "Sender",
                "ValidationError",
                &too_many.to_string(),
                query::STS_NS,
                &request_id,
            );
        }
    };
    match params.get("Version") {
        Some(sts::VERSION) => {
            sts::handle(&services, &facts, &parts, &body, &params, &request_id).await
        }
        Some(iam::VERSION) => {
            iam::handle(&services, &facts, &parts, &body, &params, &request_id).await
        }
        _ => query::error_response(
            StatusCode::BAD_REQUEST,
            "Sender",
            "InvalidAction",
            "Could not find an API version in the request, or the version is not supported.",
            query::STS_NS,
            &request_id,
        ),
    }
}
