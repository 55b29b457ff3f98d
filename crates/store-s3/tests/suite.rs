//! The shared conformance suite on a real S3-compatible server, plus what is particular to
//! S3: multipart uploads continued by another replica, sha512 re-hashing, prefixes. Each
//! test gets a bucket of its own.
//!
//! The server's URL comes from BERTH_TEST_S3_ENDPOINT (scripts/with-test-services.sh starts
//! moto's server). Without it the tests fail (`berth_store::suite::required_service`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

use berth_store::suite::{self, read_blob};
use berth_store::{BlobStore, StoreError};
use berth_store_s3::{DEFAULT_PART_SIZE, MIN_PART_SIZE, S3BlobStore, S3Config};
use berth_types::DigestAlgorithm;

/// A fresh bucket on the test server (`None`: skipped on request).
async fn fresh_bucket() -> Option<(String, String)> {
    let endpoint = suite::required_service("BERTH_TEST_S3_ENDPOINT")?;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let bucket = format!(
        "test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    // moto does not check signatures: an unsigned CreateBucket is enough here.
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    Some((endpoint, bucket))
}

fn config(endpoint: &str, bucket: &str, prefix: &str, part_size: usize) -> S3Config {
    S3Config {
        bucket: bucket.into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint.into()),
        region: "us-east-1".into(),
        access_key_id: "test-key".into(),
        secret_access_key: "test-secret".into(),
        part_size,
    }
}

#[tokio::test]
async fn suite_on_s3() {
    let Some((endpoint, bucket)) = fresh_bucket().await else {
        return;
    };
    let store = S3BlobStore::new(&config(&endpoint, &bucket, "berth", DEFAULT_PART_SIZE)).unwrap();
    store.check_access().await.unwrap();
    suite::blob_suite(&store).await;
}

#[tokio::test]
async fn suite_with_multipart_parts() {
    let Some((endpoint, bucket)) = fresh_bucket().await else {
        return;
    };
    // The smallest part S3 takes: the suite's megabyte uploads still fit in the tail, and
    // the parts path is exercised below.
    let store = S3BlobStore::new(&config(&endpoint, &bucket, "", MIN_PART_SIZE)).unwrap();
    suite::blob_suite(&store).await;
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(31))
        .collect()
}

#[tokio::test]
async fn a_multipart_upload_continues_on_another_replica() {
    let Some((endpoint, bucket)) = fresh_bucket().await else {
        return;
    };
    let cfg = config(&endpoint, &bucket, "shared/prefix", MIN_PART_SIZE);
    let first = S3BlobStore::new(&cfg).unwrap();
    let second = S3BlobStore::new(&cfg).unwrap();
    let data = pattern(2 * MIN_PART_SIZE + 1_234_567, 1);
    let (a, b) = data.split_at(MIN_PART_SIZE + 1_000_000);

    first.create_upload("moving").await.unwrap();
    assert_eq!(
        first.append_upload("moving", 0, &mut &a[..]).await.unwrap(),
        a.len() as u64
    );
    // The other replica sees the length and carries on from it.
    assert_eq!(second.upload_len("moving").await.unwrap(), a.len() as u64);
    assert!(matches!(
        second.append_upload("moving", 0, &mut &b[..]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        second
            .append_upload("moving", a.len() as u64, &mut &b[..])
            .await
            .unwrap(),
        data.len() as u64
    );
    // A wrong digest is refused before anything becomes visible; the upload stays whole.
    let wrong = suite::sha256(b"not it");
    assert!(matches!(
        first.commit_upload("moving", &wrong).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(first.stat(&wrong).await.unwrap(), None);
    assert_eq!(first.upload_len("moving").await.unwrap(), data.len() as u64);

    let digest = suite::sha256(&data);
    assert_eq!(
        first.commit_upload("moving", &digest).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(second.stat(&digest).await.unwrap(), Some(data.len() as u64));
    assert_eq!(
        read_blob(second.open(&digest, None).await.unwrap()).await,
        data
    );
    // A range across the boundary between the first two parts.
    let start = MIN_PART_SIZE as u64 - 5;
    let ranged = second
        .open(&digest, Some((start, start + 9)))
        .await
        .unwrap();
    assert_eq!(
        read_blob(ranged).await,
        &data[start as usize..start as usize + 10]
    );
    assert!(matches!(
        second.upload_len("moving").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn sha512_multipart_uploads_are_re_hashed_at_commit() {
    let Some((endpoint, bucket)) = fresh_bucket().await else {
        return;
    };
    let store = S3BlobStore::new(&config(&endpoint, &bucket, "", MIN_PART_SIZE)).unwrap();
    let data = pattern(MIN_PART_SIZE + 77, 2);
    store.create_upload("big512").await.unwrap();
    store
        .append_upload("big512", 0, &mut &data[..])
        .await
        .unwrap();
    let wrong = suite::digest_of(DigestAlgorithm::Sha512, b"other");
    assert!(matches!(
        store.commit_upload("big512", &wrong).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.stat(&wrong).await.unwrap(), None);
    // After a commit read the bytes back, the upload takes no more bytes, but still
    // commits with the right digest.
    assert!(matches!(
        store
            .append_upload("big512", data.len() as u64, &mut &b"x"[..])
            .await,
        Err(StoreError::Conflict(_))
    ));
    let right = suite::digest_of(DigestAlgorithm::Sha512, &data);
    assert_eq!(
        store.commit_upload("big512", &right).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(
        read_blob(store.open(&right, None).await.unwrap()).await,
        data
    );
}

#[tokio::test]
async fn deleting_a_multipart_upload_discards_it() {
    let Some((endpoint, bucket)) = fresh_bucket().await else {
        return;
    };
    let store = S3BlobStore::new(&config(&endpoint, &bucket, "", MIN_PART_SIZE)).unwrap();
    let data = pattern(MIN_PART_SIZE + 10, 3);
    store.create_upload("dropped").await.unwrap();
    store
        .append_upload("dropped", 0, &mut &data[..])
        .await
        .unwrap();
    store.delete_upload("dropped").await.unwrap();
    assert!(matches!(
        store.upload_len("dropped").await,
        Err(StoreError::NotFound)
    ));
    store.delete_upload("dropped").await.unwrap();
    assert!(matches!(
        store.create_upload("bad/id").await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn prefixes_keep_stores_apart_and_a_missing_bucket_is_reported() {
    let Some((endpoint, bucket)) = fresh_bucket().await else {
        return;
    };
    let one = S3BlobStore::new(&config(&endpoint, &bucket, "one", DEFAULT_PART_SIZE)).unwrap();
    let two = S3BlobStore::new(&config(&endpoint, &bucket, "two/", DEFAULT_PART_SIZE)).unwrap();
    let digest = suite::sha256(b"apart");
    one.put(&digest, b"apart").await.unwrap();
    assert_eq!(one.stat(&digest).await.unwrap(), Some(5));
    assert_eq!(two.stat(&digest).await.unwrap(), None);
    let missing = S3BlobStore::new(&config(
        &endpoint,
        "no-such-bucket-here",
        "",
        DEFAULT_PART_SIZE,
    ))
    .unwrap();
    assert!(missing.check_access().await.is_err());
}
