//! The storage boundary. `MetadataStore` holds every record (IAM entities, repositories,
//! manifests, tags, uploads, signing keys, audit events); `BlobStore` holds content-addressed bytes and
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

/// The area traits, for calling store methods on a concrete store type (on a
/// `dyn MetadataStore` they need no import).
pub mod prelude {
    pub use crate::{
        AuditStore, IamStore, KeyStore, LeaseStore, MetadataStore, RepositoryStore, UploadStore,
    };
}

use berth_types::Digest;

/// What went wrong in a store. Backend text stays in `Backend` and is logged, never sent
/// to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// A precondition the caller asked for did not hold. The kind says which; the words a
    /// client sees are berth-core's, written once, on its typed errors.
    #[error("{0}")]
    Conflict(Conflict),
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Which precondition a store refused a write on. The `Display` text is for logs and
/// operators; the AWS and OCI messages live on berth-core's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    // --- IAM ---------------------------------------------------------------------------
    #[error("the role still has inline policies")]
    RoleHasInlinePolicies,
    #[error("the role still has attached policies")]
    RoleHasAttachedPolicies,
    #[error("the policy is attached to roles")]
    PolicyAttached,
    #[error("an instance profile holds the role")]
    RoleInInstanceProfile,
    #[error("the user still has access keys")]
    UserHasAccessKeys,
    #[error("the user still has inline policies")]
    UserHasInlinePolicies,
    #[error("the user still has attached policies")]
    UserHasAttachedPolicies,
    #[error("the user is in groups")]
    UserInGroups,
    #[error("the group still has members")]
    GroupHasMembers,
    #[error("the group still has inline policies")]
    GroupHasInlinePolicies,
    #[error("the group still has attached policies")]
    GroupHasAttachedPolicies,
    #[error("the user has {max} access keys already")]
    AccessKeyLimit { max: usize },
    #[error("the instance profile holds a role")]
    InstanceProfileHasRole,
    #[error("the instance profile holds a role already")]
    InstanceProfileFull,
    #[error("the policy already has {max} versions")]
    PolicyVersionLimit { max: usize },
    #[error("the version is the policy's default")]
    DefaultPolicyVersion,
    #[error("the entity would have more than {max} tags")]
    IamTagLimit { max: usize },
    #[error("the provider already has {max} client ids")]
    ClientIdLimit { max: usize },
    // --- Repositories ------------------------------------------------------------------
    #[error("the repository still contains images")]
    RepositoryNotEmpty,
    #[error("the repository would have more than {max} tags")]
    RepositoryTagLimit { max: usize },
    #[error("the tag exists and the repository's tags are immutable")]
    TagImmutable,
    // --- Blobs and uploads -------------------------------------------------------------
    #[error("blob {0} is being garbage-collected")]
    BlobBeingCollected(Digest),
    #[error("the upload has {length} bytes; a chunk starting at {offset} does not follow them")]
    UploadOffset { offset: u64, length: u64 },
    #[error("the upload was finalised by a commit and takes no more bytes")]
    UploadFinalised,
    #[error("invalid upload id")]
    InvalidUploadId,
    #[error("range {first}-{last} is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { first: u64, last: u64, size: u64 },
    #[error("content digest {actual} does not match {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    // --- Schema ------------------------------------------------------------------------
    #[error(
        "the database schema is at version {applied}, newer than this Berth knows ({known}): \
         upgrade Berth"
    )]
    SchemaTooNew { applied: i64, known: i64 },
}

pub type StoreResult<T> = Result<T, StoreError>;
