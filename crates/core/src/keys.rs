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

    /// A digest of the key pair, sealed into the registry passwords and download grants
    /// the root user gets, so that they stop working when the root keys change.
    pub fn fingerprint(&self) -> String {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(self.access_key_id.as_bytes());
        context.update(b"\0");
        context.update(self.secret_access_key.as_bytes());
        hex::encode(context.finish().as_ref())
    }

    /// Whether `fingerprint` is this key pair's (constant time).
    pub fn has_fingerprint(&self, fingerprint: &str) -> bool {
        self.fingerprint()
            .as_bytes()
            .ct_eq(fingerprint.as_bytes())
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
