//! `berth gc`, and the schedule `berth serve --gc-interval` runs it on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_core::gc::{GcPolicy, GcReport, collect_garbage};
use berth_core::jobs;
use berth_store::{BlobStore, MetadataStore};
use clap::Args;

use crate::storage::{self, BlobStoreUse, MetadataChoice, StorageArgs};

/// When blobs and uploads become garbage (shared by `berth gc` and `berth serve`).
#[derive(Args, Debug, Clone)]
pub struct GcPolicyArgs {
    /// Keep unreferenced blobs written less than this long ago (e.g. 30m, 1h, 2d): a push
    /// in progress may be about to reference them.
    #[arg(long, default_value = "1h", value_parser = parse_duration, env = "BERTH_GC_BLOB_GRACE")]
    pub gc_blob_grace: Duration,
    /// Remove uploads to which no bytes were added for this long.
    #[arg(long, default_value = "24h", value_parser = parse_duration, env = "BERTH_GC_UPLOAD_MAX_AGE")]
    pub gc_upload_max_age: Duration,
}

impl GcPolicyArgs {
    pub fn policy(&self) -> GcPolicy {
        GcPolicy {
            blob_grace: self.gc_blob_grace,
            upload_max_age: self.gc_upload_max_age,
        }
    }
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// The data directory of the server (it may be running), for `--metadata sqlite` and
    /// `--blobs fs`.
    #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    policy: GcPolicyArgs,
}

/// `30s`, `15m`, `1h`, `7d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 15m, 1h or 7d"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

pub fn describe(report: &GcReport) -> String {
    format!(
        "deleted {} of {} blobs ({} bytes), skipped {} blobs younger than the grace period, deleted {} stale uploads",
        report.blobs_deleted,
        report.blobs_seen,
        report.bytes_deleted,
        report.blobs_too_young,
        report.uploads_deleted
    )
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    // Refuse a directory that holds no server's data rather than creating an empty one.
    if matches!(args.storage.metadata_choice()?, MetadataChoice::Sqlite)
        && !args.data_dir.join("berth.db").exists()
    {
        anyhow::bail!(
            "{} holds no Berth data (no berth.db); pass the server's --data-dir",
            args.data_dir.display()
        );
    }
    let metadata = storage::open_metadata(&args.storage, &args.data_dir, Duration::ZERO).await?;
    let blobs =
        storage::open_blobs(&args.storage, &args.data_dir, BlobStoreUse::BesideServer).await?;
    // One collection at a time: wait for one that a server's schedule (or another `berth
    // gc`) is running, rather than fail a cron job for it.
    let holder = jobs::holder_id();
    let mut said_so = false;
    let report = loop {
        let run = jobs::run_exclusively(
            metadata.as_ref(),
            jobs::GARBAGE_COLLECTION,
            &holder,
            collect_garbage(metadata.as_ref(), blobs.as_ref(), args.policy.policy()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(report) = run {
            break report;
        }
        if !said_so {
            eprintln!(
                "waiting for the garbage collection running elsewhere (a server's schedule or \
                 another `berth gc`) to end"
            );
            said_so = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", describe(&report));
    Ok(())
}

/// Collects garbage every `interval` until the process ends; with several replicas, each
/// tick runs on whichever replica takes the job's lease.
pub fn spawn_schedule(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    policy: GcPolicy,
    interval: Duration,
) {
    let holder = jobs::holder_id();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let run = jobs::run_exclusively(
                metadata.as_ref(),
                jobs::GARBAGE_COLLECTION,
                &holder,
                collect_garbage(metadata.as_ref(), blobs.as_ref(), policy),
            )
            .await;
            let metrics = berth_metrics::metrics();
            match run {
                Ok(Some(Ok(report))) => {
                    metrics.job_run("gc", true);
                    metrics.reclaimed("gc", "blobs", report.blobs_deleted);
                    metrics.reclaimed("gc", "bytes", report.bytes_deleted);
                    metrics.reclaimed("gc", "uploads", report.uploads_deleted);
                    tracing::info!("garbage collection: {}", describe(&report))
                }
                Ok(None) => tracing::debug!("garbage collection is running on another replica"),
                Ok(Some(Err(e))) => {
                    metrics.job_run("gc", false);
                    tracing::error!(error = %e, "garbage collection failed")
                }
                Err(e) => {
                    metrics.job_run("gc", false);
                    tracing::error!(error = %e, "garbage collection failed")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "h", "1w", "-1s", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
