//! Garbage collection against the running registry: `berth gc` beside `berth serve`, and
//! `serve --gc-interval`. Unreferenced blobs and stale uploads go; everything referenced
//! stays, even while pushes race the collector.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

fn blob_file(data: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    data.join("blobs/blobs/sha256").join(&hex[..2]).join(hex)
}

struct Registry {
    _tmp: tempfile::TempDir,
    server: Server,
    data: PathBuf,
    http: reqwest::Client,
    auth: String,
}

impl Registry {
    fn start(flags: &[&str], repositories: &[&str]) -> Registry {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let data = tmp.path().join("data");
        let mut all = vec!["--dev"];
        all.extend_from_slice(flags);
        let server = Server::start_with(&data, "127.0.0.1:0", &all);
        let clients = Clients {
            endpoint: server.endpoint(),
            home,
        };
        for r in repositories {
            clients.aws_ok(
                Some(&root()),
                &["ecr", "create-repository", "--repository-name", r],
            );
        }
        let password = clients.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("AWS:{}", password.as_str().unwrap()))
        );
        Registry {
            _tmp: tmp,
            server,
            data,
            http: reqwest::Client::new(),
            auth,
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server.endpoint()))
            .header("authorization", &self.auth)
    }

    async fn push_blob(&self, repo: &str, content: &[u8]) -> String {
        let digest = sha256(content);
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        digest
    }

    async fn status(&self, method: Method, path: &str) -> StatusCode {
        self.req(method, path).send().await.unwrap().status()
    }

    async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> Vec<u8> {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#);
        let config_digest = self.push_blob(repo, config.as_bytes()).await;
        let layer_digest = self.push_blob(repo, layer).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        self.put_manifest(repo, tag, &manifest).await;
        manifest
    }

    /// Pushes an OCI image manifest under `tag`; it must be accepted.
    async fn put_manifest(&self, repo: &str, tag: &str, manifest: &[u8]) {
        let r = self
            .req(Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// Starts a chunked upload with one chunk; returns its path.
    async fn start_upload(&self, repo: &str, chunk: &[u8]) -> String {
        let r = self
            .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let path = location.split_once("://").unwrap().1;
        let path = path[path.find('/').unwrap()..].to_owned();
        let r = self
            .req(Method::PATCH, &path)
            .header("content-range", format!("0-{}", chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        path
    }

    fn gc(&self, flags: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("gc")
            .arg("--data-dir")
            .arg(&self.data)
            .args(flags)
            .env("BERTH_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth gc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[tokio::test]
async fn gc_beside_a_running_server_removes_only_garbage() {
    let reg = Registry::start(&[], &["gc/app", "gc/doomed"]);
    let layer = bytes(200_000, 1);
    let manifest = reg.push_image("gc/app", "v1", &layer).await;
    let layer_digest = sha256(&layer);

    // An unlinked blob, and a repository deleted with its blobs.
    let loose = bytes(50_000, 2);
    let loose_digest = reg.push_blob("gc/app", &loose).await;
    assert_eq!(
        reg.status(Method::DELETE, &format!("/v2/gc/app/blobs/{loose_digest}"))
            .await,
        StatusCode::ACCEPTED
    );
    let doomed = bytes(30_000, 3);
    reg.push_image("gc/doomed", "v1", &doomed).await;
    let doomed_digest = sha256(&doomed);
    // Shared by both repositories: survives the deletion of one.
    let shared = bytes(10_000, 4);
    let shared_digest = reg.push_blob("gc/app", &shared).await;
    reg.push_blob("gc/doomed", &shared).await;
    let clients = Clients {
        endpoint: reg.server.endpoint(),
        home: reg.data.parent().unwrap().join("home"),
    };
    clients.aws_ok(
        Some(&root()),
        &[
            "ecr",
            "delete-repository",
            "--repository-name",
            "gc/doomed",
            "--force",
        ],
    );
    let stale_upload = reg.start_upload("gc/app", b"stale bytes").await;
    // An image whose foreign layer the registry never held: accepted, and the collector
    // has nothing to look for.
    let config = r#"{"architecture":"amd64","os":"linux","tag":"v1"}"#;
    let foreign = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config.as_bytes()), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": sha256(b"windows base layer"), "size": 18,
                    "urls": ["https://example.com/base.tar.gz"]}],
    }))
    .unwrap();
    reg.put_manifest("gc/app", "foreign", &foreign).await;

    // With the default grace period everything is too young to go.
    let report = reg.gc(&[]);
    assert!(report.contains("deleted 0 of"), "{report}");
    assert!(blob_file(&reg.data, &loose_digest).exists());

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh_upload = reg.start_upload("gc/app", b"fresh bytes").await;
    let report = reg.gc(&["--gc-blob-grace", "0s", "--gc-upload-max-age", "1s"]);
    // The loose blob, and the deleted repository's layer and manifest (its config is
    // the same bytes as gc/app's, which keeps them).
    assert!(report.contains("deleted 3 of"), "{report}");
    assert!(report.contains("deleted 1 stale uploads"), "{report}");
    assert!(!blob_file(&reg.data, &loose_digest).exists());
    assert!(!blob_file(&reg.data, &doomed_digest).exists());
    for kept in [&layer_digest, &shared_digest] {
        assert!(blob_file(&reg.data, kept).exists(), "{kept} was collected");
    }

    // What is referenced still serves; the stale upload is gone, the fresh one resumes.
    let r = reg
        .req(Method::GET, "/v2/gc/app/manifests/v1")
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), manifest);
    let r = reg
        .req(Method::GET, "/v2/gc/app/manifests/foreign")
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), foreign);
    let r = reg
        .req(Method::GET, &format!("/v2/gc/app/blobs/{layer_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), layer);
    assert_eq!(
        reg.status(Method::GET, &stale_upload).await,
        StatusCode::NOT_FOUND
    );
    let whole = b"fresh bytes, and more";
    let r = reg
        .req(
            Method::PUT,
            &format!("{fresh_upload}?digest={}", sha256(whole)),
        )
        .header("content-range", format!("11-{}", whole.len() - 1))
        .body(whole[11..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );

    // A collected blob can be pushed again.
    reg.push_blob("gc/app", &loose).await;
    let r = reg
        .req(Method::GET, &format!("/v2/gc/app/blobs/{loose_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), loose);
}

/// The collector runs every second with no grace period while pushes keep re-pushing
/// blobs that were unreferenced a moment before: every acknowledged image stays whole.
#[tokio::test]
async fn scheduled_gc_never_takes_a_blob_a_push_references() {
    let reg = Registry::start(
        &["--gc-interval", "1s", "--gc-blob-grace", "0s"],
        &["gc/race"],
    );
    // A `berth gc` process alongside the server's own schedule, in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let stop = Arc::clone(&stop);
        let data = reg.data.clone();
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new(env!("CARGO_BIN_EXE_berth"))
                    .args(["gc", "--gc-blob-grace", "0s", "--data-dir"])
                    .arg(&data)
                    .env("BERTH_LOG", "warn")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                runs += 1;
            }
            runs
        })
    };
    let started = Instant::now();
    let mut round = 0_u64;
    while started.elapsed() < Duration::from_secs(6) {
        round += 1;
        // The same few layers, unreferenced after every round (manifest deleted, link
        // removed): garbage most of the time, and referenced again by the next push.
        let layer = bytes(64 * 1024, round % 3);
        let tag = format!("r{round}");
        let manifest = reg.push_image("gc/race", &tag, &layer).await;
        // Whole right after the acknowledgement, whatever the collector did meanwhile.
        let r = reg
            .req(Method::GET, &format!("/v2/gc/race/manifests/{tag}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().to_vec(), manifest, "{tag}");
        let r = reg
            .req(
                Method::GET,
                &format!("/v2/gc/race/blobs/{}", sha256(&layer)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "round {round}: layer lost");
        assert!(
            r.bytes().await.unwrap().to_vec() == layer,
            "round {round}: layer corrupt"
        );
        for path in [
            format!("/v2/gc/race/manifests/{}", sha256(&manifest)),
            format!("/v2/gc/race/blobs/{}", sha256(&layer)),
        ] {
            assert_eq!(
                reg.status(Method::DELETE, &path).await,
                StatusCode::ACCEPTED
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let runs = collector.join().unwrap();
    assert!(runs > 0);
    eprintln!("{round} rounds against {runs} `berth gc` runs and the server's schedule");
}

/// Abandoned uploads are removed by the server's own sweeper (`--upload-expiry`), with no
/// garbage collection configured; an upload that is still written to is kept.
#[tokio::test]
async fn abandoned_uploads_expire_without_gc() {
    let reg = Registry::start(&["--upload-expiry", "2s"], &["gc/uploads"]);
    let abandoned = reg.start_upload("gc/uploads", b"abandoned").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while reg.status(Method::GET, &abandoned).await != StatusCode::NOT_FOUND {
        assert!(
            Instant::now() < deadline,
            "the abandoned upload was never removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A fresh upload is there and takes its next chunk.
    let fresh = reg.start_upload("gc/uploads", b"fresh").await;
    assert_eq!(
        reg.status(Method::GET, &fresh).await,
        StatusCode::NO_CONTENT
    );
}
