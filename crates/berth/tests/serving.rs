//! Serving: HTTPS (`--tls-cert`/`--tls-key`, HTTP/2 and HTTP/1.1 by ALPN) with a self-signed
//! certificate made here by the openssl CLI, used by curl, the aws CLI and skopeo with
//! that certificate as their CA; and the connection limits: path and header caps, the
//! header timeout for slow clients, the idle timeout, the bound on concurrent uploads per
//! principal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// A self-signed certificate for 127.0.0.1 and its key; returns (cert, key).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=berth test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn https_with_http2_and_http1_for_curl_aws_and_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path());
    let mut server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &[
            "--dev",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let endpoint = format!("https://{}", server.addr);
    let ca = cert.to_str().unwrap();

    // ALPN picks the protocol; both work.
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = curl(&[
            "--cacert",
            ca,
            flag,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            &format!("{endpoint}/healthz"),
        ]);
        assert_eq!(out, format!("200 {version}"));
    }
    // Without the CA the certificate is refused; plain HTTP on the TLS port gets nothing.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", &format!("{endpoint}/healthz")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            &format!("http://{}/healthz", server.addr),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ok"));

    // The aws CLI over HTTPS, trusting the certificate through its config file's
    // ca_bundle (the test clients read their config from `no-config`).
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("no-config"),
        format!("[default]\nca_bundle = {ca}\n"),
    )
    .unwrap();
    let clients = Clients {
        endpoint: endpoint.clone(),
        home,
    };
    clients.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "tls/app"],
    );
    let password = clients.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    let creds = format!("AWS:{}", password.as_str().unwrap());

    // skopeo pushes and pulls with the certificate as its CA (no --tls-verify=false).
    let certs = tmp.path().join("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&cert, certs.join("ca.crt")).unwrap();
    let layout = tmp.path().join("layout");
    let manifest = write_oci_layout(&layout, "v1", 2, 100_000);
    let remote = format!("docker://{}/tls/app:v1", server.addr);
    let out = clients.skopeo(
        &[
            "copy",
            "--preserve-digests",
            "--dest-cert-dir",
            certs.to_str().unwrap(),
            "--dest-creds",
            &creds,
            &format!("oci:{}:v1", layout.display()),
            &remote,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "skopeo push over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = tmp.path().join("back");
    let out = clients.skopeo(
        &[
            "copy",
            "--preserve-digests",
            "--src-cert-dir",
            certs.to_str().unwrap(),
            "--src-creds",
            &creds,
            &remote,
            &format!("oci:{}:v1", back.display()),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "skopeo pull over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_layout_manifest(&back), manifest);
    server.stop();
}

#[test]
fn bad_tls_files_are_refused_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, _key) = self_signed(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert) // a certificate is not a key
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("private key"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

/// Sends `head` and returns what the server answers before closing the connection.
fn raw(addr: &str, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head).unwrap();
    let mut out = Vec::new();
    // Ends when the server closes; a read timeout would mean it never did.
    match stream.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept the connection open: {e}"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn limits_on_paths_headers_and_slow_or_idle_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--header-timeout", "1s", "--idle-timeout", "2s"],
    );
    let addr = &server.addr;

    let long_path = format!("/v2/{}/tags/list", "a/".repeat(5000));
    let answer = raw(
        addr,
        format!("GET {long_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");

    let big_header = "b".repeat(100 * 1024);
    let answer = raw(
        addr,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big_header}\r\n\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A head that never finishes, and a connection that never sends: both are closed.
    let answer = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(raw(addr, b""), "");

    // Within the limits all is well.
    let answer = raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Bodies that trickle are cut off at `--body-timeout` (each connection answered 408 and
/// closed, however many), cleartext HTTP/2 is off unless asked for, and connections over
/// `--max-connections` are answered 503 and closed.
#[test]
fn slow_bodies_cleartext_http2_and_too_many_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--body-timeout", "2s", "--max-connections", "12"],
    );
    let addr = server.addr.clone();

    // Ten clients each announce a 100-byte body and send a byte every 300 ms: the idle
    // timeout never fires, the body timeout does, for all of them.
    let trickles: Vec<_> = (0..10)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                stream
                    .write_all(
                        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                          Content-Length: 100\r\n\r\n",
                    )
                    .unwrap();
                let mut answer = Vec::new();
                for _ in 0..100 {
                    if stream.write_all(b"a").is_err() {
                        break;
                    }
                    let mut buf = [0_u8; 512];
                    match stream.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => answer.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
                String::from_utf8_lossy(&answer).into_owned()
            })
        })
        .collect();
    // Only the body timeout answers 408: a body that arrived whole would get an answer
    // about its contents.
    for t in trickles {
        let answer = t.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }

    // A body over its operation's limit is refused from its Content-Length, before a
    // byte of it is read: 256 KiB for most ECR operations, 2 MiB for IAM and STS.
    for (target, length) in [
        (
            "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
            300_000,
        ),
        ("", 3_000_000),
    ] {
        let target = if target.is_empty() {
            String::new()
        } else {
            format!("X-Amz-Target: {target}\r\n")
        };
        let answer = raw(
            &addr,
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\n{target}Content-Length: {length}\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    // Cleartext HTTP/2 (prior knowledge) is not spoken unless --h2c is given: an HTTP/2
    // server answers the preface with a SETTINGS frame at once; this one does not.
    let mut h2 = TcpStream::connect(&addr).unwrap();
    h2.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let mut frame = [0_u8; 9];
    let read = h2.read(&mut frame).unwrap_or(0);
    assert!(
        read < 4 || frame[3] != 0x4,
        "an HTTP/2 SETTINGS frame: {frame:?}"
    );
    drop(h2);

    // Twelve connections held open: the thirteenth is told why and closed.
    let held: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let answer = raw(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("maximum of 12 connections"), "{answer}");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let answer = raw(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn concurrent_uploads_are_bounded_per_principal() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--dev", "--max-concurrent-uploads", "1"],
    );
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    clients.aws_ok(
        Some(&root()),
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "limits/app",
        ],
    );
    let password = clients.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("AWS:{}", password.as_str().unwrap()));
    let digest = format!("sha256:{}", sha256_hex(b"0123456789"));

    let stalled_head = format!(
        "POST /v2/limits/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Basic {auth}\r\nContent-Length: 10\r\n\r\n01234"
    );
    let monolithic = |body: &str| {
        format!(
            "POST /v2/limits/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Basic {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // One upload that stalls mid-body holds the principal's only slot, so a second one is
    // refused until it finishes. The stalled request takes the slot only once the server
    // has read its head; a probe that arrives first takes the slot itself (and the stalled
    // request is the one refused), so on a busy machine start over with a fresh pair.
    let mut refused = String::new();
    let mut stalled = None;
    for _ in 0..50 {
        let mut candidate = TcpStream::connect(&server.addr).unwrap();
        candidate.write_all(stalled_head.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        refused = raw(&server.addr, monolithic("0123456789").as_bytes());
        if refused.starts_with("HTTP/1.1 429") {
            stalled = Some(candidate);
            break;
        }
    }
    let mut stalled = stalled.expect("no probe was ever refused while an upload stalled");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.contains("TOOMANYREQUESTS"), "{refused}");

    // The ECR API's UploadLayerPart is under the same bound.
    let upload = clients.aws_ok(
        Some(&root()),
        &[
            "ecr",
            "initiate-layer-upload",
            "--repository-name",
            "limits/app",
        ],
    );
    let upload_id = upload["uploadId"].as_str().unwrap().to_owned();
    let part = tmp.path().join("part");
    std::fs::write(&part, b"0123456789").unwrap();
    let part_blob = format!("fileb://{}", part.display());
    let upload_part = [
        "ecr",
        "upload-layer-part",
        "--repository-name",
        "limits/app",
        "--upload-id",
        &upload_id,
        "--part-first-byte",
        "0",
        "--part-last-byte",
        "9",
        "--layer-part-blob",
        &part_blob,
    ];
    let err = clients.aws_err(Some(&root()), &upload_part);
    assert!(err.contains("LimitExceededException"), "{err}");
    assert!(err.contains("retry when one finishes"), "{err}");

    stalled.write_all(b"56789").unwrap();
    let mut answer = [0_u8; 12];
    stalled.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201");
    drop(stalled);
    let answer = raw(&server.addr, monolithic("0123456789").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // With the slot free again the refused part goes through, and nothing of the refused
    // attempt was counted.
    let accepted = clients.aws_ok(Some(&root()), &upload_part);
    assert_eq!(accepted["lastByteReceived"], 9, "{accepted}");
}
