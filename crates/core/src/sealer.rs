//! Sealed tokens: session tokens and registry passwords are AES-256-GCM-sealed blobs that
//! any replica holding the key ring can open, so issuing them writes nothing.
//!
//! Layout (then base64url): `version (1) | key id (8) | nonce (12) | ciphertext + tag`.
//! The purpose is bound as associated data, so a registry password never opens as a
//! session token or the other way round.
//!
//! Keys live in the metadata store and rotate there (daily; the rule is in `key_rotation`).

use std::sync::RwLock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_store::{MetadataStore, SigningKeyRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::InternalError;
use crate::ids::random_bytes;
use crate::key_rotation::{self, RotationPolicy};

const VERSION: u8 = 1;
const KID_LEN: usize = 8;
const KEY_PURPOSE: &str = "token-sealing";
/// Sealed tokens are opaque to clients but bounded, so a huge header cannot make us
/// decode megabytes.
pub const MAX_SEALED_LEN: usize = 8192;

/// What a sealed token is for; bound into the seal.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    SessionToken,
    RegistryPassword,
    LayerDownload,
    /// The dev issuer's stand-in for `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: names a claim set.
    ActionsTokenRequest,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Self::SessionToken => b"berth/session-token/v1",
            Self::RegistryPassword => b"berth/registry-password/v1",
            Self::LayerDownload => b"berth/layer-download/v1",
            Self::ActionsTokenRequest => b"berth/actions-token-request/v1",
        }
    }
}

const ROTATION: RotationPolicy = RotationPolicy {
    purpose: KEY_PURPOSE,
    rotate_every: 24 * 3600,
    // A session (MaxSessionDuration is at most 12 hours) or an ECR authorization token.
    max_lifetime: 12 * 3600,
};

struct RingKey {
    kid: [u8; KID_LEN],
    key: LessSafeKey,
    /// From when this key seals (until a newer key does).
    active_from: i64,
}

pub struct Sealer {
    /// Newest first: all open; the newest active one seals. Replaced whole on refresh.
    ring: RwLock<Vec<RingKey>>,
}

fn new_key_record(active_from: i64) -> SigningKeyRecord {
    let mut material = random_bytes::<{ KID_LEN + 32 }>().to_vec();
    SigningKeyRecord {
        kid: hex::encode(&material[..KID_LEN]),
        purpose: KEY_PURPOSE.to_owned(),
        material: material.split_off(KID_LEN),
        created_at: active_from,
    }
}

fn ring_from(records: Vec<SigningKeyRecord>) -> Result<Vec<RingKey>, InternalError> {
    let mut keys = Vec::with_capacity(records.len());
    for r in records {
        let kid_bytes = hex::decode(&r.kid).map_err(|_| InternalError("bad key id".into()))?;
        let kid: [u8; KID_LEN] = kid_bytes
            .try_into()
            .map_err(|_| InternalError("bad key id length".into()))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &r.material)
            .map_err(|_| InternalError("bad sealing key".into()))?;
        keys.push(RingKey {
            kid,
            key: LessSafeKey::new(unbound),
            active_from: r.created_at,
        });
    }
    if keys.is_empty() {
        return Err(InternalError("no sealing key".into()));
    }
    Ok(keys)
}

impl Sealer {
    /// Loads the key ring from the store, creating the first key on first start.
    pub async fn load(store: &dyn MetadataStore) -> Result<Self, InternalError> {
        store
            .get_or_create_signing_key(&new_key_record(crate::now_unix()))
            .await?;
        let ring = ring_from(store.list_signing_keys(KEY_PURPOSE).await?)?;
        Ok(Self {
            ring: RwLock::new(ring),
        })
    }

    /// Rotates and prunes the keys in the store when due, then reloads the ring. Run every
    /// `key_rotation::REFRESH_EVERY` by the server, on every replica.
    pub async fn refresh(&self, store: &dyn MetadataStore) -> Result<(), InternalError> {
        self.refresh_at(store, crate::now_unix()).await
    }

    async fn refresh_at(&self, store: &dyn MetadataStore, now: i64) -> Result<(), InternalError> {
        let records = ROTATION
            .rotate(store, now, |active_from| Ok(new_key_record(active_from)))
            .await?;
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring_from(records)?;
        Ok(())
    }

    pub fn seal<T: Serialize>(&self, purpose: Purpose, value: &T) -> Result<String, InternalError> {
        self.seal_at(purpose, value, crate::now_unix())
    }

    fn seal_at<T: Serialize>(
        &self,
        purpose: Purpose,
        value: &T,
        now: i64,
    ) -> Result<String, InternalError> {
        // Held only while sealing (no I/O): a refresh swaps the ring once a minute.
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let key = key_rotation::in_use(&ring, |k| k.active_from, now)
            .ok_or_else(|| InternalError("no sealing key".into()))?;
        let mut plaintext =
            serde_json::to_vec(value).map_err(|e| InternalError(format!("seal: {e}")))?;
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(purpose.aad()),
                &mut plaintext,
            )
            .map_err(|_| InternalError("seal failed".into()))?;
        let mut out = Vec::with_capacity(1 + KID_LEN + NONCE_LEN + plaintext.len());
        out.push(VERSION);
        out.extend_from_slice(&key.kid);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&plaintext);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed token; `None` for anything that is not a token we sealed for this
    /// purpose (wrong key, tampered, truncated, other purpose).
    pub fn open<T: DeserializeOwned>(&self, purpose: Purpose, token: &str) -> Option<T> {
        if token.len() > MAX_SEALED_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < KID_LEN + NONCE_LEN {
            return None;
        }
        let (kid, rest) = rest.split_at(KID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let key = ring.iter().find(|k| k.kid == kid)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(purpose.aad()), &mut buf)
            .ok()?;
        serde_json::from_slice(plaintext).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_rotation::ACTIVATION_DELAY;
    use berth_store::prelude::*;
    use berth_store_sql::SqlStore;

    #[tokio::test]
    async fn keys_rotate_in_the_store_and_old_tokens_open_until_they_expire() {
        let store = SqlStore::open_sqlite_in_memory().await.unwrap();
        let start = crate::now_unix();
        let sealer = Sealer::load(&store).await.unwrap();
        let other_replica = Sealer::load(&store).await.unwrap();
        let token = sealer
            .seal_at(Purpose::SessionToken, &"old", start)
            .unwrap();
        let kid_of = |token: &str| URL_SAFE_NO_PAD.decode(token).unwrap()[1..1 + KID_LEN].to_vec();

        // Not due yet: nothing changes.
        sealer.refresh_at(&store, start + 60).await.unwrap();
        assert_eq!(store.list_signing_keys(KEY_PURPOSE).await.unwrap().len(), 1);

        // Due: a new key, sealing only after the activation delay, known to both replicas
        // once they refreshed.
        let rotated = start + ROTATION.rotate_every;
        sealer.refresh_at(&store, rotated).await.unwrap();
        other_replica
            .refresh_at(&store, rotated + 60)
            .await
            .unwrap();
        assert_eq!(store.list_signing_keys(KEY_PURPOSE).await.unwrap().len(), 2);
        let before_activation = sealer
            .seal_at(Purpose::SessionToken, &"x", rotated)
            .unwrap();
        assert_eq!(kid_of(&before_activation), kid_of(&token));
        let after = sealer
            .seal_at(Purpose::SessionToken, &"new", rotated + ACTIVATION_DELAY)
            .unwrap();
        assert_ne!(kid_of(&after), kid_of(&token));
        assert_eq!(
            other_replica
                .open::<String>(Purpose::SessionToken, &after)
                .as_deref(),
            Some("new")
        );
        assert_eq!(
            other_replica
                .open::<String>(Purpose::SessionToken, &token)
                .as_deref(),
            Some("old")
        );

        // The old key stays while anything it sealed may be valid, then goes.
        let superseded = rotated + ACTIVATION_DELAY;
        sealer
            .refresh_at(&store, superseded + ROTATION.max_lifetime)
            .await
            .unwrap();
        assert_eq!(
            sealer
                .open::<String>(Purpose::SessionToken, &token)
                .as_deref(),
            Some("old")
        );
        sealer
            .refresh_at(&store, superseded + ROTATION.retained_for())
            .await
            .unwrap();
        assert_eq!(store.list_signing_keys(KEY_PURPOSE).await.unwrap().len(), 1);
        assert_eq!(sealer.open::<String>(Purpose::SessionToken, &token), None);
        assert_eq!(
            sealer
                .open::<String>(Purpose::SessionToken, &after)
                .as_deref(),
            Some("new")
        );
    }
}
