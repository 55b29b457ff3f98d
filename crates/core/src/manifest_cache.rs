//! Manifest bytes kept in memory by digest. Content-addressed bytes never go stale, so the
//! cache needs no invalidation, even across replicas: whether a repository still holds a
//! manifest is asked of the metadata store on every request, before the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_types::Digest;

/// Bytes of manifests kept at most (manifests are at most 4 MiB each).
const CAPACITY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
pub struct ManifestCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_digest: HashMap<Digest, Arc<[u8]>>,
    bytes: usize,
}

impl ManifestCache {
    pub fn get(&self, digest: &Digest) -> Option<Arc<[u8]>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.by_digest.get(digest).cloned()
    }

    /// Keeps `bytes` (which must hash to `digest`). When full, starts over: simpler than
    /// tracking recency, and the hot manifests are back after one read each.
    pub fn insert(&self, digest: &Digest, bytes: Arc<[u8]>) {
        if bytes.len() > CAPACITY_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.bytes + bytes.len() > CAPACITY_BYTES {
            entries.by_digest.clear();
            entries.bytes = 0;
        }
        entries.bytes += bytes.len();
        if let Some(old) = entries.by_digest.insert(digest.clone(), bytes) {
            entries.bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::DigestAlgorithm;

    #[test]
    fn bounded_and_keyed_by_digest() {
        let cache = ManifestCache::default();
        let digest = |n: u8| Digest::from_bytes(DigestAlgorithm::Sha256, &[n; 32]);
        let big: Arc<[u8]> = vec![0_u8; CAPACITY_BYTES / 2].into();
        cache.insert(&digest(1), big.clone());
        cache.insert(&digest(1), big.clone());
        assert_eq!(cache.get(&digest(1)).map(|b| b.len()), Some(big.len()));
        cache.insert(&digest(2), big.clone());
        assert!(cache.get(&digest(1)).is_some() && cache.get(&digest(2)).is_some());
        // Full: starts over with the newcomer.
        cache.insert(&digest(3), vec![1_u8; 10].into());
        assert_eq!(cache.get(&digest(1)), None);
        assert_eq!(cache.get(&digest(3)).as_deref(), Some(&[1_u8; 10][..]));
        // Larger than the whole cache: not kept.
        cache.insert(&digest(4), vec![0_u8; CAPACITY_BYTES + 1].into());
        assert_eq!(cache.get(&digest(4)), None);
    }
}
