//! `berth serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use berth_core::jobs;
use berth_core::keys::RootCredentials;
use berth_core::{ServerConfig, Services};
use berth_store::{BlobStore, MetadataStore};
use berth_types::AccountId;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::storage::{self, MetadataChoice, StorageArgs};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Development mode: run a GitHub-compatible OIDC token issuer and trust its keys for
    /// https://token.actions.githubusercontent.com. Never use in production.
    #[arg(long, env = "BERTH_DEV")]
    dev: bool,
    /// Allow --dev on a non-loopback address (anyone who can reach it and holds the root
    /// credentials can mint trusted tokens).
    #[arg(long, env = "BERTH_DEV_ALLOW_REMOTE")]
    dev_allow_remote: bool,
    /// Accept trust policies that let GitHub's OIDC provider assume a role without a
    /// condition on `token.actions.githubusercontent.com:sub` (or `:repository` /
    /// `:repository_id`). Such a role can be assumed by any workflow on GitHub.
    #[arg(long, env = "BERTH_ALLOW_UNSCOPED_GITHUB_TRUST")]
    allow_unscoped_github_trust: bool,
    /// Let pull-through cache rules name any registry URL, plain HTTP included, not only
    /// ECR's list of public registries over HTTPS. The server then fetches from whatever
    /// address a rule's author (who needs ecr:CreatePullThroughCacheRule) names.
    #[arg(long, env = "BERTH_ALLOW_ANY_UPSTREAM")]
    allow_any_upstream: bool,
    /// How long a pull-through cache serves a cached tag before asking the upstream
    /// registry again (ECR: 24 hours), e.g. 24h, 10m, 30s.
    #[arg(long, default_value = "24h", value_parser = crate::gc::parse_duration, env = "BERTH_PULL_THROUGH_REFRESH")]
    pull_through_refresh: std::time::Duration,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000", env = "BERTH_LISTEN")]
    listen: SocketAddr,
    /// The URL clients reach this server at (default: http:// + the listen address).
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    public_url: Option<String>,
    /// Where SQLite metadata, file blobs and generated root credentials are kept.
    #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
    data_dir: PathBuf,
    /// The 12-digit AWS account id this server acts as.
    #[arg(long, default_value = "123456789012", env = "BERTH_ACCOUNT_ID")]
    account_id: String,
    /// The AWS region this server acts as.
    #[arg(long, default_value = "us-east-1", env = "BERTH_REGION")]
    region: String,
    /// How often ECR lifecycle policies are applied (expired images deleted), like 30m or
    /// 1h (a bare number is seconds); 0 turns that off. ECR itself applies them within
    /// about a day. [default: 1h; formerly --lifecycle-interval-seconds, and
    /// BERTH_LIFECYCLE_INTERVAL_SECONDS, still read]
    #[arg(
        long,
        alias = "lifecycle-interval-seconds",
        value_parser = crate::gc::parse_duration,
        env = "BERTH_LIFECYCLE_INTERVAL"
    )]
    lifecycle_interval: Option<std::time::Duration>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A request's headers must arrive within this (slow clients are cut off).
    #[arg(long, default_value = "30s", value_parser = crate::gc::parse_duration, env = "BERTH_HEADER_TIMEOUT")]
    header_timeout: std::time::Duration,
    /// Close connections on which nothing moved for this long (idle keep-alives, stalled
    /// uploads and downloads).
    #[arg(long, default_value = "120s", value_parser = crate::gc::parse_duration, env = "BERTH_IDLE_TIMEOUT")]
    idle_timeout: std::time::Duration,
    /// A request's whole body must arrive within this (408 and the connection closed
    /// otherwise), except registry uploads, which are authorised before their bodies are
    /// read and may stream as long as bytes keep moving.
    #[arg(long, default_value = "60s", value_parser = crate::gc::parse_duration, env = "BERTH_BODY_TIMEOUT")]
    body_timeout: std::time::Duration,
    /// Connections open at once; more are answered 503 (with Retry-After) and closed.
    #[arg(long, default_value_t = 1024, env = "BERTH_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Also serve cleartext HTTP/2 (h2c) on a plain-HTTP listener. Off: HTTP/2 has no
    /// header timeout here; over TLS, HTTP/2 is always offered by ALPN.
    #[arg(long, env = "BERTH_H2C")]
    h2c: bool,
    /// How many uploads one access key (a session's, or the root key) may stream at once
    /// (more get 429 TOOMANYREQUESTS, or LimitExceededException from ECR).
    #[arg(long, default_value_t = berth_core::upload_slots::DEFAULT_MAX_CONCURRENT_UPLOADS, env = "BERTH_MAX_CONCURRENT_UPLOADS")]
    max_concurrent_uploads: usize,
    /// How many uploads the whole server streams at once (more get the same refusal).
    #[arg(long, default_value_t = berth_core::upload_slots::DEFAULT_MAX_TOTAL_UPLOADS, env = "BERTH_MAX_TOTAL_UPLOADS")]
    max_total_uploads: usize,
    /// Collect garbage (unreferenced blobs, stale uploads) this often, e.g. 1h; 0 = never
    /// (run `berth gc` instead).
    #[arg(long, default_value = "0", value_parser = crate::gc::parse_duration, env = "BERTH_GC_INTERVAL")]
    gc_interval: std::time::Duration,
    #[command(flatten)]
    gc_policy: crate::gc::GcPolicyArgs,
    /// Remove uploads to which no bytes were added for this long (abandoned pushes, a
    /// client that crashed), on a schedule of their own whatever --gc-interval says;
    /// 0 = never.
    #[arg(long, default_value = "24h", value_parser = crate::gc::parse_duration, env = "BERTH_UPLOAD_EXPIRY")]
    upload_expiry: std::time::Duration,
    /// How long, in seconds (fractions allowed), the server may answer from its cache of
    /// IAM entities and repositories. Changes made through this server apply to its next
    /// request regardless; this bounds how late it sees changes made by another replica
    /// sharing the database (or by a tool writing to it directly). 0 turns the cache off.
    #[arg(long, default_value = "1", value_parser = parse_cache_ttl, env = "BERTH_METADATA_CACHE_TTL")]
    metadata_cache_ttl: std::time::Duration,
    /// How long the audit trail keeps events (CloudTrail's event history keeps 90 days);
    /// older ones are deleted hourly. 0 keeps them for ever.
    #[arg(long, default_value = "90d", value_parser = crate::gc::parse_duration, env = "BERTH_AUDIT_RETENTION")]
    audit_retention: std::time::Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics (off unless set). Keep it off the
    /// public network: it tells whoever asks how busy the server is.
    #[arg(long, value_name = "ADDR", env = "BERTH_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Log lines as text (for people) or JSON (one object per line, for log pipelines).
    /// Every request is one line (target berth::request); BERTH_LOG=info,berth::request=off
    /// turns those off.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "BERTH_LOG_FORMAT")]
    log_format: LogFormat,
    /// Record no audit trail (for measuring what it costs, or where something else audits
    /// every request). LookupEvents then finds nothing new.
    #[arg(long, env = "BERTH_NO_AUDIT")]
    no_audit: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_cache_ttl(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.0..=3600.0).contains(s))
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("`{text}` is not a number of seconds from 0 to 3600"))
}

#[derive(Serialize, Deserialize)]
struct StoredRootCredentials {
    access_key_id: String,
    secret_access_key: String,
}

const ROOT_CREDENTIALS_FILE: &str = "root-credentials.json";

/// The lifecycle interval: the flag (or BERTH_LIFECYCLE_INTERVAL), else the variable's
/// former name, else an hour.
fn lifecycle_interval(args: &ServeArgs) -> anyhow::Result<std::time::Duration> {
    if let Some(interval) = args.lifecycle_interval {
        return Ok(interval);
    }
    match std::env::var("BERTH_LIFECYCLE_INTERVAL_SECONDS") {
        Ok(old) => crate::gc::parse_duration(&old)
            .map_err(|e| anyhow::anyhow!("BERTH_LIFECYCLE_INTERVAL_SECONDS: {e}")),
        Err(_) => Ok(std::time::Duration::from_secs(3600)),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let lifecycle_every = lifecycle_interval(&args)?;
    init_logging(args.log_format);
    if args.dev && !args.listen.ip().is_loopback() && !args.dev_allow_remote {
        bail!(
            "--dev refuses to listen on the non-loopback address {}: its token issuer would be reachable from other machines. Listen on 127.0.0.1, or add --dev-allow-remote if you mean it",
            args.listen
        );
    }
    let account_id =
        AccountId::parse(&args.account_id).map_err(|e| anyhow::anyhow!("--account-id: {e}"))?;
    if args.region.is_empty()
        || !args
            .region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!(
            "--region `{}` is not a region name like us-east-1",
            args.region
        );
    }
    if let Some(url) = &args.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("--public-url `{url}` must start with http:// or https://");
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(berth_api::server::load_tls(cert, key)?),
        _ => None,
    };
    // Bound first, so that `--listen 127.0.0.1:0` reports the port it got.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?,
        ),
        None => None,
    };
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| {
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{local}")
        })
        .trim_end_matches('/')
        .to_owned();

    let (metadata, blobs, root) = open_storage(&args).await?;
    let config = ServerConfig {
        account_id,
        region: args.region.clone(),
        public_url: public_url.clone(),
        dev: args.dev,
        allow_unscoped_github_trust: args.allow_unscoped_github_trust,
    };
    let mut services = Services::new(config, metadata, blobs, root)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    services.upload_slots = berth_core::upload_slots::UploadSlots::new(
        args.max_concurrent_uploads,
        args.max_total_uploads,
    );
    services.audit_trail = berth_core::audit::AuditTrail::new(!args.no_audit);
    services.upstreams =
        berth_core::upstream::Upstreams::new(args.allow_any_upstream, args.pull_through_refresh);
    if args.dev {
        eprintln!(
            "WARNING: development mode. This server mints OIDC tokens for https://token.actions.githubusercontent.com \
             and trusts them. Never expose it or use it for real images."
        );
        tracing::warn!(
            "dev mode: trusting locally minted tokens for https://token.actions.githubusercontent.com"
        );
    }
    let metrics_note = match &metrics_listener {
        Some(l) => format!("; metrics on http://{}/metrics", l.local_addr()?),
        None => String::new(),
    };
    println!(
        "berth ready: listening on {local}, endpoint {public_url} (account {}, region {}{}){metrics_note}",
        args.account_id,
        args.region,
        if args.dev { ", dev issuer on" } else { "" }
    );
    let services = Arc::new(services);
    tokio::spawn(refresh_keys(services.clone()));
    tokio::spawn(record_role_usage(services.clone()));
    if !lifecycle_every.is_zero() {
        tokio::spawn(apply_lifecycle_policies(services.clone(), lifecycle_every));
    }
    if !args.gc_interval.is_zero() {
        let (metadata, blobs) = services.stores_for_background_jobs();
        crate::gc::spawn_schedule(
            metadata.clone(),
            blobs.clone(),
            args.gc_policy.policy(),
            args.gc_interval,
        );
    }
    if !args.upload_expiry.is_zero() {
        tokio::spawn(expire_uploads(services.clone(), args.upload_expiry));
    }
    let (metadata, _) = services.stores_for_background_jobs();
    if let Some(writer) = services.audit_trail.writer(
        metadata.clone(),
        args.account_id.clone(),
        args.region.clone(),
    ) {
        tokio::spawn(writer);
    }
    if !args.audit_retention.is_zero() && !args.no_audit {
        tokio::spawn(prune_audit_trail(services.clone(), args.audit_retention));
    }
    let app = berth_api::router(services.clone());
    if let Some(listener) = metrics_listener {
        tokio::spawn(berth_api::server::serve(
            listener,
            berth_api::metrics_router(),
            None,
            berth_api::server::Limits {
                max_connections: 64,
                ..berth_api::server::Limits::default()
            },
            std::future::pending(),
        ));
    }
    let limits = berth_api::server::Limits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        body_timeout: args.body_timeout,
        max_connections: args.max_connections,
        h2c: args.h2c,
        ..berth_api::server::Limits::default()
    };
    berth_api::server::serve(listener, app, tls, limits, shutdown_signal()).await;
    // The requests are done: their events and role uses are stored before the process ends.
    services
        .audit_trail
        .flush(std::time::Duration::from_secs(10))
        .await;
    services.flush_role_usage().await;
    eprintln!("berth stopped");
    Ok(())
}

/// The stores the storage flags name (see storage.rs), and the root credentials. Replicas
/// sharing PostgreSQL must share root credentials too, so those come from the environment
/// then, never from a file generated per machine.
async fn open_storage(
    args: &ServeArgs,
) -> anyhow::Result<(Arc<dyn MetadataStore>, Arc<dyn BlobStore>, RootCredentials)> {
    let sqlite = matches!(args.storage.metadata_choice()?, MetadataChoice::Sqlite);
    if !sqlite && std::env::var_os("BERTH_ROOT_ACCESS_KEY_ID").is_none() {
        bail!(
            "with --metadata postgres://..., set BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY: every replica needs the same root credentials"
        );
    }
    if sqlite || args.storage.blobs == "fs" {
        create_private_dir(&args.data_dir)?;
    }
    let root = root_credentials(&args.data_dir)?;
    let metadata =
        storage::open_metadata(&args.storage, &args.data_dir, args.metadata_cache_ttl).await?;
    let blobs =
        storage::open_blobs(&args.storage, &args.data_dir, storage::BlobStoreUse::Owner).await?;
    Ok((metadata, blobs, root))
}

/// Writes when roles were last assumed (IAM's `RoleLastUsed`), noted by each assume, in
/// one batch per interval.
async fn record_role_usage(services: Arc<Services>) {
    let mut ticks = tokio::time::interval(berth_core::role_usage::FLUSH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        services.flush_role_usage().await;
    }
}

/// Keeps the sealing keys and the dev issuer's keys current: rotation by any replica, new
/// keys in time, old ones dropped (see berth-core's `key_rotation`). A failed refresh
/// keeps the keys it had.
async fn refresh_keys(services: Arc<Services>) {
    let mut ticks = tokio::time::interval(berth_core::key_rotation::REFRESH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let store = services.stores_for_background_jobs().0.as_ref();
        if let Err(e) = services.sealer.refresh(store).await {
            tracing::error!(error = %e, "refreshing the sealing keys failed");
        }
        if let Some(issuer) = &services.issuer
            && let Err(e) = issuer.refresh(store).await
        {
            tracing::error!(error = %e, "refreshing the dev issuer's keys failed");
        }
    }
}

/// Applies every repository's lifecycle policy each `interval`, for as long as the server
/// runs; with several replicas, each tick runs on whichever takes the job's lease. A
/// failed run is logged and retried at the next tick.
async fn apply_lifecycle_policies(services: Arc<Services>, interval: std::time::Duration) {
    let holder = jobs::holder_id();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let run = jobs::run_exclusively(
            services.stores_for_background_jobs().0.as_ref(),
            jobs::LIFECYCLE_POLICIES,
            &holder,
            services.ecr().apply_lifecycle_policies(),
        )
        .await;
        let metrics = berth_metrics::metrics();
        match run {
            Ok(Some(Ok(run))) => {
                metrics.job_run("lifecycle", true);
                metrics.reclaimed("lifecycle", "images", run.expired_images as u64);
                if run.expired_images > 0 {
                    tracing::info!(
                        repositories = run.repositories,
                        expired_images = run.expired_images,
                        "lifecycle policies applied"
                    );
                }
            }
            Ok(None) => tracing::debug!("lifecycle policies are being applied by another replica"),
            Ok(Some(Err(e))) => {
                metrics.job_run("lifecycle", false);
                tracing::error!(error = %e, "applying lifecycle policies failed")
            }
            Err(e) => {
                metrics.job_run("lifecycle", false);
                tracing::error!(error = %e, "applying lifecycle policies failed")
            }
        }
    }
}

/// Removes abandoned uploads every quarter of `max_age` (between 1 s and 1 h), so none
/// outlives it by much; with several replicas, each sweep runs on whichever takes the
/// job's lease.
async fn expire_uploads(services: Arc<Services>, max_age: std::time::Duration) {
    let holder = jobs::holder_id();
    let every = (max_age / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(3600),
    );
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (metadata, blobs) = services.stores_for_background_jobs();
        let run = jobs::run_exclusively(
            metadata.as_ref(),
            jobs::UPLOAD_EXPIRY,
            &holder,
            berth_core::gc::expire_uploads(metadata.as_ref(), blobs.as_ref(), max_age),
        )
        .await;
        let metrics = berth_metrics::metrics();
        match run {
            Ok(None) => {}
            Ok(Some(Ok(deleted))) => {
                metrics.job_run("upload-expiry", true);
                metrics.reclaimed("upload-expiry", "uploads", deleted);
                if deleted > 0 {
                    tracing::info!(deleted, "removed abandoned uploads");
                }
            }
            Ok(Some(Err(e))) => {
                metrics.job_run("upload-expiry", false);
                tracing::error!(error = %e, "removing abandoned uploads failed")
            }
            Err(e) => {
                metrics.job_run("upload-expiry", false);
                tracing::error!(error = %e, "removing abandoned uploads failed")
            }
        }
    }
}

/// Deletes audit events older than `retention`, hourly; with several replicas, each run
/// on whichever takes the job's lease.
async fn prune_audit_trail(services: Arc<Services>, retention: std::time::Duration) {
    let holder = jobs::holder_id();
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(3600));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let metadata = services.stores_for_background_jobs().0.as_ref();
        let run = jobs::run_exclusively(
            metadata,
            jobs::AUDIT_RETENTION,
            &holder,
            berth_core::audit::prune(metadata, retention),
        )
        .await;
        let metrics = berth_metrics::metrics();
        match run {
            Ok(None) => {}
            Ok(Some(Ok(deleted))) => {
                metrics.job_run("audit-retention", true);
                metrics.reclaimed("audit-retention", "audit_events", deleted);
                if deleted > 0 {
                    tracing::info!(deleted, "deleted expired audit events");
                }
            }
            Ok(Some(Err(e))) | Err(e) => {
                metrics.job_run("audit-retention", false);
                tracing::error!(error = %e, "deleting expired audit events failed")
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
        // Colours only for a person at a terminal, never in log files or pipes.
        LogFormat::Text => builder
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict permissions of {}", dir.display()))?;
    }
    Ok(())
}

/// Root credentials from `BERTH_ROOT_*`, else from the data directory, else generated,
/// stored (mode 0600) and shown once.
fn root_credentials(dir: &Path) -> anyhow::Result<RootCredentials> {
    if let (Ok(id), Ok(secret)) = (
        std::env::var("BERTH_ROOT_ACCESS_KEY_ID"),
        std::env::var("BERTH_ROOT_SECRET_ACCESS_KEY"),
    ) {
        if berth_types::AccessKeyId::parse(&id).is_err() || id.starts_with("ASIA") {
            bail!(
                "BERTH_ROOT_ACCESS_KEY_ID must be 16 to 128 letters and digits and not start with ASIA"
            );
        }
        if secret.len() < 16 {
            bail!("BERTH_ROOT_SECRET_ACCESS_KEY must be at least 16 characters");
        }
        return Ok(RootCredentials {
            access_key_id: id,
            secret_access_key: secret,
        });
    }
    let path = dir.join(ROOT_CREDENTIALS_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let stored: StoredRootCredentials = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid credentials file", path.display()))?;
        return Ok(RootCredentials {
            access_key_id: stored.access_key_id,
            secret_access_key: stored.secret_access_key,
        });
    }
    let creds = RootCredentials {
        access_key_id: berth_core::ids::access_key_id("AKIA"),
        secret_access_key: berth_core::ids::secret_access_key(),
    };
    let text = serde_json::to_string_pretty(&StoredRootCredentials {
        access_key_id: creds.access_key_id.clone(),
        secret_access_key: creds.secret_access_key.clone(),
    })?;
    write_private_file(&path, text.as_bytes())?;
    // Shown once, on first start, so the operator can configure a client.
    eprintln!(
        "Generated root credentials (stored in {}, shown only now):\n  AWS_ACCESS_KEY_ID={}\n  AWS_SECRET_ACCESS_KEY={}",
        path.display(),
        creds.access_key_id,
        creds.secret_access_key
    );
    Ok(creds)
}

fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
