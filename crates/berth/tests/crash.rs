//! SIGKILL during concurrent pushes. Several threads push blobs (monolithic, POST then PUT,
//! chunked) and manifests through the registry API while the server is killed with
//! SIGKILL at a random moment; after a restart:
//!
//! * every push that was acknowledged (201) is there, byte for byte;
//! * every push that was not is either absent or complete: never half visible;
//! * every interrupted chunked upload either resumes from the offset the server reports
//!   or is gone (404), in which case a fresh upload succeeds.
//!
//! A bounded number of rounds; the seed is printed so a failure can be replayed with
//! `BERTH_CRASH_SEED`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

const ROUNDS: usize = 4;
const WORKERS: usize = 4;
const REPO: &str = "crash/app";

/// xorshift64: reproducible from the printed seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A blob upload that was cut off: where it lives and the whole content it was meant to
/// have.
struct Interrupted {
    upload_path: String,
    content: Vec<u8>,
}

#[derive(Default)]
struct Outcome {
    /// Blobs acknowledged with 201.
    acked_blobs: Vec<Vec<u8>>,
    /// Blobs sent without an acknowledgement (the kill came first).
    unacked_blobs: Vec<Vec<u8>>,
    /// (tag, manifest bytes) acknowledged with 201.
    acked_manifests: Vec<(String, Vec<u8>)>,
    unacked_manifests: Vec<(String, Vec<u8>)>,
    interrupted: Vec<Interrupted>,
    /// Failures seen while the server was meant to be alive.
    errors: Vec<String>,
}

struct Worker {
    http: reqwest::Client,
    base: String,
    auth: String,
    killing: Arc<AtomicBool>,
    outcome: Arc<Mutex<Outcome>>,
    rng: Rng,
}

/// Path and query of an absolute Location URL (the port changes across restarts).
fn path_of(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_owned())
            .unwrap_or_default(),
        None => location.to_owned(),
    }
}

impl Worker {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A response that is not what a live server should send is an error unless the
    /// server is being killed.
    fn unexpected(&self, what: String) {
        if !self.killing.load(Ordering::SeqCst) {
            self.outcome.lock().unwrap().errors.push(what);
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Option<reqwest::Response> {
        match req.header("authorization", &self.auth).send().await {
            Ok(r) => Some(r),
            Err(e) => {
                self.unexpected(format!("request failed: {e}"));
                None
            }
        }
    }

    /// Pushes a blob in one of three ways; returns whether it was acknowledged.
    async fn push_blob(&mut self, content: &[u8]) -> bool {
        let digest = sha256(content);
        let mode = self.rng.below(4);
        let acked = match mode {
            0 => {
                let r = self
                    .send(
                        self.http
                            .post(self.url(&format!("/v2/{REPO}/blobs/uploads/?digest={digest}")))
                            .body(content.to_vec()),
                    )
                    .await;
                self.created(r, "monolithic POST").await
            }
            _ => {
                let Some(r) = self
                    .send(
                        self.http
                            .post(self.url(&format!("/v2/{REPO}/blobs/uploads/"))),
                    )
                    .await
                else {
                    return false;
                };
                if r.status() != StatusCode::ACCEPTED {
                    self.unexpected(format!("POST upload: {}", r.status()));
                    return false;
                }
                let mut path = path_of(r.headers()["location"].to_str().unwrap());
                if mode == 1 {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    let r = self
                        .send(
                            self.http
                                .put(self.url(&format!("{path}{sep}digest={digest}")))
                                .body(content.to_vec()),
                        )
                        .await;
                    self.created(r, "PUT upload").await
                } else {
                    // Chunked; mode 3 stops midway on purpose (an abandoned upload).
                    let abandon_at = if mode == 3 {
                        content.len() / 2
                    } else {
                        content.len()
                    };
                    let mut offset = 0;
                    while offset < abandon_at {
                        let chunk =
                            (self.rng.below(256 * 1024) as usize + 2).min(content.len() - offset);
                        let r = self
                            .send(
                                self.http
                                    .patch(self.url(&path))
                                    .header(
                                        "content-range",
                                        format!("{offset}-{}", offset + chunk - 1),
                                    )
                                    .header("content-type", "application/octet-stream")
                                    .body(content[offset..offset + chunk].to_vec()),
                            )
                            .await;
                        let Some(r) = r else {
                            self.interrupted(path, content);
                            return false;
                        };
                        if r.status() != StatusCode::ACCEPTED {
                            self.unexpected(format!("PATCH: {}", r.status()));
                            self.interrupted(path, content);
                            return false;
                        }
                        path = path_of(r.headers()["location"].to_str().unwrap());
                        offset += chunk;
                    }
                    if offset < content.len() {
                        self.interrupted(path, content);
                        return false;
                    }
                    let sep = if path.contains('?') { '&' } else { '?' };
                    let r = self
                        .send(
                            self.http
                                .put(self.url(&format!("{path}{sep}digest={digest}"))),
                        )
                        .await;
                    self.created(r, "PUT after PATCH").await
                }
            }
        };
        let mut outcome = self.outcome.lock().unwrap();
        if acked {
            outcome.acked_blobs.push(content.to_vec());
        } else {
            outcome.unacked_blobs.push(content.to_vec());
        }
        acked
    }

    fn interrupted(&self, upload_path: String, content: &[u8]) {
        let mut outcome = self.outcome.lock().unwrap();
        outcome.unacked_blobs.push(content.to_vec());
        outcome.interrupted.push(Interrupted {
            upload_path,
            content: content.to_vec(),
        });
    }

    async fn created(&self, r: Option<reqwest::Response>, what: &str) -> bool {
        match r {
            Some(r) if r.status() == StatusCode::CREATED => true,
            Some(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                self.unexpected(format!("{what}: {status} {body}"));
                false
            }
            None => false,
        }
    }

    /// Pushes config + layer + manifest until the server dies.
    async fn run(mut self, worker: usize, round: usize) {
        for i in 0.. {
            let layer_len = self.rng.below(1536 * 1024) as usize + 2;
            let layer = self.rng.bytes(layer_len);
            if !self.push_blob(&layer).await {
                if self.killing.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            let config = json!({"architecture": "amd64", "os": "linux", "worker": worker, "round": round, "i": i})
                .to_string()
                .into_bytes();
            if !self.push_blob(&config).await {
                if self.killing.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
            }))
            .unwrap();
            let tag = format!("w{worker}-r{round}-{i}");
            let r = self
                .send(
                    self.http
                        .put(self.url(&format!("/v2/{REPO}/manifests/{tag}")))
                        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                        .body(manifest.clone()),
                )
                .await;
            let acked = self.created(r, "PUT manifest").await;
            let mut outcome = self.outcome.lock().unwrap();
            if acked {
                outcome.acked_manifests.push((tag, manifest));
            } else {
                outcome.unacked_manifests.push((tag, manifest));
                if self.killing.load(Ordering::SeqCst) {
                    return;
                }
            }
        }
    }
}

struct Checker {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Checker {
    async fn get(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.bytes().await.unwrap().to_vec())
    }

    async fn blob(&self, content: &[u8]) -> (StatusCode, Vec<u8>) {
        self.get(&format!("/v2/{REPO}/blobs/{}", sha256(content)))
            .await
    }

    /// Resumes an interrupted upload from where the server says it stands, or (when the
    /// upload is gone) pushes the blob afresh.
    async fn finish_interrupted(&self, upload: &Interrupted) {
        let digest = sha256(&upload.content);
        let url = format!("{}{}", self.base, upload.upload_path);
        let r = self
            .http
            .get(&url)
            .header("authorization", &self.auth)
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::NO_CONTENT => {
                let range = r.headers()["range"].to_str().unwrap().to_owned();
                let (_, last) = range.split_once('-').unwrap();
                let last: usize = last.parse().unwrap();
                // Chunks are at least 2 bytes, so "0-0" can only mean empty.
                let len = if last == 0 { 0 } else { last + 1 };
                assert!(
                    len <= upload.content.len(),
                    "upload reports {len} bytes of {}",
                    upload.content.len()
                );
                let location = path_of(r.headers()["location"].to_str().unwrap());
                let sep = if location.contains('?') { '&' } else { '?' };
                let r = self
                    .http
                    .put(format!("{}{location}{sep}digest={digest}", self.base))
                    .header("authorization", &self.auth)
                    .header(
                        "content-range",
                        format!("{len}-{}", upload.content.len() - 1),
                    )
                    .body(upload.content[len..].to_vec())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    r.status(),
                    StatusCode::CREATED,
                    "resuming an interrupted upload at {len}: {}",
                    r.text().await.unwrap()
                );
            }
            StatusCode::NOT_FOUND => {
                let r = self
                    .http
                    .post(format!(
                        "{}/v2/{REPO}/blobs/uploads/?digest={digest}",
                        self.base
                    ))
                    .header("authorization", &self.auth)
                    .body(upload.content.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
            other => panic!(
                "interrupted upload status: {other} {}",
                r.text().await.unwrap()
            ),
        }
        let (status, body) = self.blob(&upload.content).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == upload.content, "resumed blob differs");
    }
}

#[test]
fn sigkill_during_concurrent_pushes_loses_nothing_acknowledged() {
    let seed = std::env::var("BERTH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("BERTH_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut server = Server::start(&data, "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    clients.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", REPO],
    );
    let password = clients.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("AWS:{}", password.as_str().unwrap()))
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut all_acked_blobs: Vec<Vec<u8>> = Vec::new();
    let mut all_acked_manifests: Vec<(String, Vec<u8>)> = Vec::new();
    for round in 0..ROUNDS {
        let killing = Arc::new(AtomicBool::new(false));
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let threads: Vec<_> = (0..WORKERS)
            .map(|w| {
                let worker = Worker {
                    http: reqwest::Client::new(),
                    base: server.endpoint(),
                    auth: auth.clone(),
                    killing: Arc::clone(&killing),
                    outcome: Arc::clone(&outcome),
                    rng: Rng(rng.next() | 1),
                };
                std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(worker.run(w, round));
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + rng.below(600)));
        killing.store(true, Ordering::SeqCst);
        server.kill();
        for t in threads {
            t.join().unwrap();
        }
        let outcome = std::mem::take(&mut *outcome.lock().unwrap());
        assert!(
            outcome.errors.is_empty(),
            "round {round}: failures while the server was up: {:#?}",
            outcome.errors
        );
        eprintln!(
            "round {round}: {} blobs and {} manifests acknowledged, {} blobs and {} manifests cut off, {} uploads interrupted",
            outcome.acked_blobs.len(),
            outcome.acked_manifests.len(),
            outcome.unacked_blobs.len(),
            outcome.unacked_manifests.len(),
            outcome.interrupted.len()
        );
        all_acked_blobs.extend(outcome.acked_blobs);
        all_acked_manifests.extend(outcome.acked_manifests);

        server = Server::start(&data, "127.0.0.1:0");
        let checker = Checker {
            http: reqwest::Client::new(),
            base: server.endpoint(),
            auth: auth.clone(),
        };
        runtime.block_on(async {
            // Everything acknowledged in this and every earlier round is intact.
            for content in &all_acked_blobs {
                let (status, body) = checker.blob(content).await;
                assert_eq!(status, StatusCode::OK, "acknowledged blob lost");
                assert!(&body == content, "acknowledged blob corrupt");
            }
            for (tag, manifest) in &all_acked_manifests {
                let (status, body) = checker.get(&format!("/v2/{REPO}/manifests/{tag}")).await;
                assert_eq!(status, StatusCode::OK, "acknowledged manifest {tag} lost");
                assert!(&body == manifest, "manifest {tag} corrupt");
            }
            // What was cut off is absent or whole.
            for content in &outcome.unacked_blobs {
                let (status, body) = checker.blob(content).await;
                assert!(
                    status == StatusCode::NOT_FOUND
                        || (status == StatusCode::OK && &body == content),
                    "unacknowledged blob half visible: {status}, {} of {} bytes",
                    body.len(),
                    content.len()
                );
            }
            for (tag, manifest) in &outcome.unacked_manifests {
                let (status, body) = checker.get(&format!("/v2/{REPO}/manifests/{tag}")).await;
                assert!(
                    status == StatusCode::NOT_FOUND
                        || (status == StatusCode::OK && &body == manifest),
                    "unacknowledged manifest {tag} half visible: {status}"
                );
            }
            // Every tag the registry lists resolves to a manifest whose blobs it serves.
            let (status, body) = checker.get(&format!("/v2/{REPO}/tags/list")).await;
            assert_eq!(status, StatusCode::OK);
            let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
            for tag in tags["tags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().unwrap();
                let (status, body) = checker.get(&format!("/v2/{REPO}/manifests/{tag}")).await;
                assert_eq!(status, StatusCode::OK, "listed tag {tag} does not resolve");
                let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let config = manifest["config"]["digest"].as_str().unwrap();
                let layer = manifest["layers"][0]["digest"].as_str().unwrap();
                for digest in [config, layer] {
                    let (status, body) = checker.get(&format!("/v2/{REPO}/blobs/{digest}")).await;
                    assert_eq!(
                        status,
                        StatusCode::OK,
                        "{tag} references a missing {digest}"
                    );
                    assert_eq!(sha256(&body), digest, "{tag}: blob {digest} corrupt");
                }
            }
            // Interrupted uploads resume, or are gone and can be pushed again.
            for upload in &outcome.interrupted {
                checker.finish_interrupted(upload).await;
            }
        });
    }
    assert!(
        !all_acked_manifests.is_empty(),
        "no push was acknowledged in {ROUNDS} rounds: the test exercised nothing"
    );
    server.stop();
}
