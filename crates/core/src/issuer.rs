//! The development OIDC issuer: mints tokens shaped like GitHub Actions' for
//! `https://token.actions.githubusercontent.com`, signed with a key that only this server
//! holds and trusts. Only with `--dev`.

use std::sync::{Arc, RwLock};

use berth_jwt::{JwkSet, RsaSigningKey};
use berth_store::{MetadataStore, SigningKeyRecord};
use serde_json::{Value, json};

use crate::Issuer;
use crate::config::ServerConfig;
use crate::error::InternalError;
use crate::ids::{random_bytes, uuid};
use crate::key_rotation::{self, RotationPolicy};
use crate::sealer::Purpose;

pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const KEY_PURPOSE: &str = "dev-issuer";
/// GitHub's tokens live five minutes.
pub const DEFAULT_LIFETIME: i64 = 300;

/// What `berth token` asks for.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct MintRequest {
    /// `OWNER/REPO`.
    pub repository: String,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    /// GitHub's numeric owner id (default: derived from the owner's name).
    #[serde(default)]
    pub owner_id: Option<u64>,
    /// GitHub's numeric repository id (default: derived from the repository's name).
    #[serde(default)]
    pub repository_id: Option<u64>,
    /// `legacy` (`repo:OWNER/REPO:...`, the default) or `immutable`
    /// (`repo:OWNER@OWNER_ID/REPO@REPO_ID:...`, GitHub's form for repositories created
    /// from 2026-07-15 or opted in).
    #[serde(default)]
    pub subject_format: Option<String>,
    /// The workflow run (default: random per token; fixed for an actions grant's tokens).
    #[serde(default)]
    pub run_id: Option<u64>,
}

/// How long an `ACTIONS_ID_TOKEN_REQUEST_TOKEN` stands: GitHub's longest job, six hours.
pub const ACTIONS_GRANT_LIFETIME: i64 = 6 * 3600;

/// What an actions grant seals: the claim set every token requested with it gets.
#[derive(serde::Serialize, serde::Deserialize)]
struct ActionsGrant {
    claims: MintRequest,
    expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionsTokenError {
    /// Missing, forged, tampered or expired bearer token.
    #[error("the bearer token is not a valid ACTIONS_ID_TOKEN_REQUEST_TOKEN from this server")]
    Unauthorized,
    #[error(transparent)]
    Mint(#[from] MintError),
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

const ROTATION: RotationPolicy = RotationPolicy {
    purpose: KEY_PURPOSE,
    rotate_every: 24 * 3600,
    // `expires_in` may ask for up to a day.
    max_lifetime: 24 * 3600,
};

pub struct DevIssuer {
    /// Replaced whole when the keys are reloaded.
    keys: RwLock<Arc<IssuerKeys>>,
}

struct IssuerKeys {
    /// The key tokens are signed with now.
    signing: RsaSigningKey,
    /// Every key's public half, the newest first: tokens signed with a superseded key
    /// verify until it is deleted.
    jwks: Arc<JwkSet>,
}

fn new_key_record(active_from: i64) -> Result<SigningKeyRecord, InternalError> {
    let kid = hex::encode(random_bytes::<8>());
    let fresh = RsaSigningKey::generate(&kid)
        .map_err(|e| InternalError(format!("generate issuer key: {e}")))?;
    Ok(SigningKeyRecord {
        kid,
        purpose: KEY_PURPOSE.to_owned(),
        material: fresh.to_pkcs8_der(),
        created_at: active_from,
    })
}

fn issuer_keys(records: &[SigningKeyRecord], now: i64) -> Result<IssuerKeys, InternalError> {
    let load = |r: &SigningKeyRecord| {
        RsaSigningKey::from_pkcs8_der(&r.kid, &r.material)
            .map_err(|e| InternalError(format!("load issuer key: {e}")))
    };
    let in_use = key_rotation::in_use(records, |r| r.created_at, now)
        .ok_or_else(|| InternalError("no issuer key".into()))?;
    let jwks = JwkSet {
        keys: records
            .iter()
            .map(|r| load(r).map(|k| k.public_jwk()))
            .collect::<Result<_, _>>()?,
    };
    Ok(IssuerKeys {
        signing: load(in_use)?,
        jwks: Arc::new(jwks),
    })
}

impl DevIssuer {
    /// Loads the issuer's keys from the store, creating the first on first start.
    pub async fn load(
        store: &dyn MetadataStore,
        _config: &ServerConfig,
    ) -> Result<Self, InternalError> {
        let now = crate::now_unix();
        store
            .get_or_create_signing_key(&new_key_record(now)?)
            .await?;
        let keys = issuer_keys(&store.list_signing_keys(KEY_PURPOSE).await?, now)?;
        Ok(Self {
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// Rotates and prunes the keys in the store when due, then reloads them (see
    /// `key_rotation`); run every `key_rotation::REFRESH_EVERY` by the server.
    pub async fn refresh(&self, store: &dyn MetadataStore) -> Result<(), InternalError> {
        self.refresh_at(store, crate::now_unix()).await
    }

    async fn refresh_at(&self, store: &dyn MetadataStore, now: i64) -> Result<(), InternalError> {
        let records = ROTATION.rotate(store, now, new_key_record).await?;
        let keys = issuer_keys(&records, now)?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    fn keys(&self) -> Arc<IssuerKeys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn issuer(&self) -> &'static str {
        GITHUB_ISSUER
    }

    pub fn jwks(&self) -> Arc<JwkSet> {
        self.keys().jwks.clone()
    }

    /// Mints a token with GitHub Actions' claim set.
    pub fn mint(&self, req: &MintRequest, now: i64) -> Result<String, MintError> {
        let claims = github_claims(req, now)?;
        self.keys()
            .signing
            .sign(&claims)
            .map_err(|e| MintError::Internal(InternalError(format!("sign: {e}"))))
    }
}

impl Issuer<'_> {
    /// Seals a grant for `req`'s claim set: the stand-in for the job's
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. One job's tokens share their run and commit, as on
    /// GitHub. The claim set is checked now, so a bad one fails here and not in the job.
    pub fn grant_actions_token_requests(
        &self,
        req: &MintRequest,
        now: i64,
    ) -> Result<String, MintError> {
        let mut claims = req.clone();
        claims
            .sha
            .get_or_insert_with(|| hex::encode(random_bytes::<20>()));
        claims
            .run_id
            .get_or_insert_with(|| u64::from_be_bytes(random_bytes::<8>()) % 10_000_000_000);
        github_claims(&claims, now)?;
        let grant = ActionsGrant {
            claims,
            expires_at: now + ACTIONS_GRANT_LIFETIME,
        };
        Ok(self.sealer.seal(Purpose::ActionsTokenRequest, &grant)?)
    }

    /// GitHub's token request endpoint: a token for the grant's claim set, with
    /// `audience` (GitHub's `&audience=` parameter) when given.
    pub fn mint_for_actions_grant(
        &self,
        grant: &str,
        audience: Option<&str>,
        now: i64,
    ) -> Result<String, ActionsTokenError> {
        let issuer = self
            .issuer
            .as_ref()
            .ok_or(ActionsTokenError::Unauthorized)?;
        let grant: ActionsGrant = self
            .sealer
            .open(Purpose::ActionsTokenRequest, grant)
            .filter(|g: &ActionsGrant| g.expires_at > now)
            .ok_or(ActionsTokenError::Unauthorized)?;
        let mut claims = grant.claims;
        if let Some(audience) = audience {
            if audience.is_empty() || audience.len() > 1024 {
                return Err(MintError::Invalid(
                    "audience must be between 1 and 1024 characters".into(),
                )
                .into());
            }
            claims.audience = Some(audience.to_owned());
        }
        Ok(issuer.mint(&claims, now)?)
    }
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// GitHub's claims for a workflow run, per GitHub's OIDC reference.
fn github_claims(req: &MintRequest, now: i64) -> Result<Value, MintError> {
    let (owner, repo) = req
        .repository
        .split_once('/')
        .filter(|(o, r)| valid_slug(o) && valid_slug(r))
        .ok_or_else(|| MintError::Invalid("repository must be OWNER/REPO".into()))?;
    let git_ref = req
        .git_ref
        .clone()
        .unwrap_or_else(|| "refs/heads/main".into());
    if !git_ref.starts_with("refs/") || git_ref.len() > 255 || git_ref.contains(char::is_whitespace)
    {
        return Err(MintError::Invalid(
            "ref must look like refs/heads/NAME, refs/tags/NAME or refs/pull/N/merge".into(),
        ));
    }
    let event_name = req.event_name.clone().unwrap_or_else(|| "push".into());
    let audience = req
        .audience
        .clone()
        .unwrap_or_else(|| format!("https://github.com/{owner}"));
    let lifetime = req.expires_in.unwrap_or(DEFAULT_LIFETIME);
    if lifetime.abs() > 24 * 3600 {
        return Err(MintError::Invalid("expires_in must be within a day".into()));
    }
    let repository = format!("{owner}/{repo}");
    let context = match (&req.environment, event_name.as_str()) {
        (Some(env), _) => format!("environment:{env}"),
        (None, "pull_request" | "pull_request_target") => "pull_request".to_owned(),
        (None, _) => format!("ref:{git_ref}"),
    };
    // Stable ids derived from names, so the same repository keeps its ids across tokens.
    let owner_id = req.owner_id.unwrap_or_else(|| stable_id(owner));
    let repository_id = req
        .repository_id
        .unwrap_or_else(|| stable_id(&format!("{owner}/{repo}")));
    let sub = match req.subject_format.as_deref() {
        None | Some("legacy") => format!("repo:{repository}:{context}"),
        Some("immutable") => {
            format!("repo:{owner}@{owner_id}/{repo}@{repository_id}:{context}")
        }
        Some(other) => {
            return Err(MintError::Invalid(format!(
                "subject_format `{other}` is neither legacy nor immutable"
            )));
        }
    };
    let ref_type = if git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "branch"
    };
    let sha = req
        .sha
        .clone()
        .unwrap_or_else(|| hex::encode(random_bytes::<20>()));
    let actor = req.actor.clone().unwrap_or_else(|| owner.to_owned());
    let workflow_ref = format!("{repository}/.github/workflows/ecr-push.yml@{git_ref}");
    let run_id = req
        .run_id
        .unwrap_or_else(|| u64::from_be_bytes(random_bytes::<8>()) % 10_000_000_000);
    let mut claims = json!({
        "jti": uuid(),
        "sub": sub,
        "aud": audience,
        "ref": git_ref,
        "sha": sha,
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": owner_id.to_string(),
        "repository_id": repository_id.to_string(),
        "repository_visibility": "private",
        "run_id": run_id.to_string(),
        "run_number": "1",
        "run_attempt": "1",
        "actor": actor,
        "actor_id": stable_id(&actor).to_string(),
        "triggering_actor": actor,
        "workflow": "ecr-push",
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "head_ref": "",
        "base_ref": "",
        "event_name": event_name,
        "ref_type": ref_type,
        "ref_protected": "false",
        "runner_environment": "github-hosted",
        "iss": GITHUB_ISSUER,
        // GitHub backdates nbf and gives tokens five minutes.
        "nbf": now - 600,
        "iat": now,
        "exp": now + lifetime,
    });
    if let (Some(env), Some(map)) = (&req.environment, claims.as_object_mut()) {
        map.insert("environment".into(), Value::String(env.clone()));
    }
    Ok(claims)
}

fn stable_id(name: &str) -> u64 {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(d.as_ref().get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(b) % 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(repository: &str) -> MintRequest {
        MintRequest {
            repository: repository.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn keys_rotate_and_tokens_of_the_old_key_verify_until_it_goes() {
        let store = berth_store_sql::SqlStore::open_sqlite_in_memory()
            .await
            .unwrap();
        let config = ServerConfig {
            account_id: berth_types::AccountId::parse("123456789012").unwrap(),
            region: "us-east-1".into(),
            public_url: "http://127.0.0.1:5000".into(),
            dev: true,
            allow_unscoped_github_trust: false,
        };
        let issuer = DevIssuer::load(&store, &config).await.unwrap();
        let now = crate::now_unix();
        let kid = |token: &str| {
            berth_jwt::decode_unverified(token)
                .unwrap()
                .header()
                .kid
                .clone()
                .unwrap()
        };
        let verifies = |token: &str, jwks: &JwkSet| {
            berth_jwt::decode_unverified(token)
                .unwrap()
                .verify_signature(jwks)
                .is_ok()
        };
        let old = issuer.mint(&req("octo/app"), now).unwrap();

        let rotated = now + ROTATION.rotate_every;
        issuer.refresh_at(&store, rotated).await.unwrap();
        assert_eq!(issuer.jwks().keys.len(), 2, "published before it signs");
        assert_eq!(kid(&issuer.mint(&req("octo/app"), now).unwrap()), kid(&old));

        let active = rotated + key_rotation::ACTIVATION_DELAY;
        issuer.refresh_at(&store, active).await.unwrap();
        let new = issuer.mint(&req("octo/app"), now).unwrap();
        assert_ne!(kid(&new), kid(&old));
        assert!(verifies(&old, &issuer.jwks()) && verifies(&new, &issuer.jwks()));

        issuer
            .refresh_at(&store, active + ROTATION.retained_for())
            .await
            .unwrap();
        // (By then the next rotation is due too: a third key is published.)
        assert!(!verifies(&old, &issuer.jwks()) && verifies(&new, &issuer.jwks()));
    }

    #[test]
    fn subject_formats() {
        let c = github_claims(&req("octo/app"), 1000).unwrap();
        assert_eq!(c["sub"], "repo:octo/app:ref:refs/heads/main");
        assert_eq!(c["exp"], 1300);
        let mut r = req("octo/app");
        r.environment = Some("prod".into());
        assert_eq!(
            github_claims(&r, 0).unwrap()["sub"],
            "repo:octo/app:environment:prod"
        );
        let mut r = req("octo/app");
        r.event_name = Some("pull_request".into());
        r.git_ref = Some("refs/pull/1/merge".into());
        assert_eq!(
            github_claims(&r, 0).unwrap()["sub"],
            "repo:octo/app:pull_request"
        );
        let mut r = req("octo/app");
        r.git_ref = Some("refs/tags/v1".into());
        let c = github_claims(&r, 0).unwrap();
        assert_eq!(c["sub"], "repo:octo/app:ref:refs/tags/v1");
        assert_eq!(c["ref_type"], "tag");
        assert!(github_claims(&req("octo"), 0).is_err());
        let mut r = req("octo/app");
        r.owner_id = Some(42);
        r.repository_id = Some(7);
        r.subject_format = Some("immutable".into());
        let c = github_claims(&r, 0).unwrap();
        assert_eq!(c["sub"], "repo:octo@42/app@7:ref:refs/heads/main");
        assert_eq!(c["repository_id"], "7");
        assert_eq!(c["repository_owner_id"], "42");
        r.subject_format = Some("other".into());
        assert!(github_claims(&r, 0).is_err());
        assert!(github_claims(&req("a b/c"), 0).is_err());
    }
}
