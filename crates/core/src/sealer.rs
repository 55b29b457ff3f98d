//! Sealed tokens: session tokens and registry passwords are AES-256-GCM-sealed blobs that
//! any replica holding the key ring can open, so issuing them writes nothing.
//!
//! Layout (then base64url): `version (1) | key id (8) | nonce (12) | ciphertext + tag`.
//! The purpose is bound as associated data, so a registry password never opens as a
//! session token or the other way round.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_store::{MetadataStore, SigningKeyRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::InternalError;
use crate::ids::random_bytes;

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

struct RingKey {
    kid: [u8; KID_LEN],
    key: LessSafeKey,
}

pub struct Sealer {
    /// Newest first: the first seals, all open.
    keys: Vec<RingKey>,
}

impl Sealer {
    /// Loads the key ring from the store, creating the first key on first start.
    pub async fn load(store: &dyn MetadataStore) -> Result<Self, InternalError> {
        let mut material = random_bytes::<{ KID_LEN + 32 }>().to_vec();
        let candidate = SigningKeyRecord {
            kid: hex::encode(&material[..KID_LEN]),
            purpose: KEY_PURPOSE.to_owned(),
            material: material.split_off(KID_LEN),
            created_at: crate::now_unix(),
        };
        store.get_or_create_signing_key(&candidate).await?;
        let records = store.list_signing_keys(KEY_PURPOSE).await?;
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
            });
        }
        if keys.is_empty() {
            return Err(InternalError("no sealing key".into()));
        }
        Ok(Self { keys })
    }

    pub fn seal<T: Serialize>(&self, purpose: Purpose, value: &T) -> Result<String, InternalError> {
        let key = self
            .keys
            .first()
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
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(purpose.aad()), &mut buf)
            .ok()?;
        serde_json::from_slice(plaintext).ok()
    }
}
