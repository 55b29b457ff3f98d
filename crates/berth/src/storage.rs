//! Which stores `berth serve` and `berth migrate` use: SQLite and files in the data
//! directory (the default), or PostgreSQL and an S3-compatible bucket shared by any number
//! of replicas.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_store::cached::CachedMetadataStore;
use berth_store::{BlobStore, MetadataStore};
use berth_store_fs::FsBlobStore;
use berth_store_s3::{DEFAULT_PART_SIZE, S3BlobStore, S3Config};
use berth_store_sql::SqlStore;
use clap::Args;

/// Storage flags, shared by `serve` and `migrate`.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// A TOML file setting any of these flags by name (`listen = "0.0.0.0:5000"`); the
    /// command line and BERTH_* variables take precedence.
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Where metadata lives: `sqlite` (berth.db in --data-dir) or a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db`), shared by every replica.
    #[arg(
        long,
        default_value = "sqlite",
        env = "BERTH_METADATA",
        hide_env_values = true
    )]
    pub metadata: String,
    /// Where blobs live: `fs` (blobs/ in --data-dir) or `s3://bucket/prefix`, shared by
    /// every replica. S3 credentials come from BERTH_S3_ACCESS_KEY_ID and
    /// BERTH_S3_SECRET_ACCESS_KEY only (never AWS_*, which may point at Berth itself).
    #[arg(long, default_value = "fs", env = "BERTH_BLOBS")]
    pub blobs: String,
    /// An S3-compatible endpoint (`https://minio.internal:9000`); default: AWS S3.
    #[arg(long, env = "BERTH_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long, default_value = "us-east-1", env = "BERTH_S3_REGION")]
    pub s3_region: String,
}

/// The metadata store a `--metadata` value names.
pub enum MetadataChoice {
    Sqlite,
    Postgres(String),
}

impl StorageArgs {
    pub fn metadata_choice(&self) -> anyhow::Result<MetadataChoice> {
        let value = self.metadata.trim();
        if value == "sqlite" {
            Ok(MetadataChoice::Sqlite)
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Ok(MetadataChoice::Postgres(value.to_owned()))
        } else {
            bail!("--metadata must be `sqlite` or a postgres:// URL")
        }
    }
}

/// Opens the metadata store for serving. SQLite migrates itself (one process owns the
/// file); PostgreSQL must already be at this build's schema (`berth migrate`), so a
/// replica never changes a schema that other, older replicas are using. Hot lookups are
/// cached for at most `cache_ttl` (zero: not at all), which bounds how late this process
/// sees a change another replica made.
pub async fn open_metadata(
    args: &StorageArgs,
    data_dir: &Path,
    cache_ttl: Duration,
) -> anyhow::Result<Arc<dyn MetadataStore>> {
    match args.metadata_choice()? {
        MetadataChoice::Sqlite => {
            let store = SqlStore::open_sqlite(&data_dir.join("berth.db"))
                .await
                .with_context(|| format!("opening the metadata store in {}", data_dir.display()))?;
            Ok(Arc::new(CachedMetadataStore::new(store, cache_ttl)))
        }
        MetadataChoice::Postgres(url) => {
            let store = SqlStore::connect_postgres(&url)
                .await
                .context("connecting to PostgreSQL (--metadata)")?;
            let state = store
                .check_schema()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if state.applied < state.known {
                bail!(
                    "the PostgreSQL schema is at version {}, this Berth needs {}: run `berth migrate` first",
                    state.applied,
                    state.known
                );
            }
            Ok(Arc::new(CachedMetadataStore::new(store, cache_ttl)))
        }
    }
}

/// Who opens a blob store: the server that owns it, or a tool (`berth gc`) running beside
/// a server that may be live, which must not clean up the server's files in progress.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BlobStoreUse {
    Owner,
    BesideServer,
}

/// Opens the blob store, checking that an S3 bucket is reachable with the credentials.
pub async fn open_blobs(
    args: &StorageArgs,
    data_dir: &Path,
    usage: BlobStoreUse,
) -> anyhow::Result<Arc<dyn BlobStore>> {
    if args.blobs == "fs" {
        let root = data_dir.join("blobs");
        let store = match usage {
            BlobStoreUse::Owner => FsBlobStore::open(&root).await,
            BlobStoreUse::BesideServer => FsBlobStore::attach(&root).await,
        }
        .with_context(|| format!("opening the blob store in {}", data_dir.display()))?;
        return Ok(Arc::new(store));
    }
    let config = s3_config(args)?;
    let store = S3BlobStore::new(&config).map_err(|e| anyhow::anyhow!("--blobs: {e}"))?;
    store
        .check_access()
        .await
        .map_err(|e| anyhow::anyhow!("--blobs s3://{}: {e}", config.bucket))?;
    Ok(Arc::new(store))
}

fn s3_config(args: &StorageArgs) -> anyhow::Result<S3Config> {
    let Some((bucket, prefix)) = s3_location("--blobs", &args.blobs)? else {
        bail!("--blobs must be `fs` or s3://bucket/prefix");
    };
    if let Some(endpoint) = &args.s3_endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        bail!("--s3-endpoint `{endpoint}` must start with http:// or https://");
    }
    let (access_key_id, secret_access_key) = s3_keys("--blobs")?;
    Ok(S3Config {
        bucket,
        prefix,
        endpoint: args.s3_endpoint.clone(),
        region: args.s3_region.clone(),
        access_key_id,
        secret_access_key,
        part_size: DEFAULT_PART_SIZE,
    })
}

/// The bucket and prefix of an `s3://bucket/prefix` value of `flag`; `None` when the
/// value is not an S3 URL.
pub fn s3_location(flag: &str, value: &str) -> anyhow::Result<Option<(String, String)>> {
    let Some(location) = value.strip_prefix("s3://") else {
        return Ok(None);
    };
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        bail!("{flag} s3://bucket/prefix needs a bucket name");
    }
    Ok(Some((bucket.to_owned(), prefix.to_owned())))
}

/// The S3 keys: BERTH_S3_* only, never AWS_* (which may point at Berth itself).
pub fn s3_keys(flag: &str) -> anyhow::Result<(String, String)> {
    match (
        std::env::var("BERTH_S3_ACCESS_KEY_ID"),
        std::env::var("BERTH_S3_SECRET_ACCESS_KEY"),
    ) {
        (Ok(key), Ok(secret)) => Ok((key, secret)),
        _ => bail!("{flag} s3://... needs BERTH_S3_ACCESS_KEY_ID and BERTH_S3_SECRET_ACCESS_KEY"),
    }
}

/// `berth migrate`: brings the metadata schema up to this build's version.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The data directory (for `--metadata sqlite`).
    #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
    data_dir: std::path::PathBuf,
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    match args.storage.metadata_choice()? {
        MetadataChoice::Sqlite => {
            std::fs::create_dir_all(&args.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    args.data_dir.display()
                )
            })?;
            let store = SqlStore::open_sqlite(&args.data_dir.join("berth.db"))
                .await
                .with_context(|| format!("migrating {}", args.data_dir.display()))?;
            store.close().await;
            println!("SQLite schema is up to date");
        }
        MetadataChoice::Postgres(url) => {
            let store = SqlStore::connect_postgres(&url)
                .await
                .context("connecting to PostgreSQL (--metadata)")?;
            let before = store
                .check_schema()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            store.close().await;
            if before.applied == before.known {
                println!("PostgreSQL schema is up to date (version {})", before.known);
            } else {
                println!(
                    "PostgreSQL schema migrated from version {} to {}",
                    before.applied, before.known
                );
            }
        }
    }
    Ok(())
}
