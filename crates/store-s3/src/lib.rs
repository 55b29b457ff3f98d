//! Blob store on S3-compatible object storage, through `object_store`: the `BlobStore` for
//! several `berth serve` replicas sharing one bucket.
//!
//! Layout under the configured prefix:
//!
//! * `blobs/<algorithm>/<first two hex>/<hex>`: a blob, written only once its digest is
//!   verified (content-addressed, so a rewrite is harmless);
//! * `uploads/<id>/state`: an upload's state, the one thing that lets any replica continue
//!   an upload another started: the S3 multipart upload id and its parts, the SHA-256
//!   state of every byte received, and the bytes not yet in a part (the tail, below the
//!   part size);
//! * `uploads/<id>/data`: the multipart object, once completed at commit.
//!
//! Requests per upload: bytes accumulate in the tail until a full part is ready, so a blob
//! below the part size never starts a multipart upload and is stored with one PUT at
//! commit. Larger blobs go up in parts of `part_size` as they arrive, and at commit the
//! completed multipart object is copied to its blob key (S3 fixes an object's key when
//! the multipart upload starts, before the digest is known).
//!
//! Verification carries the SHA-256 state in the upload state (sha2's serialisable
//! state), so a sha256 commit needs no re-read of the bytes: the digest is checked before
//! anything becomes visible, and a wrong digest leaves the upload untouched. sha512
//! uploads (rare in OCI) are re-hashed at commit instead: from the tail when small, else by
//! reading back the completed multipart object.

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use berth_store::{BlobReader, BlobStore, Conflict, StoreError, StoreResult, UploadReader};
use berth_types::{Digest, DigestAlgorithm};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sha2::digest::common::hazmat::SerializableState;
use tokio::io::AsyncReadExt;

/// S3's smallest part (all parts but the last must be at least this big).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// The default part size, and the threshold below which a blob is one PUT.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

const MAX_UPLOAD_ID: usize = 128;
const READ_BUFFER: usize = 64 * 1024;
/// How much of an upload's state `upload_len` reads: the header of any upload with fewer
/// than about a hundred parts.
const HEADER_PROBE: u64 = 8 * 1024;

/// Where the blobs live and how to reach them.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket (`""` for the bucket's root).
    pub prefix: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Bytes per multipart part, at least `MIN_PART_SIZE` for real S3.
    pub part_size: usize,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("part_size", &self.part_size)
            .finish()
    }
}

/// A `BlobStore` on an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    prefix: String,
    part_size: usize,
}

/// An upload's state, stored as `uploads/<id>/state`: a 4-byte big-endian header length,
/// the header as JSON, then the tail bytes.
#[derive(Debug, Serialize, Deserialize)]
struct UploadState {
    /// The S3 multipart upload, once the first full part went up.
    multipart: Option<String>,
    /// ETags of the uploaded parts, in order (part `i` is number `i + 1`).
    parts: Vec<String>,
    /// Bytes in those parts.
    parts_len: u64,
    /// Hex of sha2's serialised SHA-256 state over every byte received.
    sha256_state: String,
    /// The multipart upload was completed into `uploads/<id>/data` (a sha512 commit that
    /// had to read the bytes back): no more appends, only a commit or a delete.
    completed: bool,
}

struct LoadedUpload {
    state: UploadState,
    tail: Vec<u8>,
}

impl LoadedUpload {
    fn len(&self) -> u64 {
        self.state.parts_len.saturating_add(self.tail.len() as u64)
    }
}

fn backend(context: &str) -> impl Fn(object_store::Error) -> StoreError + '_ {
    move |e| match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists,
        other => StoreError::Backend(format!("{context}: {other}")),
    }
}

fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn digest_bytes(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
    let alg = match algorithm {
        DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
        DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
    };
    Digest::from_bytes(algorithm, aws_lc_rs::digest::digest(alg, bytes).as_ref())
}

fn mismatch(actual: &Digest, expected: &Digest) -> StoreError {
    StoreError::Conflict(Conflict::DigestMismatch {
        expected: expected.clone(),
        actual: actual.clone(),
    })
}

fn encode_state(state: &UploadState, tail: &[u8]) -> StoreResult<Bytes> {
    let header = serde_json::to_vec(state)
        .map_err(|e| StoreError::Backend(format!("encoding upload state: {e}")))?;
    let header_len = u32::try_from(header.len())
        .map_err(|_| StoreError::Backend("upload state too large".into()))?;
    let mut out = Vec::with_capacity(4 + header.len() + tail.len());
    out.extend_from_slice(&header_len.to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(tail);
    Ok(Bytes::from(out))
}

/// The header and where the tail starts, when `bytes` holds the whole header.
fn decode_header(bytes: &[u8]) -> Option<(UploadState, usize)> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let header_len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let header = rest.get(..header_len)?;
    let state = serde_json::from_slice(header).ok()?;
    Some((state, 4 + header_len))
}

fn decode_state(bytes: &[u8]) -> StoreResult<LoadedUpload> {
    let corrupt = || StoreError::Backend("stored upload state is corrupt".into());
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let header_len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| corrupt())?;
    let (header, tail) = rest.split_at_checked(header_len).ok_or_else(corrupt)?;
    let state: UploadState = serde_json::from_slice(header).map_err(|_| corrupt())?;
    Ok(LoadedUpload {
        state,
        tail: tail.to_vec(),
    })
}

fn save_hasher(hasher: &sha2::Sha256) -> String {
    hex::encode(hasher.serialize())
}

fn load_hasher(state: &UploadState) -> StoreResult<sha2::Sha256> {
    let corrupt = || StoreError::Backend("stored hash state is corrupt".into());
    let bytes = hex::decode(&state.sha256_state).map_err(|_| corrupt())?;
    let serialized = bytes.as_slice().try_into().map_err(|_| corrupt())?;
    sha2::Sha256::deserialize(serialized).map_err(|_| corrupt())
}

impl S3BlobStore {
    /// A store on `config.bucket`. Makes no request: a wrong bucket or credentials show
    /// on first use (`berth serve` checks with `check_access`).
    pub fn new(config: &S3Config) -> StoreResult<Self> {
        if config.part_size == 0 {
            return Err(StoreError::Backend("part size must not be 0".into()));
        }
        // `new`, not `from_env`: the AWS_* variables may point at Berth itself.
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let s3 = builder
            .build()
            .map_err(|e| StoreError::Backend(format!("configuring S3: {e}")))?;
        Ok(Self {
            s3: Arc::new(s3),
            prefix: config.prefix.trim_matches('/').to_owned(),
            part_size: config.part_size,
        })
    }

    /// Lists the upload area (at most one page): fails when the bucket is missing or the
    /// credentials are refused, so a misconfigured server stops at startup rather than on
    /// a push.
    pub async fn check_access(&self) -> StoreResult<()> {
        self.s3
            .list_with_delimiter(Some(&self.key("uploads")))
            .await
            .map_err(|e| StoreError::Backend(format!("checking access to the bucket: {e}")))?;
        Ok(())
    }

    fn key(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        let hex = digest.encoded();
        let fan = hex.get(..2).unwrap_or("00");
        self.key(&format!(
            "blobs/{}/{fan}/{hex}",
            digest.algorithm().as_str()
        ))
    }

    fn upload_keys(&self, upload_id: &str) -> StoreResult<(Path, Path)> {
        if !valid_upload_id(upload_id) {
            return Err(StoreError::Conflict(Conflict::InvalidUploadId));
        }
        Ok((
            self.key(&format!("uploads/{upload_id}/state")),
            self.key(&format!("uploads/{upload_id}/data")),
        ))
    }

    async fn load(&self, state_key: &Path) -> StoreResult<LoadedUpload> {
        let bytes = self
            .s3
            .get(state_key)
            .await
            .map_err(backend("reading upload state"))?
            .bytes()
            .await
            .map_err(backend("reading upload state"))?;
        decode_state(&bytes)
    }

    async fn save(&self, state_key: &Path, state: &UploadState, tail: &[u8]) -> StoreResult<()> {
        self.s3
            .put(state_key, PutPayload::from(encode_state(state, tail)?))
            .await
            .map_err(backend("writing upload state"))?;
        Ok(())
    }

    /// Uploads `bytes` as the next part, starting the multipart upload on the first.
    async fn put_part(
        &self,
        data_key: &Path,
        state: &mut UploadState,
        bytes: Bytes,
    ) -> StoreResult<()> {
        let id = match &state.multipart {
            Some(id) => id.clone(),
            None => {
                let id = self
                    .s3
                    .create_multipart(data_key)
                    .await
                    .map_err(backend("starting a multipart upload"))?;
                state.multipart = Some(id.clone());
                id
            }
        };
        let len = bytes.len() as u64;
        let part = self
            .s3
            .put_part(data_key, &id, state.parts.len(), PutPayload::from(bytes))
            .await
            .map_err(backend("uploading a part"))?;
        state.parts.push(part.content_id);
        state.parts_len = state.parts_len.saturating_add(len);
        Ok(())
    }

    /// Hashes a stored object with `algorithm`, streaming it.
    /// Appends `chunk` at `offset`, or at the end when `None`, with one read and one write
    /// of the upload's state (plus a part upload for each full part).
    async fn append(
        &self,
        upload_id: &str,
        offset: Option<u64>,
        chunk: UploadReader<'_>,
    ) -> StoreResult<u64> {
        let (state_key, data_key) = self.upload_keys(upload_id)?;
        let LoadedUpload {
            mut state,
            mut tail,
        } = self.load(&state_key).await?;
        if state.completed {
            return Err(StoreError::Conflict(Conflict::UploadFinalised));
        }
        let len = state.parts_len.saturating_add(tail.len() as u64);
        if offset.is_some_and(|offset| offset != len) {
            return Err(StoreError::Conflict(Conflict::UploadOffset {
                offset: offset.unwrap_or(len),
                length: len,
            }));
        }
        // Nothing is saved until the whole chunk is in: an interrupted chunk leaves the
        // stored state as it was (parts it already sent are overwritten by the next try,
        // which reuses their numbers).
        let mut hasher = load_hasher(&state)?;
        let mut buffer = vec![0_u8; READ_BUFFER];
        loop {
            let n = chunk
                .read(&mut buffer)
                .await
                .map_err(|e| StoreError::Backend(format!("reading the chunk: {e}")))?;
            let Some(read) = buffer.get(..n).filter(|r| !r.is_empty()) else {
                break;
            };
            hasher.update(read);
            tail.extend_from_slice(read);
            while tail.len() >= self.part_size {
                let rest = tail.split_off(self.part_size);
                let part = std::mem::replace(&mut tail, rest);
                self.put_part(&data_key, &mut state, Bytes::from(part))
                    .await?;
            }
        }
        state.sha256_state = save_hasher(&hasher);
        self.save(&state_key, &state, &tail).await?;
        Ok(state.parts_len.saturating_add(tail.len() as u64))
    }

    async fn hash_object(&self, key: &Path, algorithm: DigestAlgorithm) -> StoreResult<Digest> {
        let alg = match algorithm {
            DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        let mut context = aws_lc_rs::digest::Context::new(alg);
        let mut stream = self
            .s3
            .get(key)
            .await
            .map_err(backend("reading an upload back"))?
            .into_stream();
        while let Some(chunk) = stream.next().await {
            context.update(&chunk.map_err(backend("reading an upload back"))?);
        }
        Ok(Digest::from_bytes(algorithm, context.finish().as_ref()))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stat(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        match self.s3.head(&self.blob_key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend("reading blob metadata")(e)),
        }
    }

    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> StoreResult<BlobReader> {
        let key = self.blob_key(digest);
        let options = match range {
            None => GetOptions::default(),
            Some((first, last)) => {
                // S3 answers some unsatisfiable ranges with the whole object: decide here.
                let size = self.stat(digest).await?.ok_or(StoreError::NotFound)?;
                if first > last || first >= size {
                    return Err(StoreError::Conflict(Conflict::RangeNotSatisfiable {
                        first,
                        last,
                        size,
                    }));
                }
                let end = last.min(size.saturating_sub(1)).saturating_add(1);
                GetOptions {
                    range: Some(GetRange::Bounded(first..end)),
                    ..GetOptions::default()
                }
            }
        };
        let result = self
            .s3
            .get_opts(&key, options)
            .await
            .map_err(backend("reading a blob"))?;
        let len = result.range.end.saturating_sub(result.range.start);
        let stream = result
            .into_stream()
            .map_err(|e| io::Error::other(format!("reading a blob: {e}")));
        Ok(BlobReader {
            len,
            reader: Box::pin(tokio_util::io::StreamReader::new(stream)),
        })
    }

    async fn put(&self, digest: &Digest, bytes: &[u8]) -> StoreResult<()> {
        let actual = digest_bytes(digest.algorithm(), bytes);
        if &actual != digest {
            return Err(mismatch(&actual, digest));
        }
        self.s3
            .put(
                &self.blob_key(digest),
                PutPayload::from(Bytes::copy_from_slice(bytes)),
            )
            .await
            .map_err(backend("writing a blob"))?;
        Ok(())
    }

    async fn create_upload(&self, upload_id: &str) -> StoreResult<()> {
        let (state_key, _) = self.upload_keys(upload_id)?;
        let state = UploadState {
            multipart: None,
            parts: Vec::new(),
            parts_len: 0,
            sha256_state: save_hasher(&sha2::Sha256::new()),
            completed: false,
        };
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.s3
            .put_opts(
                &state_key,
                PutPayload::from(encode_state(&state, &[])?),
                options,
            )
            .await
            .map_err(backend("creating an upload"))?;
        Ok(())
    }

    async fn upload_len(&self, upload_id: &str) -> StoreResult<u64> {
        // The length is in the header: read the state's first bytes, not its tail (up to
        // a part), unless the header is longer (an upload with very many parts).
        let (state_key, _) = self.upload_keys(upload_id)?;
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..HEADER_PROBE)),
            ..GetOptions::default()
        };
        let result = self
            .s3
            .get_opts(&state_key, options)
            .await
            .map_err(backend("reading upload state"))?;
        let total = result.meta.size;
        let head = result
            .bytes()
            .await
            .map_err(backend("reading upload state"))?;
        match decode_header(&head) {
            Some((state, header_end)) => Ok(state
                .parts_len
                .saturating_add(total.saturating_sub(header_end as u64))),
            None => Ok(self.load(&state_key).await?.len()),
        }
    }

    async fn append_upload(
        &self,
        upload_id: &str,
        offset: u64,
        chunk: UploadReader<'_>,
    ) -> StoreResult<u64> {
        self.append(upload_id, Some(offset), chunk).await
    }

    async fn append_upload_at_end(
        &self,
        upload_id: &str,
        chunk: UploadReader<'_>,
    ) -> StoreResult<u64> {
        self.append(upload_id, None, chunk).await
    }

    async fn commit_upload(&self, upload_id: &str, expected: &Digest) -> StoreResult<u64> {
        let (state_key, data_key) = self.upload_keys(upload_id)?;
        let LoadedUpload { mut state, tail } = self.load(&state_key).await?;
        let len = state.parts_len.saturating_add(tail.len() as u64);
        let blob_key = self.blob_key(expected);

        if state.multipart.is_none() {
            // Below the part size: verify the tail and store it with one PUT.
            let actual = digest_bytes(expected.algorithm(), &tail);
            if &actual != expected {
                return Err(mismatch(&actual, expected));
            }
            self.s3
                .put(&blob_key, PutPayload::from(Bytes::from(tail)))
                .await
                .map_err(backend("writing a blob"))?;
        } else {
            if expected.algorithm() == DigestAlgorithm::Sha256 {
                let hasher = load_hasher(&state)?;
                let actual = Digest::from_bytes(DigestAlgorithm::Sha256, &hasher.finalize());
                if &actual != expected {
                    return Err(mismatch(&actual, expected));
                }
            }
            if !state.completed {
                if !tail.is_empty() {
                    self.put_part(&data_key, &mut state, Bytes::from(tail))
                        .await?;
                }
                let id = state.multipart.clone().unwrap_or_default();
                let parts = state
                    .parts
                    .iter()
                    .map(|etag| PartId {
                        content_id: etag.clone(),
                    })
                    .collect();
                self.s3
                    .complete_multipart(&data_key, &id, parts)
                    .await
                    .map_err(backend("completing a multipart upload"))?;
                state.completed = true;
                self.save(&state_key, &state, &[]).await?;
            }
            if expected.algorithm() != DigestAlgorithm::Sha256 {
                let actual = self.hash_object(&data_key, expected.algorithm()).await?;
                if &actual != expected {
                    return Err(mismatch(&actual, expected));
                }
            }
            self.s3
                .copy(&data_key, &blob_key)
                .await
                .map_err(backend("moving an upload to its blob"))?;
            self.s3
                .delete(&data_key)
                .await
                .map_err(backend("removing a finished upload"))?;
        }
        self.s3
            .delete(&state_key)
            .await
            .map_err(backend("removing a finished upload"))?;
        Ok(len)
    }

    async fn delete_upload(&self, upload_id: &str) -> StoreResult<()> {
        let (state_key, data_key) = self.upload_keys(upload_id)?;
        let loaded = match self.load(&state_key).await {
            Ok(loaded) => loaded,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(id) = &loaded.state.multipart {
            if loaded.state.completed {
                match self.s3.delete(&data_key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(backend("removing an upload")(e)),
                }
            } else if let Err(e) = self.s3.abort_multipart(&data_key, id).await {
                // Already gone (a concurrent delete) is fine; anything else is logged and
                // left to the bucket's incomplete-multipart lifecycle rule.
                tracing::warn!(upload_id, error = %e, "aborting a multipart upload failed");
            }
        }
        match self.s3.delete(&state_key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend("removing an upload")(e)),
        }
    }

    async fn list_blobs(&self) -> StoreResult<Vec<(Digest, i64)>> {
        // The write time is the object's Last-Modified: every write of a blob (`put`, a
        // commit's PUT or copy) replaces the object, so a re-pushed blob looks new again.
        let mut out = Vec::new();
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            let root = self.key(&format!("blobs/{}", algorithm.as_str()));
            let mut listing = self.s3.list(Some(&root));
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(backend("listing blobs"))?;
                // Anything that is not a blob's name is not ours to report.
                let Some(hex) = meta.location.filename() else {
                    continue;
                };
                let Ok(digest) = Digest::parse(&format!("{}:{hex}", algorithm.as_str())) else {
                    continue;
                };
                if meta.location != self.blob_key(&digest) {
                    continue;
                }
                out.push((digest, meta.last_modified.timestamp()));
            }
        }
        Ok(out)
    }

    async fn delete_blob(&self, digest: &Digest) -> StoreResult<()> {
        match self.s3.delete(&self.blob_key(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend("deleting a blob")(e)),
        }
    }

    async fn list_uploads(&self) -> StoreResult<Vec<(String, i64)>> {
        // Every append rewrites `uploads/<id>/state`, so its Last-Modified is when bytes
        // were last added; a completed `data` object counts too.
        let root = self.key("uploads");
        let depth = root.parts().count();
        let mut latest: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        let mut listing = self.s3.list(Some(&root));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(backend("listing uploads"))?;
            let Some(id) = meta.location.parts().nth(depth) else {
                continue;
            };
            let id = id.as_ref();
            if !valid_upload_id(id) {
                continue;
            }
            let modified = meta.last_modified.timestamp();
            let slot = latest.entry(id.to_owned()).or_insert(modified);
            *slot = (*slot).max(modified);
        }
        Ok(latest.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_its_tail() {
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"hello ");
        let state = UploadState {
            multipart: Some("m-1".into()),
            parts: vec!["\"etag\"".into()],
            parts_len: 5,
            sha256_state: save_hasher(&hasher),
            completed: false,
        };
        let encoded = encode_state(&state, b"tail bytes").unwrap();
        let decoded = decode_state(&encoded).unwrap();
        assert_eq!(decoded.tail, b"tail bytes");
        assert_eq!(decoded.state.parts, state.parts);
        let mut resumed = load_hasher(&decoded.state).unwrap();
        resumed.update(b"world");
        assert_eq!(
            Digest::from_bytes(DigestAlgorithm::Sha256, &resumed.finalize()),
            digest_bytes(DigestAlgorithm::Sha256, b"hello world")
        );
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"\0\0",
            b"\0\0\0\x09{}",
            b"\xff\xff\xff\xff{}",
            b"\0\0\0\x02[]",
        ] {
            assert!(decode_state(bad).is_err(), "{bad:?}");
        }
        let state = UploadState {
            multipart: None,
            parts: Vec::new(),
            parts_len: 0,
            sha256_state: "abcd".into(),
            completed: false,
        };
        assert!(load_hasher(&state).is_err());
    }

    #[test]
    fn upload_ids_name_keys_safely() {
        assert!(valid_upload_id("abc-DEF_123"));
        for bad in ["", "../x", "a/b", "a b", &"a".repeat(129)] {
            assert!(!valid_upload_id(bad), "{bad:?}");
        }
    }
}
