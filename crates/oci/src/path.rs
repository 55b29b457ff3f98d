//! The `/v2` route table: one enum, a parser and its inverse.
//!
//! Repository names may contain `/`, so a path is read from the right: the last one or two
//! components decide the route (`tags/list`, `manifests/<ref>`, `blobs/<digest>`,
//! `blobs/uploads/[<id>]`, `referrers/<digest>`) and everything before them is the name.
//! Because the name grammar is checked afterwards, a name may itself contain the words
//! `blobs`, `manifests`, `uploads`, ... as components. Rendering with [`Endpoint::path`] and
//! parsing with [`parse_path`] round-trip, so `Location` headers and routing cannot disagree.

use berth_types::{Digest, InvalidIdentifier, Reference, RepositoryName};

use crate::ErrorCode;

/// Longest path [`parse_path`] looks at. The longest valid path is about 420 bytes
/// (`/v2/` + 256-byte name + `/blobs/uploads/` + 128-byte id); anything far beyond that is
/// refused before it is split or echoed.
pub const MAX_PATH_BYTES: usize = 2048;

/// One `/v2` API endpoint, named like distribution's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/` (and `/v2`): the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    TagsList { name: RepositoryName },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        name: RepositoryName,
        reference: Reference,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        name: RepositoryName,
        digest: Digest,
    },
    /// `/v2/<name>/blobs/uploads/` (with or without the trailing slash).
    UploadStart { name: RepositoryName },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload { name: RepositoryName, id: String },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        name: RepositoryName,
        digest: Digest,
    },
}

impl Endpoint {
    /// The repository the endpoint is scoped to, if any.
    pub fn name(&self) -> Option<&RepositoryName> {
        match self {
            Self::Base | Self::Catalog => None,
            Self::TagsList { name }
            | Self::Manifest { name, .. }
            | Self::Blob { name, .. }
            | Self::UploadStart { name }
            | Self::Upload { name, .. }
            | Self::Referrers { name, .. } => Some(name),
        }
    }

    /// distribution's route name, for logs and metrics.
    pub fn route_name(&self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Catalog => "catalog",
            Self::TagsList { .. } => "tags",
            Self::Manifest { .. } => "manifest",
            Self::Blob { .. } => "blob",
            Self::UploadStart { .. } => "blob-upload",
            Self::Upload { .. } => "blob-upload-chunk",
            Self::Referrers { .. } => "referrers",
        }
    }

    /// The canonical path of this endpoint (no scheme, host or query), e.g. for `Location`.
    /// `parse_path(&e.path()) == Ok(e)` for every endpoint built from valid parts.
    pub fn path(&self) -> String {
        match self {
            Self::Base => "/v2/".to_owned(),
            Self::Catalog => "/v2/_catalog".to_owned(),
            Self::TagsList { name } => format!("/v2/{name}/tags/list"),
            Self::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
            Self::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
            Self::UploadStart { name } => format!("/v2/{name}/blobs/uploads/"),
            Self::Upload { name, id } => format!("/v2/{name}/blobs/uploads/{id}"),
            Self::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
        }
    }
}

/// Why a path is not a usable `/v2` endpoint, and which spec error answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not a route of the API (or not under `/v2` at all): a plain 404 without an error code.
    #[error("not found")]
    NotFound,
    /// Longer than [`MAX_PATH_BYTES`]: 414 without an error code.
    #[error("request path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// The route matched but the repository name breaks the grammar: `NAME_INVALID`.
    #[error(transparent)]
    NameInvalid(InvalidIdentifier),
    /// A manifest reference that is neither a tag nor a digest: `MANIFEST_INVALID`.
    #[error(transparent)]
    TagInvalid(InvalidIdentifier),
    /// A digest (blob, referrers subject, or a manifest reference containing `:`) that does
    /// not parse or uses an unsupported algorithm: `DIGEST_INVALID`.
    #[error(transparent)]
    DigestInvalid(InvalidIdentifier),
    /// An upload id outside `[A-Za-z0-9_-]{1,128}`: no such session can exist,
    /// `BLOB_UPLOAD_UNKNOWN`.
    #[error("blob upload unknown to registry")]
    UploadUnknown,
}

impl PathError {
    /// The spec error code to send, or `None` for a bare 404/414.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::NotFound | Self::TooLong => None,
            Self::NameInvalid(_) => Some(ErrorCode::NameInvalid),
            Self::TagInvalid(_) => Some(ErrorCode::ManifestInvalid),
            Self::DigestInvalid(_) => Some(ErrorCode::DigestInvalid),
            Self::UploadUnknown => Some(ErrorCode::BlobUploadUnknown),
        }
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::TooLong => 414,
            _ => self.code().map_or(404, ErrorCode::status),
        }
    }
}

/// Whether `id` can name an upload session: `[A-Za-z0-9_-]{1,128}` (UUIDs fit).
pub fn is_valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses a request path (already percent-decoded, without the query) into an [`Endpoint`].
pub fn parse_path(path: &str) -> Result<Endpoint, PathError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let rest = match path.strip_prefix("/v2") {
        Some(rest) => rest,
        None => return Err(PathError::NotFound),
    };
    match rest {
        "" | "/" => return Ok(Endpoint::Base),
        "/_catalog" => return Ok(Endpoint::Catalog),
        _ => {}
    }
    let Some(rest) = rest.strip_prefix('/') else {
        // `/v2foo`
        return Err(PathError::NotFound);
    };

    let parts: Vec<&str> = rest.split('/').collect();
    let route = classify(&parts).ok_or(PathError::NotFound)?;

    // The name is the text before the route's suffix. It is a prefix of `rest`, so slice it
    // out rather than re-joining (this keeps empty components visible to the grammar).
    let name_components = parts.get(..route.name_len).ok_or(PathError::NotFound)?;
    let name_bytes: usize =
        name_components.iter().map(|c| c.len()).sum::<usize>() + route.name_len.saturating_sub(1);
    let name_str = rest.get(..name_bytes).ok_or(PathError::NotFound)?;
    let name = RepositoryName::parse(name_str).map_err(PathError::NameInvalid)?;

    let last = route.last;
    Ok(match route.kind {
        RouteKind::TagsList => Endpoint::TagsList { name },
        RouteKind::UploadStart => Endpoint::UploadStart { name },
        RouteKind::Manifest => {
            let reference = if last.contains(':') {
                Reference::Digest(Digest::parse(last).map_err(PathError::DigestInvalid)?)
            } else {
                Reference::parse(last).map_err(PathError::TagInvalid)?
            };
            Endpoint::Manifest { name, reference }
        }
        RouteKind::Blob => Endpoint::Blob {
            name,
            digest: Digest::parse(last).map_err(PathError::DigestInvalid)?,
        },
        RouteKind::Referrers => Endpoint::Referrers {
            name,
            digest: Digest::parse(last).map_err(PathError::DigestInvalid)?,
        },
        RouteKind::Upload => {
            if !is_valid_upload_id(last) {
                return Err(PathError::UploadUnknown);
            }
            Endpoint::Upload {
                name,
                id: last.to_owned(),
            }
        }
    })
}

#[derive(Debug, Clone, Copy)]
enum RouteKind {
    TagsList,
    Manifest,
    Blob,
    UploadStart,
    Upload,
    Referrers,
}

struct Route<'a> {
    kind: RouteKind,
    /// How many leading components form the name.
    name_len: usize,
    /// The final component (reference, digest or upload id), when the route has one.
    last: &'a str,
}

/// Decides the route from the rightmost components. Order matters where suffixes overlap:
/// `blobs/uploads/<id>` is checked before `blobs/<digest>` (whose `<digest>` could otherwise
/// be read as the word `uploads`) and `blobs/uploads` is the upload start, not a blob.
fn classify<'a>(parts: &[&'a str]) -> Option<Route<'a>> {
    let n = parts.len();
    let at = |back: usize| -> Option<&'a str> {
        n.checked_sub(back).and_then(|i| parts.get(i).copied())
    };
    let (last, second) = (at(1)?, at(2)?);
    let third = at(3);
    let route = |kind, suffix: usize| Route {
        kind,
        name_len: n.saturating_sub(suffix),
        last,
    };

    // `/v2/<name>/blobs/uploads/` splits into [.., "blobs", "uploads", ""].
    if third == Some("blobs") && second == "uploads" {
        return Some(if last.is_empty() {
            route(RouteKind::UploadStart, 3)
        } else {
            route(RouteKind::Upload, 3)
        });
    }
    if last.is_empty() {
        // Any other trailing slash is not a route.
        return None;
    }
    Some(match (second, last) {
        ("tags", "list") => route(RouteKind::TagsList, 2),
        ("blobs", "uploads") => route(RouteKind::UploadStart, 2),
        ("manifests", _) => route(RouteKind::Manifest, 2),
        ("blobs", _) => route(RouteKind::Blob, 2),
        ("referrers", _) => route(RouteKind::Referrers, 2),
        _ => return None,
    })
}
