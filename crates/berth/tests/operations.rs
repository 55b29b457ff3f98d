//! Operating the server: Prometheus from Debian scrapes `--metrics-listen` and answers a
//! PromQL query about Berth's requests; `/readyz` fails while a store is unreachable and
//! `/healthz` stays cheap; the request log is one JSON line per request, with nothing
//! secret in it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn prometheus_scrapes_the_metrics_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--metrics-listen", "127.0.0.1:0"],
    );
    let metrics = server
        .metrics_addr
        .clone()
        .expect("the ready line names the metrics address");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    c.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "scraped"],
    );
    c.aws_err(
        Some(&root()),
        &["ecr", "describe-images", "--repository-name", "absent"],
    );

    // The exposition itself: what Prometheus parses.
    let (status, text) = get(&format!("http://{metrics}/metrics"));
    assert_eq!(status, 200);
    for expected in [
        "berth_requests_total{api=\"ecr\",operation=\"CreateRepository\",status=\"200\"} 1",
        "berth_requests_total{api=\"ecr\",operation=\"DescribeImages\",status=\"400\"} 1",
        "berth_request_duration_seconds_bucket",
        "berth_authorization_decisions_total{outcome=\"allow\"}",
        "berth_store_query_duration_seconds_count{engine=\"sqlite\"}",
        "berth_build_info{version=",
        "process_resident_memory_bytes",
        "# EOF",
    ] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }
    let (status, _) = get(&format!("http://{metrics}/other"));
    assert_eq!(status, 404);

    // Debian's Prometheus scrapes it, and answers PromQL about it.
    let port = free_port();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: berth\n    \
             static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(tmp.path().join("prometheus.log")).unwrap(),
        ))
        .spawn()
        .expect("run prometheus (Debian's, installed by scripts/test.sh)");
    let _prometheus = Killed(prometheus);
    let query = |promql: &str| -> Option<f64> {
        let url = format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, body) = get(&url);
        if status != 200 {
            return None;
        }
        let answer: Value = serde_json::from_str(&body).ok()?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = query("up{job=\"berth\"}");
        let created =
            query("sum(berth_requests_total{api=\"ecr\",operation=\"CreateRepository\"})");
        if up == Some(1.0) && created == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape Berth: up={up:?} created={created:?}; its log:\n{}",
            std::fs::read_to_string(tmp.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let denied_or_failed = query("sum(berth_requests_total{status=~\"4..\"})").unwrap();
    assert!(denied_or_failed >= 1.0);
}

#[test]
fn readyz_fails_while_a_store_is_unreachable_and_healthz_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (moto, s3) = start_moto(tmp.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // moto does not check signatures: an unsigned CreateBucket is enough.
    let created = runtime.block_on(reqwest::Client::new().put(format!("{s3}/ready")).send());
    assert!(created.unwrap().status().is_success());
    let server = Server::start_with_env(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--blobs", "s3://ready/berth", "--s3-endpoint", &s3],
        &[
            ("BERTH_S3_ACCESS_KEY_ID", "testing"),
            ("BERTH_S3_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let endpoint = server.endpoint();
    assert_eq!(
        get(&format!("{endpoint}/readyz")),
        (200, "ready\n".to_owned())
    );

    drop(moto);
    let (status, body) = get(&format!("{endpoint}/readyz"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("blob store"), "{body}");
    assert_eq!(get(&format!("{endpoint}/healthz")).0, 200);
}

#[test]
fn the_request_log_is_one_json_line_per_request_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("server.log");
    let server = Server::start_logged_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--log-format", "json"],
        &[("BERTH_LOG", "info")],
        &log,
    );
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let c = Clients {
        endpoint: server.endpoint(),
        home,
    };
    c.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "logged"],
    );
    let password = c.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    let password = password.as_str().unwrap().to_owned();
    // A registry request with a password, and a query that carries a (fake) credential.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listed = runtime.block_on(
        reqwest::Client::new()
            .get(format!(
                "{}/v2/logged/tags/list?X-Amz-Signature=querysecret0123",
                server.endpoint()
            ))
            .basic_auth("AWS", Some(&password))
            .send(),
    );
    assert_eq!(listed.unwrap().status(), 200);

    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "berth::request")
            .collect();
        if lines.len() >= 3 || Instant::now() > deadline {
            for secret in [ROOT_SECRET, password.as_str(), "querysecret0123"] {
                assert!(!text.contains(secret), "a secret is in the log");
            }
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let tags = lines
        .iter()
        .find(|l| l["fields"]["path"] == "/v2/logged/tags/list")
        .unwrap_or_else(|| panic!("no line for the tag list in {lines:#?}"));
    let fields = &tags["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["principal"], format!("arn:aws:iam::{ACCOUNT}:root"));
    assert!(fields["sent"].as_u64().unwrap() > 0);
    assert!(fields["duration_ms"].as_f64().is_some());
    assert_eq!(fields["request_id"].as_str().unwrap().len(), 36);
    let created = lines
        .iter()
        .find(|l| l["fields"]["path"] == "/" && l["fields"]["status"] == 200)
        .unwrap();
    assert!(created["fields"]["received"].as_u64().unwrap() > 0);
}
