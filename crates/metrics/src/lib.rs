//! Berth's metrics: one process-wide registry that every layer records into (the api its
//! requests, core its decisions and jobs, the SQL store its query times), rendered in
//! Prometheus's text format by `prometheus-client` for `berth serve --metrics-listen`.
//!
//! Labels come from fixed sets (APIs, operation names from the operation tables, status
//! codes, engines), never from request data, so the number of series stays bounded
//! whatever clients send.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(&'static str, String)>;

/// Request latency buckets, in seconds: half a millisecond to half a minute.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Store query buckets, in seconds: a tenth of a millisecond to a few seconds.
const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS.iter().copied())
}

fn store_histogram() -> Histogram {
    Histogram::new(STORE_BUCKETS.iter().copied())
}

/// Every metric Berth exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_duration: Family<Labels, Histogram, fn() -> Histogram>,
    received_bytes: Family<Labels, Counter>,
    sent_bytes: Family<Labels, Counter>,
    authorization_decisions: Family<Labels, Counter>,
    token_verifications: Family<Labels, Counter>,
    jwks_fetches: Family<Labels, Counter>,
    uploads_in_progress: Gauge,
    jobs: Family<Labels, Counter>,
    reclaimed: Family<Labels, Counter>,
    store_queries: Family<Labels, Histogram, fn() -> Histogram>,
    audit_events: Family<Labels, Counter>,
    process: ProcessMetrics,
}

#[derive(Default)]
struct ProcessMetrics {
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    resident_memory: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge,
    threads: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The registry every layer records into.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "berth_requests",
            "Requests answered, by API, operation and HTTP status",
            requests.clone(),
        );
        let request_duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            request_histogram as fn() -> Histogram,
        );
        registry.register_with_unit(
            "berth_request_duration",
            "Time from a request's arrival to its response's head, by API and operation",
            Unit::Seconds,
            request_duration.clone(),
        );
        let received_bytes = Family::<Labels, Counter>::default();
        registry.register_with_unit(
            "berth_received",
            "Request body bytes received, by API",
            Unit::Bytes,
            received_bytes.clone(),
        );
        let sent_bytes = Family::<Labels, Counter>::default();
        registry.register_with_unit(
            "berth_sent",
            "Response body bytes sent, by API",
            Unit::Bytes,
            sent_bytes.clone(),
        );
        let authorization_decisions = Family::<Labels, Counter>::default();
        registry.register(
            "berth_authorization_decisions",
            "IAM policy decisions, by outcome (allow, deny)",
            authorization_decisions.clone(),
        );
        let token_verifications = Family::<Labels, Counter>::default();
        registry.register(
            "berth_token_verifications",
            "Web identity tokens checked by AssumeRoleWithWebIdentity, by result",
            token_verifications.clone(),
        );
        let jwks_fetches = Family::<Labels, Counter>::default();
        registry.register(
            "berth_jwks_fetches",
            "Fetches of identity providers' signing keys, by result",
            jwks_fetches.clone(),
        );
        let uploads_in_progress = Gauge::default();
        registry.register(
            "berth_uploads_in_progress",
            "Blob uploads streaming now",
            uploads_in_progress.clone(),
        );
        let jobs = Family::<Labels, Counter>::default();
        registry.register(
            "berth_job_runs",
            "Background job runs (gc, lifecycle, upload-expiry, audit-retention), by result",
            jobs.clone(),
        );
        let reclaimed = Family::<Labels, Counter>::default();
        registry.register(
            "berth_reclaimed",
            "What background jobs removed: blobs, bytes, uploads, images, audit events",
            reclaimed.clone(),
        );
        let store_queries = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            store_histogram as fn() -> Histogram,
        );
        registry.register_with_unit(
            "berth_store_query_duration",
            "Metadata store statement time, by engine",
            Unit::Seconds,
            store_queries.clone(),
        );
        let audit_events = Family::<Labels, Counter>::default();
        registry.register(
            "berth_audit_events",
            "Audit events, by outcome (stored, dropped)",
            audit_events.clone(),
        );
        let build_info = Family::<Labels, Gauge>::default();
        build_info
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_owned())])
            .set(1);
        registry.register("berth_build_info", "Berth's version", build_info);
        let process = ProcessMetrics::default();
        registry.register_with_unit(
            "process_cpu",
            "User and system CPU time",
            Unit::Seconds,
            process.cpu_seconds.clone(),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory",
            Unit::Bytes,
            process.resident_memory.clone(),
        );
        registry.register_with_unit(
            "process_virtual_memory",
            "Virtual memory",
            Unit::Bytes,
            process.virtual_memory.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors",
            process.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "The file descriptor limit",
            process.max_fds.clone(),
        );
        registry.register_with_unit(
            "process_start_time",
            "When the process started, since the epoch",
            Unit::Seconds,
            process.start_time.clone(),
        );
        registry.register("process_threads", "Threads", process.threads.clone());
        Self {
            registry,
            requests,
            request_duration,
            received_bytes,
            sent_bytes,
            authorization_decisions,
            token_verifications,
            jwks_fetches,
            uploads_in_progress,
            jobs,
            reclaimed,
            store_queries,
            audit_events,
            process,
        }
    }

    /// A request answered: `api` (`iam`, `registry`, ...), its operation, its status, and
    /// the time to its response's head.
    pub fn request(&self, api: &'static str, operation: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&vec![
                ("api", api.to_owned()),
                ("operation", operation.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.request_duration
            .get_or_create(&vec![
                ("api", api.to_owned()),
                ("operation", operation.to_owned()),
            ])
            .observe(took.as_secs_f64());
    }

    pub fn received(&self, api: &'static str, bytes: u64) {
        self.received_bytes
            .get_or_create(&vec![("api", api.to_owned())])
            .inc_by(bytes);
    }

    pub fn sent(&self, api: &'static str, bytes: u64) {
        self.sent_bytes
            .get_or_create(&vec![("api", api.to_owned())])
            .inc_by(bytes);
    }

    pub fn authorization(&self, allowed: bool) {
        let outcome = if allowed { "allow" } else { "deny" };
        self.authorization_decisions
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// A web identity token checked: `verified`, or why not (`invalid`, `expired`, ...).
    pub fn token_verification(&self, result: &'static str) {
        self.token_verifications
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    pub fn jwks_fetch(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.jwks_fetches
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// The gauge of uploads streaming now (increment on start, decrement on end).
    pub fn uploads_in_progress(&self) -> &Gauge {
        &self.uploads_in_progress
    }

    /// A background job ran: `job`, and whether it succeeded.
    pub fn job_run(&self, job: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.jobs
            .get_or_create(&vec![
                ("job", job.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
    }

    /// What a job removed: `what` is `blobs`, `bytes`, `uploads`, `images` or
    /// `audit_events`.
    pub fn reclaimed(&self, job: &'static str, what: &'static str, count: u64) {
        self.reclaimed
            .get_or_create(&vec![("job", job.to_owned()), ("what", what.to_owned())])
            .inc_by(count);
    }

    pub fn store_query(&self, engine: &'static str, took: Duration) {
        self.store_queries
            .get_or_create(&vec![("engine", engine.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn audit_events(&self, outcome: &'static str, count: u64) {
        self.audit_events
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc_by(count);
    }

    /// The exposition, in Prometheus's text format (OpenMetrics), with the process's
    /// figures read now.
    pub fn render(&self) -> String {
        self.read_process();
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    fn read_process(&self) {
        let Ok(process) = procfs::process::Process::myself() else {
            return;
        };
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let p = &self.process;
        if let Ok(stat) = process.stat() {
            let ticks = procfs::ticks_per_second().max(1) as f64;
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            let before = p.cpu_seconds.get();
            if cpu > before {
                p.cpu_seconds.inc_by(cpu - before);
            }
            p.virtual_memory.set(to_i64(stat.vsize));
            p.resident_memory
                .set(to_i64(stat.rss.saturating_mul(procfs::page_size())));
            p.threads.set(stat.num_threads);
            if let Ok(boot) = procfs::boot_time_secs() {
                p.start_time.set(to_i64(
                    boot + stat.starttime / procfs::ticks_per_second().max(1),
                ));
            }
        }
        if let Ok(count) = process.fd_count() {
            p.open_fds.set(to_i64(count as u64));
        }
        if let Ok(limits) = process.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            p.max_fds.set(to_i64(max));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_recorded_and_the_process() {
        let m = metrics();
        m.request("ecr", "PutImage", 200, Duration::from_millis(3));
        m.authorization(false);
        m.store_query("sqlite", Duration::from_micros(300));
        let text = m.render();
        for expected in [
            "berth_requests_total{api=\"ecr\",operation=\"PutImage\",status=\"200\"} 1",
            "berth_request_duration_seconds_bucket{le=\"0.005\",api=\"ecr\",operation=\"PutImage\"} 1",
            "berth_authorization_decisions_total{outcome=\"deny\"} 1",
            "berth_store_query_duration_seconds_count{engine=\"sqlite\"} 1",
            "berth_build_info{version=",
            "process_resident_memory_bytes ",
            "process_open_fds ",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
    }
}
