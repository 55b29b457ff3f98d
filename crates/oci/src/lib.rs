//! OCI distribution-spec knowledge as pure logic: the `/v2` route table, manifest
//! validation, the error-code table and envelope, byte ranges, media types and header
//! names. No I/O, no async, no HTTP types: callers hand in strings and bytes.

mod challenge;
mod error;
pub mod headers;
mod manifest;
pub mod media_types;
mod path;
mod query;
mod range;

pub use challenge::{BearerChallenge, parse_bearer_challenge};
pub use error::{ErrorCode, error_body, errors_body};
pub use manifest::{
    Descriptor, MAX_MANIFEST_BYTES, Manifest, ManifestError, ManifestKind, Platform,
    referrers_index,
};
pub use path::{Endpoint, MAX_PATH_BYTES, PathError, is_valid_upload_id, parse_path};
pub use query::parse_query;
pub use range::{ByteRange, parse_byte_range, parse_range};
