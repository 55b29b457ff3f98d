//! The shared conformance suite, plus what is particular to the filesystem.

use berth_store::suite;
use berth_store::{BlobStore, StoreError};
use berth_store_fs::FsBlobStore;
use tokio::io::{AsyncRead, ReadBuf};

#[tokio::test]
async fn suite_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    suite::blob_suite(&store).await;
    assert!(dir.path().join("blobs").is_dir());
    assert!(dir.path().join("uploads").is_dir());
}

#[tokio::test]
async fn layout_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let digest = suite::sha256(b"layout");
    {
        let store = FsBlobStore::open(dir.path()).await.unwrap();
        store.put(&digest, b"layout").await.unwrap();
        store.create_upload("kept").await.unwrap();
        store
            .append_upload("kept", 0, &mut &b"abc"[..])
            .await
            .unwrap();
    }
    let hex = digest.encoded();
    let path = dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
    assert_eq!(std::fs::read(path).unwrap(), b"layout");
    std::fs::write(dir.path().join("tmp/leftover"), b"x").unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    assert!(!dir.path().join("tmp/leftover").exists());
    assert_eq!(store.stat(&digest).await.unwrap(), Some(6));
    assert_eq!(store.upload_len("kept").await.unwrap(), 3);
    assert!(matches!(
        store.create_upload("kept").await,
        Err(StoreError::AlreadyExists)
    ));
}

#[tokio::test]
async fn upload_ids_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    for bad in ["", "../escape", "a/b", "a.len", ".", "..", &"x".repeat(129)] {
        assert!(store.create_upload(bad).await.is_err(), "{bad:?}");
        assert!(matches!(
            store.upload_len(bad).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.append_upload(bad, 0, &mut &b"x"[..]).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.commit_upload(bad, &suite::sha256(b"x")).await,
            Err(StoreError::NotFound)
        ));
        store.delete_upload(bad).await.unwrap();
    }
    assert!(!dir.path().join("escape").exists());
}

#[tokio::test]
async fn put_checks_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    let digest = suite::sha256(b"right");
    assert!(matches!(
        store.put(&digest, b"wrong").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.stat(&digest).await.unwrap(), None);
}

#[tokio::test]
async fn range_past_the_end_is_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    let digest = suite::sha256(b"0123456789");
    store.put(&digest, b"0123456789").await.unwrap();
    let blob = store.open(&digest, Some((7, 1000))).await.unwrap();
    assert_eq!(suite::read_blob(blob).await, b"789");
}

#[tokio::test]
async fn bytes_left_by_an_interrupted_chunk_do_not_count() {
    // A chunk cut off by a crash or a dropped future leaves bytes past the recorded length.
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    store.create_upload("u").await.unwrap();
    store
        .append_upload("u", 0, &mut &b"good"[..])
        .await
        .unwrap();
    let data = dir.path().join("uploads/u");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes.extend_from_slice(b"half a chunk");
    std::fs::write(&data, bytes).unwrap();
    assert_eq!(store.upload_len("u").await.unwrap(), 4);
    assert_eq!(
        store.append_upload("u", 4, &mut &b"!"[..]).await.unwrap(),
        5
    );
    let digest = suite::sha256(b"good!");
    assert_eq!(store.commit_upload("u", &digest).await.unwrap(), 5);
    let blob = store.open(&digest, None).await.unwrap();
    assert_eq!(suite::read_blob(blob).await, b"good!");
}

/// Deterministic bytes, generated as they are read: the test holds no copy of the layer.
struct Pattern {
    left: usize,
    state: u32,
}

impl Pattern {
    fn next_byte(&mut self) -> u8 {
        // xorshift32
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        (self.state >> 24) as u8
    }
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // Short reads, as a network body gives them.
        let n = buf.remaining().min(self.left).min(16 * 1024 + 3);
        let mut local = [0_u8; 16 * 1024 + 3];
        for b in &mut local[..n] {
            *b = self.next_byte();
        }
        buf.put_slice(&local[..n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn large_upload_in_chunks() {
    const MIB: usize = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    store.create_upload("big").await.unwrap();

    // The expected digest, computed from the same generator without keeping the bytes.
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut gen_for_hash = Pattern {
        left: 0,
        state: 0x9e37_79b9,
    };
    let mut piece = vec![0_u8; MIB];
    for _ in 0..64 {
        for b in piece.iter_mut() {
            *b = gen_for_hash.next_byte();
        }
        ctx.update(&piece);
    }
    let expected = berth_types::Digest::from_bytes(
        berth_types::DigestAlgorithm::Sha256,
        ctx.finish().as_ref(),
    );

    let mut body = Pattern {
        left: 0,
        state: 0x9e37_79b9,
    };
    let mut offset = 0_u64;
    for _ in 0..64 {
        body.left = MIB;
        offset = store.append_upload("big", offset, &mut body).await.unwrap();
    }
    assert_eq!(offset, 64 * MIB as u64);
    assert_eq!(store.upload_len("big").await.unwrap(), offset);
    assert_eq!(store.commit_upload("big", &expected).await.unwrap(), offset);
    assert_eq!(store.stat(&expected).await.unwrap(), Some(offset));
    let tail = store
        .open(&expected, Some((offset - 10, offset - 1)))
        .await
        .unwrap();
    assert_eq!(tail.len, 10);
}

/// Bytes, then a body that never ends: a client that stalls mid-chunk.
struct Stalls(&'static [u8]);

impl AsyncRead for Stalls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.0.is_empty() {
            return std::task::Poll::Pending;
        }
        let n = buf.remaining().min(self.0.len());
        buf.put_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn the_hash_kept_while_streaming_is_checked_like_a_reread() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    store.create_upload("s").await.unwrap();
    store
        .append_upload("s", 0, &mut &b"hello "[..])
        .await
        .unwrap();
    // A request dropped mid-chunk (a client that went away): nothing of it counts, and
    // the running hash does not take its bytes either.
    let mut stalled = Stalls(b"not counted");
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        store.append_upload("s", 6, &mut stalled),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the stalled append should still be waiting"
    );
    assert_eq!(store.upload_len("s").await.unwrap(), 6);
    store
        .append_upload("s", 6, &mut &b"world"[..])
        .await
        .unwrap();
    assert!(matches!(
        store.commit_upload("s", &suite::sha256(b"hello")).await,
        Err(StoreError::Conflict(_))
    ));
    // The mismatch left the upload, and its hash, as they were.
    let digest = suite::sha256(b"hello world");
    assert_eq!(store.commit_upload("s", &digest).await.unwrap(), 11);
    let blob = store.open(&digest, None).await.unwrap();
    assert_eq!(suite::read_blob(blob).await, b"hello world");

    // Across a restart the running hash is gone: commit reads the bytes again.
    store.create_upload("r").await.unwrap();
    store.append_upload("r", 0, &mut &b"abc"[..]).await.unwrap();
    drop(store);
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    store.append_upload("r", 3, &mut &b"def"[..]).await.unwrap();
    assert!(matches!(
        store.commit_upload("r", &suite::sha256(b"abcdeg")).await,
        Err(StoreError::Conflict(_))
    ));
    let digest = suite::sha256(b"abcdef");
    assert_eq!(store.commit_upload("r", &digest).await.unwrap(), 6);
}
