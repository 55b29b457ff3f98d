//! ECR's JSON 1.1 protocol: `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>`,
//! camelCase members as botocore's `ecr` model names them, timestamps as epoch seconds.

use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_core::Services;
use berth_core::authorizer::RequestFacts;
use berth_core::ecr::creation_template::{CreationTemplate, TemplateInput};
use berth_core::ecr::operation::EcrOperation;
use berth_core::ecr::pull_through_cache::{PullThroughRule, RuleInput};
use berth_core::ecr::{ExclusionFilter, ImageDeletion, ImageDetail, ImageId, ImageLookup};
use berth_core::model::RepositoryRecord;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::authenticate;
use crate::error::JsonError;

const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const DEFAULT_PAGE: usize = 100;

mod lifecycle;

/// The largest body an ECR request for `target` may have, decided from the header before
/// the body is read. An unknown target gets the small limit and then its error.
pub fn body_limit(target: &str) -> usize {
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(EcrOperation::from_name);
    match operation {
        // A part of up to 20 MiB, base64-encoded (4/3), with the other members.
        Some(EcrOperation::UploadLayerPart) => crate::MAX_CONTROL_BODY,
        // A manifest of up to 4 MiB (ECR's ImageManifest), JSON-escaped inside the body.
        Some(EcrOperation::PutImage) => 10 * 1024 * 1024,
        // Every other input is names, digests, tags and policies of at most 30,720
        // characters (a lifecycle policy), escaped: far below this.
        _ => 256 * 1024,
    }
}

pub async fn handle(
    services: &Services,
    facts: &RequestFacts,
    parts: &Parts,
    body: &Bytes,
    target: &str,
    request_id: &str,
) -> Response {
    let mut call = None;
    let mut handled = ("unknown", None);
    let result = async {
        let name = target
            .strip_prefix(TARGET_PREFIX)
            .ok_or_else(|| JsonError {
                status: StatusCode::BAD_REQUEST,
                type_name: "UnknownOperationException",
                message: format!("unknown target `{target}`"),
                extra: None,
                explanation: None,
            })?;
        let caller = authenticate(services, parts, body, "ecr").await?;
        let op = EcrOperation::from_name(name).ok_or_else(|| JsonError {
            status: StatusCode::BAD_REQUEST,
            type_name: "UnknownOperationException",
            message: format!("operation `{name}` is not supported"),
            extra: None,
            explanation: None,
        })?;
        handled = (op.name(), Some(caller.arn()));
        // Each operation reads its input straight into its typed struct: members it does
        // not know are skipped without being built, so a body's memory is its own size.
        let input: &[u8] = if body.is_empty() { b"{}" } else { body };
        let out = operation(services, facts, &caller, op, input).await;
        if crate::audit::recording(services) {
            call = Some(crate::audit::ecr_call(services, op.name(), caller, body));
        }
        out
    }
    .await;
    if let Some(mut call) = call {
        let failure = match &result {
            // CloudTrail keeps what a call changed, not what a read returned (a registry
            // password least of all).
            Ok(out) if !berth_core::audit::is_read_only(call.name) => {
                call.response_elements = Some(out.clone());
                None
            }
            Ok(_) => None,
            Err(e) => Some(crate::audit::failure(
                e.type_name,
                &e.message,
                e.explanation.clone(),
            )),
        };
        crate::audit::record(services, facts, request_id, call, failure).await;
    }
    let response = match result {
        Ok(v) => json_ok(&v, request_id),
        Err(e) => e.into_response(request_id),
    };
    crate::observe::handled(response, "ecr", handled.0, handled.1)
}

fn invalid(message: String) -> JsonError {
    JsonError {
        status: StatusCode::BAD_REQUEST,
        type_name: "InvalidParameterException",
        message,
        extra: None,
        explanation: None,
    }
}

/// The operation's input, read from the JSON body (an object; unknown members skipped).
/// Large bodies are read on a blocking-capable thread ([`crate::cpu_heavy`]).
fn parse<'a, T: Deserialize<'a>>(input: &'a [u8]) -> Result<T, JsonError> {
    crate::cpu_heavy(input.len(), || serde_json::from_slice(input))
        .map_err(|e| invalid(format!("Invalid parameter: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoInput {
    repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRepositoryInput {
    repository_name: String,
    image_tag_mutability: Option<String>,
    #[serde(default)]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    image_scanning_configuration: Option<ScanningConfiguration>,
    encryption_configuration: Option<EncryptionConfiguration>,
    #[serde(default)]
    tags: Vec<ResourceTag>,
}

/// Repositories are encrypted at rest with AES256 (the storage's own encryption, if any):
/// Berth has no KMS, so a request for KMS keys is refused rather than silently ignored.
fn check_encryption(configuration: Option<&EncryptionConfiguration>) -> Result<(), JsonError> {
    let Some(c) = configuration else {
        return Ok(());
    };
    match (c.encryption_type.as_str(), &c.kms_key) {
        ("AES256", None) => Ok(()),
        ("AES256", Some(_)) => Err(invalid(
            "Invalid parameter: a kmsKey can only be given with the KMS or KMS_DSSE encryption type"
                .into(),
        )),
        ("KMS" | "KMS_DSSE", _) => Err(berth_core::error::EcrError::Kms(
            "Berth has no KMS: repositories are encrypted with AES256 only. Leave out encryptionConfiguration, or set encryptionType to AES256."
                .into(),
        )
        .into()),
        (other, _) => Err(berth_core::error::EcrError::Validation(format!(
            "1 validation error detected: Value '{other}' at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]"
        ))
        .into()),
    }
}

/// ECR's `Tag` shape: capitalised members, unlike the rest of the API.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceTag {
    key: String,
    value: String,
}

fn tag_pairs(tags: Vec<ResourceTag>) -> Vec<(String, String)> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagResourceInput {
    resource_arn: String,
    tags: Vec<ResourceTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntagResourceInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceInput {
    resource_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanningConfiguration {
    #[serde(default)]
    scan_on_push: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRepositoriesInput {
    #[serde(default)]
    repository_names: Vec<String>,
    next_token: Option<String>,
    max_results: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteRepositoryInput {
    repository_name: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerDigestsInput {
    repository_name: String,
    layer_digests: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadLayerPartInput<'a> {
    repository_name: String,
    upload_id: String,
    part_first_byte: i64,
    part_last_byte: i64,
    /// Base64 has no characters JSON must escape: borrowed from the body, not copied.
    #[serde(borrow)]
    layer_part_blob: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteLayerUploadInput {
    repository_name: String,
    upload_id: String,
    layer_digests: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutImageInput {
    repository_name: String,
    image_manifest: String,
    image_manifest_media_type: Option<String>,
    image_tag: Option<String>,
    image_digest: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ImageIdInput {
    image_digest: Option<String>,
    image_tag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchDeleteImageInput {
    repository_name: String,
    image_ids: Vec<ImageIdInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetRepositoryPolicyInput {
    repository_name: String,
    policy_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutImageScanningConfigurationInput {
    repository_name: String,
    image_scanning_configuration: ScanningConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepositoryNamesInput {
    repository_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageScanInput {
    repository_name: String,
    image_id: ImageIdInput,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListImageReferrersInput {
    repository_name: String,
    subject_id: SubjectId,
    filter: Option<ReferrersFilter>,
    next_token: Option<String>,
    max_results: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectId {
    image_digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersFilter {
    #[serde(default)]
    artifact_types: Vec<String>,
    artifact_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryPolicyInput {
    policy_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountSettingInput {
    name: String,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutRegistryScanningConfigurationInput {
    scan_type: Option<String>,
    #[serde(default)]
    rules: Vec<berth_core::ecr::registry_settings::RegistryScanningRule>,
}

/// CreateRepository's `encryptionConfiguration`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EncryptionConfiguration {
    encryption_type: String,
    kms_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutImageTagMutabilityInput {
    repository_name: String,
    image_tag_mutability: String,
    #[serde(default)]
    image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGetImageInput {
    repository_name: String,
    image_ids: Vec<ImageIdInput>,
    #[serde(default)]
    accepted_media_types: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ImageFilter {
    tag_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListImagesInput {
    repository_name: String,
    filter: Option<ImageFilter>,
    next_token: Option<String>,
    max_results: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeImagesInput {
    repository_name: String,
    #[serde(default)]
    image_ids: Vec<ImageIdInput>,
    filter: Option<ImageFilter>,
    next_token: Option<String>,
    max_results: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetDownloadUrlInput {
    repository_name: String,
    layer_digest: String,
}

fn image_id(id: ImageIdInput) -> ImageId {
    ImageId {
        digest: id.image_digest,
        tag: id.image_tag,
    }
}

fn image_ids(ids: Vec<ImageIdInput>) -> Vec<ImageId> {
    ids.into_iter().map(image_id).collect()
}

fn check_limit(max: Option<usize>, upper: usize) -> Result<usize, JsonError> {
    match max {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=upper).contains(&n) => Ok(n),
        Some(n) => Err(invalid(format!(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and {upper}' (got {n})"
        ))),
    }
}

/// Offset-based page tokens over a list computed per request.
fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), JsonError> {
    let start = match token {
        Some(t) => t.parse::<usize>().map_err(|_| {
            invalid("Invalid parameter at 'nextToken': the token is not valid".into())
        })?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + limit < total).then(|| (start + limit).to_string());
    Ok((page, next))
}

async fn operation(
    services: &Services,
    facts: &RequestFacts,
    caller: &berth_core::Caller,
    op: EcrOperation,
    input: &[u8],
) -> Result<Value, JsonError> {
    let registry_id = services.config.account_id.to_string();
    Ok(match op {
        EcrOperation::GetAuthorizationToken => {
            let data = services
                .ecr()
                .get_authorization_token(caller, facts)
                .await?;
            json!({"authorizationData": [{
                "authorizationToken": data.authorization_token,
                "expiresAt": data.expires_at,
                "proxyEndpoint": data.proxy_endpoint,
            }]})
        }
        EcrOperation::CreateRepository => {
            let i: CreateRepositoryInput = parse(input)?;
            check_encryption(i.encryption_configuration.as_ref())?;
            let scan = i
                .image_scanning_configuration
                .is_some_and(|s| s.scan_on_push);
            let tags = tag_pairs(i.tags);
            berth_core::ecr_tags::validate_tags(&tags)?;
            let r = services
                .ecr()
                .create_repository(
                    caller,
                    facts,
                    &i.repository_name,
                    i.image_tag_mutability.as_deref(),
                    &i.image_tag_mutability_exclusion_filters,
                    scan,
                )
                .await?;
            services
                .ecr()
                .tag_new_repository(caller, facts, r.name.as_str(), &tags)
                .await?;
            json!({"repository": repository_json(services, &r)})
        }
        EcrOperation::TagResource => {
            let i: TagResourceInput = parse(input)?;
            services
                .ecr()
                .tag_resource(caller, facts, &i.resource_arn, &tag_pairs(i.tags))
                .await?;
            json!({})
        }
        EcrOperation::UntagResource => {
            let i: UntagResourceInput = parse(input)?;
            services
                .ecr()
                .untag_resource(caller, facts, &i.resource_arn, &i.tag_keys)
                .await?;
            json!({})
        }
        EcrOperation::ListTagsForResource => {
            let i: ResourceInput = parse(input)?;
            let tags = services
                .ecr()
                .list_tags_for_resource(caller, facts, &i.resource_arn)
                .await?;
            let tags: Vec<ResourceTag> = tags
                .into_iter()
                .map(|(key, value)| ResourceTag { key, value })
                .collect();
            json!({"tags": tags})
        }
        EcrOperation::DescribeRepositories => {
            let i: DescribeRepositoriesInput = parse(input)?;
            if !i.repository_names.is_empty() && (i.next_token.is_some() || i.max_results.is_some())
            {
                return Err(invalid("Invalid parameter: nextToken and maxResults cannot be used with repositoryNames".into()));
            }
            let limit = check_limit(i.max_results, 1000)?;
            let (repos, more) = services
                .ecr()
                .describe_repositories(
                    caller,
                    facts,
                    &i.repository_names,
                    i.next_token.as_deref(),
                    limit,
                )
                .await?;
            let mut out = json!({"repositories": repos.iter().map(|r| repository_json(services, r)).collect::<Vec<_>>()});
            if more && let Some(last) = repos.last() {
                out["nextToken"] = json!(last.name.as_str());
            }
            out
        }
        EcrOperation::DeleteRepository => {
            let i: DeleteRepositoryInput = parse(input)?;
            let r = services
                .ecr()
                .delete_repository(caller, facts, &i.repository_name, i.force)
                .await?;
            json!({"repository": repository_json(services, &r)})
        }
        EcrOperation::BatchCheckLayerAvailability => {
            let i: LayerDigestsInput = parse(input)?;
            if i.layer_digests.is_empty() || i.layer_digests.len() > 100 {
                return Err(invalid("Invalid parameter at 'layerDigests' failed to satisfy constraint: 'Member must have length between 1 and 100'".into()));
            }
            let results = services
                .ecr()
                .batch_check_layer_availability(caller, facts, &i.repository_name, &i.layer_digests)
                .await?;
            let mut layers = Vec::new();
            let mut failures = Vec::new();
            for r in results {
                match r.size {
                    Some(Some(size)) => layers.push(json!({
                        "layerDigest": r.digest,
                        "layerAvailability": "AVAILABLE",
                        "layerSize": size,
                        "mediaType": berth_oci::media_types::OCTET_STREAM,
                    })),
                    Some(None) => failures.push(json!({
                        "layerDigest": r.digest,
                        "failureCode": "MissingLayerDigest",
                        "failureReason": "Could not find the requested digest in the repository.",
                    })),
                    None => failures.push(json!({
                        "layerDigest": r.digest,
                        "failureCode": "InvalidLayerDigest",
                        "failureReason": "Invalid layer digest",
                    })),
                }
            }
            json!({"layers": layers, "failures": failures})
        }
        EcrOperation::InitiateLayerUpload => {
            let i: RepoInput = parse(input)?;
            let (id, part_size) = services
                .ecr()
                .initiate_layer_upload(caller, facts, &i.repository_name)
                .await?;
            json!({"uploadId": id, "partSize": part_size})
        }
        EcrOperation::UploadLayerPart => {
            let i: UploadLayerPartInput = parse(input)?;
            let encoded = i.layer_part_blob.as_bytes();
            let blob = crate::cpu_heavy(encoded.len(), || {
                base64::engine::general_purpose::STANDARD.decode(encoded)
            })
            .map_err(|_| {
                invalid("Invalid parameter at 'layerPartBlob': not valid base64".into())
            })?;
            if blob.len() > 20 * 1024 * 1024 {
                return Err(invalid("Invalid parameter at 'layerPartBlob' failed to satisfy constraint: 'Member must have length less than or equal to 20971520'".into()));
            }
            let last = services
                .ecr()
                .upload_layer_part(
                    caller,
                    facts,
                    &berth_core::ecr::UploadLayerPartInput {
                        repository_name: &i.repository_name,
                        upload_id: &i.upload_id,
                        part_first_byte: i.part_first_byte,
                        part_last_byte: i.part_last_byte,
                        layer_part_blob: &blob,
                    },
                )
                .await?;
            json!({"registryId": registry_id, "repositoryName": i.repository_name, "uploadId": i.upload_id, "lastByteReceived": last})
        }
        EcrOperation::CompleteLayerUpload => {
            let i: CompleteLayerUploadInput = parse(input)?;
            let digest = services
                .ecr()
                .complete_layer_upload(
                    caller,
                    facts,
                    &i.repository_name,
                    &i.upload_id,
                    &i.layer_digests,
                )
                .await?;
            json!({"registryId": registry_id, "repositoryName": i.repository_name, "uploadId": i.upload_id, "layerDigest": digest})
        }
        EcrOperation::PutImage => {
            let i: PutImageInput = parse(input)?;
            let (record, tag) = services
                .ecr()
                .put_image(
                    caller,
                    facts,
                    &berth_core::ecr::PutImageInput {
                        repository_name: &i.repository_name,
                        image_manifest: &i.image_manifest,
                        image_manifest_media_type: i.image_manifest_media_type.as_deref(),
                        image_tag: i.image_tag.as_deref(),
                        image_digest: i.image_digest.as_deref(),
                    },
                )
                .await?;
            json!({"image": {
                "registryId": registry_id,
                "repositoryName": i.repository_name,
                "imageId": image_id_json(record.digest.as_str(), tag.as_deref()),
                "imageManifest": i.image_manifest,
                "imageManifestMediaType": record.media_type,
            }})
        }
        EcrOperation::BatchGetImage => {
            let i: BatchGetImageInput = parse(input)?;
            if i.image_ids.is_empty() || i.image_ids.len() > 100 {
                return Err(invalid("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length between 1 and 100'".into()));
            }
            let results = services
                .ecr()
                .batch_get_image(
                    caller,
                    facts,
                    &i.repository_name,
                    &image_ids(i.image_ids),
                    &i.accepted_media_types,
                )
                .await?;
            let mut images = Vec::new();
            let mut failures = Vec::new();
            for r in results {
                match r {
                    ImageLookup::Found(m, tag) => images.push(json!({
                        "registryId": registry_id,
                        "repositoryName": i.repository_name,
                        "imageId": image_id_json(m.record.digest.as_str(), tag.as_deref()),
                        "imageManifest": String::from_utf8_lossy(&m.bytes),
                        "imageManifestMediaType": m.record.media_type,
                    })),
                    ImageLookup::Failed {
                        digest,
                        tag,
                        code,
                        reason,
                    } => failures.push(json!({
                        "imageId": image_id_json_opt(digest.as_deref(), tag.as_deref()),
                        "failureCode": code,
                        "failureReason": reason,
                    })),
                }
            }
            json!({"images": images, "failures": failures})
        }
        EcrOperation::BatchDeleteImage => {
            let i: BatchDeleteImageInput = parse(input)?;
            if i.image_ids.is_empty() || i.image_ids.len() > 100 {
                return Err(invalid("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length between 1 and 100'".into()));
            }
            let results = services
                .ecr()
                .batch_delete_image(caller, facts, &i.repository_name, &image_ids(i.image_ids))
                .await?;
            let mut deleted = Vec::new();
            let mut failures = Vec::new();
            for r in results {
                match r {
                    ImageDeletion::Deleted { digest, tag } => {
                        deleted.push(image_id_json(&digest, tag.as_deref()));
                    }
                    ImageDeletion::Failed {
                        digest,
                        tag,
                        code,
                        reason,
                    } => failures.push(json!({
                        "imageId": image_id_json_opt(digest.as_deref(), tag.as_deref()),
                        "failureCode": code,
                        "failureReason": reason,
                    })),
                }
            }
            json!({"imageIds": deleted, "failures": failures})
        }
        EcrOperation::PutImageTagMutability => {
            let i: PutImageTagMutabilityInput = parse(input)?;
            let r = services
                .ecr()
                .put_image_tag_mutability(
                    caller,
                    facts,
                    &i.repository_name,
                    &i.image_tag_mutability,
                    &i.image_tag_mutability_exclusion_filters,
                )
                .await?;
            let mut out = json!({
                "registryId": registry_id,
                "repositoryName": r.name.as_str(),
                "imageTagMutability": r.image_tag_mutability.as_str(),
            });
            if !r.tag_mutability_exclusions.is_empty() {
                out["imageTagMutabilityExclusionFilters"] =
                    json!(ExclusionFilter::wildcards(&r.tag_mutability_exclusions));
            }
            out
        }
        EcrOperation::SetRepositoryPolicy => {
            let i: SetRepositoryPolicyInput = parse(input)?;
            if i.policy_text.len() > 10_240 {
                return Err(invalid("Invalid parameter at 'policyText' failed to satisfy constraint: 'Member must have length less than or equal to 10240'".into()));
            }
            let r = services
                .ecr()
                .set_repository_policy(caller, facts, &i.repository_name, &i.policy_text)
                .await?;
            policy_json(&registry_id, &r.name, &i.policy_text)
        }
        EcrOperation::CreateRepositoryCreationTemplate
        | EcrOperation::UpdateRepositoryCreationTemplate => {
            let i: TemplateInput = parse(input)?;
            let ecr = services.ecr();
            let template = if op == EcrOperation::CreateRepositoryCreationTemplate {
                ecr.create_repository_creation_template(caller, facts, i)
                    .await?
            } else {
                ecr.update_repository_creation_template(caller, facts, i)
                    .await?
            };
            json!({"registryId": registry_id, "repositoryCreationTemplate": template_json(&template)})
        }
        EcrOperation::DeleteRepositoryCreationTemplate => {
            #[derive(Deserialize)]
            struct PrefixInput {
                prefix: String,
            }
            let i: PrefixInput = parse(input)?;
            let template = services
                .ecr()
                .delete_repository_creation_template(caller, facts, &i.prefix)
                .await?;
            json!({"registryId": registry_id, "repositoryCreationTemplate": template_json(&template)})
        }
        EcrOperation::DescribeRepositoryCreationTemplates => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct DescribeTemplatesInput {
                #[serde(default)]
                prefixes: Vec<String>,
                next_token: Option<String>,
                max_results: Option<usize>,
            }
            let i: DescribeTemplatesInput = parse(input)?;
            let limit = check_limit(i.max_results, 1000)?;
            let templates = services
                .ecr()
                .describe_repository_creation_templates(caller, facts, &i.prefixes)
                .await?;
            let (items, next) = page(templates, i.next_token.as_deref(), limit)?;
            let mut out = json!({
                "registryId": registry_id,
                "repositoryCreationTemplates": items.iter().map(template_json).collect::<Vec<_>>(),
            });
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            out
        }
        EcrOperation::CreatePullThroughCacheRule => {
            let i: RuleInput = parse(input)?;
            let rule = services
                .ecr()
                .create_pull_through_cache_rule(caller, facts, i)
                .await?;
            let mut out = rule_json(&registry_id, &rule);
            if let Some(o) = out.as_object_mut() {
                o.remove("updatedAt");
            }
            out
        }
        EcrOperation::DescribePullThroughCacheRules => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct DescribeRulesInput {
                #[serde(default)]
                ecr_repository_prefixes: Vec<String>,
                next_token: Option<String>,
                max_results: Option<usize>,
            }
            let i: DescribeRulesInput = parse(input)?;
            let limit = check_limit(i.max_results, 1000)?;
            let rules = services
                .ecr()
                .describe_pull_through_cache_rules(caller, facts, &i.ecr_repository_prefixes)
                .await?;
            let (items, next) = page(rules, i.next_token.as_deref(), limit)?;
            let mut out = json!({
                "pullThroughCacheRules": items.iter().map(|r| rule_json(&registry_id, r)).collect::<Vec<_>>(),
            });
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            out
        }
        EcrOperation::UpdatePullThroughCacheRule => {
            let i: RuleInput = parse(input)?;
            let rule = services
                .ecr()
                .update_pull_through_cache_rule(caller, facts, i)
                .await?;
            let mut out = rule_json(&registry_id, &rule);
            if let Some(o) = out.as_object_mut() {
                o.remove("createdAt");
                o.remove("upstreamRegistryUrl");
                o.remove("upstreamRegistry");
            }
            out
        }
        EcrOperation::DeletePullThroughCacheRule => {
            let i: RuleInput = parse(input)?;
            let rule = services
                .ecr()
                .delete_pull_through_cache_rule(caller, facts, &i.ecr_repository_prefix)
                .await?;
            let mut out = rule_json(&registry_id, &rule);
            if let Some(o) = out.as_object_mut() {
                o.remove("updatedAt");
                o.remove("upstreamRegistry");
            }
            out
        }
        EcrOperation::ValidatePullThroughCacheRule => {
            let i: RuleInput = parse(input)?;
            let (rule, failure) = services
                .ecr()
                .validate_pull_through_cache_rule(caller, facts, &i.ecr_repository_prefix)
                .await?;
            let mut out = rule_json(&registry_id, &rule);
            if let Some(o) = out.as_object_mut() {
                o.remove("createdAt");
                o.remove("updatedAt");
                o.remove("upstreamRegistry");
                o.insert("isValid".into(), json!(failure.is_none()));
                if let Some(failure) = failure {
                    o.insert("failure".into(), json!(failure));
                }
            }
            out
        }
        EcrOperation::ListImageReferrers => {
            let i: ListImageReferrersInput = parse(input)?;
            let limit = check_limit(i.max_results, 50)?;
            let filter = i.filter.unwrap_or(ReferrersFilter {
                artifact_types: Vec::new(),
                artifact_status: None,
            });
            let referrers = services
                .ecr()
                .list_image_referrers(
                    caller,
                    facts,
                    &i.repository_name,
                    &i.subject_id.image_digest,
                    &filter.artifact_types,
                )
                .await?;
            // Nothing is ever archived: every referrer is ACTIVE.
            let referrers = match filter.artifact_status.as_deref() {
                None | Some("ACTIVE" | "ANY") => referrers,
                Some("ARCHIVED" | "ACTIVATING") => Vec::new(),
                Some(other) => {
                    return Err(invalid(format!(
                        "Invalid parameter at 'filter.artifactStatus': '{other}' is not one of ACTIVE, ARCHIVED, ACTIVATING, ANY"
                    )));
                }
            };
            let (items, next) = page(referrers, i.next_token.as_deref(), limit)?;
            let mut out = json!({"referrers": items.iter().map(|d| {
                let mut r = json!({
                    "digest": d.digest.as_str(),
                    "mediaType": d.media_type,
                    "size": d.size,
                    "artifactStatus": "ACTIVE",
                });
                if let Some(t) = &d.artifact_type {
                    r["artifactType"] = json!(t);
                }
                if !d.annotations.is_empty() {
                    r["annotations"] = json!(d.annotations);
                }
                r
            }).collect::<Vec<_>>()});
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            out
        }
        EcrOperation::PutImageScanningConfiguration => {
            let i: PutImageScanningConfigurationInput = parse(input)?;
            let r = services
                .ecr()
                .put_image_scanning_configuration(
                    caller,
                    facts,
                    &i.repository_name,
                    i.image_scanning_configuration.scan_on_push,
                )
                .await?;
            json!({
                "registryId": registry_id,
                "repositoryName": r.name.as_str(),
                "imageScanningConfiguration": {"scanOnPush": r.scan_on_push},
            })
        }
        EcrOperation::BatchGetRepositoryScanningConfiguration => {
            let i: RepositoryNamesInput = parse(input)?;
            let (found, missing) = services
                .ecr()
                .batch_get_repository_scanning_configuration(caller, facts, &i.repository_names)
                .await?;
            json!({
                "scanningConfigurations": found.iter().map(|c| json!({
                    "repositoryArn": services.config.repository_arn(c.repository.name.as_str()),
                    "repositoryName": c.repository.name.as_str(),
                    "scanOnPush": c.repository.scan_on_push,
                    "scanFrequency": c.scan_frequency,
                    "appliedScanFilters": c.applied_filters,
                })).collect::<Vec<_>>(),
                "failures": missing.iter().map(|name| json!({
                    "repositoryName": name,
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": "REPOSITORY_NOT_FOUND",
                })).collect::<Vec<_>>(),
            })
        }
        EcrOperation::PutRegistryScanningConfiguration => {
            let i: PutRegistryScanningConfigurationInput = parse(input)?;
            let configuration = services
                .ecr()
                .put_registry_scanning_configuration(
                    caller,
                    facts,
                    berth_core::ecr::registry_settings::RegistryScanningConfiguration {
                        scan_type: i.scan_type.unwrap_or_else(|| "BASIC".into()),
                        rules: i.rules,
                    },
                )
                .await?;
            json!({"registryScanningConfiguration": configuration})
        }
        EcrOperation::GetRegistryScanningConfiguration => {
            let configuration = services
                .ecr()
                .get_registry_scanning_configuration(caller, facts)
                .await?;
            json!({"registryId": registry_id, "scanningConfiguration": configuration})
        }
        EcrOperation::StartImageScan => {
            let i: ImageScanInput = parse(input)?;
            services
                .ecr()
                .start_image_scan(caller, facts, &i.repository_name, &image_id(i.image_id))
                .await?;
            json!({})
        }
        EcrOperation::DescribeImageScanFindings => {
            let i: ImageScanInput = parse(input)?;
            services
                .ecr()
                .describe_image_scan_findings(
                    caller,
                    facts,
                    &i.repository_name,
                    &image_id(i.image_id),
                )
                .await?;
            json!({})
        }
        EcrOperation::PutRegistryPolicy => {
            let i: RegistryPolicyInput = parse(input)?;
            services
                .ecr()
                .put_registry_policy(caller, facts, &i.policy_text)
                .await?;
            json!({"registryId": registry_id, "policyText": i.policy_text})
        }
        EcrOperation::GetRegistryPolicy => {
            let text = services.ecr().get_registry_policy(caller, facts).await?;
            json!({"registryId": registry_id, "policyText": text})
        }
        EcrOperation::DeleteRegistryPolicy => {
            let text = services.ecr().delete_registry_policy(caller, facts).await?;
            json!({"registryId": registry_id, "policyText": text})
        }
        EcrOperation::DescribeRegistry => {
            services.ecr().describe_registry(caller, facts).await?;
            json!({"registryId": registry_id, "replicationConfiguration": {"rules": []}})
        }
        EcrOperation::GetAccountSetting => {
            let i: AccountSettingInput = parse(input)?;
            let value = services
                .ecr()
                .get_account_setting(caller, facts, &i.name)
                .await?;
            json!({"name": i.name, "value": value})
        }
        EcrOperation::PutAccountSetting => {
            let i: AccountSettingInput = parse(input)?;
            let value = i
                .value
                .ok_or_else(|| invalid("Invalid parameter: value is required".into()))?;
            services
                .ecr()
                .put_account_setting(caller, facts, &i.name, &value)
                .await?;
            json!({"name": i.name, "value": value})
        }
        EcrOperation::GetRepositoryPolicy => {
            let i: RepoInput = parse(input)?;
            let (r, text) = services
                .ecr()
                .get_repository_policy(caller, facts, &i.repository_name)
                .await?;
            policy_json(&registry_id, &r.name, &text)
        }
        EcrOperation::DeleteRepositoryPolicy => {
            let i: RepoInput = parse(input)?;
            let (r, text) = services
                .ecr()
                .delete_repository_policy(caller, facts, &i.repository_name)
                .await?;
            policy_json(&registry_id, &r.name, &text)
        }
        EcrOperation::PutLifecyclePolicy
        | EcrOperation::GetLifecyclePolicy
        | EcrOperation::DeleteLifecyclePolicy
        | EcrOperation::StartLifecyclePolicyPreview
        | EcrOperation::GetLifecyclePolicyPreview => {
            lifecycle::operation(services, facts, caller, op, input).await?
        }
        EcrOperation::ListImages => {
            let i: ListImagesInput = parse(input)?;
            let limit = check_limit(i.max_results, 1000)?;
            let status = i.filter.unwrap_or_default().tag_status;
            let (items, next) = services
                .ecr()
                .list_images(
                    caller,
                    facts,
                    &i.repository_name,
                    status.as_deref(),
                    i.next_token.as_deref(),
                    limit,
                )
                .await?;
            let mut out = json!({"imageIds": items.iter().map(|(d, t)| image_id_json(d, t.as_deref())).collect::<Vec<_>>()});
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            out
        }
        EcrOperation::DescribeImages => {
            let i: DescribeImagesInput = parse(input)?;
            if !i.image_ids.is_empty() && (i.next_token.is_some() || i.max_results.is_some()) {
                return Err(invalid(
                    "Invalid parameter: nextToken and maxResults cannot be used with imageIds"
                        .into(),
                ));
            }
            let limit = check_limit(i.max_results, 1000)?;
            let status = i.filter.unwrap_or_default().tag_status;
            let (items, next) = services
                .ecr()
                .describe_images(
                    caller,
                    facts,
                    &i.repository_name,
                    &image_ids(i.image_ids),
                    status.as_deref(),
                    i.next_token.as_deref(),
                    limit,
                )
                .await?;
            let mut out = json!({"imageDetails": items.iter().map(|d| image_detail_json(&registry_id, d)).collect::<Vec<_>>()});
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            out
        }
        EcrOperation::GetDownloadUrlForLayer => {
            let i: GetDownloadUrlInput = parse(input)?;
            let url = services
                .ecr()
                .get_download_url_for_layer(caller, facts, &i.repository_name, &i.layer_digest)
                .await?;
            json!({"downloadUrl": url, "layerDigest": i.layer_digest})
        }
    })
}

fn image_id_json(digest: &str, tag: Option<&str>) -> Value {
    image_id_json_opt(Some(digest), tag)
}

fn image_id_json_opt(digest: Option<&str>, tag: Option<&str>) -> Value {
    let mut v = json!({});
    if let Some(d) = digest {
        v["imageDigest"] = json!(d);
    }
    if let Some(t) = tag {
        v["imageTag"] = json!(t);
    }
    v
}

/// A pull-through cache rule as ECR shows it (each operation's output leaves out what
/// its shape does not have).
fn rule_json(registry_id: &str, r: &PullThroughRule) -> Value {
    let mut v = json!({
        "ecrRepositoryPrefix": r.prefix,
        "upstreamRegistryUrl": r.settings.upstream_registry_url,
        "registryId": registry_id,
        "upstreamRepositoryPrefix": r.settings.upstream_repository_prefix,
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
    });
    if let Some(upstream) = &r.settings.upstream_registry {
        v["upstreamRegistry"] = json!(upstream);
    }
    v
}

fn template_json(t: &CreationTemplate) -> Value {
    let mut v = serde_json::to_value(&t.settings).unwrap_or_else(|_| json!({}));
    v["prefix"] = json!(t.prefix);
    v["createdAt"] = json!(t.created_at);
    v["updatedAt"] = json!(t.updated_at);
    v
}

fn policy_json(registry_id: &str, name: &berth_types::RepositoryName, text: &str) -> Value {
    json!({"registryId": registry_id, "repositoryName": name.as_str(), "policyText": text})
}

fn repository_json(services: &Services, r: &RepositoryRecord) -> Value {
    let mut repository = json!({
        "repositoryArn": services.config.repository_arn(r.name.as_str()),
        "registryId": services.config.account_id.as_str(),
        "repositoryName": r.name.as_str(),
        "repositoryUri": format!("{}/{}", services.config.registry_host(), r.name),
        "createdAt": r.created_at,
        "imageTagMutability": r.image_tag_mutability.as_str(),
        "imageScanningConfiguration": {"scanOnPush": r.scan_on_push},
        "encryptionConfiguration": {"encryptionType": r.encryption_type},
    });
    if !r.tag_mutability_exclusions.is_empty() {
        repository["imageTagMutabilityExclusionFilters"] =
            json!(ExclusionFilter::wildcards(&r.tag_mutability_exclusions));
    }
    repository
}

fn image_detail_json(registry_id: &str, detail: &ImageDetail) -> Value {
    let (m, tags) = (&detail.manifest, &detail.tags);
    let mut v = json!({
        "registryId": registry_id,
        "repositoryName": m.repository.as_str(),
        "imageDigest": m.digest.as_str(),
        "imageSizeInBytes": m.image_size,
        "imagePushedAt": m.pushed_at,
        "imageManifestMediaType": m.media_type,
        "imageStatus": "ACTIVE",
    });
    if !tags.is_empty() {
        v["imageTags"] = json!(tags);
    }
    if let Some(a) = &m.artifact_type {
        v["artifactMediaType"] = json!(a);
    }
    if let Some(s) = &m.subject {
        v["subjectManifestDigest"] = json!(s.as_str());
    }
    if let Some(at) = detail.last_pulled_at {
        v["lastRecordedPullTime"] = json!(at);
    }
    v
}

pub(crate) fn json_ok(v: &Value, request_id: &str) -> Response {
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    set_headers(&mut r, request_id);
    r
}

pub fn json_error(e: JsonError, request_id: &str) -> Response {
    let mut body = json!({"__type": e.type_name, "message": e.message});
    if let (Some(Value::Object(extra)), Some(map)) = (e.extra, body.as_object_mut()) {
        map.extend(extra);
    }
    let mut r = (e.status, body.to_string()).into_response();
    set_headers(&mut r, request_id);
    if let Ok(v) = HeaderValue::from_str(e.type_name) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn set_headers(r: &mut Response, request_id: &str) {
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
}
