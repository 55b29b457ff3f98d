//! Header names the distribution spec and Docker clients use, spelled once.

/// `registry/2.0` on every `/v2` response.
pub const DOCKER_DISTRIBUTION_API_VERSION: &str = "Docker-Distribution-API-Version";
/// Its value.
pub const API_VERSION_VALUE: &str = "registry/2.0";
/// Digest of a manifest or blob in responses.
pub const DOCKER_CONTENT_DIGEST: &str = "Docker-Content-Digest";
/// Upload session id on upload responses.
pub const DOCKER_UPLOAD_UUID: &str = "Docker-Upload-UUID";
/// Set on a manifest PUT response when the registry processed its `subject`.
pub const OCI_SUBJECT: &str = "OCI-Subject";
/// Set on a referrers response when `artifactType` filtering was applied.
pub const OCI_FILTERS_APPLIED: &str = "OCI-Filters-Applied";
/// Smallest non-final chunk the registry wants, on the upload-start response.
pub const OCI_CHUNK_MIN_LENGTH: &str = "OCI-Chunk-Min-Length";
