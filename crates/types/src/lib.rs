//! Identifiers as types. Each is parsed once, where bytes enter the system, and carried
//! as a value that cannot be invalid afterwards.

mod arn;
mod digest;
mod mutability;
mod names;
mod reference;

pub use arn::{AccountId, Arn};
pub use digest::{Digest, DigestAlgorithm};
pub use mutability::{TagMutability, wildcard_matches};
pub use names::{AccessKeyId, PolicyName, RepositoryName, RoleName, RoleSessionName};
pub use reference::{Reference, Tag};

/// Why a string is not a valid identifier of some kind. The message names the kind and
/// the rule, so it can be shown to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{value}`: {rule}")]
pub struct InvalidIdentifier {
    pub kind: &'static str,
    pub value: String,
    pub rule: &'static str,
}

impl InvalidIdentifier {
    pub(crate) fn new(kind: &'static str, value: &str, rule: &'static str) -> Self {
        // Cap the echoed value: identifiers come from untrusted input.
        let value: String = value.chars().take(300).collect();
        Self { kind, value, rule }
    }
}

/// Implements the string plumbing shared by every newtype over a validated `String`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl std::str::FromStr for $name {
            type Err = $crate::InvalidIdentifier;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;
