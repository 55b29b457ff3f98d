//! The pull-through cache's pulls: a manifest asked of a repository under a rule's
//! prefix is fetched from the upstream registry when Berth does not have it, or when its
//! tag was last checked upstream longer ago than the refresh time (24 hours, as in ECR).
//! The image is imported whole (an index with every manifest it lists, each manifest with
//! its config and layers), every byte verified against its digest, and then served from
//! Berth like a pushed one. When the upstream cannot answer a refresh, the cached image
//! is served.

use berth_oci::{ErrorCode, Manifest, ManifestKind};
use berth_store::RepositoryRecord;
use berth_types::{Digest, Reference};

use crate::actions::ECR_BATCH_IMPORT_UPSTREAM_IMAGE;
use crate::authorized::Authorized;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::ecr::pull_through_cache::PullThroughRule;
use crate::error::RegistryError;
use crate::images::{ImageError, StoredManifest, sha256_digest};
use crate::upstream::{UpstreamBase, UpstreamError};
use crate::{Registry, error::EcrError};

/// Manifests an index may list for an import (multi-platform images list a dozen).
const INDEX_MANIFESTS_MAX: usize = 64;
/// Blob bytes buffered before each write to the store.
const CHUNK: usize = 4 * 1024 * 1024;
/// The largest layer imported (ECR's own bound on a layer is about 52 GB; a pull-through
/// cache fed from the public registries has no use for more than this).
pub const BLOB_MAX: u64 = 10 * 1024 * 1024 * 1024;
/// An import (an image and its layers) that takes longer is abandoned: a slow upstream
/// must not hold a pull, or the import's turn, for ever.
const IMPORT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Where an import reads from.
struct Source {
    base: UpstreamBase,
    repository: String,
}

impl Registry<'_> {
    /// The manifest a pull asks for, filled from upstream first in a pull-through cache
    /// repository (see the module's description). Filling needs
    /// `ecr:BatchImportUpstreamImage`: a caller without it is served what is cached.
    pub async fn pull_manifest(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        repository: &Authorized<RepositoryRecord>,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        let cached = match self.get_manifest(repository, reference).await {
            Ok(stored) => Some(stored),
            Err(ImageError::ManifestUnknown) => None,
            Err(e) => return Err(e.into()),
        };
        let refresh_key = format!("{}:{reference}", repository.name);
        let due = match (reference, &cached) {
            (_, None) => true,
            // Content addressed: a cached digest never changes.
            (Reference::Digest(_), Some(_)) => false,
            (Reference::Tag(_), Some(_)) => !self.upstreams.fresh(&refresh_key),
        };
        if !due {
            return cached.ok_or_else(|| ImageError::ManifestUnknown.into());
        }
        let rule = self
            .ecr()
            .pull_through_rule_for(&repository.name)
            .await
            .map_err(ecr_internal)?;
        let Some((rule, upstream_repository)) = rule else {
            return cached.ok_or_else(|| ImageError::ManifestUnknown.into());
        };
        // Decided with the repository's policy, as every action on it is.
        let may_import = self
            .authorize_actions(
                caller,
                facts,
                &[ECR_BATCH_IMPORT_UPSTREAM_IMAGE],
                &repository.name,
            )
            .await;
        match (may_import, cached) {
            (Ok(_), cached) => {
                // Another pull may have imported it while this one waited its turn.
                let _turn = self.upstreams.import_turn(&refresh_key).await;
                let cached = match cached {
                    Some(cached) => Some(cached),
                    None => match self.get_manifest(repository, reference).await {
                        Ok(stored) => return Ok(stored),
                        Err(ImageError::ManifestUnknown) => None,
                        Err(e) => return Err(e.into()),
                    },
                };
                if cached.is_some() && self.upstreams.fresh(&refresh_key) {
                    return Ok(self.get_manifest(repository, reference).await?);
                }
                let imported = self
                    .import(&rule, upstream_repository, repository, reference)
                    .await;
                match (imported, cached) {
                    (Ok(()), _) => {
                        self.upstreams.mark_fresh(&refresh_key);
                        Ok(self.get_manifest(repository, reference).await?)
                    }
                    (Err(e), Some(cached)) => {
                        tracing::warn!(repository = %repository.name, %reference, error = %e, "pull-through refresh failed: serving the cached image");
                        Ok(cached)
                    }
                    (Err(e), None) => Err(e),
                }
            }
            (Err(RegistryError::Internal(e)), _) => Err(RegistryError::Internal(e)),
            (Err(_), Some(cached)) => Ok(cached),
            (Err(denied), None) => Err(denied),
        }
    }

    /// Imports the image `reference` names from the rule's upstream into `repository`.
    async fn import(
        &self,
        rule: &PullThroughRule,
        upstream_repository: String,
        repository: &Authorized<RepositoryRecord>,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let base = rule
            .upstream(self.upstreams.allow_any)
            .map_err(|e| RegistryError::oci(ErrorCode::ManifestUnknown, e.to_string()))?;
        let source = Source {
            base,
            repository: upstream_repository,
        };
        let (tag, digest) = match reference {
            Reference::Tag(t) => (Some(t), None),
            Reference::Digest(d) => (None, Some(d)),
        };
        // Imports server-wide are bounded (each holds a buffer), and each in time.
        let _permit = self.upstreams.import_permit().await;
        tokio::time::timeout(
            IMPORT_DEADLINE,
            self.import_manifest(&source, repository, &reference.to_string(), tag, digest, 0),
        )
        .await
        .map_err(|_| {
            RegistryError::oci(
                ErrorCode::ManifestUnknown,
                format!("importing {reference} from the upstream registry took too long"),
            )
        })??;
        tracing::info!(repository = %repository.name, %reference, upstream = %source.base.authority, upstream_repository = %source.repository, "image imported through the pull-through cache");
        Ok(())
    }

    /// Imports one manifest and what it references (for an index, its manifests first).
    async fn import_manifest(
        &self,
        source: &Source,
        repository: &Authorized<RepositoryRecord>,
        reference: &str,
        tag: Option<&berth_types::Tag>,
        expected: Option<&Digest>,
        depth: u8,
    ) -> Result<(), RegistryError> {
        let (bytes, content_type) = self
            .upstreams
            .manifest(&source.base, &source.repository, reference)
            .await
            .map_err(upstream_error)?;
        if let Some(expected) = expected
            && expected.algorithm() == berth_types::DigestAlgorithm::Sha256
            && &sha256_digest(&bytes) != expected
        {
            return Err(RegistryError::oci(
                ErrorCode::ManifestUnknown,
                format!("the upstream registry's manifest {expected} does not hash to its digest"),
            ));
        }
        let manifest = Manifest::parse(&bytes, content_type.as_deref()).map_err(|e| {
            RegistryError::oci(
                ErrorCode::ManifestUnknown,
                format!("the upstream registry's manifest {reference} is not valid: {e}"),
            )
        })?;
        if matches!(manifest.kind, ManifestKind::Index) {
            if depth > 0 || manifest.manifests.len() > INDEX_MANIFESTS_MAX {
                return Err(RegistryError::oci(
                    ErrorCode::ManifestUnknown,
                    format!(
                        "the upstream registry's index {reference} nests indexes or lists more than {INDEX_MANIFESTS_MAX} manifests"
                    ),
                ));
            }
            for child in &manifest.manifests {
                if self
                    .metadata
                    .get_manifest(&repository.name, &child.digest)
                    .await?
                    .is_none()
                {
                    Box::pin(self.import_manifest(
                        source,
                        repository,
                        child.digest.as_str(),
                        None,
                        Some(&child.digest),
                        depth + 1,
                    ))
                    .await?;
                }
            }
        }
        for blob in manifest.blob_references() {
            if !blob.is_external() {
                self.import_blob(source, repository, &blob.digest, blob.size)
                    .await?;
            }
        }
        self.put_manifest(repository, &bytes, content_type.as_deref(), tag, expected)
            .await?;
        Ok(())
    }

    /// Imports a blob the repository lacks: linked when the store holds it already,
    /// else streamed from upstream through an upload, whose digest check refuses bytes
    /// that are not the blob's.
    async fn import_blob(
        &self,
        source: &Source,
        repository: &Authorized<RepositoryRecord>,
        digest: &Digest,
        declared: u64,
    ) -> Result<(), RegistryError> {
        if self.blob_size(repository, digest).await?.is_some() {
            return Ok(());
        }
        if declared > BLOB_MAX {
            return Err(RegistryError::oci(
                ErrorCode::BlobUnknown,
                format!(
                    "the upstream registry's layer {digest} is {declared} bytes, more than the {BLOB_MAX} a pull-through cache imports"
                ),
            ));
        }
        let mut response = self
            .upstreams
            .blob(&source.base, &source.repository, digest)
            .await
            .map_err(upstream_error)?;
        let upload = self.start_upload(repository).await?;
        let result = async {
            let mut buffer: Vec<u8> = Vec::new();
            let mut received: u64 = 0;
            loop {
                let chunk = response.chunk().await.map_err(|_| {
                    RegistryError::oci(
                        ErrorCode::BlobUnknown,
                        format!("reading blob {digest} from the upstream registry failed"),
                    )
                })?;
                let done = chunk.is_none();
                if let Some(chunk) = chunk {
                    received += chunk.len() as u64;
                    if received > declared {
                        return Err(RegistryError::oci(
                            ErrorCode::BlobUnknown,
                            format!(
                                "the upstream registry's blob {digest} is larger than its manifest says ({declared} bytes)"
                            ),
                        ));
                    }
                    buffer.extend_from_slice(&chunk);
                }
                if !buffer.is_empty() && (done || buffer.len() >= CHUNK) {
                    let mut reader: &[u8] = &buffer;
                    self.append_chunk(&upload, None, &mut reader).await?;
                    buffer.clear();
                }
                if done {
                    break;
                }
            }
            self.complete_upload(&upload, digest).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = self.cancel_upload(&upload).await;
        }
        result
    }
}

fn upstream_error(e: UpstreamError) -> RegistryError {
    match e {
        UpstreamError::NotFound(m) | UpstreamError::Failed(m) => {
            RegistryError::oci(ErrorCode::ManifestUnknown, m)
        }
    }
}

fn ecr_internal(e: EcrError) -> RegistryError {
    RegistryError::of_ecr(e, "pull-through cache")
}
