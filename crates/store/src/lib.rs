//! The storage boundary. `MetadataStore` holds every record (IAM entities, repositories,
//! manifests, tags, uploads, signing keys); `BlobStore` holds content-addressed bytes and
//! in-progress uploads. Backends implement these traits and nothing else; `suite` (feature
//! `testsuite`, for tests only) is the test suite every backend runs; `cached` is a read
//! cache in front of any `MetadataStore`.
//!
//! Timestamps are unix seconds (`i64`) chosen by the caller: stores never read a clock.

mod blob;
pub mod cached;
mod metadata;
#[cfg(feature = "testsuite")]
pub mod suite;

pub use blob::{BlobReader, BlobStore, UploadReader};
pub use metadata::*;

/// What went wrong in a store. Backend text stays in `Backend` and is logged, never sent
/// to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// A precondition the caller asked for did not hold (wrong upload offset, digest
    /// mismatch, entity still referenced, ...). The message is safe to show.
    #[error("{0}")]
    Conflict(String),
    #[error("storage backend error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
