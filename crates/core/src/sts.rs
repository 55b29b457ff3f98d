//! STS: AssumeRoleWithWebIdentity (token verification, then the role's trust policy with
//! the token's claims as condition keys), GetCallerIdentity, and the resolution of access
//! keys to callers that SigV4 verification needs.

use berth_jwt::JwtError;
use berth_policy::{Context, Decision, PolicyKind, PolicySet, Principal, PrincipalKind, Request};
use berth_types::{Arn, RoleSessionName};
use serde::{Deserialize, Serialize};

use crate::Services;
use crate::actions::STS_ASSUME_ROLE_WITH_WEB_IDENTITY;
use crate::authorizer::RequestFacts;
use crate::caller::{Caller, RoleSession};
use crate::error::{AccessDenied, AuthError, InternalError, StsError};
use crate::ids;
use crate::issuer::GITHUB_ISSUER;
use crate::jwks::JwksError;
use crate::sealer::Purpose;

pub const SESSION_POLICY_MAX: usize = 2048;

/// Signature algorithms STS accepts for web identity tokens.
const STS_ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"];
const NOT_A_VALID_JWT: &str = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";
/// STS's text (with its double space) when the issuer's keys hold no key for the token.
const NO_VERIFICATION_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";
const IDP_COMMUNICATION_ERROR: &str =
    "Couldn't connect to your identity provider to retrieve its verification keys; try again";
pub const DEFAULT_DURATION: i64 = 3600;

/// Temporary credentials, as returned to the caller.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: i64,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct AssumeRoleWithWebIdentityInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub web_identity_token: String,
    pub duration_seconds: Option<i64>,
    pub policy: Option<String>,
}

#[derive(Debug)]
pub struct AssumeRoleWithWebIdentityOutput {
    pub credentials: Credentials,
    pub subject: String,
    pub assumed_role_id: String,
    pub assumed_role_arn: String,
    pub provider: String,
    pub audience: String,
    /// Percentage of the packed session-policy limit used, when a session policy was sent.
    pub packed_policy_size: Option<i64>,
}

/// What a session token seals: the key pair and the session.
#[derive(Serialize, Deserialize)]
struct SessionTokenClaims {
    ak: String,
    sk: String,
    session: RoleSession,
}

fn validation(value: &str, member: &str, constraint: &str) -> StsError {
    let shown: String = value.chars().take(100).collect();
    StsError::Validation(format!(
        "1 validation error detected: Value '{shown}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

impl Services {
    pub async fn assume_role_with_web_identity(
        &self,
        input: &AssumeRoleWithWebIdentityInput,
        facts: &RequestFacts,
    ) -> Result<AssumeRoleWithWebIdentityOutput, StsError> {
        let now = crate::now_unix();
        // Parameter constraints from the STS model come first, as in AWS.
        if input.role_arn.len() < 20 || input.role_arn.len() > 2048 {
            return Err(validation(
                &input.role_arn,
                "roleArn",
                "Member must have length between 20 and 2048",
            ));
        }
        let session_name = RoleSessionName::parse(&input.role_session_name).map_err(|_| {
            validation(
                &input.role_session_name,
                "roleSessionName",
                "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64",
            )
        })?;
        let token = &input.web_identity_token;
        if token.len() < 4 || token.len() > berth_jwt::MAX_TOKEN_LEN {
            return Err(validation(
                "***",
                "webIdentityToken",
                "Member must have length between 4 and 20000",
            ));
        }
        let duration = input.duration_seconds.unwrap_or(DEFAULT_DURATION);
        if !(900..=43200).contains(&duration) {
            return Err(validation(
                &duration.to_string(),
                "durationSeconds",
                "Member must have value between 900 and 43200",
            ));
        }
        let session_policy = match &input.policy {
            Some(p) => {
                if p.is_empty() || p.len() > SESSION_POLICY_MAX {
                    return Err(validation(
                        "***",
                        "policy",
                        "Member must have length between 1 and 2048",
                    ));
                }
                berth_policy::Policy::parse(p, PolicyKind::Session)
                    .map_err(|e| StsError::MalformedPolicyDocument(e.message))?;
                Some(p.clone())
            }
            None => None,
        };
        let role_arn = Arn::parse(&input.role_arn)
            .map_err(|_| validation(&input.role_arn, "roleArn", "Member must be a role ARN"))?;

        // The token: well formed, from a registered provider, signed by its key.
        let unverified = berth_jwt::decode_unverified(token).map_err(|e| match e {
            JwtError::TooLarge => validation(
                "***",
                "webIdentityToken",
                "Member must have length between 4 and 20000",
            ),
            _ => StsError::InvalidIdentityToken(NOT_A_VALID_JWT.into()),
        })?;
        let issuer = unverified
            .issuer()
            .ok_or_else(|| {
                StsError::InvalidIdentityToken("No issuer claim in the ID Token".into())
            })?
            .to_owned();
        let provider_url = self.provider_url_for_issuer(&issuer).ok_or_else(|| {
            StsError::InvalidIdentityToken(format!(
                "No OpenIDConnect provider found in your account for {issuer}"
            ))
        })?;
        let provider = self
            .metadata
            .find_oidc_provider_by_url(&provider_url)
            .await?
            .filter(|p| p.arn.split(':').nth(4) == Some(role_arn.account()))
            .ok_or_else(|| {
                StsError::InvalidIdentityToken(format!(
                    "No OpenIDConnect provider found in your account for {issuer}"
                ))
            })?;
        // STS verifies RS256/384/512 and ES256/384/512 only (its WebIdentityToken doc).
        if !STS_ALGORITHMS.contains(&unverified.header().alg.as_str()) {
            return Err(StsError::InvalidIdentityToken(NOT_A_VALID_JWT.into()));
        }
        let fetched;
        let jwks = match (&self.issuer, issuer.as_str()) {
            // --dev: GitHub's issuer is this server's own dev issuer.
            (Some(dev), GITHUB_ISSUER) => dev.jwks(),
            _ => {
                fetched = self
                    .jwks
                    .keys_for(&issuer, unverified.header().kid.as_deref())
                    .await
                    .map_err(|e| match e {
                        JwksError::Unreachable(_) => {
                            StsError::IdpCommunication(IDP_COMMUNICATION_ERROR.into())
                        }
                        JwksError::NoUsableKey(_) => {
                            StsError::InvalidIdentityToken(NO_VERIFICATION_KEY.into())
                        }
                    })?;
                &*fetched
            }
        };
        let verified = unverified.verify_signature(jwks).map_err(|e| {
            tracing::info!(error = %e, "web identity token signature refused");
            match e {
                JwtError::KeyNotFound => StsError::InvalidIdentityToken(NO_VERIFICATION_KEY.into()),
                _ => StsError::InvalidIdentityToken(NOT_A_VALID_JWT.into()),
            }
        })?;
        let audience = verified.check_claims(now, &provider.client_ids).map_err(|e| match e {
            JwtError::Expired { exp, now } => StsError::ExpiredToken(format!(
                "Token expired: current date/time {now} must be before the expiration date/time{exp}"
            )),
            JwtError::WrongAudience => StsError::InvalidIdentityToken("Incorrect token audience".into()),
            other => StsError::InvalidIdentityToken(format!("Invalid ID Token: {other}")),
        })?;
        let claims = verified.claims();
        let subject = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| StsError::InvalidIdentityToken("The ID Token has no subject".into()))?
            .to_owned();

        // The role and its trust policy.
        let denied = || {
            StsError::AccessDenied(AccessDenied {
                message: format!("Not authorized to perform {STS_ASSUME_ROLE_WITH_WEB_IDENTITY}"),
            })
        };
        let role_name = role_arn
            .resource()
            .strip_prefix("role/")
            .and_then(|p| p.rsplit('/').next())
            .filter(|_| role_arn.service() == "iam")
            .ok_or_else(denied)?;
        let role = self
            .metadata
            .get_role(role_name)
            .await?
            .filter(|r| r.arn == input.role_arn)
            .ok_or_else(denied)?;
        let trust = self.authorizer.compiled(
            &format!("trust\0{}\0{}", role.arn, role.trust_policy),
            &role.trust_policy,
            PolicyKind::Trust,
        )?;
        let mut context = Context::new();
        berth_policy::web_identity::insert_token_keys(
            &mut context,
            &issuer,
            &provider.arn,
            claims,
            &audience,
        );
        context.insert("sts:RoleSessionName", session_name.to_string());
        context.insert("aws:EpochTime", now.to_string());
        if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now)
            && let Ok(s) = t.format(&time::format_description::well_known::Rfc3339)
        {
            context.insert("aws:CurrentTime", s);
        }
        if let Some(ip) = &facts.source_ip {
            context.insert("aws:SourceIp", ip.clone());
        }
        context.insert(
            "aws:SecureTransport",
            if facts.secure_transport {
                "true"
            } else {
                "false"
            },
        );
        let set = PolicySet {
            identity: &[],
            resource: Some(("trust", &trust)),
            session: &[],
            boundary: None,
            resource_account: Some(role_arn.account()),
        };
        let request = Request {
            principal: Principal {
                kind: PrincipalKind::Federated,
                arn: &provider.arn,
                role_arn: None,
                account: Some(role_arn.account()),
            },
            action: STS_ASSUME_ROLE_WITH_WEB_IDENTITY,
            resource: &role.arn,
            context: &context,
        };
        if berth_policy::decide(&set, &request) != Decision::Allow {
            // The operator learns why; the caller only gets AWS's terse AccessDenied.
            let explanation = berth_policy::explain(&set, &request);
            tracing::info!(role = %role.arn, subject, decision = ?explanation.decision, explanation = %explanation.summary(), "web identity refused by trust policy");
            return Err(denied());
        }
        if duration > role.max_session_duration {
            return Err(StsError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }

        let expires_at = now + duration;
        let session = RoleSession {
            account: role_arn.account().to_owned(),
            role_name: role.name.clone(),
            role_arn: role.arn.clone(),
            role_id: role.role_id.clone(),
            session_name: session_name.to_string(),
            expires_at,
            session_policy: session_policy.clone(),
        };
        let caller = Caller::AssumedRole(session.clone());
        let credentials = self.issue_credentials(session)?;
        tracing::info!(role = %role.arn, subject, session = %session_name, "role assumed with web identity");
        Ok(AssumeRoleWithWebIdentityOutput {
            credentials,
            subject,
            assumed_role_id: caller.user_id(),
            assumed_role_arn: caller.arn(),
            provider: provider.arn,
            audience,
            packed_policy_size: session_policy.map(|p| (p.len() * 100 / SESSION_POLICY_MAX) as i64),
        })
    }

    /// The IAM provider URL (condition-key prefix) for a token's `iss`: the issuer
    /// without `https://` and trailing slashes; in `--dev` also an `http://` loopback issuer.
    fn provider_url_for_issuer(&self, issuer: &str) -> Option<String> {
        let rest = match issuer.strip_prefix("https://") {
            Some(rest) => rest,
            None if self.jwks.fetchable(issuer) => issuer.strip_prefix("http://")?,
            None => return None,
        };
        Some(rest.trim_end_matches('/').to_owned()).filter(|r| !r.is_empty())
    }

    fn issue_credentials(&self, session: RoleSession) -> Result<Credentials, InternalError> {
        let access_key_id = ids::access_key_id("ASIA");
        let secret_access_key = ids::secret_access_key();
        let expiration = session.expires_at;
        let session_token = self.sealer.seal(
            Purpose::SessionToken,
            &SessionTokenClaims {
                ak: access_key_id.clone(),
                sk: secret_access_key.clone(),
                session,
            },
        )?;
        Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
        })
    }

    /// The secret key and caller behind a signed request's access key (and session token
    /// for temporary keys). SigV4 verification with the secret is the caller's next step.
    pub fn resolve_access_key(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: i64,
    ) -> Result<(String, Caller), AuthError> {
        if access_key_id.starts_with("ASIA") {
            let token = session_token.ok_or(AuthError::InvalidClientTokenId)?;
            let claims: SessionTokenClaims = self
                .sealer
                .open(Purpose::SessionToken, token)
                .ok_or(AuthError::InvalidClientTokenId)?;
            if claims.ak != access_key_id {
                return Err(AuthError::InvalidClientTokenId);
            }
            if claims.session.expires_at <= now {
                return Err(AuthError::ExpiredToken);
            }
            Ok((claims.sk, Caller::AssumedRole(claims.session)))
        } else if self.root.is_root_key(access_key_id) {
            Ok((
                self.root.secret_access_key.clone(),
                Caller::Root {
                    account: self.config.account_id.to_string(),
                },
            ))
        } else {
            Err(AuthError::InvalidClientTokenId)
        }
    }
}
