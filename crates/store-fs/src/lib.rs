//! Filesystem blob store: the default `BlobStore`, a directory in the data directory.
//!
//! Layout under the root:
//!
//! * `blobs/<algorithm>/<first two hex>/<hex>`: complete, verified blobs. A file appears
//!   there only by an atomic rename of a fully written, fsynced, verified file.
//! * `uploads/<id>`: the bytes of an upload so far; `uploads/<id>.len`: how many of them
//!   count, updated durably after each chunk is durable (`counted_len`). Bytes past that
//!   length are the remains of an interrupted chunk and are cut off before anything reads
//!   or extends the upload, so an interrupted chunk (error, cancelled future or crash) is
//!   never counted. Upload ids are `[A-Za-z0-9_-]{1,128}`, so they never contain a `.`.
//! * `tmp/`: files being written; emptied on open.
//!
//! A blob's modification time is when its bytes were last written; the garbage collector
//! leaves young blobs alone, so `put` and `commit_upload` refresh it when the blob already
//! exists.
//!
//! Memory stays flat: an append moves bytes through a few fixed buffers, handed from the
//! request to one blocking writer thread per append, so receiving, writing and the disk's
//! writeback overlap. The SHA-256 is computed behind the writes, from the page cache, mostly
//! in idle time (`trailing_hash`), and kept in memory with the upload's length, so
//! committing needs no second read of the bytes; after a restart (or for a sha512 digest)
//! commit re-reads and hashes the file instead.
//!
//! One process owns a root at a time; concurrent calls for the same upload are serialized
//! in-process.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, Weak};

use async_trait::async_trait;
use berth_store::{BlobReader, BlobStore, Conflict, StoreError, StoreResult, UploadReader};
use berth_types::{Digest, DigestAlgorithm};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

mod counted_len;
mod trailing_hash;
use trailing_hash::{ChunkEnd, TrailingHash};

/// Size of the buffers that move bytes from the request to the writer: small enough to stay
/// in the CPU's cache (1 MiB of L2 per core here) between being filled and written, large
/// enough that handing them between threads costs little. With `WRITE_QUEUE`, an append
/// holds about 3.5 MiB; 512 KiB x 4 measured a little faster than 256 KiB x 8.
const BUFFER: usize = 512 * 1024;
/// Buffers queued between the request and the writer thread of an append.
const WRITE_QUEUE: usize = 4;
/// During an append, the disk is asked to write back every this many bytes, so the final
/// sync (which the append waits for) finds little left to do: a 16 MiB chunk then waits
/// for about 4 MiB instead of all of it.
const WRITEBACK_STEP: u64 = 4 * 1024 * 1024;
/// Buffers kept between appends, so a chunk does not start by allocating (and faulting in)
/// fresh ones: about what one append has in flight.
const POOLED_BUFFERS: usize = WRITE_QUEUE + 2;
/// Bound on the running hashes kept; past it new uploads are hashed on commit instead.
const MAX_RUNNING_HASHES: usize = 10_000;
const MAX_UPLOAD_ID: usize = 128;

/// The SHA-256 of an upload's first `len` bytes, computed as they were written.
struct RunningHash {
    len: u64,
    sha256: HashState,
}

/// A running hash is either complete, or still being computed behind the last chunk's
/// writes (see `trailing_hash`).
enum HashState {
    Done(aws_lc_rs::digest::Context),
    Trailing(Arc<TrailingHash>),
}

impl HashState {
    /// The hash of the first `len` bytes, hashing what is left of them; `None` when it
    /// cannot be had (the commit then re-reads the file).
    fn finish(self, len: u64) -> Option<aws_lc_rs::digest::Context> {
        match self {
            HashState::Done(ctx) => Some(ctx),
            HashState::Trailing(hash) => hash.finish(len),
        }
    }
}

impl std::fmt::Debug for RunningHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningHash")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

type RunningHashes = Arc<std::sync::Mutex<HashMap<String, RunningHash>>>;

/// A `BlobStore` on a local directory.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    /// One lock per upload in use, so appends, commits and deletes of one upload never
    /// interleave. Entries die with their last user and are pruned on insert.
    upload_locks: std::sync::Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Per upload, taken and put back under the upload's lock by appends and commits.
    running_hashes: RunningHashes,
    buffers: BufferPool,
    tmp_counter: AtomicU64,
}

/// Spare `BUFFER`-sized buffers for appends.
#[derive(Debug, Default)]
struct BufferPool(std::sync::Mutex<Vec<Vec<u8>>>);

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER))
    }

    fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < POOLED_BUFFERS {
            spare.push(buf);
        }
    }
}

impl FsBlobStore {
    /// Opens the store at `root`, creating `blobs/`, `uploads/` and `tmp/` as needed and
    /// removing leftovers of interrupted writes from `tmp/`.
    pub async fn open(root: &Path) -> StoreResult<Self> {
        let root = root.to_path_buf();
        let store = Self {
            root: root.clone(),
            upload_locks: std::sync::Mutex::new(HashMap::new()),
            running_hashes: RunningHashes::default(),
            buffers: BufferPool::default(),
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
            running_hashes: RunningHashes::default(),
            buffers: BufferPool::default(),
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

/// Hashes the first `len` bytes of `file`. An error when it is shorter.
fn hash_file(file: &std::fs::File, len: u64, expected: &Digest) -> StoreResult<Digest> {
    let mut ctx = aws_lc_rs::digest::Context::new(algorithm(expected));
    trailing_hash::hash_range(file, &mut ctx, 0, len, &mut Vec::new()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            StoreError::Backend("upload file is shorter than its recorded length".into())
        } else {
            io("reading upload")(e)
        }
    })?;
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

/// Appends to `buf` from `chunk` until it holds `BUFFER` bytes or the chunk ends; returns
/// whether the chunk ended.
async fn fill(chunk: &mut UploadReader<'_>, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    while buf.len() < BUFFER {
        match chunk.read_buf(buf).await {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// What the request half of an append hands its writer thread.
enum Piece {
    Bytes(Vec<u8>),
    /// The chunk is complete. A queue that closes without it means the chunk was not
    /// received whole (a read error, a dropped request): nothing of it may count.
    End,
}

/// The blocking half of an append, run under the upload's lock: checks the offset, writes
/// what arrives in `pieces` while a helper thread hashes it behind the writes, makes it
/// durable and counts it in the length sidecar (`counted_len`). Returns the new length;
/// the hash of the chunk may still be finishing then, and is put back as pending.
fn write_chunk(
    paths: &AppendPaths,
    offset: u64,
    pieces: &mut tokio::sync::mpsc::Receiver<Piece>,
    free: &tokio::sync::mpsc::Sender<Vec<u8>>,
    running: &RunningHashes,
    upload_id: &str,
) -> StoreResult<u64> {
    let before = counted_len::read(&paths.data, &paths.len_file)?;
    let len = before.len;
    if offset != len {
        return Err(StoreError::Conflict(Conflict::UploadOffset {
            offset,
            length: len,
        }));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&paths.data)
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
    // Continue the running hash when it covers exactly the bytes so far; the previous
    // chunk's hashing normally finished while the client sent this request.
    let hash = match take_running_hash(running, upload_id) {
        Some(h) if h.len == len => h.sha256.finish(len),
        _ if len == 0 => Some(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256)),
        _ => None,
    };
    let trailing = hash.and_then(|ctx| TrailingHash::start(&paths.data, len, ctx));
    // Tells the hash how the chunk ended, whichever way this function returns.
    let end = ChunkEnd::new(trailing.as_deref());
    let counted = (|| {
        let written = match write_pieces(&mut file, pieces, free, trailing.as_deref()) {
            Ok(Some(written)) => written,
            result => {
                // The sidecar still says `len`, so the tail would be ignored anyway; cut
                // it now all the same.
                let _ = file.set_len(len);
                return Err(result.err().unwrap_or_else(|| {
                    StoreError::Backend("the chunk was not received completely".into())
                }));
            }
        };
        let new_len = len.saturating_add(written);
        // Make the bytes durable, then count them.
        file.sync_data().map_err(io("syncing upload"))?;
        drop(file);
        counted_len::record(&paths.len_file, &paths.tmp, before, new_len)
            .map_err(io("recording upload length"))?;
        Ok(new_len)
    })();
    let covered = match &counted {
        Ok(new_len) => {
            end.counted();
            *new_len
        }
        // The hash still covers the first `len` bytes if none of the chunk's were hashed.
        Err(_) => {
            drop(end);
            len
        }
    };
    if let Some(hash) = trailing {
        put_running_hash(
            running,
            upload_id,
            RunningHash {
                len: covered,
                sha256: HashState::Trailing(hash),
            },
        );
    }
    counted
}

struct AppendPaths {
    data: PathBuf,
    len_file: PathBuf,
    tmp: PathBuf,
}

/// Writes pieces until `End` (`Some(bytes written)`) or until the queue closes without it
/// (`None`), telling `hash` after each; past `WRITEBACK_STEP` bytes a helper thread
/// syncs a clone of the handle now and then, so the disk writes back while more bytes
/// arrive. Sync errors fail the append (a failed sync may not be reported twice by the
/// kernel).
fn write_pieces(
    file: &mut std::fs::File,
    pieces: &mut tokio::sync::mpsc::Receiver<Piece>,
    free: &tokio::sync::mpsc::Sender<Vec<u8>>,
    hash: Option<&TrailingHash>,
) -> StoreResult<Option<u64>> {
    let start = file.stream_position().map_err(io("seeking in upload"))?;
    let mut hash_buf = Vec::new();
    std::thread::scope(|scope| {
        let mut writeback: Option<(
            std::sync::mpsc::SyncSender<()>,
            std::thread::ScopedJoinHandle<'_, std::io::Result<()>>,
        )> = None;
        let mut written = 0_u64;
        let mut next_writeback = WRITEBACK_STEP;
        let outcome = loop {
            let buf = match pieces.blocking_recv() {
                Some(Piece::Bytes(buf)) => buf,
                Some(Piece::End) => break Ok(Some(written)),
                None => break Ok(None),
            };
            if let Err(e) = file.write_all(&buf) {
                break Err(io("writing upload")(e));
            }
            written = written.saturating_add(buf.len() as u64);
            if let Some(hash) = hash {
                hash.written(start.saturating_add(written), &mut hash_buf);
            }
            // Recycled by the request half; dropped when it has enough.
            let _ = free.try_send(buf);
            if written >= next_writeback {
                next_writeback = written.saturating_add(WRITEBACK_STEP);
                if writeback.is_none() {
                    let clone = match file.try_clone() {
                        Ok(c) => c,
                        Err(e) => break Err(io("cloning upload handle")(e)),
                    };
                    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
                    let thread = scope.spawn(move || {
                        for () in rx {
                            clone.sync_data()?;
                        }
                        Ok(())
                    });
                    writeback = Some((tx, thread));
                }
                if let Some((tx, _)) = &writeback {
                    // Full: a sync is already pending, which covers these bytes too.
                    let _ = tx.try_send(());
                }
            }
        };
        if let Some((tx, thread)) = writeback {
            drop(tx);
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(io("syncing upload")(e)),
                Err(_) => return Err(StoreError::Backend("writeback thread panicked".into())),
            }
        }
        outcome
    })
}

fn take_running_hash(running: &RunningHashes, upload_id: &str) -> Option<RunningHash> {
    running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(upload_id)
}

fn put_running_hash(running: &RunningHashes, upload_id: &str, hash: RunningHash) {
    let mut map = running.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() < MAX_RUNNING_HASHES {
        map.insert(upload_id.to_owned(), hash);
    }
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
            return Err(StoreError::Conflict(Conflict::RangeNotSatisfiable {
                first,
                last,
                size,
            }));
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
            return Err(StoreError::Conflict(Conflict::DigestMismatch {
                expected: digest.clone(),
                actual,
            }));
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
            .ok_or(StoreError::Conflict(Conflict::InvalidUploadId))?;
        let guard = self.lock_upload(upload_id).await;
        take_running_hash(&self.running_hashes, upload_id);
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
        blocking(move || Ok(counted_len::read(&data, &len_file)?.len)).await
    }

    async fn append_upload(
        &self,
        upload_id: &str,
        offset: u64,
        mut chunk: UploadReader<'_>,
    ) -> StoreResult<u64> {
        let (data, len_file) = self.upload_paths(upload_id).ok_or(StoreError::NotFound)?;
        let paths = AppendPaths {
            data,
            len_file,
            tmp: self.tmp_path("len"),
        };
        let guard = self.lock_upload(upload_id).await;
        let (pieces_tx, mut pieces_rx) = tokio::sync::mpsc::channel(WRITE_QUEUE);
        let (free_tx, mut free_rx) = tokio::sync::mpsc::channel(WRITE_QUEUE + 2);
        let running = Arc::clone(&self.running_hashes);
        let id = upload_id.to_owned();
        let writer = locked(&guard, move || {
            write_chunk(&paths, offset, &mut pieces_rx, &free_tx, &running, &id)
        });
        // The request half: fills buffers (recycled from the writer) and queues them. It
        // ends the queue with `End` only when the whole chunk was read; on an error, or
        // when this future is dropped, the queue closes without it and nothing counts.
        let buffers = &self.buffers;
        let recycled = &mut free_rx;
        let reader = async move {
            loop {
                let mut buf = recycled.try_recv().unwrap_or_else(|_| buffers.take());
                buf.clear();
                let ended = fill(&mut chunk, &mut buf).await?;
                if buf.is_empty() {
                    buffers.give(buf);
                } else if pieces_tx.send(Piece::Bytes(buf)).await.is_err() {
                    // The writer stopped; its result says why.
                    return Ok(());
                }
                if ended {
                    let _ = pieces_tx.send(Piece::End).await;
                    return Ok(());
                }
            }
        };
        let (read, written): (std::io::Result<()>, _) = tokio::join!(reader, writer);
        while let Ok(buf) = free_rx.try_recv() {
            self.buffers.give(buf);
        }
        if let Err(e) = read {
            // The writer saw the queue close without `End` and counted nothing.
            return Err(StoreError::Backend(format!("reading chunk: {e}")));
        }
        written
    }

    async fn commit_upload(&self, upload_id: &str, expected: &Digest) -> StoreResult<u64> {
        let (data, len_file) = self.upload_paths(upload_id).ok_or(StoreError::NotFound)?;
        let target = self.blob_path(expected)?;
        let expected = expected.clone();
        let uploads_dir = self.root.join("uploads");
        let running = Arc::clone(&self.running_hashes);
        let id = upload_id.to_owned();
        let guard = self.lock_upload(upload_id).await;
        // The upload file itself is the temp file: verified and synced here, then renamed
        // into place. On a mismatch nothing changes and the upload stays.
        locked(&guard, move || {
            let len = counted_len::read(&data, &len_file)?.len;
            let file = std::fs::OpenOptions::new()
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
            // The hash computed while the bytes streamed when it covers them all; else
            // (a restart, sha512, a failed chunk) the file is read and hashed again.
            let streamed = take_running_hash(&running, &id)
                .filter(|h| h.len == len && expected.algorithm() == DigestAlgorithm::Sha256)
                .and_then(|h| h.sha256.finish(len));
            let actual = match &streamed {
                Some(ctx) => {
                    Digest::from_bytes(DigestAlgorithm::Sha256, ctx.clone().finish().as_ref())
                }
                None => hash_file(&file, len, &expected)?,
            };
            if actual != expected {
                if let Some(ctx) = streamed {
                    // The upload stays as it was, its running hash too.
                    put_running_hash(
                        &running,
                        &id,
                        RunningHash {
                            len,
                            sha256: HashState::Done(ctx),
                        },
                    );
                }
                return Err(StoreError::Conflict(Conflict::DigestMismatch {
                    expected,
                    actual,
                }));
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
        take_running_hash(&self.running_hashes, upload_id);
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
