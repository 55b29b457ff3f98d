//! The dev OIDC issuer's HTTP side: discovery document, JWKS, the mint endpoint, which
//! answers only requests SigV4-signed with the root credentials, and GitHub Actions' token
//! request endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`), which answers a bearer grant.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::Caller;
use berth_core::issuer::{ActionsTokenError, MintError, MintRequest};
use http::{HeaderValue, Request, StatusCode, header};
use serde_json::json;

use crate::AppState;
use crate::auth::authenticate;

pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/.well-known/jwks";
pub const MINT_PATH: &str = "/_berth/dev/token";
pub const ACTIONS_TOKEN_PATH: &str = "/_berth/dev/actions-token";
const MAX_MINT_BODY: usize = 16 * 1024;

pub async fn handle(services: AppState, request: Request<Body>) -> Response {
    let Some(issuer) = services.issuer.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match request.uri().path() {
        DISCOVERY_PATH => json(
            StatusCode::OK,
            json!({
                "issuer": issuer.issuer(),
                "jwks_uri": format!("{}{JWKS_PATH}", services.config.public_url),
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id", "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name", "ref_type", "ref_protected", "environment", "environment_node_id", "job_workflow_ref", "job_workflow_sha", "repository_visibility", "runner_environment"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
            }),
        ),
        JWKS_PATH => json(
            StatusCode::OK,
            serde_json::to_value(&*issuer.jwks()).unwrap_or_default(),
        ),
        ACTIONS_TOKEN_PATH => actions_token(&services, &request),
        _ => mint(&services, request).await,
    }
}

/// A mint request; with `actions_grant`, the answer is a grant for the claim set instead
/// of one token.
#[derive(serde::Deserialize)]
struct MintBody {
    #[serde(flatten)]
    claims: MintRequest,
    #[serde(default)]
    actions_grant: bool,
}

/// `GET ACTIONS_ID_TOKEN_REQUEST_URL[&audience=AUD]` with
/// `Authorization: Bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered as GitHub does:
/// `{"value": "<jwt>"}`.
fn actions_token(services: &AppState, request: &Request<Body>) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(bearer) = bearer else {
        return error(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        );
    };
    let query = request.uri().query().unwrap_or_default();
    let audience = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "audience")
        .map(|(_, v)| v.into_owned());
    match services.issuer().mint_for_actions_grant(
        bearer,
        audience.as_deref(),
        berth_core::now_unix(),
    ) {
        Ok(token) => json(StatusCode::OK, json!({"value": token})),
        Err(ActionsTokenError::Unauthorized) => error(
            StatusCode::UNAUTHORIZED,
            &ActionsTokenError::Unauthorized.to_string(),
        ),
        Err(ActionsTokenError::Mint(e)) => mint_error(e),
    }
}

fn mint_error(e: MintError) -> Response {
    match e {
        MintError::Invalid(m) => error(StatusCode::BAD_REQUEST, &m),
        MintError::Internal(e) => {
            tracing::error!(error = %e, "mint failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn mint(services: &AppState, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_MINT_BODY).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    };
    // Only the root user's long-term keys may mint tokens this server trusts: a token
    // outlives a session, so a session (GetSessionToken's) may not.
    match authenticate(services, &parts, &body, "berth").await {
        Ok(Caller::Root { session: None, .. }) => {}
        Ok(_) => {
            return error(
                StatusCode::FORBIDDEN,
                "only the root credentials (the long-term keys, not a session) may mint tokens",
            );
        }
        Err(e) => return error(StatusCode::FORBIDDEN, &e.to_string()),
    }
    let req: MintBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid mint request: {e}"),
            );
        }
    };
    let Some(issuer) = services.issuer.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = berth_core::now_unix();
    if req.actions_grant {
        return match services
            .issuer()
            .grant_actions_token_requests(&req.claims, now)
        {
            Ok(grant) => json(
                StatusCode::OK,
                json!({"actions_id_token_request_token": grant, "actions_id_token_request_path": format!("{ACTIONS_TOKEN_PATH}?api-version=2.0")}),
            ),
            Err(e) => mint_error(e),
        };
    }
    match issuer.mint(&req.claims, now) {
        Ok(token) => json(StatusCode::OK, json!({"value": token})),
        Err(e) => mint_error(e),
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, json!({"message": message}))
}
