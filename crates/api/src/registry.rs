//! The OCI distribution API under `/v2/`, as ECR serves it: HTTP Basic auth with user
//! `AWS` and a GetAuthorizationToken password, each request authorized as the ECR action
//! it corresponds to (DESIGN.md, "The trust chain" step 5).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_core::Caller;
use berth_core::Services;
use berth_core::authorized::Authorized;
use berth_core::authorizer::RequestFacts;
use berth_core::error::RegistryError;
use berth_core::model::{RepositoryRecord, UploadRecord};
use berth_core::registry::RegistryOperation as Op;
use berth_oci::{
    ByteRange, Endpoint, ErrorCode, MAX_MANIFEST_BYTES, error_body, media_types, parse_path,
    referrers_index,
};
use berth_types::{Digest, Reference, RepositoryName};
use futures_util::TryStreamExt;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use tokio_util::io::StreamReader;

use crate::AppState;

const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");
const DEFAULT_TAGS_PAGE: usize = 1000;

pub async fn handle(services: AppState, facts: RequestFacts, request: Request<Body>) -> Response {
    let mut seen = Seen {
        recording: crate::audit::recording(&services),
        ..Seen::default()
    };
    let request_id = request
        .extensions()
        .get::<crate::observe::RequestId>()
        .map_or_else(berth_core::ids::uuid, |id| id.0.clone());
    let result = serve(&services, &facts, request, &mut seen).await;
    let failure = result.as_ref().err().map(|e| {
        let (_, code, message, _) = error_parts(e);
        let explanation = match e {
            RegistryError::AccessDenied(d) => d.explanation.clone(),
            _ => None,
        };
        crate::audit::failure(code.code(), &message, explanation)
    });
    let refused = matches!(
        &result,
        Err(RegistryError::AccessDenied(_))
            | Err(RegistryError::Oci {
                code: ErrorCode::Denied | ErrorCode::Unauthorized,
                ..
            })
    );
    let response = match result {
        Ok(r) => r,
        Err(e) => error_response(&services, e),
    };
    let operation = seen.operation.map_or("unknown", Op::name);
    let principal = seen.principal.take();
    if let Some(call) = registry_call(&services, seen, &response, failure.is_some(), refused) {
        crate::audit::record(&services, &facts, &request_id, call, failure).await;
    }
    let mut response = crate::observe::handled(response, "registry", operation, principal);
    response
        .headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    response
}

/// The query parameters (`berth_oci::parse_query`).
fn query_map(parts: &http::request::Parts) -> HashMap<String, String> {
    parts
        .uri
        .query()
        .map(berth_oci::parse_query)
        .unwrap_or_default()
}

/// The caller from HTTP Basic credentials.
async fn basic_caller(services: &Services, headers: &HeaderMap) -> Result<Caller, RegistryError> {
    let unauthorized = || RegistryError::oci(ErrorCode::Unauthorized, "authentication required");
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    // The scheme is case-insensitive (RFC 9110 §11.1): `Basic`, `basic`, `BASIC`.
    let encoded = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials)
        .ok_or_else(unauthorized)?;
    if encoded.len() > 16 * 1024 {
        return Err(unauthorized());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthorized())?;
    let text = String::from_utf8(decoded).map_err(|_| unauthorized())?;
    let (user, password) = text.split_once(':').ok_or_else(unauthorized)?;
    let caller = services.ecr().registry_caller(user, password)?;
    if !services.ecr().user_key_current(&caller).await? {
        return Err(RegistryError::oci(
            berth_oci::ErrorCode::Unauthorized,
            "the access key the authorization token was made with is no longer active",
        ));
    }
    Ok(caller)
}

/// What a request turned out to be, for its audit record: filled in by `serve` as far as
/// it got.
#[derive(Default)]
struct Seen {
    /// Whether the audit trail records: only then is `recorded` filled in.
    recording: bool,
    operation: Option<Op>,
    /// The authenticated caller's ARN, for the request log.
    principal: Option<String>,
    /// What the audit record needs, taken once the caller is authenticated.
    recorded: Option<RequestSummary>,
}

/// The parts of an authenticated registry request its audit record shows.
struct RequestSummary {
    caller: Caller,
    endpoint: Endpoint,
    accept: Vec<String>,
    content_type: Option<String>,
    content_range: Option<String>,
    digest: Option<String>,
}

impl RequestSummary {
    fn of(
        caller: Caller,
        endpoint: Endpoint,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Self {
        let header = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            caller,
            endpoint,
            accept: headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .take(20)
                .collect(),
            content_type: header(header::CONTENT_TYPE),
            content_range: header(header::CONTENT_RANGE),
            digest: query.get("digest").cloned(),
        }
    }
}

/// The record of a registry request, as the ECR operation CloudTrail would name. Left
/// out: requests without valid credentials (no one to name), the version check, and
/// HEAD probes that are not refused (a push or pull makes one per layer, and most find
/// nothing; a refused one is kept, as it says why a job failed).
fn registry_call(
    services: &Services,
    seen: Seen,
    response: &Response,
    failed: bool,
    refused: bool,
) -> Option<berth_core::audit::ApiCall> {
    use berth_core::audit::{ApiCall, EventSource};
    use serde_json::{Value, json};
    let request = seen.recorded?;
    let operation = seen.operation?;
    let name = operation.event_name()?;
    if matches!(operation, Op::HeadBlob | Op::HeadManifest) && !refused {
        return None;
    }
    let endpoint = Some(request.endpoint);
    let mut call = ApiCall::by(EventSource::Ecr, name, request.caller);
    let mut parameters = serde_json::Map::new();
    parameters.insert(
        "registryId".into(),
        services.config.account_id.to_string().into(),
    );
    let response_header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(repository) = endpoint.as_ref().and_then(Endpoint::name) {
        parameters.insert("repositoryName".into(), repository.to_string().into());
        call.resources
            .push(crate::audit::repository(services, repository.as_str()));
    }
    let image_id = |reference: &Reference| match reference {
        Reference::Tag(tag) => json!({"imageTag": tag.as_str()}),
        Reference::Digest(digest) => json!({"imageDigest": digest.as_str()}),
    };
    match (&endpoint, operation) {
        (Some(Endpoint::Manifest { reference, .. }), Op::PutManifest) => {
            parameters.insert("imageManifestMediaType".into(), request.content_type.into());
            match reference {
                Reference::Tag(tag) => parameters.insert("imageTag".into(), tag.as_str().into()),
                Reference::Digest(d) => parameters.insert("imageDigest".into(), d.as_str().into()),
            };
            if !failed {
                let mut image_id = image_id(reference);
                image_id["imageDigest"] = response_header("docker-content-digest").into();
                call.response_elements = Some(json!({"image": {
                    "registryId": services.config.account_id.to_string(),
                    "repositoryName": parameters.get("repositoryName"),
                    "imageId": image_id,
                }}));
            }
        }
        (Some(Endpoint::Manifest { reference, .. }), _) => {
            parameters.insert("imageIds".into(), json!([image_id(reference)]));
            if operation != Op::DeleteManifest {
                parameters.insert("acceptedMediaTypes".into(), request.accept.into());
            }
        }
        (Some(Endpoint::Referrers { digest, .. }), _) => {
            parameters.insert("imageIds".into(), json!([{"imageDigest": digest.as_str()}]));
        }
        (Some(Endpoint::Blob { digest, .. }), _) => {
            let key = if operation == Op::GetBlob {
                "layerDigest"
            } else {
                "layerDigests"
            };
            let value = if operation == Op::GetBlob {
                Value::from(digest.as_str())
            } else {
                json!([digest.as_str()])
            };
            parameters.insert(key.into(), value);
        }
        (Some(Endpoint::Upload { id, .. }), _) => {
            parameters.insert("uploadId".into(), id.as_str().into());
            if operation == Op::UploadChunk
                && let Some((first, last)) = request
                    .content_range
                    .as_deref()
                    .and_then(berth_oci::parse_range)
            {
                parameters.insert("partFirstByte".into(), first.into());
                parameters.insert("partLastByte".into(), last.into());
            }
        }
        _ => {}
    }
    if matches!(operation, Op::UploadWhole | Op::CompleteUpload)
        && let Some(digest) = &request.digest
    {
        parameters.insert("layerDigests".into(), json!([digest]));
        if !failed {
            call.response_elements = Some(json!({
                "layerDigest": response_header("docker-content-digest"),
                "uploadId": response_header("docker-upload-uuid"),
            }));
        }
    }
    if matches!(operation, Op::StartUpload | Op::MountBlob) && !failed {
        call.response_elements = Some(json!({
            "uploadId": response_header("docker-upload-uuid"),
        }));
    }
    call.request_parameters = Some(Value::Object(parameters));
    Some(call)
}

async fn serve(
    services: &Services,
    facts: &RequestFacts,
    request: Request<Body>,
    seen: &mut Seen,
) -> Result<Response, RegistryError> {
    let (parts, body) = request.into_parts();
    let endpoint = parse_path(parts.uri.path()).map_err(|e| match e.code() {
        Some(code) => RegistryError::oci(code, e.to_string()),
        None => RegistryError::NoSuchEndpoint { status: e.status() },
    })?;
    let query = query_map(&parts);
    let method = parts.method.clone();
    let headers = &parts.headers;
    let unsupported = || RegistryError::oci(ErrorCode::Unsupported, "the operation is unsupported");
    let operation = Op::of(&endpoint, &method, |key| query.contains_key(key));
    seen.operation = operation;

    // A GetDownloadUrlForLayer URL carries its own grant instead of credentials.
    if let (Endpoint::Blob { name, digest }, Some(grant)) = (&endpoint, query.get("X-Berth-Grant"))
        && let Some(operation @ (Op::GetBlob | Op::HeadBlob)) = operation
    {
        let repo = services
            .ecr()
            .authorize_download_grant(grant, facts, name, digest)
            .await?;
        return get_blob(services, &repo, digest, headers, operation == Op::HeadBlob).await;
    }

    let caller = basic_caller(services, headers).await?;
    let operation = operation.ok_or_else(unsupported)?;
    seen.principal = Some(caller.arn());
    if seen.recording {
        seen.recorded = Some(RequestSummary::of(
            caller.clone(),
            endpoint.clone(),
            headers,
            &query,
        ));
    }
    let Some(name) = endpoint.name() else {
        return match operation {
            Op::Catalog => catalog(services, facts, &caller, &query).await,
            _ => Ok(json(StatusCode::OK, "{}".into())),
        };
    };
    // Every operation on a repository is decided here, once, from the table; what follows
    // cannot touch the repository without the proof this returns.
    let repo = services
        .registry()
        .authorize_registry(&caller, facts, operation, name)
        .await?;
    match (operation, &endpoint) {
        (Op::ListTags, _) => tags_list(services, &repo, &query).await,
        (Op::GetManifest | Op::HeadManifest, Endpoint::Manifest { reference, .. }) => {
            let stored = services
                .registry()
                .pull_manifest(&caller, facts, &repo, reference)
                .await?;
            let accept = headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok());
            if !media_types::accepts(accept, &stored.record.media_type) {
                return Err(RegistryError::oci(
                    ErrorCode::ManifestUnknown,
                    format!(
                        "the manifest is a {}, which the Accept header does not list",
                        stored.record.media_type
                    ),
                ));
            }
            let mut r = if operation == Op::HeadManifest {
                let mut r = StatusCode::OK.into_response();
                r.headers_mut().insert(
                    header::CONTENT_LENGTH,
                    HeaderValue::from(stored.bytes.len()),
                );
                r
            } else {
                services.note_image_pull(&repo.name, &stored.record.digest);
                (StatusCode::OK, bytes::Bytes::from_owner(stored.bytes)).into_response()
            };
            set(
                &mut r,
                header::CONTENT_TYPE.as_str(),
                &stored.record.media_type,
            );
            set(
                &mut r,
                "docker-content-digest",
                stored.record.digest.as_str(),
            );
            Ok(r)
        }
        (Op::PutManifest, Endpoint::Manifest { reference, .. }) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = axum::body::to_bytes(body, MAX_MANIFEST_BYTES)
                .await
                .map_err(|_| {
                    RegistryError::oci(
                        ErrorCode::ManifestInvalid,
                        "manifest larger than 4 MiB or body unreadable",
                    )
                })?;
            let (tag, expected) = match reference {
                Reference::Tag(t) => (Some(t), None),
                Reference::Digest(d) => (None, Some(d)),
            };
            let (digest, _, record) = services
                .registry()
                .put_manifest(&repo, &bytes, content_type.as_deref(), tag, expected)
                .await?;
            let mut r = StatusCode::CREATED.into_response();
            set(
                &mut r,
                header::LOCATION.as_str(),
                &location(services, &format!("/v2/{name}/manifests/{digest}")),
            );
            set(&mut r, "docker-content-digest", digest.as_str());
            if let Some(subject) = &record.subject {
                set(&mut r, "oci-subject", subject.as_str());
            }
            Ok(r)
        }
        (Op::DeleteManifest, Endpoint::Manifest { reference, .. }) => {
            services
                .registry()
                .delete_manifest_reference(&repo, reference)
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Op::DeleteBlob, Endpoint::Blob { digest, .. }) => {
            services.registry().delete_blob(&repo, digest).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Op::ListReferrers, Endpoint::Referrers { digest, .. }) => {
            let artifact_type = query.get("artifactType").map(String::as_str);
            let descriptors = services
                .registry()
                .referrers(&repo, digest, artifact_type)
                .await?;
            let mut r = json(StatusCode::OK, referrers_index(&descriptors));
            set(
                &mut r,
                header::CONTENT_TYPE.as_str(),
                media_types::OCI_INDEX,
            );
            if artifact_type.is_some() {
                set(
                    &mut r,
                    berth_oci::headers::OCI_FILTERS_APPLIED,
                    "artifactType",
                );
            }
            Ok(r)
        }
        (Op::HeadBlob | Op::GetBlob, Endpoint::Blob { digest, .. }) => {
            get_blob(services, &repo, digest, headers, operation == Op::HeadBlob).await
        }
        (Op::MountBlob | Op::UploadWhole | Op::StartUpload, _) => {
            if operation == Op::MountBlob
                && let Some(r) = try_mount(services, facts, &caller, &repo, &query).await?
            {
                return Ok(r);
            }
            let Some(digest) = query.get("digest") else {
                let upload = services.registry().start_upload(&repo).await?;
                return Ok(upload_accepted(services, name, &upload.id, 0));
            };
            if operation == Op::MountBlob {
                // The mount did not happen and the body is the whole blob: the rest of a
                // whole upload's actions.
                services
                    .registry()
                    .authorize_whole_upload_rest(&caller, facts, name)
                    .await?;
            }
            let digest = parse_digest(digest)?;
            let _slot = upload_slot(services, &caller)?;
            let length = crate::content_length(headers);
            if length.is_some_and(|n| n <= SMALL_MONOLITHIC_BLOB as u64) {
                // Small enough to hold: stored in one write, no upload state (on S3 one
                // PUT instead of an upload's five or six requests).
                let bytes = axum::body::to_bytes(body, SMALL_MONOLITHIC_BLOB)
                    .await
                    .map_err(|_| {
                        RegistryError::oci(
                            ErrorCode::BlobUploadInvalid,
                            "the body ended before its Content-Length",
                        )
                    })?;
                services.registry().put_blob(&repo, &digest, &bytes).await?;
                return Ok(blob_created(services, name, &digest));
            }
            let upload = services.registry().start_upload(&repo).await?;
            finish_upload(services, &upload, &digest, body).await
        }
        (Op::UploadChunk, Endpoint::Upload { id, .. }) => {
            let upload = services.registry().upload(&repo, id).await?;
            let offset = match headers
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
            {
                Some(v) => {
                    let (start, end) = berth_oci::parse_range(v).ok_or_else(|| {
                        RegistryError::oci(ErrorCode::RangeInvalid, "malformed Content-Range")
                    })?;
                    // A range that disagrees with the body's length is refused before a
                    // byte is written, as one that does not start at the upload's end is.
                    let span = end
                        .checked_sub(start)
                        .and_then(|d| d.checked_add(1))
                        .ok_or_else(|| {
                            RegistryError::oci(ErrorCode::RangeInvalid, "malformed Content-Range")
                        })?;
                    if let Some(length) = crate::content_length(headers)
                        && length != span
                    {
                        return Err(RegistryError::RangeNotSatisfiable {
                            message: format!(
                                "Content-Range {start}-{end} is {span} bytes, the body {length}"
                            ),
                            current_len: services.registry().upload_len(&upload).await?,
                        });
                    }
                    Some(start)
                }
                None => None,
            };
            let _slot = upload_slot(services, &caller)?;
            let (mut reader, client_failed) = body_reader(body);
            let len = append_body(services, &upload, offset, &mut reader, &client_failed).await?;
            Ok(upload_accepted(services, name, id, len))
        }
        (Op::CompleteUpload, Endpoint::Upload { id, .. }) => {
            let upload = services.registry().upload(&repo, id).await?;
            let digest = parse_digest(query.get("digest").ok_or_else(|| {
                RegistryError::oci(
                    ErrorCode::DigestInvalid,
                    "the digest query parameter is required",
                )
            })?)?;
            let _slot = upload_slot(services, &caller)?;
            finish_upload(services, &upload, &digest, body).await
        }
        (Op::UploadStatus, Endpoint::Upload { id, .. }) => {
            let upload = services.registry().upload(&repo, id).await?;
            let len = services.registry().upload_len(&upload).await?;
            let mut r = upload_accepted(services, name, id, len);
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        (Op::CancelUpload, Endpoint::Upload { id, .. }) => {
            let upload = services.registry().upload(&repo, id).await?;
            services.registry().cancel_upload(&upload).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        // `RegistryOperation::of` made the operation from this endpoint: no other pairs.
        _ => Err(unsupported()),
    }
}

/// A cross-repository mount (`POST ...?mount=<digest>&from=<repo>`): 201 when the caller
/// may read the blob in `from` and complete uploads here (`Services::mount_source`) and
/// `from` holds the blob. `None` otherwise, whatever the reason, so the caller falls back
/// to an ordinary upload as the spec asks.
async fn try_mount(
    services: &Services,
    facts: &RequestFacts,
    caller: &Caller,
    repo: &Authorized<RepositoryRecord>,
    query: &HashMap<String, String>,
) -> Result<Option<Response>, RegistryError> {
    let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) else {
        return Ok(None);
    };
    let (Ok(digest), Ok(from)) = (Digest::parse(mount), RepositoryName::parse(from)) else {
        return Ok(None);
    };
    let Some(source) = services
        .registry()
        .mount_source(caller, facts, repo, &from)
        .await?
    else {
        return Ok(None);
    };
    if services
        .registry()
        .mount_blob(&source, repo, &digest)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(blob_created(services, &repo.name, &digest)))
}

/// A slot for a request that streams blob bytes; `TOOMANYREQUESTS` when the caller
/// already streams as many as a principal may.
fn upload_slot<'a>(
    services: &'a Services,
    caller: &Caller,
) -> Result<berth_core::upload_slots::UploadSlot<'a>, RegistryError> {
    services
        .upload_slots
        .try_acquire(caller)
        .map_err(|refused| RegistryError::oci(ErrorCode::TooManyRequests, refused.to_string()))
}

/// A monolithic upload (`POST ...?digest=`) at most this long is read whole and stored in
/// one write; a longer one streams through an upload.
const SMALL_MONOLITHIC_BLOB: usize = 1024 * 1024;

/// Bytes read from storage per chunk of a blob download. Large reads: each read of a file
/// is a trip to the blocking pool, and the default 4 KiB buffer capped downloads near
/// 85 MB/s (bench/registry-vs-distribution.sh); small enough to stay in the CPU's cache
/// between the copy out of storage and the copy into the socket.
const DOWNLOAD_BUFFER: usize = 256 * 1024;
/// Chunks read ahead of the connection per download: storage reads the next ones while
/// the socket takes the previous, instead of each waiting for the other.
const READ_AHEAD: usize = 4;

/// A response body fed by a task that reads the blob ahead of the connection. Memory per
/// download stays within a few chunks, recycled through a pool (fresh allocations of that
/// size cost a page fault per 4 KiB); the task ends when the client goes away.
fn read_ahead(reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
    let (pool_tx, pool_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut reader = reader;
        loop {
            let mut buf = pool_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(DOWNLOAD_BUFFER));
            buf.clear();
            let mut ended = false;
            while buf.len() < DOWNLOAD_BUFFER {
                match tokio::io::AsyncReadExt::read_buf(&mut reader, &mut buf).await {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // The body fails, so the client sees a cut-off download.
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
            if !buf.is_empty() {
                let chunk = bytes::Bytes::from_owner(PooledChunk {
                    buf,
                    pool: pool_tx.clone(),
                });
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            if ended {
                return;
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// A download chunk that returns its buffer to the download's pool once sent.
struct PooledChunk {
    buf: Vec<u8>,
    pool: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        // The download may be over; then the buffer is simply freed.
        let _ = self.pool.send(std::mem::take(&mut self.buf));
    }
}

fn parse_digest(d: &str) -> Result<Digest, RegistryError> {
    Digest::parse(d).map_err(|e| RegistryError::oci(ErrorCode::DigestInvalid, e.to_string()))
}

/// A request body as a reader, and a flag that is set when the client's stream fails
/// (a disconnect mid-body): then a failed append is the client's doing, not the store's.
fn body_reader(body: Body) -> (impl tokio::io::AsyncRead + Send + Unpin, Arc<AtomicBool>) {
    let client_failed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&client_failed);
    let stream = body.into_data_stream().map_err(move |e| {
        flag.store(true, Ordering::Relaxed);
        std::io::Error::other(e)
    });
    (StreamReader::new(stream), client_failed)
}

/// Appends a request body to an upload. A client that stops sending mid-body is not a
/// server error: the chunk is not counted (the upload keeps its length and can be
/// resumed), and it is logged at INFO.
async fn append_body(
    services: &Services,
    upload: &Authorized<UploadRecord>,
    offset: Option<u64>,
    reader: &mut (impl tokio::io::AsyncRead + Send + Unpin),
    client_failed: &AtomicBool,
) -> Result<u64, RegistryError> {
    let id = upload.id.as_str();
    match services
        .registry()
        .append_chunk(upload, offset, reader)
        .await
    {
        Err(berth_core::images::ImageError::Internal(e))
            if client_failed.load(Ordering::Relaxed) =>
        {
            tracing::info!(upload = id, error = %e, "the client stopped sending mid-chunk; the upload keeps its earlier length");
            Err(RegistryError::oci(
                ErrorCode::BlobUploadInvalid,
                "the request body ended early; the chunk was not stored",
            ))
        }
        other => Ok(other?),
    }
}

async fn finish_upload(
    services: &Services,
    upload: &Authorized<UploadRecord>,
    digest: &Digest,
    body: Body,
) -> Result<Response, RegistryError> {
    let (reader, client_failed) = body_reader(body);
    let mut reader = tokio::io::BufReader::new(reader);
    // Most clients PATCH the bytes and PUT an empty body: then there is nothing to append.
    let empty = tokio::io::AsyncBufReadExt::fill_buf(&mut reader)
        .await
        .map_err(|e| RegistryError::oci(ErrorCode::BlobUploadInvalid, e.to_string()))?
        .is_empty();
    if !empty {
        append_body(services, upload, None, &mut reader, &client_failed).await?;
    }
    services.registry().complete_upload(upload, digest).await?;
    Ok(blob_created(services, &upload.repository, digest))
}

fn blob_created(services: &Services, name: &RepositoryName, digest: &Digest) -> Response {
    let mut r = StatusCode::CREATED.into_response();
    set(
        &mut r,
        header::LOCATION.as_str(),
        &location(services, &format!("/v2/{name}/blobs/{digest}")),
    );
    set(&mut r, "docker-content-digest", digest.as_str());
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    r
}

fn upload_accepted(services: &Services, name: &RepositoryName, id: &str, len: u64) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    set(
        &mut r,
        header::LOCATION.as_str(),
        &location(services, &format!("/v2/{name}/blobs/uploads/{id}")),
    );
    set(&mut r, "docker-upload-uuid", id);
    // The spec's Range is inclusive; an empty upload reports 0-0 as distribution does.
    set(
        &mut r,
        header::RANGE.as_str(),
        &format!("0-{}", len.saturating_sub(1)),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    r
}

async fn get_blob(
    services: &Services,
    repo: &Authorized<RepositoryRecord>,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, RegistryError> {
    let size = services
        .registry()
        .blob_size(repo, digest)
        .await?
        .ok_or_else(|| RegistryError::oci(ErrorCode::BlobUnknown, "blob unknown to registry"))?;
    // RFC 9110 §14: a HEAD, or a Range this server does not honour, gets the whole blob.
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if !head => match berth_oci::parse_byte_range(v, size) {
            ByteRange::Full => None,
            ByteRange::Partial { start, end } => Some((start, end)),
            ByteRange::Unsatisfiable => {
                let mut r = json(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    error_body(ErrorCode::RangeInvalid, "range not satisfiable", None),
                );
                set(
                    &mut r,
                    header::CONTENT_RANGE.as_str(),
                    &format!("bytes */{size}"),
                );
                return Ok(r);
            }
        },
        _ => None,
    };
    let mut r = if head {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        r
    } else {
        let blob = services.registry().open_blob(repo, digest, range).await?;
        let len = blob.len;
        let mut r = Response::new(read_ahead(blob.reader));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if let Some((start, end)) = range {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                &mut r,
                header::CONTENT_RANGE.as_str(),
                &format!("bytes {start}-{end}/{size}"),
            );
        }
        r
    };
    set(
        &mut r,
        header::CONTENT_TYPE.as_str(),
        "application/octet-stream",
    );
    set(&mut r, "docker-content-digest", digest.as_str());
    set(&mut r, header::ACCEPT_RANGES.as_str(), "bytes");
    Ok(r)
}

fn page_params(query: &HashMap<String, String>) -> Result<(usize, Option<String>), RegistryError> {
    let n = match query.get("n") {
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                RegistryError::oci(
                    ErrorCode::PaginationNumberInvalid,
                    "invalid number of results requested",
                )
            })?
            .min(DEFAULT_TAGS_PAGE),
        None => DEFAULT_TAGS_PAGE,
    };
    Ok((n, query.get("last").cloned()))
}

async fn tags_list(
    services: &Services,
    repo: &Authorized<RepositoryRecord>,
    query: &HashMap<String, String>,
) -> Result<Response, RegistryError> {
    let name = &repo.name;
    let (n, last) = page_params(query)?;
    let mut tags = services
        .registry()
        .list_tags(repo, last.as_deref(), n + 1)
        .await?;
    let more = tags.len() > n;
    tags.truncate(n);
    let body = serde_json::json!({"name": name.as_str(), "tags": tags}).to_string();
    let mut r = json(StatusCode::OK, body);
    if more && let Some(last) = tags.last() {
        set(
            &mut r,
            header::LINK.as_str(),
            &format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\""),
        );
    }
    Ok(r)
}

async fn catalog(
    services: &Services,
    facts: &RequestFacts,
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<Response, RegistryError> {
    let catalog = services.registry().authorize_catalog(caller, facts).await?;
    let (n, last) = page_params(query)?;
    let after = match last {
        Some(l) => Some(
            RepositoryName::parse(&l)
                .map_err(|e| RegistryError::oci(ErrorCode::NameInvalid, e.to_string()))?,
        ),
        None => None,
    };
    let mut repos = services
        .registry()
        .catalog_page(&catalog, after.as_ref(), n + 1)
        .await?;
    let more = repos.len() > n;
    repos.truncate(n);
    let names: Vec<&str> = repos.iter().map(RepositoryName::as_str).collect();
    let mut r = json(
        StatusCode::OK,
        serde_json::json!({"repositories": names}).to_string(),
    );
    if more && let Some(last) = names.last() {
        set(
            &mut r,
            header::LINK.as_str(),
            &format!("</v2/_catalog?n={n}&last={last}>; rel=\"next\""),
        );
    }
    Ok(r)
}

fn location(services: &Services, path: &str) -> String {
    format!("{}{path}", services.config.public_url)
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    set(&mut r, header::CONTENT_TYPE.as_str(), "application/json");
    r
}

fn set(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

/// An error's status, OCI code, message and (for a 416) the upload's length.
fn error_parts(e: &RegistryError) -> (u16, ErrorCode, String, Option<u64>) {
    match e {
        RegistryError::Oci { code, message } => (code.status(), *code, message.clone(), None),
        RegistryError::RangeNotSatisfiable {
            message,
            current_len,
        } => (
            416,
            ErrorCode::BlobUploadInvalid,
            message.clone(),
            Some(*current_len),
        ),
        RegistryError::AccessDenied(d) => (403, ErrorCode::Denied, d.message.clone(), None),
        RegistryError::NoSuchEndpoint { status } => (
            *status,
            ErrorCode::Unsupported,
            "no such endpoint".into(),
            None,
        ),
        RegistryError::Internal(_) => (500, ErrorCode::Unknown, "internal error".into(), None),
    }
}

fn error_response(services: &Services, e: RegistryError) -> Response {
    if let RegistryError::Internal(i) = &e {
        tracing::error!(error = %i, "registry internal error");
    }
    let (status, code, message, range) = error_parts(&e);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json(status, error_body(code, &message, None));
    if status == StatusCode::UNAUTHORIZED {
        set(
            &mut r,
            header::WWW_AUTHENTICATE.as_str(),
            &format!(
                "Basic realm=\"{}/\",service=\"ecr.amazonaws.com\"",
                services.config.public_url
            ),
        );
    }
    if let Some(len) = range {
        set(
            &mut r,
            header::RANGE.as_str(),
            &format!("0-{}", len.saturating_sub(1)),
        );
    }
    r
}

#[cfg(test)]
mod query_tests {
    use super::*;

    fn query(uri: &str) -> HashMap<String, String> {
        let (parts, ()) = http::Request::get(uri).body(()).unwrap().into_parts();
        query_map(&parts)
    }

    #[test]
    fn plus_is_literal_and_percent_escapes_decode() {
        let q = query("/v2/a/referrers/x?artifactType=application/spdx+json&n=2&last=a%2Bb&flag");
        assert_eq!(q["artifactType"], "application/spdx+json");
        assert_eq!(q["n"], "2");
        assert_eq!(q["last"], "a+b");
        assert_eq!(q["flag"], "");
        let q = query("/v2/a/referrers/x?artifactType=application%2Fvnd.x%2Bjson");
        assert_eq!(q["artifactType"], "application/vnd.x+json");
        assert!(query("/v2/").is_empty());
    }
}
