//! The HTTP side of Berth: one port, each request routed by what it is (DESIGN.md,
//! "Requests: one port"). This crate is the only place that knows wire formats.

mod auth;
mod ecr;
mod error;
mod iam;
mod issuer;
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

pub type AppState = Arc<Services>;

/// The whole HTTP surface.
pub fn router(services: Arc<Services>) -> Router {
    Router::new().fallback(dispatch).with_state(services)
}

async fn dispatch(
    State(services): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
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
    };
    let path = request.uri().path();
    if path == "/v2" || path.starts_with("/v2/") {
        return registry::handle(services, facts, request).await;
    }
    match (request.method(), path) {
        (&Method::GET | &Method::HEAD, "/healthz" | "/readyz") => {
            (StatusCode::OK, "ok\n").into_response()
        }
        (&Method::GET, issuer::DISCOVERY_PATH | issuer::JWKS_PATH | issuer::ACTIONS_TOKEN_PATH)
        | (&Method::POST, issuer::MINT_PATH)
            if services.issuer.is_some() =>
        {
            issuer::handle(services, request).await
        }
        (&Method::POST | &Method::GET, "/") => aws(services, facts, request).await,
        _ => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// AWS control-plane requests: ECR (JSON 1.1, by `X-Amz-Target`) or IAM/STS (Query, by
/// the `Version` parameter).
async fn aws(services: AppState, facts: RequestFacts, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_CONTROL_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
    };
    let request_id = berth_core::ids::uuid();
    if let Some(target) = parts.headers.get("x-amz-target") {
        let target = target.to_str().unwrap_or_default().to_owned();
        return ecr::handle(&services, &facts, &parts, &body, &target, &request_id).await;
    }
    let params = query::Params::from_request(&parts, &body);
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
