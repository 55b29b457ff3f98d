//! How signing and sealing keys rotate in the metadata store, the one rule for every key
//! kind (see `sealer` and `issuer`).
//!
//! Every `REFRESH_EVERY` each replica reloads a kind's keys, and one of them adds a new key
//! once the newest is `rotate_every` old. A new key is used only from `ACTIVATION_DELAY`
//! after it was added, by which time every replica has loaded it, so whatever it signs or
//! seals is accepted everywhere. A superseded key is deleted once nothing it made can still
//! be valid (`max_lifetime` after it stopped being used, plus a margin). Two replicas that
//! rotate at the same moment add two keys; the newer is used and the other ages out.

use berth_store::{MetadataStore, SigningKeyRecord};

use crate::error::InternalError;

/// Every replica reloads its keys this often.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// A new key is used this long after it is added: several refreshes, so every replica
/// knows it before anything made with it reaches them (clock skew included).
pub const ACTIVATION_DELAY: i64 = 300;
/// Kept beyond the longest lifetime of what a superseded key made.
const RETENTION_MARGIN: i64 = 3600;

pub struct RotationPolicy {
    /// The store's `purpose` for this kind of key.
    pub purpose: &'static str,
    /// A new key is added once the newest is this old.
    pub rotate_every: i64,
    /// The longest anything made with one of these keys stays valid.
    pub max_lifetime: i64,
}

impl RotationPolicy {
    /// Rotates and prunes this kind's keys in the store when due, at `now`; returns the
    /// keys to load, newest first. `new_key(active_from)` makes a key's record.
    pub async fn rotate(
        &self,
        store: &dyn MetadataStore,
        now: i64,
        new_key: impl FnOnce(i64) -> Result<SigningKeyRecord, InternalError>,
    ) -> Result<Vec<SigningKeyRecord>, InternalError> {
        let records = store.list_signing_keys(self.purpose).await?;
        let newest = records.first().map_or(i64::MIN, |r| r.created_at);
        let mut changed = false;
        if newest <= now - self.rotate_every {
            store
                .add_signing_key(&new_key(now + ACTIVATION_DELAY)?)
                .await?;
            changed = true;
        }
        // Newest first: each key stopped being used when the next newer one became active.
        for pair in records.windows(2) {
            if let [newer, older] = pair
                && newer.created_at <= now - self.max_lifetime - RETENTION_MARGIN
            {
                store.delete_signing_key(self.purpose, &older.kid).await?;
                changed = true;
            }
        }
        if changed {
            Ok(store.list_signing_keys(self.purpose).await?)
        } else {
            Ok(records)
        }
    }

    /// When a superseded key is deleted, counted from when its successor became active.
    #[cfg(test)]
    pub fn retained_for(&self) -> i64 {
        self.max_lifetime + RETENTION_MARGIN
    }
}

/// The key to use at `now` among `keys` (newest first, each active from its `created_at`):
/// the newest already active; when all lie ahead (a clock set back), the oldest.
pub fn in_use<T>(keys: &[T], active_from: impl Fn(&T) -> i64, now: i64) -> Option<&T> {
    keys.iter()
        .find(|k| active_from(k) <= now)
        .or_else(|| keys.last())
}
