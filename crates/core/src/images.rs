//! Repository content shared by the ECR API and the registry: uploads, blobs, manifests,
//! tags. No authorization here: callers authorize first, as the ECR action they serve.

use std::sync::Arc;

use berth_oci::{Descriptor, Manifest, ManifestKind};
use berth_store::{
    BlobReader, Conflict, ManifestRecord, PutManifestOutcome, RepositoryRecord, StoreError,
    UploadReader, UploadRecord,
};
use berth_types::{Digest, DigestAlgorithm, Reference, RepositoryName, Tag};

use crate::Registry;
use crate::authorized::Authorized;
use crate::error::InternalError;

/// ECR's minimum size of every layer part but the last.
pub const MIN_PART_SIZE: i64 = 5 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("upload not found")]
    UploadNotFound,
    #[error("chunk starts at {offset}, but the upload has {current} bytes")]
    OffsetMismatch { offset: u64, current: u64 },
    /// `what` is `content` (a blob) or `manifest`.
    #[error("{what} digest {actual} does not match {expected}")]
    DigestMismatch {
        what: &'static str,
        expected: Digest,
        actual: Digest,
    },
    #[error("the upload is empty")]
    EmptyUpload,
    #[error("manifest references blobs not in the repository: {}", digest_list(.0))]
    BlobsUnknown(Vec<Digest>),
    #[error("manifest references manifests not in the repository: {}", digest_list(.0))]
    ManifestsUnknown(Vec<Digest>),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("manifest unknown")]
    ManifestUnknown,
    #[error("blob unknown")]
    BlobUnknown,
    /// ECR's words, also the registry's.
    #[error(
        "The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten because the repository is immutable."
    )]
    TagImmutable { tag: String, repository: String },
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Digests for a message: comma-separated, at most five, then how many more (a manifest
/// may list thousands, and an error message stays short).
fn digest_list(digests: &[Digest]) -> String {
    const SHOWN: usize = 5;
    let mut text = digests
        .iter()
        .take(SHOWN)
        .map(Digest::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if digests.len() > SHOWN {
        text.push_str(&format!(" and {} more", digests.len() - SHOWN));
    }
    text
}

/// A blob store refusing bytes that do not hash to their digest is the client's error.
impl From<StoreError> for ImageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::DigestMismatch { expected, actual }) => {
                Self::DigestMismatch {
                    what: "content",
                    expected,
                    actual,
                }
            }
            e => Self::Internal(e.into()),
        }
    }
}

/// A stored manifest and its bytes.
pub struct StoredManifest {
    pub record: ManifestRecord,
    pub bytes: Arc<[u8]>,
}

pub fn sha256_digest(bytes: &[u8]) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    Digest::from_bytes(DigestAlgorithm::Sha256, d.as_ref())
}

impl Registry<'_> {
    pub async fn start_upload(
        &self,
        repository: &Authorized<RepositoryRecord>,
    ) -> Result<Authorized<UploadRecord>, ImageError> {
        let id = crate::ids::uuid();
        self.blobs.create_upload(&id).await?;
        let upload = UploadRecord {
            id,
            repository: repository.name.clone(),
            created_at: crate::now_unix(),
            last_part_size: None,
            small_part_seen: false,
        };
        self.metadata.create_upload(&upload).await?;
        Ok(Authorized::granted(upload))
    }

    /// The upload, if it exists and belongs to `repository`: what a request authorised
    /// on the repository may touch.
    pub async fn upload(
        &self,
        repository: &Authorized<RepositoryRecord>,
        id: &str,
    ) -> Result<Authorized<UploadRecord>, ImageError> {
        match self.metadata.get_upload(id).await? {
            Some(u) if u.repository == repository.name => Ok(Authorized::granted(u)),
            _ => Err(ImageError::UploadNotFound),
        }
    }

    pub async fn upload_len(&self, upload: &Authorized<UploadRecord>) -> Result<u64, ImageError> {
        match self.blobs.upload_len(&upload.id).await {
            Err(StoreError::NotFound) => Err(ImageError::UploadNotFound),
            other => Ok(other?),
        }
    }

    /// Appends a chunk at `offset` (the current length when the client gave none).
    pub async fn append_chunk(
        &self,
        upload: &Authorized<UploadRecord>,
        offset: Option<u64>,
        chunk: UploadReader<'_>,
    ) -> Result<u64, ImageError> {
        let id = upload.id.as_str();
        // The store checks the offset as it appends: no separate length lookup first.
        let appended = match offset {
            Some(offset) => self.blobs.append_upload(id, offset, chunk).await,
            None => self.blobs.append_upload_at_end(id, chunk).await,
        };
        match appended {
            Err(StoreError::NotFound) => Err(ImageError::UploadNotFound),
            Err(StoreError::Conflict(
                Conflict::UploadOffset { .. } | Conflict::UploadFinalised,
            )) => {
                let current = self.upload_len(upload).await?;
                Err(ImageError::OffsetMismatch {
                    offset: offset.unwrap_or(current),
                    current,
                })
            }
            other => Ok(other?),
        }
    }

    /// Verifies and stores the upload as `digest`, linked into the repository.
    pub async fn complete_upload(
        &self,
        upload: &Authorized<UploadRecord>,
        digest: &Digest,
    ) -> Result<u64, ImageError> {
        let (repository, id) = (&upload.repository, upload.id.as_str());
        // Leased from before the bytes are stored until they are linked (see `gc`).
        let lease = self.lease_blobs(std::slice::from_ref(digest)).await?;
        let result = self.commit_and_link(repository, id, digest).await;
        self.release_blob_lease(lease).await;
        result
    }

    /// Stores a whole blob that arrived in one piece, verified against `digest`, and links
    /// it into the repository: one write to the blob store, no upload.
    pub async fn put_blob(
        &self,
        repository: &Authorized<RepositoryRecord>,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<u64, ImageError> {
        let size =
            i64::try_from(bytes.len()).map_err(|_| InternalError("blob too large".into()))?;
        // Leased from before the bytes are stored until they are linked (see `gc`).
        let lease = self.lease_blobs(std::slice::from_ref(digest)).await?;
        let result = async {
            self.blobs.put(digest, bytes).await?;
            self.metadata
                .link_blob(&repository.name, digest, size)
                .await?;
            Ok(bytes.len() as u64)
        }
        .await;
        self.release_blob_lease(lease).await;
        result
    }

    async fn commit_and_link(
        &self,
        repository: &RepositoryName,
        id: &str,
        digest: &Digest,
    ) -> Result<u64, ImageError> {
        let size = match self.blobs.commit_upload(id, digest).await {
            Err(StoreError::NotFound) => return Err(ImageError::UploadNotFound),
            other => other?,
        };
        let size_i64 = i64::try_from(size).map_err(|_| InternalError("blob too large".into()))?;
        self.metadata
            .link_blob(repository, digest, size_i64)
            .await?;
        self.metadata.delete_upload(id).await?;
        Ok(size)
    }

    pub async fn cancel_upload(&self, upload: &Authorized<UploadRecord>) -> Result<(), ImageError> {
        self.blobs.delete_upload(&upload.id).await?;
        self.metadata.delete_upload(&upload.id).await?;
        Ok(())
    }

    /// The size of a blob the repository may serve.
    pub async fn blob_size(
        &self,
        repository: &Authorized<RepositoryRecord>,
        digest: &Digest,
    ) -> Result<Option<u64>, ImageError> {
        Ok(self
            .metadata
            .blob_link(&repository.name, digest)
            .await?
            .and_then(|s| u64::try_from(s).ok()))
    }

    pub async fn open_blob(
        &self,
        repository: &Authorized<RepositoryRecord>,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobReader, ImageError> {
        if self.blob_size(repository, digest).await?.is_none() {
            return Err(ImageError::BlobUnknown);
        }
        match self.blobs.open(digest, range).await {
            Err(StoreError::NotFound) => Err(ImageError::BlobUnknown),
            other => Ok(other?),
        }
    }

    /// Links a blob that `from` holds into `to` without copying bytes (a cross-repository
    /// mount). `None` when `from` has no such blob; the caller then starts an upload.
    pub async fn mount_blob(
        &self,
        from: &Authorized<RepositoryRecord>,
        to: &Authorized<RepositoryRecord>,
        digest: &Digest,
    ) -> Result<Option<u64>, ImageError> {
        // Leased before the checks, so the collector cannot take the bytes between the
        // check and the link (see `gc`).
        let lease = self.lease_blobs(std::slice::from_ref(digest)).await?;
        let result = async {
            let Some(size) = self.metadata.blob_link(&from.name, digest).await? else {
                return Ok(None);
            };
            // The link is only as good as the bytes behind it.
            if self.blobs.stat(digest).await?.is_none() {
                return Ok(None);
            }
            self.metadata.link_blob(&to.name, digest, size).await?;
            Ok(u64::try_from(size).ok())
        }
        .await;
        self.release_blob_lease(lease).await;
        result
    }

    /// Removes a blob from a repository. The bytes stay until garbage collection finds
    /// nothing referencing them.
    pub async fn delete_blob(
        &self,
        repository: &Authorized<RepositoryRecord>,
        digest: &Digest,
    ) -> Result<(), ImageError> {
        match self.metadata.unlink_blob(&repository.name, digest).await {
            Err(StoreError::NotFound) => Err(ImageError::BlobUnknown),
            other => Ok(other?),
        }
    }

    /// Deletes a manifest (with every tag on it) by digest, or only a tag.
    pub async fn delete_manifest_reference(
        &self,
        repository: &Authorized<RepositoryRecord>,
        reference: &Reference,
    ) -> Result<(), ImageError> {
        let name = &repository.name;
        let result = match reference {
            Reference::Digest(d) => self.metadata.delete_manifest(name, d).await,
            Reference::Tag(t) => self.metadata.delete_tag(name, t).await,
        };
        match result {
            Err(StoreError::NotFound) => Err(ImageError::ManifestUnknown),
            other => Ok(other?),
        }
    }

    /// The referrers of `subject` in the repository, as descriptors for the referrers API,
    /// keeping those whose artifact type is `artifact_type` when one is given. The subject
    /// itself need not exist.
    pub async fn referrers(
        &self,
        repository: &Authorized<RepositoryRecord>,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, ImageError> {
        let records = self
            .metadata
            .list_referrers(&repository.name, subject)
            .await?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            // The record's artifact type is the manifest's effective one (set on push).
            if artifact_type.is_some_and(|t| record.artifact_type.as_deref() != Some(t)) {
                continue;
            }
            let stored = match self
                .get_manifest(repository, &Reference::Digest(record.digest.clone()))
                .await
            {
                Ok(m) => m,
                // Deleted between the listing and the read.
                Err(ImageError::ManifestUnknown) => continue,
                Err(e) => return Err(e),
            };
            // Stored manifests were validated on push; annotations come from the bytes.
            let manifest = Manifest::parse(&stored.bytes, Some(&record.media_type))
                .map_err(|e| InternalError(format!("stored manifest does not parse: {e}")))?;
            let size = u64::try_from(stored.bytes.len())
                .map_err(|_| InternalError("manifest too large".into()))?;
            out.push(manifest.referrer_descriptor(record.digest, size));
        }
        Ok(out)
    }

    pub async fn resolve_reference(
        &self,
        repository: &Authorized<RepositoryRecord>,
        reference: &Reference,
    ) -> Result<Option<Digest>, ImageError> {
        match reference {
            Reference::Digest(d) => Ok(Some(d.clone())),
            Reference::Tag(t) => Ok(self.metadata.resolve_tag(&repository.name, t).await?),
        }
    }

    /// A page of the repository's tags: up to `limit` after `after`, in lexical order.
    pub async fn list_tags(
        &self,
        repository: &Authorized<RepositoryRecord>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, ImageError> {
        Ok(self
            .metadata
            .list_tags(&repository.name, after, limit)
            .await?)
    }

    pub async fn get_manifest(
        &self,
        repository: &Authorized<RepositoryRecord>,
        reference: &Reference,
    ) -> Result<StoredManifest, ImageError> {
        let digest = self
            .resolve_reference(repository, reference)
            .await?
            .ok_or(ImageError::ManifestUnknown)?;
        let record = self
            .metadata
            .get_manifest(&repository.name, &digest)
            .await?
            .ok_or(ImageError::ManifestUnknown)?;
        if let Some(bytes) = self.manifest_bytes.get(&digest) {
            return Ok(StoredManifest { record, bytes });
        }
        let mut reader = match self.blobs.open(&digest, None).await {
            Err(StoreError::NotFound) => return Err(ImageError::ManifestUnknown),
            other => other?,
        };
        let mut bytes = Vec::with_capacity(usize::try_from(reader.len).unwrap_or(0));
        tokio::io::AsyncReadExt::read_to_end(&mut reader.reader, &mut bytes)
            .await
            .map_err(|e| InternalError(format!("read manifest: {e}")))?;
        let bytes: Arc<[u8]> = bytes.into();
        self.manifest_bytes.insert(&digest, bytes.clone());
        Ok(StoredManifest { record, bytes })
    }

    /// Validates and stores a manifest, pointing `tag` at it. `expected` is the digest the
    /// client named, if any.
    pub async fn put_manifest(
        &self,
        repository: &Authorized<RepositoryRecord>,
        bytes: &[u8],
        content_type: Option<&str>,
        tag: Option<&Tag>,
        expected: Option<&Digest>,
    ) -> Result<(Digest, PutManifestOutcome, ManifestRecord), ImageError> {
        let manifest = Manifest::parse(bytes, content_type)
            .map_err(|e| ImageError::ManifestInvalid(e.to_string()))?;
        let digest = match expected {
            Some(d) if d.algorithm() == DigestAlgorithm::Sha512 => {
                let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, bytes);
                Digest::from_bytes(DigestAlgorithm::Sha512, h.as_ref())
            }
            _ => sha256_digest(bytes),
        };
        if let Some(expected) = expected
            && expected != &digest
        {
            return Err(ImageError::DigestMismatch {
                what: "manifest",
                expected: expected.clone(),
                actual: digest,
            });
        }
        // The manifest's own digest and every digest it references stay leased until its
        // record is stored, so the collector cannot take them in between (see `gc`).
        let mut leased = vec![digest.clone()];
        leased.extend(manifest.blob_references().map(|d| d.digest.clone()));
        let lease = self.lease_blobs(&leased).await?;
        let result = self
            .store_manifest(repository, &manifest, bytes, digest, tag)
            .await;
        self.release_blob_lease(lease).await;
        result
    }

    async fn store_manifest(
        &self,
        repository: &RepositoryRecord,
        manifest: &Manifest,
        bytes: &[u8],
        digest: Digest,
        tag: Option<&Tag>,
    ) -> Result<(Digest, PutManifestOutcome, ManifestRecord), ImageError> {
        let name = &repository.name;
        let mut missing = Vec::new();
        let mut image_size: i64 = 0;
        let mut blobs = Vec::new();
        for d in manifest.blob_references() {
            match self.metadata.blob_link(name, &d.digest).await? {
                Some(size) => image_size += size,
                // A non-distributable layer, or one with `urls`, is fetched from elsewhere:
                // the manifest is accepted without it, and references only the blobs the
                // registry holds (so garbage collection has nothing to look for).
                None if d.is_external() => continue,
                None => missing.push(d.digest.clone()),
            }
            blobs.push(d.digest.clone());
        }
        if !missing.is_empty() {
            return Err(ImageError::BlobsUnknown(missing));
        }
        let mut children = Vec::new();
        if matches!(manifest.kind, ManifestKind::Index) {
            let mut missing = Vec::new();
            for child in &manifest.manifests {
                match self.metadata.get_manifest(name, &child.digest).await? {
                    Some(m) => image_size = image_size.max(m.image_size),
                    None => missing.push(child.digest.clone()),
                }
                children.push(child.digest.clone());
            }
            if !missing.is_empty() {
                return Err(ImageError::ManifestsUnknown(missing));
            }
        }
        let size =
            i64::try_from(bytes.len()).map_err(|_| InternalError("manifest too large".into()))?;
        let record = ManifestRecord {
            repository: name.clone(),
            digest: digest.clone(),
            media_type: manifest.media_type.clone(),
            size,
            image_size,
            pushed_at: crate::now_unix(),
            artifact_type: manifest
                .artifact_type
                .clone()
                .or_else(|| manifest.config.as_ref().map(|c| c.media_type.clone())),
            subject: manifest.subject.as_ref().map(|s| s.digest.clone()),
            blobs,
            children,
        };
        // Bytes first: a manifest record never names bytes that are not durable.
        self.blobs.put(&digest, bytes).await?;
        let immutable = tag.is_some_and(|t| {
            repository
                .image_tag_mutability
                .tag_is_immutable(t.as_str(), &repository.tag_mutability_exclusions)
        });
        let outcome = match self.metadata.put_manifest(&record, tag, immutable).await {
            Err(StoreError::Conflict(Conflict::TagImmutable)) => {
                return Err(ImageError::TagImmutable {
                    tag: tag.map(|t| t.to_string()).unwrap_or_default(),
                    repository: name.to_string(),
                });
            }
            other => other?,
        };
        Ok((digest, outcome, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_digests_are_listed_plainly_and_briefly() {
        let digests: Vec<Digest> = (0..7u8)
            .map(|n| Digest::from_bytes(DigestAlgorithm::Sha256, &[n; 32]))
            .collect();
        let message = ImageError::BlobsUnknown(digests.clone()).to_string();
        assert!(
            !message.contains("Digest(") && !message.contains('['),
            "{message}"
        );
        assert!(message.ends_with(" and 2 more"), "{message}");
        assert!(message.contains(digests[0].as_str()));
    }
}
