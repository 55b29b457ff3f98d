//! Memory: the server's resident set stays under 100 MiB while a 2 GiB layer is pushed
//! (POST, one streaming PATCH, PUT with the digest) and pulled (GET), through the real
//! binary. The test holds no copy of the layer either: it generates the bytes as it sends
//! them and hashes what it pulls as it reads. The server's VmRSS is sampled from
//! /proc/<pid>/status throughout; the bound is on memory, not on time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;

const LAYER: u64 = 2 * 1024 * 1024 * 1024;
const BLOCK: usize = 1024 * 1024;
const RSS_LIMIT_KIB: u64 = 100 * 1024;

/// The server's resident set in KiB, `None` once it is gone.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Samples the server's VmRSS every few milliseconds until stopped; keeps the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let samples = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak, samples) = (stop.clone(), peak.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = vm_rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                        samples.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Self {
            stop,
            peak,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns (peak KiB, number of samples).
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (
            self.peak.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
        )
    }
}

/// The layer's bytes, one block at a time: a pseudo-random block with the block's index
/// written into its first bytes, so no two blocks are equal and nothing is kept.
struct Layer {
    block: Vec<u8>,
}

impl Layer {
    fn new() -> Self {
        let mut state = 0x2545_f491_u32;
        let block = (0..BLOCK)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        Self { block }
    }

    fn block(&mut self, index: u64) -> &[u8] {
        self.block[..8].copy_from_slice(&index.to_le_bytes());
        &self.block
    }
}

/// Reads a response head; returns (status line, headers lowercased).
fn read_head(reader: &mut impl BufRead) -> (String, Vec<(String, String)>) {
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    (status.trim_end().to_owned(), headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// One request with an empty body; returns the status line and headers (the body, if
/// any, is left unread).
fn request(addr: &str, head: &str) -> (String, Vec<(String, String)>) {
    let stream = TcpStream::connect(addr).unwrap();
    (&stream).write_all(head.as_bytes()).unwrap();
    read_head(&mut BufReader::new(stream))
}

#[test]
fn resident_set_stays_under_100_mib_while_a_2_gib_layer_is_pushed_and_pulled() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let pid = server.pid().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let clients = Clients {
        endpoint: server.endpoint(),
        home,
    };
    clients.aws_ok(
        Some(&root()),
        &["ecr", "create-repository", "--repository-name", "big/layer"],
    );
    let password = clients.aws_ok(Some(&root()), &["ecr", "get-login-password"]);
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("AWS:{}", password.as_str().unwrap()));
    let addr = server.addr.clone();
    let idle_kib = vm_rss_kib(pid).unwrap();

    // Push: POST, then the whole layer in one streaming PATCH, hashed as it is sent.
    let push = RssSampler::start(pid);
    let (status, headers) = request(
        &addr,
        &format!(
            "POST /v2/big/layer/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(status.starts_with("HTTP/1.1 202"), "{status}");
    let location = header(&headers, "location").to_owned();
    let path = location
        .strip_prefix(&clients.endpoint)
        .unwrap_or(&location)
        .to_owned();
    let stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    let mut writer = std::io::BufWriter::with_capacity(BLOCK, &stream);
    write!(
        writer,
        "PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {LAYER}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut layer = Layer::new();
    let mut sha = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for index in 0..LAYER / BLOCK as u64 {
        let block = layer.block(index);
        sha.update(block);
        writer.write_all(block).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let (status, headers) = read_head(&mut BufReader::new(&stream));
    assert!(status.starts_with("HTTP/1.1 202"), "{status}");
    assert_eq!(header(&headers, "range"), format!("0-{}", LAYER - 1));
    let digest = format!("sha256:{}", hex(sha.finish().as_ref()));
    let (status, _) = request(
        &addr,
        &format!(
            "PUT {path}{}digest={digest} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            if path.contains('?') { '&' } else { '?' }
        ),
    );
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");
    let (push_peak, push_samples) = push.finish();

    // Pull: GET, hashed as it is read.
    let pull = RssSampler::start(pid);
    let stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    (&stream)
        .write_all(
            format!(
                "GET /v2/big/layer/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Basic {auth}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::with_capacity(BLOCK, &stream);
    let (status, headers) = read_head(&mut reader);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(header(&headers, "content-length"), LAYER.to_string());
    let mut sha = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0_u8; BLOCK];
    let mut pulled = 0_u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        pulled += n as u64;
    }
    assert_eq!(pulled, LAYER);
    assert_eq!(format!("sha256:{}", hex(sha.finish().as_ref())), digest);
    let (pull_peak, pull_samples) = pull.finish();

    eprintln!(
        "server VmRSS: idle {} MiB, peak while pushing {} MiB ({push_samples} samples), \
         while pulling {} MiB ({pull_samples} samples)",
        idle_kib / 1024,
        push_peak / 1024,
        pull_peak / 1024
    );
    assert!(push_samples > 0 && pull_samples > 0);
    assert!(
        push_peak < RSS_LIMIT_KIB,
        "resident set reached {push_peak} KiB while pushing"
    );
    assert!(
        pull_peak < RSS_LIMIT_KIB,
        "resident set reached {pull_peak} KiB while pulling"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
