//! Garbage collection of blob bytes and stale uploads, while the registry keeps serving.
//!
//! # The rule
//!
//! A blob's bytes are deleted only when all of these hold:
//!
//! 1. **Old enough**: its bytes were last written more than `blob_grace` ago. Storing a
//!    blob that already exists (a re-push, a manifest put again) refreshes that time.
//! 2. **Unreferenced**: no repository links it, no manifest in any repository has its
//!    digest or lists it as a config or layer.
//! 3. **Not about to be referenced**: every write that will store or reference a digest
//!    (completing an upload, a cross-repository mount, putting a manifest) first *leases*
//!    the digests it touches in the metadata store, and releases the lease when its
//!    records are written. The collector *claims* a digest in the same transaction that
//!    checks 2 and the absence of live leases, and deletes the bytes only under that
//!    claim; a lease is refused while a live claim stands (the writer waits for the
//!    collector to finish, then writes the bytes afresh).
//!
//! So a writer either leased first (the collector cannot claim) or leases after the
//! claim (and waits until the bytes are gone, then stores its own): no push ever ends up
//! referencing deleted bytes. Leases and claims whose holder died (a crash) stop counting
//! after `LEASE_TTL` and `CLAIM_TTL`.
//!
//! An upload is stale when no bytes were added to it for `upload_max_age` (or, for an
//! upload record without bytes, when it was created that long ago); stale uploads are
//! removed, and a client still holding one gets "upload unknown" and starts again.

use std::time::Duration;

use berth_store::{BlobStore, Conflict, MetadataStore, StoreError};
use berth_types::Digest;

use crate::error::InternalError;
use crate::{Services, now_unix};

/// A lease older than this is from a writer that died: completing an upload, a mount or a
/// manifest put never holds one this long.
pub const LEASE_TTL: i64 = 3600;
/// A claim older than this is from a collector that died between claiming and deleting.
pub const CLAIM_TTL: i64 = 600;
/// How long a writer waits for the collector to finish with a digest it wants.
const LEASE_WAIT: Duration = Duration::from_secs(30);
const LEASE_RETRY: Duration = Duration::from_millis(50);

/// What the collector removes.
#[derive(Debug, Clone, Copy)]
pub struct GcPolicy {
    /// Blobs whose bytes are younger than this are kept whatever references them.
    pub blob_grace: Duration,
    /// Uploads idle for longer than this are removed.
    pub upload_max_age: Duration,
}

impl Default for GcPolicy {
    fn default() -> Self {
        Self {
            blob_grace: Duration::from_secs(3600),
            upload_max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// What one collection did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_seen: u64,
    pub blobs_deleted: u64,
    pub bytes_deleted: u64,
    /// Blobs not considered because they are younger than the grace period.
    pub blobs_too_young: u64,
    pub uploads_deleted: u64,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Runs one collection over the two stores (the registry may be serving from them).
pub async fn collect_garbage(
    metadata: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    policy: GcPolicy,
) -> Result<GcReport, InternalError> {
    let mut report = GcReport::default();
    let started = now_unix();
    metadata
        .prune_blob_leases_and_claims(started.saturating_sub(LEASE_TTL.max(CLAIM_TTL)))
        .await?;

    let young_since = started.saturating_sub(secs(policy.blob_grace));
    for (digest, written) in blobs.list_blobs().await? {
        report.blobs_seen += 1;
        if written > young_since {
            report.blobs_too_young += 1;
            continue;
        }
        let now = now_unix();
        if !metadata
            .claim_unreferenced_blob(&digest, now, now.saturating_sub(LEASE_TTL))
            .await?
        {
            continue;
        }
        let size = blobs.stat(&digest).await?.unwrap_or(0);
        let deleted = blobs.delete_blob(&digest).await;
        metadata.drop_blob_claim(&digest).await?;
        deleted?;
        tracing::info!(%digest, size, "garbage-collected an unreferenced blob");
        report.blobs_deleted += 1;
        report.bytes_deleted += size;
    }

    report.uploads_deleted = expire_uploads(metadata, blobs, policy.upload_max_age).await?;
    Ok(report)
}

/// Removes uploads to which no bytes were added for `max_age` (and upload records without
/// bytes created that long ago); returns how many. The server runs this on its own
/// schedule (`serve --upload-expiry`), whether or not it collects blobs.
pub async fn expire_uploads(
    metadata: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    max_age: Duration,
) -> Result<u64, InternalError> {
    let stale_before = now_unix().saturating_sub(secs(max_age));
    let mut deleted = 0;
    for (id, written) in blobs.list_uploads().await? {
        if written < stale_before {
            blobs.delete_upload(&id).await?;
            metadata.delete_upload(&id).await?;
            deleted += 1;
        }
    }
    // Records whose bytes never existed or are gone (a crash between the two writes).
    for upload in metadata.list_uploads_created_before(stale_before).await? {
        match blobs.upload_len(&upload.id).await {
            Err(StoreError::NotFound) => {
                metadata.delete_upload(&upload.id).await?;
                deleted += 1;
            }
            other => {
                other?;
            }
        }
    }
    Ok(deleted)
}

/// A lease on digests a write is about to store or reference; release it with
/// [`Services::release_blob_lease`] once the write's records are stored.
#[must_use = "a lease must be released"]
pub struct BlobLease(String);

impl Services {
    /// Leases `digests`, waiting while the collector is deleting one of them.
    pub async fn lease_blobs(&self, digests: &[Digest]) -> Result<BlobLease, InternalError> {
        let lease = crate::ids::uuid();
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        loop {
            let now = now_unix();
            match self
                .metadata
                .lease_blobs(&lease, digests, now, now.saturating_sub(CLAIM_TTL))
                .await
            {
                Ok(()) => return Ok(BlobLease(lease)),
                Err(StoreError::Conflict(m @ Conflict::BlobBeingCollected(_)))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tracing::debug!("{m}; waiting");
                    tokio::time::sleep(LEASE_RETRY).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Ends a lease. A failure only delays collection (the lease expires), so it is
    /// logged rather than failing the write that already succeeded.
    pub async fn release_blob_lease(&self, lease: BlobLease) {
        if let Err(e) = self.metadata.release_blob_lease(&lease.0).await {
            tracing::warn!(error = %e, "cannot release a blob lease; it expires on its own");
        }
    }

    pub async fn collect_garbage(&self, policy: GcPolicy) -> Result<GcReport, InternalError> {
        collect_garbage(self.metadata.as_ref(), self.blobs.as_ref(), policy).await
    }
}
