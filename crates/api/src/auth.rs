//! SigV4 authentication of control-plane requests: the access key names the caller (root
//! key, or a temporary key whose session token opens), the signature proves the secret.

use berth_core::Caller;
use berth_core::Services;
use berth_core::error::AuthError;
use berth_sigv4::{RequestParts, SigV4Error};
use http::request::Parts;

/// Authenticates a request to `service`, the name SigV4 credential scopes give it (`iam`,
/// `sts`, `ecr`, or `berth` for Berth's own endpoints).
pub async fn authenticate(
    services: &Services,
    parts: &Parts,
    body: &[u8],
    service: &'static str,
) -> Result<Caller, AuthError> {
    let now = berth_core::now_unix();
    let payload_hash = crate::cpu_heavy(body.len(), || berth_sigv4::sha256_hex(body));
    let request = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        payload_sha256_hex: &payload_hash,
    };
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| {
            v.to_str().map_err(|_| {
                AuthError::IncompleteSignature("Authorization header is not ASCII".into())
            })
        })
        .transpose()?;
    let result = match header {
        Some(value) => {
            let auth = berth_sigv4::parse_authorization_header(value).map_err(map_sigv4)?;
            check_scope(services, &auth.region, &auth.service, service)?;
            let token = parts
                .headers
                .get("x-amz-security-token")
                .and_then(|v| v.to_str().ok());
            let (secret, caller) = services
                .sts()
                .resolve_access_key(&auth.access_key_id, token, now)
                .await?;
            berth_sigv4::verify(&auth, &request, &secret, now).map_err(map_sigv4)?;
            caller
        }
        None => {
            let presigned = berth_sigv4::parse_presigned(request.query)
                .map_err(map_sigv4)?
                .ok_or(AuthError::MissingAuthenticationToken)?;
            check_scope(
                services,
                &presigned.auth.region,
                &presigned.auth.service,
                service,
            )?;
            let (secret, caller) = services
                .sts()
                .resolve_access_key(
                    &presigned.auth.access_key_id,
                    presigned.security_token.as_deref(),
                    now,
                )
                .await?;
            berth_sigv4::verify_presigned(&presigned, &request, &secret, now).map_err(map_sigv4)?;
            caller
        }
    };
    // GetSessionToken's credentials call IAM only with MFA, which Berth does not have:
    // AWS refuses them so.
    if service == "iam" && result.key_session().is_some() {
        return Err(AuthError::InvalidClientTokenId);
    }
    // A user's key is trusted only once its signature verified: then its use is noted.
    if let berth_core::Caller::User(user) = &result
        && user.session.is_none()
    {
        services.note_access_key_use(&user.access_key_id, service);
    }
    Ok(result)
}

/// The credential scope's region must be the server's `--region`, or `us-east-1`, where
/// clients sign for the global IAM and STS endpoints; its service must be the one the
/// request is for.
fn check_scope(
    services: &Services,
    region: &str,
    scope_service: &str,
    service: &'static str,
) -> Result<(), AuthError> {
    if region != services.config.region && region != "us-east-1" {
        return Err(AuthError::WrongRegion);
    }
    if scope_service != service {
        return Err(AuthError::WrongService(service));
    }
    Ok(())
}

fn map_sigv4(e: SigV4Error) -> AuthError {
    match e {
        SigV4Error::MissingAuthentication => AuthError::MissingAuthenticationToken,
        SigV4Error::SignatureDoesNotMatch => AuthError::SignatureDoesNotMatch,
        SigV4Error::RequestExpired(m) => AuthError::RequestExpired(m),
        SigV4Error::Incomplete(m) => AuthError::IncompleteSignature(m),
        #[allow(unreachable_patterns)]
        other => AuthError::IncompleteSignature(other.to_string()),
    }
}
