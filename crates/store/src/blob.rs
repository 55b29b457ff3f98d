use std::pin::Pin;

use async_trait::async_trait;
use berth_types::Digest;
use tokio::io::AsyncRead;

use crate::StoreResult;

/// A stream of blob bytes and its length.
pub struct BlobReader {
    pub len: u64,
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
}

/// Body bytes handed to the store for an upload; streamed, never collected in memory.
pub type UploadReader<'a> = &'a mut (dyn AsyncRead + Send + Unpin);

/// Content-addressed bytes plus in-progress uploads.
///
/// Crash safety: a blob becomes visible under its digest only after its bytes are durable
/// and the digest was verified; an interrupted upload leaves only upload state, never a
/// half blob.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Size of a stored blob, `None` when absent.
    async fn stat(&self, digest: &Digest) -> StoreResult<Option<u64>>;

    /// Opens a blob; `range` is an inclusive `(first, last)` byte range.
    /// `NotFound` when absent; `Conflict` when the range is not satisfiable.
    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> StoreResult<BlobReader>;

    /// Stores small content (manifests) whose digest the caller computed. Idempotent.
    async fn put(&self, digest: &Digest, bytes: &[u8]) -> StoreResult<()>;

    /// Starts an empty upload with the caller-chosen id.
    async fn create_upload(&self, upload_id: &str) -> StoreResult<()>;

    /// Bytes received so far by an upload. `NotFound` for an unknown upload.
    async fn upload_len(&self, upload_id: &str) -> StoreResult<u64>;

    /// Appends a chunk that must start at `offset` (`Conflict` otherwise). Returns the new
    /// length. A chunk interrupted midway is not counted: the upload keeps its old length.
    async fn append_upload(
        &self,
        upload_id: &str,
        offset: u64,
        chunk: UploadReader<'_>,
    ) -> StoreResult<u64>;

    /// Appends a chunk at the upload's current end (a client that sent no `Content-Range`).
    /// Returns the new length. Backends that read the upload's state to append anyway
    /// override this to save the separate length lookup (on S3, a request per chunk).
    async fn append_upload_at_end(
        &self,
        upload_id: &str,
        chunk: UploadReader<'_>,
    ) -> StoreResult<u64> {
        let offset = self.upload_len(upload_id).await?;
        self.append_upload(upload_id, offset, chunk).await
    }

    /// Verifies the upload's bytes hash to `expected` (`Conflict` with a message when not,
    /// and the upload stays), then makes them durable as that blob and removes the upload.
    /// Returns the blob size.
    async fn commit_upload(&self, upload_id: &str, expected: &Digest) -> StoreResult<u64>;

    /// Discards an upload. Unknown ids are not an error.
    async fn delete_upload(&self, upload_id: &str) -> StoreResult<()>;

    /// Every stored blob with the time (unix seconds) its bytes were last written.
    async fn list_blobs(&self) -> StoreResult<Vec<(Digest, i64)>>;

    /// Deletes a blob's bytes. Unknown digests are not an error. Only the garbage
    /// collector calls this, under its claim (see `MetadataStore::claim_unreferenced_blob`).
    async fn delete_blob(&self, digest: &Digest) -> StoreResult<()>;

    /// Every upload with the time (unix seconds) bytes were last added to it.
    async fn list_uploads(&self) -> StoreResult<Vec<(String, i64)>>;
}
