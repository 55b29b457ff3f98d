//! The SHA-256 of an upload, computed behind its writes.
//!
//! A chunk is acknowledged once its bytes are durable; its hash is not needed until the
//! upload is committed or continued by the client's next request. So the bytes are read
//! back from the file (the page cache, usually still the CPU's cache) and hashed by
//! whichever thread gets there first:
//!
//! * a thread at the lowest CPU priority, which uses the time receiving and writing leave
//!   idle, and the client's turnaround between chunks;
//! * the writer itself, when the hash falls more than `HASH_LAG` behind (a busy machine, a
//!   long monolithic upload), so what is left to hash at the end stays small;
//! * whoever needs the result, the next chunk or the commit, for the rest.
//!
//! Durability and verification are unchanged: the commit compares the digest of exactly
//! the counted bytes, and a chunk that fails after any of its bytes were hashed leaves no
//! running hash (the commit then re-reads the file).

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use aws_lc_rs::digest::Context;

/// How far the hash may fall behind the writes before the writer hashes too: what is left
/// for the commit after a long upload, about 9 ms of hashing at 1.8 GB/s.
const HASH_LAG: u64 = 16 * 1024 * 1024;
/// Bytes read back and hashed at a time: well within the L2 cache.
const SLICE: usize = 256 * 1024;

/// The hash of an upload's bytes from the start of one chunk on, continued from the hash
/// of the bytes before it.
pub(crate) struct TrailingHash {
    /// Where the chunk starts in the file.
    start: u64,
    progress: Mutex<Progress>,
    changed: Condvar,
    /// How far `cursor` has hashed, readable without its lock.
    hashed: AtomicU64,
    cursor: Mutex<Cursor>,
}

#[derive(Clone, Copy)]
struct Progress {
    /// Offset up to which the chunk's bytes are in the file.
    written: u64,
    /// `Some(true)` once the chunk counts, `Some(false)` once it failed.
    ended: Option<bool>,
}

struct Cursor {
    /// `None` once taken by `finish`, or lost (a read error, a failed chunk).
    ctx: Option<Context>,
    pos: u64,
    /// Dropped once the hash is complete or lost, so a finished hash holds no descriptor.
    file: Option<Arc<File>>,
}

impl Cursor {
    /// Hashes the file's bytes up to `to`; on a read error the hash is lost.
    fn advance(&mut self, to: u64, buf: &mut Vec<u8>, hashed: &AtomicU64) {
        let (Some(ctx), Some(file)) = (self.ctx.as_mut(), self.file.as_deref()) else {
            return;
        };
        match hash_range(file, ctx, self.pos, to, buf) {
            Ok(()) => {
                self.pos = self.pos.max(to);
                hashed.store(self.pos, Ordering::Relaxed);
            }
            // Shorter than written, or unreadable: the commit will re-read the file.
            Err(_) => self.lose(),
        }
    }

    fn lose(&mut self) {
        self.ctx = None;
        self.file = None;
    }
}

/// Hashes bytes `from..to` of `file` into `ctx`, reading into `buf` (sized on first use).
/// `UnexpectedEof` when the file is shorter.
pub(crate) fn hash_range(
    file: &File,
    ctx: &mut Context,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut pos = from;
    while pos < to {
        if buf.len() < SLICE {
            buf.resize(SLICE, 0);
        }
        let want = usize::try_from(to - pos).unwrap_or(SLICE).min(SLICE);
        let slice = buf.get_mut(..want).unwrap_or_default();
        match file.read_at(slice, pos) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                ctx.update(slice.get(..n).unwrap_or_default());
                pos = pos.saturating_add(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TrailingHash {
    /// Starts hashing the chunk written from `start` on in the file at `path`, continuing
    /// `ctx` (the hash of the bytes before it). `None` when the file cannot be read back.
    pub(crate) fn start(path: &Path, start: u64, ctx: Context) -> Option<Arc<Self>> {
        let file = Arc::new(File::open(path).ok()?);
        let hash = Arc::new(Self {
            start,
            progress: Mutex::new(Progress {
                written: start,
                ended: None,
            }),
            changed: Condvar::new(),
            hashed: AtomicU64::new(start),
            cursor: Mutex::new(Cursor {
                ctx: Some(ctx),
                pos: start,
                file: Some(file),
            }),
        });
        let idle = Arc::clone(&hash);
        // Without that thread the writer and `finish` do all the hashing.
        let _ = std::thread::Builder::new()
            .name("berth-hash".into())
            .spawn(move || idle.hash_in_idle_time());
        Some(hash)
    }

    /// The writer's report: the chunk's bytes up to `written` are in the file. Hashes some
    /// of them itself when the hash is more than `HASH_LAG` behind.
    pub(crate) fn written(&self, written: u64, buf: &mut Vec<u8>) {
        lock(&self.progress).written = written;
        self.changed.notify_all();
        if written.saturating_sub(self.hashed.load(Ordering::Relaxed)) > HASH_LAG {
            lock(&self.cursor).advance(written - HASH_LAG / 2, buf, &self.hashed);
        }
    }

    /// The chunk counts (`true`) or failed. A failed chunk keeps the hash of the bytes
    /// before it only if none of its own were hashed.
    fn end(&self, counted: bool) {
        lock(&self.progress).ended.get_or_insert(counted);
        self.changed.notify_all();
        if !counted {
            // After `ended` is set, so no thread hashes further once this has looked.
            let mut cursor = lock(&self.cursor);
            if cursor.pos > self.start {
                cursor.lose();
            }
        }
    }

    /// The hash of the upload's first `len` bytes (all of them written), hashing what is
    /// left; `None` when it was lost or went past them.
    pub(crate) fn finish(&self, len: u64) -> Option<Context> {
        let mut cursor = lock(&self.cursor);
        if cursor.pos > len {
            return None;
        }
        cursor.advance(len, &mut Vec::new(), &self.hashed);
        let ctx = (cursor.pos == len).then(|| cursor.ctx.take()).flatten();
        cursor.lose();
        ctx
    }

    /// Waits until bytes past `pos` are written or the chunk has ended.
    fn wait_past(&self, pos: u64) -> Progress {
        let mut progress = lock(&self.progress);
        while progress.written <= pos && progress.ended.is_none() {
            progress = self
                .changed
                .wait(progress)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *progress
    }

    /// The low-priority thread: hashes a slice at a time while there is something to hash,
    /// until the chunk's hash is complete, lost or taken. It hashes a copy of the state
    /// without holding the cursor, and installs the result only if nobody moved the cursor
    /// meanwhile: a thread that needs the hash never waits for this one, which a busy CPU
    /// may not run for a while (that wait would hand the writer this thread's priority).
    fn hash_in_idle_time(&self) {
        lower_priority();
        let mut buf = Vec::new();
        loop {
            self.wait_past(self.hashed.load(Ordering::Relaxed));
            let (mut ctx, file, from, to) = {
                let mut cursor = lock(&self.cursor);
                let now = *lock(&self.progress);
                let (Some(ctx), Some(file)) = (cursor.ctx.as_ref(), cursor.file.as_ref()) else {
                    return;
                };
                if now.ended == Some(false) {
                    return;
                }
                if cursor.pos >= now.written {
                    if now.ended == Some(true) {
                        // Complete: the descriptor is not needed any more.
                        cursor.file = None;
                        return;
                    }
                    continue;
                }
                let to = now.written.min(cursor.pos.saturating_add(SLICE as u64));
                (ctx.clone(), Arc::clone(file), cursor.pos, to)
            };
            let hashed = hash_range(&file, &mut ctx, from, to, &mut buf);
            let mut cursor = lock(&self.cursor);
            // A failed chunk's bytes never enter the hash: `end` sets `ended` before it
            // looks at the cursor.
            let failed = lock(&self.progress).ended == Some(false);
            if cursor.pos != from || cursor.ctx.is_none() || failed {
                continue;
            }
            match hashed {
                Ok(()) => {
                    cursor.ctx = Some(ctx);
                    cursor.pos = to;
                    self.hashed.store(to, Ordering::Relaxed);
                }
                Err(_) => cursor.lose(),
            }
        }
    }
}

/// Ends a chunk for its `TrailingHash` when dropped: as failed unless `counted` was called,
/// so the hashing thread never waits for a chunk that nobody writes any more (an error, a
/// panic).
pub(crate) struct ChunkEnd<'a> {
    hash: Option<&'a TrailingHash>,
    counted: bool,
}

impl<'a> ChunkEnd<'a> {
    pub(crate) fn new(hash: Option<&'a TrailingHash>) -> Self {
        Self {
            hash,
            counted: false,
        }
    }

    pub(crate) fn counted(mut self) {
        self.counted = true;
    }
}

impl Drop for ChunkEnd<'_> {
    fn drop(&mut self) {
        if let Some(hash) = self.hash {
            hash.end(self.counted);
        }
    }
}

/// Puts the calling thread last in line for a busy CPU (nice 19).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // Only the priority is at stake: on failure the thread hashes at the usual one.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sha256(bytes: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
            .as_ref()
            .to_vec()
    }

    fn new_ctx() -> Context {
        Context::new(&aws_lc_rs::digest::SHA256)
    }

    /// Writes `chunks` to a file in pieces as a writer would, and returns the finished hash.
    fn hash_chunks(chunks: &[&[u8]], fail_last: bool) -> (Option<Vec<u8>>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        let mut file = File::create(&path).unwrap();
        let mut ctx = new_ctx();
        let mut len = 0_u64;
        let mut buf = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let hash = TrailingHash::start(&path, len, ctx).unwrap();
            let end = ChunkEnd::new(Some(&hash));
            let mut at = len;
            for piece in chunk.chunks(100_000) {
                file.write_all(piece).unwrap();
                at += piece.len() as u64;
                hash.written(at, &mut buf);
            }
            let failed = fail_last && i == chunks.len() - 1;
            if failed {
                drop(end);
            } else {
                end.counted();
                len = at;
            }
            match hash.finish(len) {
                Some(c) => ctx = c,
                None => return (None, len),
            }
        }
        (Some(ctx.finish().as_ref().to_vec()), len)
    }

    #[test]
    fn hashes_chunks_continuing_each_other() {
        let a = vec![1_u8; 3 * SLICE + 17];
        let b = vec![2_u8; (HASH_LAG as usize) * 2 + 5];
        let c = b"tail".to_vec();
        let (digest, len) = hash_chunks(&[&a, &b, &c], false);
        let all = [a, b, c].concat();
        assert_eq!(len, all.len() as u64);
        assert_eq!(digest.unwrap(), sha256(&all));
    }

    #[test]
    fn empty_chunk_changes_nothing() {
        let a = vec![7_u8; 1000];
        let (digest, _) = hash_chunks(&[&a, b""], false);
        assert_eq!(digest.unwrap(), sha256(&a));
    }

    #[test]
    fn failed_chunk_leaves_the_hash_before_it_or_none() {
        // Whether the failed chunk's bytes were hashed yet depends on timing; either way
        // the result is never a hash that covers them.
        let a = vec![3_u8; 5000];
        let b = vec![4_u8; 5000];
        let (digest, len) = hash_chunks(&[&a, &b], true);
        assert_eq!(len, 5000);
        if let Some(d) = digest {
            assert_eq!(d, sha256(&a));
        }
    }

    #[test]
    fn failed_chunk_with_hashed_bytes_loses_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        std::fs::write(&path, vec![5_u8; 4096]).unwrap();
        let hash = TrailingHash::start(&path, 0, new_ctx()).unwrap();
        let end = ChunkEnd::new(Some(&hash));
        hash.written(4096, &mut Vec::new());
        // Hash some of the chunk for sure, as the idle-time thread may have.
        lock(&hash.cursor).advance(1024, &mut Vec::new(), &hash.hashed);
        drop(end);
        assert!(hash.finish(0).is_none());
    }

    #[test]
    fn file_shorter_than_reported_loses_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        std::fs::write(&path, b"short").unwrap();
        let hash = TrailingHash::start(&path, 0, new_ctx()).unwrap();
        let end = ChunkEnd::new(Some(&hash));
        hash.written(100, &mut Vec::new());
        end.counted();
        assert!(hash.finish(100).is_none());
    }
}
