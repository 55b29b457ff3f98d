//! Random identifiers in AWS's formats.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system RNG failing is not recoverable; an all-zero buffer would be a
    // security bug, so abort instead of continuing.
    if SystemRandom::new().fill(&mut b).is_err() {
        std::process::abort();
    }
    b
}

/// Fills `buffer` with random bytes (one system call however long it is).
pub fn fill_random(buffer: &mut [u8]) {
    if SystemRandom::new().fill(buffer).is_err() {
        std::process::abort();
    }
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let bytes = random_bytes::<64>();
    bytes
        .iter()
        .take(len)
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// `prefix` + random characters from IAM's unique-id alphabet, 21 characters in all
/// (`AROA…` roles, `ANPA…` policies).
pub fn unique_id(prefix: &str) -> String {
    let mut s = prefix.to_owned();
    s.push_str(&random_from(ALNUM, 21 - prefix.len()));
    s
}

/// An access key id: `AKIA` or `ASIA` + 16 base32 characters.
pub fn access_key_id(prefix: &str) -> String {
    let mut s = prefix.to_owned();
    s.push_str(&random_from(BASE32, 16));
    s
}

/// The shape of IAM's and STS's `accessKeyIdType`: 16 to 128 word characters.
pub fn is_access_key_id_shaped(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The constraint [`is_access_key_id_shaped`] checks, as AWS words it.
pub const ACCESS_KEY_ID_RULE: &str =
    "Member must satisfy regular expression pattern: [\\w]+ and have length between 16 and 128";

/// A 40-character secret access key.
pub fn secret_access_key() -> String {
    use base64::Engine;
    let b = random_bytes::<30>();
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn uuid() -> String {
    uuid::Builder::from_random_bytes(random_bytes::<16>())
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let r = unique_id("AROA");
        assert_eq!(r.len(), 21);
        assert!(r.starts_with("AROA"));
        let k = access_key_id("ASIA");
        assert_eq!(k.len(), 20);
        assert_eq!(secret_access_key().len(), 40);
        assert_ne!(secret_access_key(), secret_access_key());
    }
}
