//! Berth's services as plain async Rust: typed inputs, typed outputs, typed errors, no
//! HTTP. The `api` crate adapts them to AWS's and the OCI distribution spec's wire formats.

#[macro_use]
mod operation_table;

pub mod actions;
pub mod audit;
pub mod authorized;
pub mod authorizer;
pub mod caller;
pub mod config;
pub mod ecr;
pub mod ecr_tags;
pub mod error;
pub mod gc;
pub mod github_trust;
pub mod iam;
pub mod ids;
pub mod images;
pub mod issuer;
pub mod jobs;
pub mod jwks;
pub mod key_rotation;
pub mod keys;
pub mod lifecycle;
pub mod manifest_cache;
pub mod model;
pub mod pull_through;
pub mod registry;
pub mod role_usage;
pub mod sealer;
pub mod sts;
pub mod upload_slots;
pub mod upstream;

use std::sync::Arc;

use berth_store::{BlobStore, MetadataStore};

pub use caller::{Caller, RoleSession};
pub use config::ServerConfig;

/// Current time in unix seconds. The one place core reads the clock.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Everything a request handler needs, shared by all of them.
pub struct Services {
    pub config: ServerConfig,
    // The stores and the authorizer are core's own: a request reaches a repository's
    // content only through functions that take the authorizer's proof (`authorized`).
    pub(crate) metadata: Arc<dyn MetadataStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) authorizer: authorizer::Authorizer,
    pub sealer: sealer::Sealer,
    pub issuer: Option<issuer::DevIssuer>,
    pub jwks: jwks::JwksCache,
    pub root: keys::RootCredentials,
    /// The bound on uploads a principal streams at once (replace before serving).
    pub upload_slots: upload_slots::UploadSlots,
    /// Manifest bytes by digest (content-addressed: never stale).
    pub manifest_bytes: manifest_cache::ManifestCache,
    /// The audit trail (off unless replaced before serving, and its writer spawned).
    pub audit_trail: audit::AuditTrail,
    /// Roles assumed since the last flush (`flush_role_usage`).
    pub(crate) role_usage: role_usage::RoleUsage,
    /// Users' access keys used since the last flush.
    pub(crate) key_usage: role_usage::RecentUses,
    /// Images pulled since the last flush (`repository@digest`).
    pub(crate) pull_usage: role_usage::RecentUses,
    /// Seals users' secret access keys (a key derived from the root secret).
    pub(crate) access_key_secrets: iam::user::AccessKeySecrets,
    /// The pull-through cache's upstream client (replace before serving to allow any
    /// upstream or change the refresh time).
    pub upstreams: upstream::Upstreams,
}

/// Declares the per-API views of the services: each is the shared state seen through one
/// API's operations (its own `impl` in its own module), so a reader finds IAM's
/// operations under `services.iam()`, ECR's under `services.ecr()`, and no two APIs share
/// a method namespace.
macro_rules! service_views {
    ($($(#[$doc:meta])* $view:ident => $accessor:ident,)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy)]
            pub struct $view<'a>(&'a Services);

            impl std::ops::Deref for $view<'_> {
                type Target = Services;

                fn deref(&self) -> &Services {
                    self.0
                }
            }
        )*

        impl Services {
            $(
                pub fn $accessor(&self) -> $view<'_> {
                    $view(self)
                }
            )*
        }
    };
}

service_views! {
    /// IAM: OIDC providers, roles, policies, tags, simulation (`iam`).
    Iam => iam,
    /// STS: AssumeRoleWithWebIdentity, AssumeRole, GetCallerIdentity (`sts`).
    Sts => sts,
    /// The ECR API (`ecr`, `ecr_tags`, `ecr::lifecycle_policy`).
    Ecr => ecr,
    /// The `/v2` registry and the repository content it shares with ECR: manifests,
    /// blobs, uploads (`registry`, `images`).
    Registry => registry,
    /// The dev issuer's token minting (`issuer`).
    Issuer => issuer,
    /// CloudTrail's event lookup over the audit trail (`audit`).
    CloudTrail => cloudtrail,
}

impl Services {
    /// The stores, for the server's own background jobs (garbage collection, upload
    /// expiry, key refresh, job leases), which act for no caller. Request handling never
    /// uses them: it goes through the services, which authorise first.
    pub fn stores_for_background_jobs(&self) -> (&Arc<dyn MetadataStore>, &Arc<dyn BlobStore>) {
        (&self.metadata, &self.blobs)
    }

    /// Whether both stores answer within `wait` each: `Err` names the one that does not.
    pub async fn readiness(&self, wait: std::time::Duration) -> Result<(), String> {
        match tokio::time::timeout(wait, self.metadata.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("the metadata store: {e}")),
            Err(_) => return Err("the metadata store did not answer in time".into()),
        }
        // Any digest will do: the question is whether the store answers, not what.
        let Ok(probe) = berth_types::Digest::parse(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ) else {
            return Err("the readiness probe's digest does not parse".into());
        };
        match tokio::time::timeout(wait, self.blobs.stat(&probe)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the blob store: {e}")),
            Err(_) => Err("the blob store did not answer in time".into()),
        }
    }

    /// Loads (or creates on first start) the signing keys and assembles the services.
    pub async fn new(
        config: ServerConfig,
        metadata: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        root: keys::RootCredentials,
    ) -> Result<Self, error::InternalError> {
        let sealer = sealer::Sealer::load(metadata.as_ref()).await?;
        let issuer = if config.dev {
            Some(issuer::DevIssuer::load(metadata.as_ref(), &config).await?)
        } else {
            None
        };
        let authorizer = authorizer::Authorizer::new(metadata.clone());
        let jwks = jwks::JwksCache::new(config.dev)?;
        let access_key_secrets = iam::user::AccessKeySecrets::new(&root.secret_access_key)?;
        Ok(Self {
            config,
            metadata,
            blobs,
            authorizer,
            sealer,
            issuer,
            jwks,
            root,
            upload_slots: upload_slots::UploadSlots::default(),
            manifest_bytes: manifest_cache::ManifestCache::default(),
            audit_trail: audit::AuditTrail::new(false),
            role_usage: role_usage::RoleUsage::default(),
            key_usage: role_usage::RecentUses::default(),
            pull_usage: role_usage::RecentUses::default(),
            access_key_secrets,
            upstreams: upstream::Upstreams::default(),
        })
    }
}
