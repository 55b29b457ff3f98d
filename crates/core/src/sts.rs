//! STS: AssumeRoleWithWebIdentity (token verification, then the role's trust policy with
//! the token's claims as condition keys), GetCallerIdentity, and the resolution of access
//! keys to callers that SigV4 verification needs.

pub mod operation;

use std::collections::BTreeMap;

use berth_jwt::JwtError;
use berth_policy::{Context, Policy, PolicyKind};
use berth_store::RoleRecord;
use berth_types::{Arn, RoleSessionName};
use serde::{Deserialize, Serialize};

use crate::Sts;
use crate::actions::{
    STS_ASSUME_ROLE, STS_ASSUME_ROLE_WITH_WEB_IDENTITY, STS_SET_SOURCE_IDENTITY, STS_TAG_SESSION,
};
use crate::authorizer::{RequestFacts, WebIdentityAssume};
use crate::caller::{Caller, KeySession, RoleSession, WebIdentityOrigin};
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
    /// Managed session policies, in the role's account.
    pub policy_arns: Vec<String>,
}

#[derive(Debug, Default)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<i64>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Debug)]
pub struct AssumeRoleOutput {
    pub credentials: Credentials,
    pub assumed_role_id: String,
    pub assumed_role_arn: String,
    pub packed_policy_size: Option<i64>,
    pub source_identity: Option<String>,
}

/// What an AssumeRoleWithWebIdentity request's token showed, as far as its checks got.
#[derive(Debug, Clone, Default)]
pub struct WebIdentitySeen {
    /// The registered provider whose URL is the token's issuer.
    pub provider_arn: Option<String>,
    /// The token's identifying claims ([`identifying_claims`]).
    pub claims: BTreeMap<String, String>,
    /// Whether the token's signature was verified (before that, the claims are only what
    /// the token says).
    pub verified: bool,
}

/// The claims that say who a web identity is and, from GitHub, which workflow run: what
/// the audit trail keeps of a token (never the token itself). Each value is cut at 256
/// characters; lists are joined with commas.
pub fn identifying_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, String> {
    const IDENTIFYING: &[&str] = &[
        "iss",
        "sub",
        "aud",
        "repository",
        "repository_owner",
        "ref",
        "ref_type",
        "sha",
        "environment",
        "event_name",
        "workflow",
        "workflow_ref",
        "job_workflow_ref",
        "run_id",
        "run_number",
        "run_attempt",
        "actor",
    ];
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    IDENTIFYING
        .iter()
        .filter_map(|&name| {
            let mut value = text(claims.get(name)?)?;
            if value.len() > 256 {
                let mut cut = 256;
                while !value.is_char_boundary(cut) {
                    cut -= 1;
                }
                value.truncate(cut);
            }
            Some((name.to_owned(), value))
        })
        .collect()
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
    /// From the token's `https://aws.amazon.com/source_identity` claim.
    pub source_identity: Option<String>,
}

const MAX_SESSION_POLICY_ARNS: usize = 10;
const MAX_SESSION_TAGS: usize = 50;
/// Role chaining caps the session at one hour, whatever the role's maximum.
pub const CHAINED_MAX_DURATION: i64 = 3600;

/// Session tags, source identity and session policies asked for.
struct SessionAttributes {
    policy: Option<String>,
    policy_arns: Vec<String>,
    tags: Vec<(String, String)>,
    transitive_tag_keys: Vec<String>,
    source_identity: Option<String>,
    /// Transitive tags from the calling session (role chaining): they count toward the
    /// packed size and need sts:TagSession like tags passed in the request.
    inherited_tags: Vec<(String, String)>,
}

impl SessionAttributes {
    /// The trust-policy actions these attributes need besides the assume itself.
    fn extra_actions(&self) -> Vec<&'static str> {
        let mut actions = Vec::new();
        if !self.tags.is_empty() || !self.inherited_tags.is_empty() {
            actions.push(STS_TAG_SESSION);
        }
        if self.source_identity.is_some() {
            actions.push(STS_SET_SOURCE_IDENTITY);
        }
        actions
    }

    /// `aws:RequestTag/K`, `aws:TagKeys`, `sts:TransitiveTagKeys`, `sts:SourceIdentity`.
    fn insert_request_keys(&self, context: &mut Context) {
        for (key, value) in &self.tags {
            context.insert(&format!("aws:RequestTag/{key}"), value.clone());
        }
        if !self.tags.is_empty() {
            context.insert_multi(
                "aws:TagKeys",
                self.tags.iter().map(|(k, _)| k.clone()).collect(),
            );
        }
        if !self.transitive_tag_keys.is_empty() {
            context.insert_multi("sts:TransitiveTagKeys", self.transitive_tag_keys.clone());
        }
        if let Some(s) = &self.source_identity {
            context.insert("sts:SourceIdentity", s.clone());
        }
    }

    /// Percentage of the packed limit the session policies and tags use, or `None` when
    /// none were sent (STS then omits `PackedPolicySize`). STS compresses before
    /// measuring; Berth counts plaintext characters, so it refuses no later than STS.
    fn packed_policy_size(&self) -> Result<Option<i64>, StsError> {
        if self.policy.is_none()
            && self.policy_arns.is_empty()
            && self.tags.is_empty()
            && self.inherited_tags.is_empty()
        {
            return Ok(None);
        }
        let chars = self.policy.as_ref().map_or(0, String::len)
            + self.policy_arns.iter().map(String::len).sum::<usize>()
            + self
                .tags
                .iter()
                .chain(&self.inherited_tags)
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let percent = (chars * 100).div_ceil(SESSION_POLICY_MAX) as i64;
        if percent > 100 {
            return Err(StsError::PackedPolicyTooLarge(format!(
                "Packed policy consumes {percent}% of allotted space, please use smaller policy."
            )));
        }
        Ok(Some(percent))
    }
}

fn check_session_policy(policy: Option<&str>) -> Result<Option<String>, StsError> {
    let Some(p) = policy else { return Ok(None) };
    if p.is_empty() || p.len() > SESSION_POLICY_MAX {
        return Err(validation(
            "***",
            "policy",
            "Member must have length between 1 and 2048",
        ));
    }
    berth_policy::Policy::parse(p, PolicyKind::Session)
        .map_err(|e| StsError::MalformedPolicyDocument(e.message))?;
    Ok(Some(p.to_owned()))
}

fn check_policy_arns_shape(arns: &[String]) -> Result<(), StsError> {
    if arns.len() > MAX_SESSION_POLICY_ARNS {
        return Err(validation(
            &arns.len().to_string(),
            "policyArns",
            "Member must have length less than or equal to 10",
        ));
    }
    for arn in arns {
        if arn.len() < 20 || arn.len() > 2048 {
            return Err(validation(
                arn,
                "policyArns.member.arn",
                "Member must have length between 20 and 2048",
            ));
        }
    }
    Ok(())
}

/// STS's tag rules: at most 50, keys 1-128 and values 0-256 characters of
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, keys unique ignoring case; transitive keys among them.
fn check_tags(tags: &[(String, String)], transitive: &[String]) -> Result<(), StsError> {
    if tags.len() > MAX_SESSION_TAGS {
        return Err(validation(
            &tags.len().to_string(),
            "tags",
            "Member must have length less than or equal to 50",
        ));
    }
    let allowed = |c: char| {
        c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    };
    let mut seen = std::collections::HashSet::new();
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || !key.chars().all(allowed) {
            return Err(validation(
                key,
                "tags.member.key",
                "Member must have length between 1 and 128 and satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+",
            ));
        }
        if value.chars().count() > 256 || !value.chars().all(allowed) {
            return Err(validation(
                value,
                "tags.member.value",
                "Member must have length less than or equal to 256 and satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
            ));
        }
        if !seen.insert(key.to_lowercase()) {
            return Err(StsError::Validation(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            ));
        }
    }
    for key in transitive {
        if !seen.contains(&key.to_lowercase()) {
            return Err(StsError::Validation(format!(
                "The transitive tag key {key} is not among the session tags."
            )));
        }
    }
    Ok(())
}

/// `SourceIdentity`: 2-64 characters of `[\w+=,.@-]`, and not starting with `aws:`.
/// GetSessionToken's parameters, as the STS model constrains them.
fn check_get_session_token_input(input: &GetSessionTokenInput) -> Result<(), StsError> {
    if let Some(d) = input.duration_seconds
        && !(900..=KEY_SESSION_MAX_DURATION).contains(&d)
    {
        return Err(validation(
            &d.to_string(),
            "durationSeconds",
            "Member must have value less than or equal to 129600 and greater than or equal to 900",
        ));
    }
    if let Some(serial) = &input.serial_number
        && !((9..=256).contains(&serial.len())
            && serial
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)))
    {
        return Err(validation(
            serial,
            "serialNumber",
            "Member must satisfy regular expression pattern: [\\w+=/:,.@-]* and have length between 9 and 256",
        ));
    }
    if let Some(code) = &input.token_code
        && !(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(validation(
            "***",
            "tokenCode",
            "Member must satisfy regular expression pattern: [\\d]* and have length 6",
        ));
    }
    Ok(())
}

fn valid_source_identity(s: &str) -> bool {
    berth_policy::web_identity::valid_source_identity(s)
}

/// What a session token seals: the key pair and the session, a role's or GetSessionToken's.
#[derive(Serialize, Deserialize)]
struct SessionTokenClaims {
    ak: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<RoleSession>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_session: Option<KeySessionClaims>,
}

/// A GetSessionToken session: whose long-term key made it, and for how long.
#[derive(Serialize, Deserialize)]
struct KeySessionClaims {
    /// The user's unique id; none for the root user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    /// The user's access key id, or the root keys' fingerprint: the session ends when that
    /// key is deactivated, deleted or (root) replaced.
    key: String,
    iat: i64,
    exp: i64,
}

#[derive(Debug, Default)]
pub struct GetSessionTokenInput {
    pub duration_seconds: Option<i64>,
    pub serial_number: Option<String>,
    pub token_code: Option<String>,
}

/// GetSessionToken's durations: an IAM user's session lasts 15 minutes to 36 hours
/// (12 by default); the root user's at most an hour, longer requests being cut to it.
pub const KEY_SESSION_DEFAULT_DURATION: i64 = 43_200;
pub const KEY_SESSION_MAX_DURATION: i64 = 129_600;
pub const ROOT_SESSION_MAX_DURATION: i64 = 3_600;

/// The STS model's constraints on `RoleArn` and `RoleSessionName`, shared by every
/// AssumeRole* operation.
fn role_arn_and_session_name(
    role_arn: &str,
    session_name: &str,
) -> Result<RoleSessionName, StsError> {
    if role_arn.len() < 20 || role_arn.len() > 2048 {
        return Err(validation(
            role_arn,
            "roleArn",
            "Member must have length between 20 and 2048",
        ));
    }
    RoleSessionName::parse(session_name).map_err(|_| {
        validation(
            session_name,
            "roleSessionName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64",
        )
    })
}

fn validation(value: &str, member: &str, constraint: &str) -> StsError {
    let shown: String = value.chars().take(100).collect();
    StsError::Validation(format!(
        "1 validation error detected: Value '{shown}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

impl Sts<'_> {
    /// `seen` is filled in with what the token showed as far as the checks got, whether
    /// the call succeeds or not (for the audit trail).
    pub async fn assume_role_with_web_identity(
        &self,
        input: &AssumeRoleWithWebIdentityInput,
        facts: &RequestFacts,
        seen: &mut WebIdentitySeen,
    ) -> Result<AssumeRoleWithWebIdentityOutput, StsError> {
        let result = self.assume_with_token(input, facts, seen).await;
        let verification = match &result {
            Err(StsError::InvalidIdentityToken(_)) => Some("invalid"),
            Err(StsError::ExpiredToken(_)) => Some("expired"),
            Err(StsError::IdpCommunication(_)) => Some("provider_unreachable"),
            _ if seen.verified => Some("verified"),
            // Refused before the token was looked at (a malformed request).
            _ => None,
        };
        if let Some(result) = verification {
            berth_metrics::metrics().token_verification(result);
        }
        result
    }

    async fn assume_with_token(
        &self,
        input: &AssumeRoleWithWebIdentityInput,
        facts: &RequestFacts,
        seen: &mut WebIdentitySeen,
    ) -> Result<AssumeRoleWithWebIdentityOutput, StsError> {
        let now = crate::now_unix();
        // Parameter constraints from the STS model come first, as in AWS.
        let session_name = role_arn_and_session_name(&input.role_arn, &input.role_session_name)?;
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
        let session_policy = check_session_policy(input.policy.as_deref())?;
        check_policy_arns_shape(&input.policy_arns)?;
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
        seen.claims = identifying_claims(unverified.claims());
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
        seen.provider_arn = Some(provider.arn.to_string());
        // STS verifies RS256/384/512 and ES256/384/512 only (its WebIdentityToken doc).
        if !STS_ALGORITHMS.contains(&unverified.header().alg.as_str()) {
            return Err(StsError::InvalidIdentityToken(NOT_A_VALID_JWT.into()));
        }
        let jwks: std::sync::Arc<berth_jwt::JwkSet> = match (&self.issuer, issuer.as_str()) {
            // --dev: GitHub's issuer is this server's own dev issuer.
            (Some(dev), GITHUB_ISSUER) => dev.jwks(),
            _ => self
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
                })?,
        };
        let verified = unverified.verify_signature(&jwks).map_err(|e| {
            tracing::info!(error = %e, "web identity token signature refused");
            match e {
                JwtError::KeyNotFound => StsError::InvalidIdentityToken(NO_VERIFICATION_KEY.into()),
                _ => StsError::InvalidIdentityToken(NOT_A_VALID_JWT.into()),
            }
        })?;
        seen.verified = true;
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

        let berth_policy::web_identity::TokenSessionAttributes {
            source_identity,
            tags,
            transitive_tag_keys,
        } = berth_policy::web_identity::token_session_attributes(claims)
            .map_err(StsError::InvalidIdentityToken)?;
        check_tags(&tags, &transitive_tag_keys).map_err(|e| match e {
            StsError::Validation(m) => {
                StsError::InvalidIdentityToken(format!("Invalid session tags in the ID Token: {m}"))
            }
            other => other,
        })?;
        let attributes = SessionAttributes {
            policy: session_policy,
            policy_arns: input.policy_arns.clone(),
            tags,
            transitive_tag_keys,
            source_identity,
            inherited_tags: Vec::new(),
        };
        let packed_policy_size = attributes.packed_policy_size()?;

        // The role and its trust policy.
        let Some((role, trust)) = self
            .assumable_role(&role_arn, &input.role_arn, None)
            .await?
        else {
            return Err(StsError::AccessDenied(AccessDenied {
                message: format!("Not authorized to perform {STS_ASSUME_ROLE_WITH_WEB_IDENTITY}"),
                explanation: Some(format!("the role {} does not exist", input.role_arn)),
            }));
        };
        let mut token_keys = Context::new();
        berth_policy::web_identity::insert_token_keys(
            &mut token_keys,
            &issuer,
            &provider.arn,
            claims,
            &audience,
        );
        token_keys.insert("sts:RoleSessionName", session_name.to_string());
        attributes.insert_request_keys(&mut token_keys);
        // Tags and a source identity need sts:TagSession / sts:SetSourceIdentity too.
        let mut actions = vec![STS_ASSUME_ROLE_WITH_WEB_IDENTITY];
        actions.extend(attributes.extra_actions());
        self.authorizer
            .may_assume_role_with_web_identity(
                &WebIdentityAssume {
                    provider_arn: &provider.arn,
                    account: role_arn.account(),
                    role_arn: &role.arn,
                    trust: &trust,
                },
                &actions,
                facts,
                token_keys,
            )
            .map_err(|refusal| {
                let action = refusal.action;
                tracing::info!(role = %role.arn, subject, action, explanation = %refusal.explanation, "web identity refused by trust policy");
                StsError::AccessDenied(AccessDenied {
                    message: format!("Not authorized to perform {action}"),
                    explanation: Some(refusal.explanation),
                })
            })?;
        self.check_managed_session_policies(&attributes.policy_arns, role_arn.account())
            .await?;
        if duration > role.max_session_duration {
            return Err(StsError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }

        let expires_at = now + duration;
        let session = RoleSession {
            account: role_arn.account().to_owned(),
            role_name: role.name.to_string(),
            role_arn: role.arn.to_string(),
            role_id: role.role_id.clone(),
            session_name: session_name.to_string(),
            issued_at: now,
            expires_at,
            // Filled in from the session token when the credentials are used.
            access_key_id: String::new(),
            session_policy: attributes.policy,
            session_policy_arns: attributes.policy_arns,
            source_identity: attributes.source_identity.clone(),
            tags: attributes.tags,
            transitive_tag_keys: attributes.transitive_tag_keys,
            web_identity: Some(WebIdentityOrigin {
                provider_arn: provider.arn.to_string(),
                claims: seen.claims.clone(),
            }),
        };
        let caller = Caller::AssumedRole(Box::new(session.clone()));
        let credentials = self.issue_credentials(session)?;
        tracing::info!(role = %role.arn, subject, session = %session_name, "role assumed with web identity");
        Ok(AssumeRoleWithWebIdentityOutput {
            credentials,
            subject,
            assumed_role_id: caller.user_id(),
            assumed_role_arn: caller.arn(),
            provider: provider.arn.to_string(),
            audience,
            packed_policy_size,
            source_identity: attributes.source_identity,
        })
    }

    /// The role `role_arn` names (parsed as `arn`) and its compiled trust policy; `None`
    /// when it names no role here (or, with `account`, a role in another account), which
    /// both AssumeRole operations answer with AccessDenied, as AWS does.
    async fn assumable_role(
        &self,
        arn: &Arn,
        role_arn: &str,
        account: Option<&str>,
    ) -> Result<Option<(RoleRecord, Policy)>, StsError> {
        let Some(role_name) = arn
            .resource()
            .strip_prefix("role/")
            .and_then(|p| p.rsplit('/').next())
            .filter(|_| arn.service() == "iam" && account.is_none_or(|a| a == arn.account()))
        else {
            return Ok(None);
        };
        let Some(role) = self
            .metadata
            .get_role(role_name)
            .await?
            .filter(|r| r.arn == role_arn)
        else {
            return Ok(None);
        };
        let trust = self.authorizer.compiled(
            &format!("trust\0{}\0{}", role.arn, role.trust_policy),
            &role.trust_policy,
            PolicyKind::Trust,
        )?;
        Ok(Some((role, trust)))
    }

    /// Managed session policies must exist in the role's account. UNCONFIRMED: the error
    /// STS gives for one that does not (Berth: MalformedPolicyDocument, failing closed).
    async fn check_managed_session_policies(
        &self,
        arns: &[String],
        role_account: &str,
    ) -> Result<(), StsError> {
        for arn in arns {
            let in_account = Arn::parse(arn).is_ok_and(|a| {
                a.service() == "iam"
                    && a.account() == role_account
                    && a.resource().starts_with("policy/")
            });
            if !in_account || self.metadata.get_managed_policy(arn).await?.is_none() {
                return Err(StsError::MalformedPolicyDocument(format!(
                    "Policy {arn} does not exist or is not attachable."
                )));
            }
        }
        Ok(())
    }

    /// AssumeRole, called with a role session's credentials (role chaining): the target's
    /// trust policy must allow the caller (by ARN, or by account with the caller's
    /// identity policies allowing too); the session lasts at most an hour; transitive
    /// tags and the source identity carry over.
    /// GetAccessKeyInfo: the account an access key belongs to. A Berth server serves one
    /// account, so every key it could have issued (the root key, its sessions' `ASIA` keys)
    /// is that account's; like STS, it answers from the key id alone, without saying
    /// whether the key exists.
    pub async fn get_access_key_info(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        access_key_id: &str,
    ) -> Result<String, StsError> {
        if !crate::ids::is_access_key_id_shaped(access_key_id) {
            return Err(validation(
                access_key_id,
                "accessKeyId",
                crate::ids::ACCESS_KEY_ID_RULE,
            ));
        }
        // GetSessionToken's credentials may call AssumeRole and GetCallerIdentity only.
        if caller.key_session().is_some() {
            return Err(StsError::AccessDenied(AccessDenied {
                message: format!(
                    "User: {} is not authorized to perform: {}: credentials from GetSessionToken can call only AssumeRole and GetCallerIdentity",
                    caller.arn(),
                    crate::actions::STS_GET_ACCESS_KEY_INFO
                ),
                explanation: None,
            }));
        }
        self.authorizer
            .authorize(
                caller,
                crate::actions::STS_GET_ACCESS_KEY_INFO,
                "*",
                None,
                facts,
            )
            .await
            .map_err(|e| match e {
                crate::authorizer::AuthzError::Denied(d) => StsError::AccessDenied(d),
                crate::authorizer::AuthzError::Internal(i) => StsError::Internal(i),
            })?;
        Ok(self.config.account_id.to_string())
    }

    /// GetSessionToken: temporary credentials for the caller's own long-term identity
    /// (root or an IAM user). As in AWS no policy governs it, and session credentials
    /// cannot call it. Berth has no MFA devices, so a request with an MFA code is refused
    /// as AWS refuses a code it cannot validate.
    pub fn get_session_token(
        &self,
        caller: &Caller,
        input: &GetSessionTokenInput,
    ) -> Result<Credentials, StsError> {
        check_get_session_token_input(input)?;
        let (user_id, key, duration) = match caller {
            Caller::Root { session: None, .. } => (
                None,
                self.root.fingerprint(),
                input
                    .duration_seconds
                    .unwrap_or(ROOT_SESSION_MAX_DURATION)
                    .min(ROOT_SESSION_MAX_DURATION),
            ),
            Caller::User(user) if user.session.is_none() => (
                Some(user.user_id.clone()),
                user.access_key_id.clone(),
                input
                    .duration_seconds
                    .unwrap_or(KEY_SESSION_DEFAULT_DURATION),
            ),
            _ => {
                return Err(StsError::AccessDenied(AccessDenied {
                    message: "Cannot call GetSessionToken with session credentials".into(),
                    explanation: None,
                }));
            }
        };
        if input.serial_number.is_some() || input.token_code.is_some() {
            return Err(StsError::AccessDenied(AccessDenied {
                message: "MultiFactorAuthentication failed, unable to validate MFA code. Berth has no MFA devices: call GetSessionToken without SerialNumber and TokenCode.".into(),
                explanation: None,
            }));
        }
        let now = crate::now_unix();
        let access_key_id = ids::access_key_id("ASIA");
        let secret_access_key = ids::secret_access_key();
        let expiration = now + duration;
        let session_token = self.sealer.seal(
            Purpose::SessionToken,
            &SessionTokenClaims {
                ak: access_key_id.clone(),
                sk: secret_access_key.clone(),
                session: None,
                key_session: Some(KeySessionClaims {
                    user_id,
                    key,
                    iat: now,
                    exp: expiration,
                }),
            },
        )?;
        tracing::info!(caller = %caller.arn(), "session credentials issued with GetSessionToken");
        Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
        })
    }

    pub async fn assume_role(
        &self,
        caller: &Caller,
        input: &AssumeRoleInput,
        facts: &RequestFacts,
    ) -> Result<AssumeRoleOutput, StsError> {
        let now = crate::now_unix();
        let session_name = role_arn_and_session_name(&input.role_arn, &input.role_session_name)?;
        let duration = input.duration_seconds.unwrap_or(DEFAULT_DURATION);
        if !(900..=43200).contains(&duration) {
            return Err(validation(
                &duration.to_string(),
                "durationSeconds",
                "Member must have value between 900 and 43200",
            ));
        }
        let session_policy = check_session_policy(input.policy.as_deref())?;
        check_policy_arns_shape(&input.policy_arns)?;
        check_tags(&input.tags, &input.transitive_tag_keys)?;
        if let Some(s) = &input.source_identity
            && !valid_source_identity(s)
        {
            return Err(validation(
                s,
                "sourceIdentity",
                "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64",
            ));
        }
        if let Some(e) = &input.external_id
            && !(2..=1224).contains(&e.len())
        {
            return Err(validation(
                "***",
                "externalId",
                "Member must have length between 2 and 1224",
            ));
        }
        // A user's session starts a chain: nothing carries over, and it may last as long
        // as the role allows.
        let no_session = RoleSession::default();
        let (caller_session, chained) = match caller {
            Caller::Root { account, .. } => {
                return Err(StsError::AccessDenied(AccessDenied {
                    message: format!(
                        "User: arn:aws:iam::{account}:root is not authorized to perform: {STS_ASSUME_ROLE} on resource: {}: Roles may not be assumed by root accounts.",
                        input.role_arn
                    ),
                    explanation: None,
                }));
            }
            Caller::AssumedRole(s) => (s.as_ref(), true),
            Caller::User(_) => (&no_session, false),
        };
        // Tags marked transitive in the caller's session carry over and cannot be reset.
        let mut tags: Vec<(String, String)> = caller_session
            .tags
            .iter()
            .filter(|(k, _)| {
                caller_session
                    .transitive_tag_keys
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(k))
            })
            .cloned()
            .collect();
        let inherited_tags = tags.clone();
        let mut transitive_tag_keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
        for (key, value) in &input.tags {
            if tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                return Err(StsError::Validation(format!(
                    "The session tag {key} is transitive from the calling session and cannot be set."
                )));
            }
            tags.push((key.clone(), value.clone()));
        }
        transitive_tag_keys.extend(input.transitive_tag_keys.iter().cloned());
        // A source identity, once set, stays for every chained session.
        let source_identity = match (&caller_session.source_identity, &input.source_identity) {
            (Some(old), Some(new)) if old != new => {
                return Err(StsError::AccessDenied(AccessDenied {
                    message: format!(
                        "User: {} is not authorized to perform: {STS_SET_SOURCE_IDENTITY}: the session's source identity is already set",
                        caller.arn()
                    ),
                    explanation: None,
                }));
            }
            (Some(old), _) => Some(old.clone()),
            (None, new) => new.clone(),
        };
        let attributes = SessionAttributes {
            policy: session_policy,
            policy_arns: input.policy_arns.clone(),
            tags: input.tags.clone(),
            transitive_tag_keys: input.transitive_tag_keys.clone(),
            source_identity: input.source_identity.clone(),
            inherited_tags,
        };
        let packed_policy_size = attributes.packed_policy_size()?;

        let denied = |explanation: String| {
            StsError::AccessDenied(AccessDenied {
                message: format!(
                    "User: {} is not authorized to perform: {STS_ASSUME_ROLE} on resource: {}",
                    caller.arn(),
                    input.role_arn
                ),
                explanation: Some(explanation),
            })
        };
        let role_arn = Arn::parse(&input.role_arn)
            .map_err(|_| validation(&input.role_arn, "roleArn", "Member must be a role ARN"))?;
        let (role, trust) = self
            .assumable_role(&role_arn, &input.role_arn, Some(caller.account()))
            .await?
            .ok_or_else(|| denied(format!("the role {} does not exist", input.role_arn)))?;
        let mut request_keys = Context::new();
        request_keys.insert("sts:RoleSessionName", session_name.to_string());
        if let Some(e) = &input.external_id {
            request_keys.insert("sts:ExternalId", e.clone());
        }
        attributes.insert_request_keys(&mut request_keys);
        let mut actions = vec![STS_ASSUME_ROLE];
        actions.extend(attributes.extra_actions());
        self.authorizer
            .may_assume_role(caller, &actions, &role.arn, &trust, facts, &request_keys)
            .await
            .map_err(|e| match e {
                crate::authorizer::AuthzError::Denied(d) => StsError::AccessDenied(d),
                crate::authorizer::AuthzError::Internal(i) => StsError::Internal(i),
            })?
            .inspect(|()| berth_metrics::metrics().authorization(true))
            .map_err(|explanation| {
                berth_metrics::metrics().authorization(false);
                denied(explanation)
            })?;
        if chained && duration > CHAINED_MAX_DURATION {
            return Err(StsError::Validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into(),
            ));
        }
        if duration > role.max_session_duration {
            return Err(StsError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        self.check_managed_session_policies(&attributes.policy_arns, role_arn.account())
            .await?;
        let session = RoleSession {
            account: role_arn.account().to_owned(),
            role_name: role.name.to_string(),
            role_arn: role.arn.to_string(),
            role_id: role.role_id.clone(),
            session_name: session_name.to_string(),
            issued_at: now,
            expires_at: now + duration,
            access_key_id: String::new(),
            session_policy: attributes.policy,
            session_policy_arns: attributes.policy_arns,
            source_identity: source_identity.clone(),
            tags,
            transitive_tag_keys,
            // A chained session still came from the web identity that began the chain.
            web_identity: match caller {
                Caller::AssumedRole(s) => s.web_identity.clone(),
                Caller::Root { .. } | Caller::User(_) => None,
            },
        };
        let assumed = Caller::AssumedRole(Box::new(session.clone()));
        let credentials = self.issue_credentials(session)?;
        tracing::info!(role = %role.arn, caller = %caller.arn(), session = %session_name, "role assumed with AssumeRole");
        Ok(AssumeRoleOutput {
            credentials,
            assumed_role_id: assumed.user_id(),
            assumed_role_arn: assumed.arn(),
            packed_policy_size,
            source_identity,
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
        self.role_usage
            .note(&session.role_id, session.issued_at, "sts");
        let access_key_id = ids::access_key_id("ASIA");
        let secret_access_key = ids::secret_access_key();
        let expiration = session.expires_at;
        let session_token = self.sealer.seal(
            Purpose::SessionToken,
            &SessionTokenClaims {
                ak: access_key_id.clone(),
                sk: secret_access_key.clone(),
                session: Some(session),
                key_session: None,
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
    pub async fn resolve_access_key(
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
            match (claims.session, claims.key_session) {
                (Some(mut session), None) => {
                    if session.expires_at <= now {
                        return Err(AuthError::ExpiredToken);
                    }
                    session.access_key_id = claims.ak;
                    Ok((claims.sk, Caller::AssumedRole(Box::new(session))))
                }
                (None, Some(of_key)) => {
                    if of_key.exp <= now {
                        return Err(AuthError::ExpiredToken);
                    }
                    let session = KeySession {
                        access_key_id: claims.ak,
                        issued_at: of_key.iat,
                        expires_at: of_key.exp,
                    };
                    let caller = match of_key.user_id {
                        None if self.root.has_fingerprint(&of_key.key) => Caller::Root {
                            account: self.config.account_id.to_string(),
                            session: Some(session),
                        },
                        None => return Err(AuthError::InvalidClientTokenId),
                        Some(user_id) => {
                            self.resolve_user_session(&of_key.key, &user_id, session)
                                .await?
                        }
                    };
                    Ok((claims.sk, caller))
                }
                _ => Err(AuthError::InvalidClientTokenId),
            }
        } else if session_token.is_some() {
            // A session token goes with a temporary (`ASIA`) key only, as in STS.
            Err(AuthError::InvalidClientTokenId)
        } else if self.root.is_root_key(access_key_id) {
            Ok((
                self.root.secret_access_key.clone(),
                Caller::Root {
                    account: self.config.account_id.to_string(),
                    session: None,
                },
            ))
        } else {
            self.resolve_user_key(access_key_id).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_session_token_parameters_are_checked_as_sts_models_them() {
        let ok = |input: GetSessionTokenInput| check_get_session_token_input(&input).is_ok();
        assert!(ok(GetSessionTokenInput::default()));
        for duration in [900, 43_200, 129_600] {
            assert!(ok(GetSessionTokenInput {
                duration_seconds: Some(duration),
                ..Default::default()
            }));
        }
        for duration in [-1, 0, 899, 129_601] {
            assert!(!ok(GetSessionTokenInput {
                duration_seconds: Some(duration),
                ..Default::default()
            }));
        }
        let mfa = |serial: &str, code: &str| {
            ok(GetSessionTokenInput {
                serial_number: Some(serial.into()),
                token_code: Some(code.into()),
                ..Default::default()
            })
        };
        assert!(mfa("arn:aws:iam::123456789012:mfa/user", "123456"));
        assert!(mfa("GAHT12345678", "000000"));
        assert!(!mfa("short", "123456"), "under 9 characters");
        assert!(!mfa("arn:aws:iam::123456789012:mfa/a b", "123456"));
        assert!(!mfa("arn:aws:iam::123456789012:mfa/user", "12345"));
        assert!(!mfa("arn:aws:iam::123456789012:mfa/user", "12345a"));
        // The code is never echoed back in the error.
        let Err(StsError::Validation(message)) =
            check_get_session_token_input(&GetSessionTokenInput {
                token_code: Some("98765x".into()),
                ..Default::default()
            })
        else {
            panic!("a malformed code is refused");
        };
        assert!(!message.contains("98765x"), "{message}");
    }
}
