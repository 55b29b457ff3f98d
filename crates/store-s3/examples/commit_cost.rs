//! Measures what carrying the SHA-256 state in the upload saves at commit, against
//! re-hashing: for one blob size, the time to upload it in chunks, to commit it (digest
//! from the carried state), and to read it back and hash it (what a re-hashing commit
//! would add). Needs an S3 server: BERTH_TEST_S3_ENDPOINT (scripts/with-test-services.sh).
//!
//!   scripts/with-test-services.sh cargo run --release -p berth-store-s3 --example commit_cost [MiB]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use berth_store::BlobStore;
use berth_store_s3::{DEFAULT_PART_SIZE, S3BlobStore, S3Config};
use berth_types::{Digest, DigestAlgorithm};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("BERTH_TEST_S3_ENDPOINT").expect("BERTH_TEST_S3_ENDPOINT");
    let mib: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("size in MiB"))
        .unwrap_or(64);
    let bucket = format!("commit-cost-{}", std::process::id());
    reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    let store = S3BlobStore::new(&S3Config {
        bucket,
        prefix: String::new(),
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: "bench".into(),
        secret_access_key: "bench".into(),
        part_size: DEFAULT_PART_SIZE,
    })
    .unwrap();
    let data: Vec<u8> = (0..mib * 1024 * 1024)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    let digest = Digest::from_bytes(
        DigestAlgorithm::Sha256,
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data).as_ref(),
    );

    let started = Instant::now();
    store.create_upload("bench").await.unwrap();
    let mut offset = 0;
    for chunk in data.chunks(16 * 1024 * 1024) {
        offset = store
            .append_upload("bench", offset, &mut &chunk[..])
            .await
            .unwrap();
    }
    let uploaded = started.elapsed();
    let started = Instant::now();
    store.commit_upload("bench", &digest).await.unwrap();
    let committed = started.elapsed();

    // What a re-hashing commit adds: stream the object back and hash it.
    let started = Instant::now();
    let mut blob = store.open(&digest, None).await.unwrap();
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let n = blob.reader.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
    }
    assert_eq!(
        Digest::from_bytes(DigestAlgorithm::Sha256, context.finish().as_ref()),
        digest
    );
    let rehash = started.elapsed();

    // The CPU part alone: hashing in memory (the carried state costs this during the
    // upload instead of at commit).
    let started = Instant::now();
    let _ = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
    let aws_lc = started.elapsed();
    let started = Instant::now();
    let _ = <sha2::Sha256 as sha2::Digest>::digest(&data);
    let sha2_time = started.elapsed();

    let per_s = |d: std::time::Duration| mib as f64 / d.as_secs_f64();
    println!("blob: {mib} MiB, part size {} MiB", DEFAULT_PART_SIZE >> 20);
    println!(
        "upload (16 MiB chunks): {uploaded:.2?} ({:.0} MiB/s)",
        per_s(uploaded)
    );
    println!("commit, digest from carried state: {committed:.2?}");
    println!(
        "re-hash at commit would add (GET + SHA-256): {rehash:.2?} ({:.0} MiB/s)",
        per_s(rehash)
    );
    println!(
        "in-memory SHA-256: aws-lc-rs {aws_lc:.2?} ({:.0} MiB/s), sha2 {sha2_time:.2?} ({:.0} MiB/s)",
        per_s(aws_lc),
        per_s(sha2_time)
    );
}
