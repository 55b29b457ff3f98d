//! Background jobs (garbage collection, lifecycle policies) that must run on one replica at
//! a time, however many share the metadata store: each run holds a lease in the store.
//!
//! The lease is an efficiency measure, not what keeps data safe: the collector's claims
//! (see `gc`) make overlapping collections harmless, and expiring an image twice deletes it
//! once. So a replica whose lease lapses mid-run (a stall longer than the lease) finishes
//! its run, saying so in the log.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use berth_store::{MetadataStore, StoreResult};

use crate::now_unix;

/// How long a lease lasts without renewal: a replica that dies mid-run holds up the job
/// on the others for at most this long.
pub const LEASE_SECONDS: i64 = 120;
/// A running job renews its lease this often, well inside `LEASE_SECONDS`.
const RENEW_EVERY: Duration = Duration::from_secs(40);

/// The job names, one per kind of background work.
pub const GARBAGE_COLLECTION: &str = "garbage-collection";
pub const LIFECYCLE_POLICIES: &str = "lifecycle-policies";
pub const UPLOAD_EXPIRY: &str = "upload-expiry";
pub const AUDIT_RETENTION: &str = "audit-retention";

/// This process's name as a lease holder: unique per process, so two replicas never
/// mistake each other's lease for their own.
pub fn holder_id() -> String {
    format!("{}-{}", std::process::id(), crate::ids::uuid())
}

/// Runs `work` while holding the lease on `job`, renewing it as the work goes on. `None`
/// when another holder has the lease: the job is that holder's to run now.
pub async fn run_exclusively<T>(
    store: &dyn MetadataStore,
    job: &str,
    holder: &str,
    work: impl Future<Output = T>,
) -> StoreResult<Option<T>> {
    let now = now_unix();
    if !store
        .acquire_job_lease(job, holder, now, now + LEASE_SECONDS)
        .await?
    {
        return Ok(None);
    }
    let out = tokio::select! {
        out = work => out,
        never = renew_forever(store, job, holder) => match never {},
    };
    store.release_job_lease(job, holder).await?;
    Ok(Some(out))
}

/// Renews `holder`'s lease on `job` until dropped (when the job's work ends).
async fn renew_forever(store: &dyn MetadataStore, job: &str, holder: &str) -> Infallible {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let now = now_unix();
        match store
            .acquire_job_lease(job, holder, now, now + LEASE_SECONDS)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                job,
                "the job's lease lapsed and another replica took it; finishing this run"
            ),
            Err(e) => tracing::warn!(job, error = %e, "cannot renew the job's lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store_sql::SqlStore;

    #[tokio::test]
    async fn a_job_runs_on_one_holder_at_a_time() {
        let store = SqlStore::open_sqlite_in_memory().await.unwrap();
        let (first, second) = (holder_id(), holder_id());
        assert_ne!(first, second);
        let nested = run_exclusively(&store, GARBAGE_COLLECTION, &first, async {
            let other = run_exclusively(&store, GARBAGE_COLLECTION, &second, async { 1 })
                .await
                .unwrap();
            let other_job = run_exclusively(&store, LIFECYCLE_POLICIES, &second, async { 2 })
                .await
                .unwrap();
            (other, other_job)
        })
        .await
        .unwrap();
        assert_eq!(nested, Some((None, Some(2))));
        let after = run_exclusively(&store, GARBAGE_COLLECTION, &second, async { 3 })
            .await
            .unwrap();
        assert_eq!(after, Some(3), "the lease is released when the run ends");
    }
}
