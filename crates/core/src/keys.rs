//! The account's root credentials.

use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct RootCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl RootCredentials {
    /// Whether `access_key_id` names the root key. Constant time, so a probe cannot learn
    /// the key id a character at a time.
    pub fn is_root_key(&self, access_key_id: &str) -> bool {
        self.access_key_id
            .as_bytes()
            .ct_eq(access_key_id.as_bytes())
            .into()
    }
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}
