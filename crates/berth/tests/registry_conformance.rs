//! The OCI distribution specification (v1.1), section by section, against the real binary:
//! plain HTTP on loopback with Basic auth from GetAuthorizationToken, as ECR clients do.
//! Each test names the section of the spec it checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// A running server, an HTTP client and a registry password.
struct Registry {
    _tmp: tempfile::TempDir,
    _server: Server,
    clients: Clients,
    base: String,
    http: reqwest::Client,
    auth: String,
}

impl Registry {
    /// Starts a server and creates `repositories` with root credentials.
    fn start(repositories: &[&str]) -> Registry {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let server = Server::start_logged(
            &tmp.path().join("data"),
            "127.0.0.1:0",
            &tmp.path().join("server.log"),
        );
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
        let auth = basic(password.as_str().unwrap());
        Registry {
            base: server.endpoint(),
            _server: server,
            _tmp: tmp,
            clients,
            http: reqwest::Client::new(),
            auth,
        }
    }

    /// What the server logged so far (WARN and above).
    fn log(&self) -> String {
        std::fs::read_to_string(self._tmp.path().join("server.log")).unwrap()
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.req_as(&self.auth, method, path)
    }

    fn req_as(&self, auth: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.http
            .request(method, url)
            .header("authorization", auth.to_owned())
    }

    /// Monolithic upload (POST with `digest`); returns the digest.
    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .body(bytes.to_vec())
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

    async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a one-layer image under `tag`; returns (manifest bytes, manifest digest,
    /// layer digest).
    async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String, String) {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = self.push_blob(repo, config).await;
        let layer_digest = self.push_blob(repo, layer).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        let r = self.push_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        let digest = sha256(&manifest);
        (manifest, digest, layer_digest)
    }
}

fn basic(password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    format!("Basic {token}")
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// SHA-512 computed by coreutils' `sha512sum`, independently of the server's code.
fn sha512(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha512sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    format!("sha512:{}", &String::from_utf8(out.stdout).unwrap()[..128])
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Checks an error response: status, and the spec's envelope with `code` first.
async fn assert_error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    let body = json_of(r).await;
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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

/// Spec "Pulling manifests" and "Pulling blobs": by tag and digest, HEAD and GET, exact
/// bytes, `Docker-Content-Digest`, `Range`, content negotiation over `Accept`.
#[tokio::test]
async fn pull() {
    let reg = Registry::start(&["pull/app"]);
    let layer = pseudo_random(10_000, 1);
    let (manifest, digest, layer_digest) = reg.push_image("pull/app", "v1", &layer).await;

    for reference in ["v1", digest.as_str()] {
        let r = reg
            .req(Method::GET, &format!("/v2/pull/app/manifests/{reference}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type").unwrap(), OCI_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest").unwrap(), digest);
        assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
        let r = reg
            .req(Method::HEAD, &format!("/v2/pull/app/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "content-length").unwrap(),
            manifest.len().to_string()
        );
        assert_eq!(header(&r, "docker-content-digest").unwrap(), digest);
    }

    // Accept: a list with the stored type (or a wildcard, or no header) gets it; a list
    // without it gets MANIFEST_UNKNOWN instead of bytes the client cannot read.
    for accept in [
        format!("{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5"),
        "*/*".to_owned(),
    ] {
        let r = reg
            .req(Method::GET, "/v2/pull/app/manifests/v1")
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = reg
        .req(Method::GET, "/v2/pull/app/manifests/v1")
        .header("accept", DOCKER_MANIFEST)
        .header("accept", OCI_INDEX)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;

    // Blobs: whole, HEAD, ranges.
    let path = format!("/v2/pull/app/blobs/{layer_digest}");
    let r = reg.req(Method::GET, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "docker-content-digest").unwrap(), layer_digest);
    assert_eq!(r.bytes().await.unwrap().as_ref(), layer.as_slice());
    let r = reg.req(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length").unwrap(), "10000");
    let r = reg
        .req(Method::GET, &path)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range").unwrap(), "bytes 100-199/10000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &layer[100..200]);
    // RFC 9110: open-ended and suffix ranges (containerd resumes with `bytes=N-`), 416
    // with the size for a range past the end, and a unit other than bytes ignored.
    for (range, from) in [("bytes=9500-", 9500usize), ("bytes=-500", 9500)] {
        let r = reg
            .req(Method::GET, &path)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&r, "content-range").unwrap(),
            "bytes 9500-9999/10000",
            "{range}"
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), &layer[from..]);
    }
    for range in ["bytes=20000-20001", "bytes=10000-", "bytes=-0"] {
        let r = reg
            .req(Method::GET, &path)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&r, "content-range").unwrap(), "bytes */10000");
    }
    let r = reg
        .req(Method::GET, &path)
        .header("range", "items=0-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), 10000);

    // Unknown things.
    let r = reg
        .req(Method::GET, "/v2/pull/app/manifests/nope")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = reg
        .req(
            Method::GET,
            &format!("/v2/pull/app/blobs/{}", sha256(b"absent")),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let r = reg
        .req(Method::GET, "/v2/pull/missing/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    let r = reg
        .req(Method::GET, "/v2/Pull/App/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
    // A path that is no endpoint: 404, not 405.
    let r = reg
        .req(Method::GET, "/v2/pull/app/nothing/here")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "UNSUPPORTED").await;
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let upper = reg.auth.replacen("Basic ", "BASIC ", 1);
    assert!(upper.starts_with("BASIC "));
    let r = reg
        .req_as(&upper, Method::GET, "/v2/pull/app/tags/list")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Without credentials: 401 with a challenge.
    let r = reg
        .http
        .get(format!("{}/v2/pull/app/manifests/v1", reg.base))
        .send()
        .await
        .unwrap();
    assert!(
        header(&r, "www-authenticate")
            .unwrap()
            .starts_with("Basic ")
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

/// Spec "Pushing blobs": POST then PUT, chunked PATCH (any chunk size, out of order: 416),
/// upload status, cancel, digest verification, sha512.
#[tokio::test]
async fn push_blobs() {
    let reg = Registry::start(&["push/app"]);
    let blob = pseudo_random(1000, 2);
    let digest = sha256(&blob);

    // POST then PUT with the whole body.
    let r = reg
        .req(Method::POST, "/v2/push/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = header(&r, "location").unwrap();
    assert!(header(&r, "docker-upload-uuid").is_some());
    let r = reg
        .req(Method::PUT, &format!("{location}?digest={digest}"))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "docker-content-digest").unwrap(), digest);
    assert!(
        header(&r, "location")
            .unwrap()
            .ends_with(&format!("/v2/push/app/blobs/{digest}"))
    );

    // Chunked: chunks of 1, 7 and 992 bytes (no minimum size), status between them.
    let r = reg
        .req(Method::POST, "/v2/push/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let mut location = header(&r, "location").unwrap();
    let mut at = 0;
    for size in [1usize, 7, 992] {
        let r = reg
            .req(Method::PATCH, &location)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{at}-{}", at + size - 1))
            .body(blob[at..at + size].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        at += size;
        assert_eq!(header(&r, "range").unwrap(), format!("0-{}", at - 1));
        location = header(&r, "location").unwrap();
        let r = reg.req(Method::GET, &location).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&r, "range").unwrap(), format!("0-{}", at - 1));
    }
    // A chunk that does not continue the upload: 416, and the upload is unharmed.
    for range in ["0-9", "2000-2009"] {
        let r = reg
            .req(Method::PATCH, &location)
            .header("content-range", range)
            .body(vec![0u8; 10])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(header(&r, "range").unwrap(), "0-999");
    }
    // A chunk whose Content-Range end disagrees with its length: 416, upload unharmed.
    for (range, len) in [("1000-1019", 10usize), ("1000-1004", 10)] {
        let r = reg
            .req(Method::PATCH, &location)
            .header("content-range", range)
            .body(vec![0u8; len])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&r, "range").unwrap(), "0-999", "{range}");
    }
    // A range whose length does not fit 64 bits is refused, not computed.
    let r = reg
        .req(Method::PATCH, &location)
        .header("content-range", "0-18446744073709551615")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // A client that disconnects mid-chunk: no server error, and the upload keeps its
    // length and resumes.
    {
        use std::io::Write;
        let path = location
            .split_once("://")
            .map_or(location.as_str(), |(_, rest)| {
                &rest[rest.find('/').unwrap()..]
            });
        let host = reg.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "PATCH {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\n\
             Content-Range: 1000-100999\r\nContent-Length: 100000\r\n\r\n",
            reg.auth
        )
        .unwrap();
        stream.write_all(&[7u8; 30_000]).unwrap();
        stream.flush().unwrap();
        drop(stream);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let r = reg.req(Method::GET, &location).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&r, "range").unwrap(), "0-999");
        let log = reg.log();
        assert!(!log.contains("ERROR"), "{log}");
    }
    // The wrong digest: DIGEST_INVALID, and the upload stays for a correct PUT.
    let r = reg
        .req(
            Method::PUT,
            &format!("{location}?digest={}", sha256(b"other")),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let r = reg
        .req(Method::PUT, &format!("{location}?digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::GET, &location).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;

    // Cancel.
    let r = reg
        .req(Method::POST, "/v2/push/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let location = header(&r, "location").unwrap();
    let r = reg.req(Method::DELETE, &location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = reg.req(Method::GET, &location).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;

    // Monolithic POST with a wrong digest, and with a malformed one.
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/push/app/blobs/uploads/?digest={}", sha256(b"x")),
        )
        .body(b"y".to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let r = reg
        .req(Method::POST, "/v2/push/app/blobs/uploads/?digest=sha256:zz")
        .body(b"y".to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;

    // Monolithic POSTs on both sides of the size up to which the body is held whole and
    // stored in one write (1 MiB): right digests are stored, wrong ones refused.
    for size in [1024 * 1024, 1024 * 1024 + 1] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/push/app/blobs/uploads/?digest={}", sha256(b"other")),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
        let digest = sha256(&body);
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/push/app/blobs/uploads/?digest={digest}"),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{size}");
        let r = reg
            .req(Method::GET, &format!("/v2/push/app/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice(), "{size}");
    }

    // sha512, for a blob and for a manifest pushed by digest.
    let d512 = sha512(&blob);
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/push/app/blobs/uploads/?digest={d512}"),
        )
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg
        .req(Method::GET, &format!("/v2/push/app/blobs/{d512}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "docker-content-digest").unwrap(), d512);
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob.as_slice());
    let empty = reg.push_blob("push/app", b"{}").await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": d512, "size": blob.len()}],
    }))
    .unwrap();
    let m512 = sha512(&manifest);
    let r = reg
        .push_manifest("push/app", &m512, OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(header(&r, "docker-content-digest").unwrap(), m512);
    let r = reg
        .req(Method::GET, &format!("/v2/push/app/manifests/{m512}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
}

/// Spec "Mounting a blob from another repository": 201 when the caller may read the
/// source, else (and when the source lacks the blob) a 202 upload session.
#[tokio::test]
async fn cross_repository_mount() {
    let reg = Registry::start(&["mount/source", "mount/target", "mount/secret"]);
    let blob = pseudo_random(5000, 3);
    let digest = reg.push_blob("mount/source", &blob).await;
    reg.push_blob("mount/secret", &blob).await;

    let r = reg
        .req(
            Method::POST,
            &format!("/v2/mount/target/blobs/uploads/?mount={digest}&from=mount/source"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "docker-content-digest").unwrap(), digest);
    assert!(
        header(&r, "location")
            .unwrap()
            .ends_with(&format!("/v2/mount/target/blobs/{digest}"))
    );
    let r = reg
        .req(Method::GET, &format!("/v2/mount/target/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob.as_slice());

    // A source without the blob, a missing source, a malformed source: an upload instead.
    for from in ["mount/target2", "mount/nothing", "NOT VALID"] {
        let r = reg
            .req(
                Method::POST,
                &format!(
                    "/v2/mount/target/blobs/uploads/?mount={}&from={from}",
                    sha256(b"never pushed")
                ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "from {from}");
        assert!(header(&r, "location").unwrap().contains("/blobs/uploads/"));
    }

    // A caller who may push to the target but not read `mount/secret` gets an upload.
    let session = role_session(
        &reg,
        &json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Effect": "Allow", "Action": ["ecr:*"],
                 "Resource": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mount/target")},
                {"Effect": "Allow", "Action": ["ecr:BatchGetImage"],
                 "Resource": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mount/secret")},
            ]
        }),
    );
    let r = reg
        .req_as(
            &session,
            Method::POST,
            &format!("/v2/mount/target/blobs/uploads/?mount={digest}&from=mount/secret"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "no GetDownloadUrlForLayer on the source"
    );
    // Nor may it delete blobs or manifests it may not BatchDeleteImage.
    let r = reg
        .req_as(
            &session,
            Method::DELETE,
            &format!("/v2/mount/secret/blobs/{digest}"),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "DENIED").await;
    let r = reg
        .req(Method::HEAD, &format!("/v2/mount/secret/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the denied delete left the blob"
    );
}

/// Spec "Pushing manifests": references to missing blobs or manifests are refused, the
/// exact bytes are stored, indexes and Docker manifests are accepted, 4 MiB is the limit.
#[tokio::test]
async fn push_manifests() {
    let reg = Registry::start(&["manifests/app"]);
    let (_, image, _) = reg.push_image("manifests/app", "v1", b"layer").await;
    let missing = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"nope"), "size": 4},
        "layers": [],
    }))
    .unwrap();
    let r = reg
        .push_manifest("manifests/app", "bad", OCI_MANIFEST, &missing)
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    // Layers the registry need not hold: non-distributable media types, and any layer
    // with `urls`. Accepted without their blobs, and served.
    let config = reg.push_blob("manifests/app", b"{}").await;
    for (i, layer) in [
        json!({"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar", "digest": sha256(b"a"), "size": 1}),
        json!({"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": sha256(b"b"), "size": 1}),
        json!({"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "digest": sha256(b"c"), "size": 1}),
        json!({"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": sha256(b"d"), "size": 1}),
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(b"e"), "size": 1,
               "urls": ["https://example.com/e"]}),
    ]
    .into_iter()
    .enumerate()
    {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [layer],
        }))
        .unwrap();
        let tag = format!("external{i}");
        let r = reg
            .push_manifest("manifests/app", &tag, OCI_MANIFEST, &manifest)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        let r = reg
            .req(Method::GET, &format!("/v2/manifests/app/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
    }

    // An index of the image, with its own whitespace kept byte for byte.
    let index = format!(
        "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"{OCI_INDEX}\",\n  \"manifests\": [{{\"mediaType\": \"{OCI_MANIFEST}\", \"digest\": \"{image}\", \"size\": 1}}]\n}}\n"
    );
    let r = reg
        .push_manifest("manifests/app", "multi", OCI_INDEX, index.as_bytes())
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let r = reg
        .req(Method::GET, "/v2/manifests/app/manifests/multi")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-type").unwrap(), OCI_INDEX);
    assert_eq!(r.bytes().await.unwrap().as_ref(), index.as_bytes());
    let dangling = index.replace(&image, &sha256(b"no such manifest"));
    let r = reg
        .push_manifest("manifests/app", "dangling", OCI_INDEX, dangling.as_bytes())
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    // The digest in the URL must match the bytes.
    let r = reg
        .push_manifest(
            "manifests/app",
            &sha256(b"something else"),
            OCI_INDEX,
            index.as_bytes(),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    // Not JSON, and too large.
    let r = reg
        .push_manifest("manifests/app", "junk", OCI_MANIFEST, b"not json")
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = reg
        .push_manifest("manifests/app", "huge", OCI_MANIFEST, &huge)
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
}

/// Spec "Content discovery": tags with `n` and `last`, and the referrers API with its
/// `artifactType` filter; `OCI-Subject` on a push with a subject.
#[tokio::test]
async fn content_discovery() {
    let reg = Registry::start(&["discover/app"]);
    let (subject_bytes, subject, _) = reg.push_image("discover/app", "v1", b"base layer").await;
    for t in ["b", "a", "c"] {
        let r = reg
            .push_manifest("discover/app", t, OCI_MANIFEST, &subject_bytes)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = reg
        .req(Method::GET, "/v2/discover/app/tags/list")
        .send()
        .await
        .unwrap();
    let body = json_of(r).await;
    assert_eq!(
        body,
        json!({"name": "discover/app", "tags": ["a", "b", "c", "v1"]})
    );
    let r = reg
        .req(Method::GET, "/v2/discover/app/tags/list?n=2&last=a")
        .send()
        .await
        .unwrap();
    assert!(header(&r, "link").unwrap().contains("last=c"));
    let body = json_of(r).await;
    assert_eq!(body["tags"], json!(["b", "c"]));
    let r = reg
        .req(Method::GET, "/v2/discover/app/tags/list?n=0")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID").await;

    // No referrers yet: an empty index, also for a subject that does not exist.
    for d in [subject.clone(), sha256(b"no such subject")] {
        let r = reg
            .req(Method::GET, &format!("/v2/discover/app/referrers/{d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type").unwrap(), OCI_INDEX);
        let body = json_of(r).await;
        assert_eq!(
            body,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        );
    }

    // Two artifacts refer to the image, of two types.
    let empty = reg.push_blob("discover/app", b"{}").await;
    let mut referrers = Vec::new();
    for (artifact_type, content) in [
        ("application/vnd.example.sbom", b"sbom" as &[u8]),
        ("application/vnd.example.signature", b"sig"),
    ] {
        let layer = reg.push_blob("discover/app", content).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": content.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"org.example.kind": artifact_type},
        }))
        .unwrap();
        let digest = sha256(&manifest);
        let r = reg
            .push_manifest("discover/app", &digest, OCI_MANIFEST, &manifest)
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        assert_eq!(header(&r, "oci-subject").unwrap(), subject);
        referrers.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": manifest.len(),
            "artifactType": artifact_type,
            "annotations": {"org.example.kind": artifact_type},
        }));
    }
    referrers.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    let r = reg
        .req(
            Method::GET,
            &format!("/v2/discover/app/referrers/{subject}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "oci-filters-applied").is_none());
    let body = json_of(r).await;
    let mut listed = body["manifests"].as_array().unwrap().clone();
    listed.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    assert_eq!(listed, referrers);

    let r = reg
        .req(
            Method::GET,
            &format!(
                "/v2/discover/app/referrers/{subject}?artifactType=application/vnd.example.sbom"
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "oci-filters-applied").unwrap(), "artifactType");
    let body = json_of(r).await;
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );

    // A deleted referrer is no longer listed.
    let sbom = body["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let r = reg
        .req(
            Method::DELETE,
            &format!("/v2/discover/app/manifests/{sbom}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg
        .req(
            Method::GET,
            &format!("/v2/discover/app/referrers/{subject}"),
        )
        .send()
        .await
        .unwrap();
    let body = json_of(r).await;
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    let r = reg
        .req(Method::GET, "/v2/discover/app/referrers/sha256:short")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

/// Spec "Content management": deleting tags, manifests and blobs.
#[tokio::test]
async fn content_management() {
    let reg = Registry::start(&["manage/app"]);
    let (manifest, digest, layer) = reg.push_image("manage/app", "v1", b"to delete").await;
    let r = reg
        .push_manifest("manage/app", "v2", OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // A tag: the manifest stays under its other tag and its digest.
    let r = reg
        .req(Method::DELETE, "/v2/manage/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg
        .req(Method::GET, "/v2/manage/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = reg
        .req(Method::HEAD, "/v2/manage/app/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The manifest, with its remaining tags.
    let path = format!("/v2/manage/app/manifests/{digest}");
    let r = reg.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg.req(Method::DELETE, &path).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = reg
        .req(Method::GET, "/v2/manage/app/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;

    // A blob.
    let path = format!("/v2/manage/app/blobs/{layer}");
    let r = reg.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg.req(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg.req(Method::DELETE, &path).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

/// Temporary credentials for a role whose only policy is `policy`, as a Basic
/// authorization header for the registry.
fn role_session(reg: &Registry, policy: &Value) -> String {
    let session = reg.clients.role_session("Limited", policy);
    let password = reg
        .clients
        .aws_ok(Some(&session), &["ecr", "get-login-password"]);
    basic(password.as_str().unwrap())
}

async fn json_of(r: Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// A registry password made with the root keys stops working when the root keys change
/// (the sealing key, kept in the database, does not).
#[tokio::test]
async fn root_passwords_end_with_the_root_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut server = Server::start(&data, "127.0.0.1:0");
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    let password = clients.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    let auth = basic(password.as_str().unwrap());
    let status = |endpoint: String| {
        let auth = auth.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{endpoint}/v2/"))
                .header("authorization", auth)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(server.endpoint()).await, StatusCode::OK);
    server.stop();
    let server = Server::start_with_env(
        &data,
        "127.0.0.1:0",
        &["--dev"],
        &[
            ("BERTH_ROOT_ACCESS_KEY_ID", "AKIAROTATEDROOTKEY01"),
            (
                "BERTH_ROOT_SECRET_ACCESS_KEY",
                "rotatedRootSecretKeyForTestsOnly01234567",
            ),
        ],
    );
    assert_eq!(status(server.endpoint()).await, StatusCode::UNAUTHORIZED);
}
