//! Coordination and keys: the leases and claims of blob garbage collection, background-job
//! leases, and signing keys.

use async_trait::async_trait;
use berth_store::{Conflict, KeyStore, LeaseStore, SigningKeyRecord, StoreError, StoreResult};
use berth_types::Digest;

use crate::SqlStore;
use crate::engine::{Row, query};

/// Lock namespaces (see `Tx::lock`): a lease and a claim of the same digest take turns,
/// as do the first callers for a purpose's signing key. Under PostgreSQL's READ
/// COMMITTED each would otherwise miss the other's uncommitted row and both succeed.
const BLOB_LOCK: &str = "berth-blob-gc";
const SIGNING_KEY_LOCK: &str = "berth-signing-key";

const KEY_COLUMNS: &str = "kid, purpose, material, created_at";

fn signing_key_from_row(row: &Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get("kid")?,
        purpose: row.get("purpose")?,
        material: row.get("material")?,
        created_at: row.get("created_at")?,
    })
}

#[async_trait]
impl LeaseStore for SqlStore {
    async fn lease_blobs(
        &self,
        lease: &str,
        digests: &[Digest],
        now: i64,
        live_claims_since: i64,
    ) -> StoreResult<()> {
        // Locks taken in one order, so two leases of overlapping digests cannot deadlock.
        let mut sorted: Vec<&Digest> = digests.iter().collect();
        sorted.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        sorted.dedup();
        let mut tx = self.db.write().await?;
        for digest in sorted {
            tx.lock(BLOB_LOCK, digest.as_str()).await?;
            let claimed =
                query("SELECT 1 AS one FROM blob_claims WHERE digest = $1 AND claimed_at >= $2")
                    .bind(digest.as_str())
                    .bind(live_claims_since)
                    .fetch_optional(tx.on())
                    .await?
                    .is_some();
            if claimed {
                return Err(StoreError::Conflict(Conflict::BlobBeingCollected(
                    digest.clone(),
                )));
            }
            query(
                "INSERT INTO blob_leases (lease, digest, leased_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (lease, digest) DO UPDATE SET leased_at = excluded.leased_at",
            )
            .bind(lease)
            .bind(digest.as_str())
            .bind(now)
            .execute(tx.on())
            .await?;
        }
        tx.commit().await
    }

    async fn release_blob_lease(&self, lease: &str) -> StoreResult<()> {
        query("DELETE FROM blob_leases WHERE lease = $1")
            .bind(lease)
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    async fn claim_unreferenced_blob(
        &self,
        digest: &Digest,
        now: i64,
        live_leases_since: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.write().await?;
        tx.lock(BLOB_LOCK, digest.as_str()).await?;
        let referenced: bool = query(
            "SELECT EXISTS (SELECT 1 FROM blob_links WHERE digest = $1) \
             OR EXISTS (SELECT 1 FROM manifests WHERE digest = $1) \
             OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = $1) \
             OR EXISTS (SELECT 1 FROM blob_leases WHERE digest = $1 AND leased_at >= $2)",
        )
        .bind(digest.as_str())
        .bind(live_leases_since)
        .scalar(tx.on())
        .await?;
        if referenced {
            return Ok(false);
        }
        query(
            "INSERT INTO blob_claims (digest, claimed_at) VALUES ($1, $2) \
             ON CONFLICT (digest) DO UPDATE SET claimed_at = excluded.claimed_at",
        )
        .bind(digest.as_str())
        .bind(now)
        .execute(tx.on())
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn drop_blob_claim(&self, digest: &Digest) -> StoreResult<()> {
        query("DELETE FROM blob_claims WHERE digest = $1")
            .bind(digest.as_str())
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    async fn prune_blob_leases_and_claims(&self, before: i64) -> StoreResult<()> {
        let mut tx = self.db.write().await?;
        for statement in [
            "DELETE FROM blob_leases WHERE leased_at < $1",
            "DELETE FROM blob_claims WHERE claimed_at < $1",
        ] {
            query(statement).bind(before).execute(tx.on()).await?;
        }
        tx.commit().await
    }

    async fn acquire_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        // One statement: the row lock taken by ON CONFLICT makes concurrent replicas
        // see each other's lease.
        let taken = query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4",
        )
        .bind(job)
        .bind(holder)
        .bind(expires_at)
        .bind(now)
        .execute(self.db.writer())
        .await?;
        Ok(taken == 1)
    }

    async fn release_job_lease(&self, job: &str, holder: &str) -> StoreResult<()> {
        query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        let _: i64 = query("SELECT 1 AS one").scalar(self.db.reader()).await?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn get_or_create_signing_key(
        &self,
        candidate: &SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord> {
        // Concurrent callers (on any replica) run one after the other, and all see the
        // first one's key.
        let mut tx = self.db.write().await?;
        tx.lock(SIGNING_KEY_LOCK, &candidate.purpose).await?;
        let newest = query(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE purpose = $1 \
             ORDER BY created_at DESC, seq DESC LIMIT 1"
        ))
        .bind(&candidate.purpose)
        .fetch_optional(tx.on())
        .await?;
        if let Some(row) = newest {
            return signing_key_from_row(&row);
        }
        insert_key(candidate).execute(tx.on()).await?;
        tx.commit().await?;
        Ok(candidate.clone())
    }

    async fn list_signing_keys(&self, purpose: &str) -> StoreResult<Vec<SigningKeyRecord>> {
        query(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE purpose = $1 \
             ORDER BY created_at DESC, seq DESC"
        ))
        .bind(purpose)
        .records(self.db.reader(), signing_key_from_row)
        .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        insert_key(key).execute(self.db.writer()).await?;
        Ok(())
    }

    async fn delete_signing_key(&self, purpose: &str, kid: &str) -> StoreResult<()> {
        query("DELETE FROM signing_keys WHERE purpose = $1 AND kid = $2")
            .bind(purpose)
            .bind(kid)
            .execute(self.db.writer())
            .await?;
        Ok(())
    }
}

fn insert_key(key: &SigningKeyRecord) -> crate::engine::Query<'_> {
    query("INSERT INTO signing_keys (kid, purpose, material, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&key.kid)
        .bind(&key.purpose)
        .bind(&key.material)
        .bind(key.created_at)
}
