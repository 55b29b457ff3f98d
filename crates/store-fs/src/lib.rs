//! Filesystem blob store: the default `BlobStore`, a directory in the data directory.
//!
//! Layout under the root:
//!
//! * `blobs/<algorithm>/<first two hex>/<hex>`: complete, verified blobs. A file appears
//!   there only by an atomic rename of a fully written, fsynced, verified file.
//! * `uploads/<id>`: the bytes of an upload so far; `uploads/<id>.len`: how many of them
//!   count (decimal), replaced atomically after each chunk is durable. Bytes past that
//!   length are the remains of an interrupted chunk and are cut off before anything reads
//!   or extends the upload, so an interrupted chunk (error, cancelled future or crash) is
//!   never counted. Upload ids are `[A-Za-z0-9_-]{1,128}`, so they never contain a `.`.
//! * `tmp/`: files being written; emptied on open.
//!
//! A blob's modification time is when its bytes were last written; the garbage collector
//! leaves young blobs alone, so `put` and `commit_upload` refresh it when the blob already
//! exists.
//!
//! Memory stays flat: bytes move through one fixed buffer per operation.
//!
//! One process owns a root at a time; concurrent calls for the same upload are serialized
//! in-process.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, Weak};

use async_trait::async_trait;
use berth_store::{BlobReader, BlobStore, StoreError, StoreResult, UploadReader};
use berth_types::{Digest, DigestAlgorithm};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Size of the buffer that moves bytes (appends, hashing).
const BUFFER: usize = 256 * 1024;
const MAX_UPLOAD_ID: usize = 128;

/// A `BlobStore` on a local directory.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    /// One lock per upload in use, so appends, commits and deletes of one upload never
    /// interleave. Entries die with their last user and are pruned on insert.
    upload_locks: std::sync::Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    tmp_counter: AtomicU64,
}

impl FsBlobStore {
    /// Opens the store at `root`, creating `blobs/`, `uploads/` and `tmp/` as needed and
    /// removing leftovers of interrupted writes from `tmp/`.
    pub async fn open(root: &Path) -> StoreResult<Self> {
        let root = root.to_path_buf();
        let store = Self {
            root: root.clone(),
            upload_locks: std::sync::Mutex::new(HashMap::new()),
            tmp_counter: AtomicU64::new(0),
        };
        blocking(move || {
            for dir in ["blobs", "uploads", "tmp"] {
                std::fs::create_dir_all(root.join(dir)).map_err(io("creating store directory"))?;
            }
            for entry in std::fs::read_dir(root.join("tmp")).map_err(io("listing tmp"))? {
                let entry = entry.map_err(io("listing tmp"))?;
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove leftover temp file");
                }
            }
            sync_dir(&root)
        })
        .await?;
        Ok(store)
    }

    /// Opens a store that another process (a running `berth serve`) may own, without
    /// touching its `tmp/`: for the garbage collector run beside the server.
    pub async fn attach(root: &Path) -> StoreResult<Self> {
        for dir in ["blobs", "uploads", "tmp"] {
            if !root.join(dir).is_dir() {
                return Err(StoreError::Backend(format!(
                    "{} is not a blob store (no {dir}/)",
                    root.display()
                )));
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            upload_locks: std::sync::Mutex::new(HashMap::new()),
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> StoreResult<PathBuf> {
        let hex = digest.encoded();
        let prefix = hex
            .get(..2)
            .ok_or_else(|| StoreError::Backend(format!("digest too short: {digest}")))?;
        Ok(self
            .root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(prefix)
            .join(hex))
    }

    /// Paths of an upload's data file and length sidecar; `None` for an invalid id.
    fn upload_paths(&self, upload_id: &str) -> Option<(PathBuf, PathBuf)> {
        if !valid_upload_id(upload_id) {
            return None;
        }
        let dir = self.root.join("uploads");
        Some((dir.join(upload_id), dir.join(format!("{upload_id}.len"))))
    }

    fn tmp_path(&self, what: &str) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{what}-{}-{n}", std::process::id()))
    }

    async fn lock_upload(&self, upload_id: &str) -> UploadGuard {
        Arc::new(self.upload_lock(upload_id).lock_owned().await)
    }

    fn upload_lock(&self, upload_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .upload_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = locks.get(upload_id).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(upload_id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

/// Upload ids name files, so only `[A-Za-z0-9_-]{1,128}` is accepted.
pub fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn io(context: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Backend(format!("{context}: {e}"))
}

fn is_not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("blocking task failed: {e}")))?
}

/// Makes a directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing directory"))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn algorithm(digest: &Digest) -> &'static aws_lc_rs::digest::Algorithm {
    match digest.algorithm() {
        DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
        DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
    }
}

/// Hashes the first `len` bytes of `file` from its start. `Conflict` when it is shorter.
fn hash_file(file: &mut std::fs::File, len: u64, expected: &Digest) -> StoreResult<Digest> {
    file.seek(SeekFrom::Start(0))
        .map_err(io("reading upload"))?;
    let mut ctx = aws_lc_rs::digest::Context::new(algorithm(expected));
    let mut buf = vec![0_u8; BUFFER];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let slice = buf.get_mut(..want).unwrap_or_default();
        let n = match file.read(slice) {
            Ok(0) => {
                return Err(StoreError::Backend(
                    "upload file is shorter than its recorded length".into(),
                ));
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("reading upload")(e)),
        };
        ctx.update(slice.get(..n).unwrap_or_default());
        left = left.saturating_sub(n as u64);
    }
    Ok(Digest::from_bytes(
        expected.algorithm(),
        ctx.finish().as_ref(),
    ))
}

/// Renames a complete, synced file into place as a blob and makes the rename durable.
fn install_blob(from: &Path, to: &Path) -> StoreResult<()> {
    let dir = to
        .parent()
        .ok_or_else(|| StoreError::Backend("blob path has no parent".into()))?;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io("creating blob directory"))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    std::fs::rename(from, to).map_err(io("moving blob into place"))?;
    sync_dir(dir)
}

/// The counted length of an upload: `NotFound` without a data file; 0 without a sidecar
/// (a crash between creating the two).
fn read_len(data: &Path, len_file: &Path) -> StoreResult<u64> {
    match std::fs::metadata(data) {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Err(StoreError::NotFound),
        Err(e) => return Err(io("reading upload")(e)),
    }
    match std::fs::read_to_string(len_file) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| StoreError::Backend(format!("upload length file: {e}"))),
        Err(e) if is_not_found(&e) => Ok(0),
        Err(e) => Err(io("reading upload length")(e)),
    }
}

fn remove_if_present(path: &Path) -> StoreResult<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(io("removing upload")(e)),
    }
}

/// Holds an upload's lock. Every blocking file operation on the upload takes a clone, so
/// the lock is released only when the last one finished, even if the future that started
/// it was dropped (a cancelled request): no stray write can land after the next caller
/// got the lock.
type UploadGuard = Arc<tokio::sync::OwnedMutexGuard<()>>;

/// Runs `f` on a blocking thread while holding `guard`.
async fn locked<T: Send + 'static>(
    guard: &UploadGuard,
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let guard = Arc::clone(guard);
    blocking(move || {
        let result = f();
        drop(guard);
        result
    })
    .await
}

/// Fills `buf` from `chunk` until it is full or the chunk ends; returns how much was read.
async fn fill(chunk: &mut UploadReader<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = buf.get_mut(filled..).unwrap_or_default();
        match chunk.read(rest).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        match tokio::fs::metadata(self.blob_path(digest)?).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(io("reading blob metadata")(e)),
        }
    }

    async fn open(&self, digest: &Digest, range: Option<(u64, u64)>) -> StoreResult<BlobReader> {
        let mut file = match tokio::fs::File::open(self.blob_path(digest)?).await {
            Ok(file) => file,
            Err(e) if is_not_found(&e) => return Err(StoreError::NotFound),
            Err(e) => return Err(io("opening blob")(e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(io("reading blob metadata"))?
            .len();
        let Some((first, last)) = range else {
            return Ok(BlobReader {
                len: size,
                reader: Box::pin(file),
            });
        };
        if first > last || first >= size {
            return Err(StoreError::Conflict(format!(
                "range {first}-{last} is not satisfiable for a blob of {size} bytes"
            )));
        }
        // As in HTTP, a last byte past the end means the end.
        let last = last.min(size.saturating_sub(1));
        let len = last.saturating_sub(first).saturating_add(1);
        file.seek(SeekFrom::Start(first))
            .await
            .map_err(io("seeking in blob"))?;
        Ok(BlobReader {
            len,
            reader: Box::pin(file.take(len)),
        })
    }

    async fn put(&self, digest: &Digest, bytes: &[u8]) -> StoreResult<()> {
        let actual = Digest::from_bytes(
            digest.algorithm(),
            aws_lc_rs::digest::digest(algorithm(digest), bytes).as_ref(),
        );
        if &actual != digest {
            return Err(StoreError::Conflict(format!(
                "content digest {actual} does not match {digest}"
            )));
        }
        let target = self.blob_path(digest)?;
        if self.stat(digest).await?.is_some() {
            return blocking(move || touch(&target)).await;
        }
        let tmp = self.tmp_path("put");
        let bytes = bytes.to_vec();
        blocking(move || {
            let written = (|| {
                let mut file = std::fs::File::create_new(&tmp)?;
                file.write_all(&bytes)?;
                file.sync_all()
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(io("writing blob")(e));
            }
            let installed = install_blob(&tmp, &target);
            if installed.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            installed
        })
        .await
    }

    async fn create_upload(&self, upload_id: &str) -> StoreResult<()> {
        let (data, len_file) = self
            .upload_paths(upload_id)
            .ok_or_else(|| StoreError::Conflict(format!("invalid upload id `{upload_id}`")))?;
        let guard = self.lock_upload(upload_id).await;
        locked(&guard, move || {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&data)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(StoreError::AlreadyExists);
                }
                Err(e) => return Err(io("creating upload")(e)),
            }
            // A stale sidecar left by a half-finished delete of the same id.
            remove_if_present(&len_file)
        })
        .await
    }

    async fn upload_len(&self, upload_id: &str) -> StoreResult<u64> {
        let (data, len_file) = self.upload_paths(upload_id).ok_or(StoreError::NotFound)?;
        blocking(move || read_len(&data, &len_file)).await
    }

    async fn append_upload(
        &self,
        upload_id: &str,
        offset: u64,
        mut chunk: UploadReader<'_>,
    ) -> StoreResult<u64> {
        let (data, len_file) = self.upload_paths(upload_id).ok_or(StoreError::NotFound)?;
        let guard = self.lock_upload(upload_id).await;
        let mut file = locked(&guard, move || {
            let len = read_len(&data, &len_file)?;
            if offset != len {
                return Err(StoreError::Conflict(format!(
                    "the upload has {len} bytes; a chunk starting at {offset} does not follow them"
                )));
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&data)
                .map_err(|e| {
                    if is_not_found(&e) {
                        StoreError::NotFound
                    } else {
                        io("opening upload")(e)
                    }
                })?;
            // Cut off what an interrupted chunk may have left.
            file.set_len(len).map_err(io("truncating upload"))?;
            file.seek(SeekFrom::Start(len))
                .map_err(io("seeking in upload"))?;
            Ok(file)
        })
        .await?;

        // Stream: read into one fixed buffer, write it out on a blocking thread, repeat.
        let mut buf = vec![0_u8; BUFFER];
        let mut new_len = offset;
        loop {
            let filled = match fill(&mut chunk, &mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    // The sidecar still says `offset`, so the tail would be ignored anyway;
                    // cut it now all the same.
                    let _ = locked(&guard, move || {
                        file.set_len(offset).map_err(io("truncating upload"))
                    })
                    .await;
                    return Err(StoreError::Backend(format!("reading chunk: {e}")));
                }
            };
            if filled == 0 {
                break;
            }
            (file, buf) = locked(&guard, move || {
                file.write_all(buf.get(..filled).unwrap_or_default())
                    .map_err(io("writing upload"))?;
                Ok((file, buf))
            })
            .await?;
            new_len = new_len.saturating_add(filled as u64);
            if filled < BUFFER {
                break;
            }
        }

        // Make the bytes durable, then count them by replacing the sidecar atomically.
        let (_, len_file) = self.upload_paths(upload_id).ok_or(StoreError::NotFound)?;
        let tmp = self.tmp_path("len");
        locked(&guard, move || {
            file.sync_data().map_err(io("syncing upload"))?;
            drop(file);
            let recorded = (|| {
                let mut f = std::fs::File::create_new(&tmp)?;
                f.write_all(new_len.to_string().as_bytes())?;
                f.sync_all()?;
                drop(f);
                std::fs::rename(&tmp, &len_file)
            })();
            if let Err(e) = recorded {
                let _ = std::fs::remove_file(&tmp);
                return Err(io("recording upload length")(e));
            }
            Ok(new_len)
        })
        .await
    }

    async fn commit_upload(&self, upload_id: &str, expected: &Digest) -> StoreResult<u64> {
        let (data, len_file) = self.upload_paths(upload_id).ok_or(StoreError::NotFound)?;
        let target = self.blob_path(expected)?;
        let expected = expected.clone();
        let uploads_dir = self.root.join("uploads");
        let guard = self.lock_upload(upload_id).await;
        // The upload file itself is the temp file: verified and synced here, then renamed
        // into place. On a mismatch nothing changes and the upload stays.
        locked(&guard, move || {
            let len = read_len(&data, &len_file)?;
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&data)
                .map_err(|e| {
                    if is_not_found(&e) {
                        StoreError::NotFound
                    } else {
                        io("opening upload")(e)
                    }
                })?;
            let actual = hash_file(&mut file, len, &expected)?;
            if actual != expected {
                return Err(StoreError::Conflict(format!(
                    "uploaded content has digest {actual}, not {expected}"
                )));
            }
            file.set_len(len).map_err(io("truncating upload"))?;
            file.sync_all().map_err(io("syncing upload"))?;
            drop(file);
            if target.exists() {
                // Already stored (blobs are immutable): just drop the upload.
                std::fs::remove_file(&data).map_err(io("removing upload"))?;
                touch(&target)?;
            } else {
                install_blob(&data, &target)?;
            }
            remove_if_present(&len_file)?;
            sync_dir(&uploads_dir)?;
            Ok(len)
        })
        .await
    }

    async fn delete_upload(&self, upload_id: &str) -> StoreResult<()> {
        let Some((data, len_file)) = self.upload_paths(upload_id) else {
            return Ok(());
        };
        let guard = self.lock_upload(upload_id).await;
        locked(&guard, move || {
            remove_if_present(&data)?;
            remove_if_present(&len_file)
        })
        .await
    }

    async fn list_blobs(&self) -> StoreResult<Vec<(Digest, i64)>> {
        let root = self.root.join("blobs");
        blocking(move || {
            let mut out = Vec::new();
            for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
                let dir = root.join(algorithm.as_str());
                let prefixes = match std::fs::read_dir(&dir) {
                    Ok(p) => p,
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => return Err(io("listing blobs")(e)),
                };
                for prefix in prefixes {
                    let prefix = prefix.map_err(io("listing blobs"))?;
                    let files = match std::fs::read_dir(prefix.path()) {
                        Ok(f) => f,
                        // Not a directory, or removed meanwhile: nothing of ours.
                        Err(_) => continue,
                    };
                    for file in files {
                        let file = file.map_err(io("listing blobs"))?;
                        let name = file.file_name();
                        let Some(hex) = name.to_str() else { continue };
                        // Anything that is not a blob's name is not ours to report.
                        let Ok(digest) = Digest::parse(&format!("{}:{hex}", algorithm.as_str()))
                        else {
                            continue;
                        };
                        match file.metadata() {
                            Ok(meta) => out.push((digest, modified_unix(&meta))),
                            Err(e) if is_not_found(&e) => {}
                            Err(e) => return Err(io("reading blob metadata")(e)),
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_blob(&self, digest: &Digest) -> StoreResult<()> {
        let path = self.blob_path(digest)?;
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(io("deleting blob")(e)),
            }
            match path.parent() {
                Some(dir) => sync_dir(dir),
                None => Ok(()),
            }
        })
        .await
    }

    async fn list_uploads(&self) -> StoreResult<Vec<(String, i64)>> {
        let dir = self.root.join("uploads");
        blocking(move || {
            let mut latest: HashMap<String, i64> = HashMap::new();
            for entry in std::fs::read_dir(&dir).map_err(io("listing uploads"))? {
                let entry = entry.map_err(io("listing uploads"))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let id = name.strip_suffix(".len").unwrap_or(name);
                if !valid_upload_id(id) {
                    continue;
                }
                let modified = match entry.metadata() {
                    Ok(meta) => modified_unix(&meta),
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => return Err(io("reading upload metadata")(e)),
                };
                let slot = latest.entry(id.to_owned()).or_insert(modified);
                *slot = (*slot).max(modified);
            }
            Ok(latest.into_iter().collect())
        })
        .await
    }
}

/// Marks an existing blob as just written, so the collector's grace period starts over.
/// A blob removed meanwhile is not an error here: the caller's lease check catches it.
fn touch(path: &Path) -> StoreResult<()> {
    match std::fs::File::options().write(true).open(path) {
        Ok(file) => file
            .set_modified(std::time::SystemTime::now())
            .map_err(io("touching blob")),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(io("touching blob")(e)),
    }
}

/// A file's modification time in unix seconds (0 when the platform has none).
fn modified_unix(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids() {
        assert!(valid_upload_id("abc-DEF_123"));
        assert!(valid_upload_id(&"a".repeat(128)));
        assert!(!valid_upload_id(&"a".repeat(129)));
        assert!(!valid_upload_id(""));
        for bad in ["..", "a/b", "a.len", "a b", "é", "a\0"] {
            assert!(!valid_upload_id(bad), "{bad:?}");
        }
    }
}
