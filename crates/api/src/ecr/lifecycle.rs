//! ECR lifecycle policy operations on the wire (botocore's `ecr` shapes).

use berth_core::Services;
use berth_core::authorizer::RequestFacts;
use berth_core::ecr::lifecycle_policy::PreviewResult;
use berth_core::ecr::operation::EcrOperation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ImageIdInput, RepoInput, check_limit, invalid, page, parse};
use crate::error::JsonError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    repository_name: String,
    lifecycle_policy_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartPreviewInput {
    repository_name: String,
    lifecycle_policy_text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PreviewFilter {
    tag_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetPreviewInput {
    repository_name: String,
    image_ids: Option<Vec<ImageIdInput>>,
    next_token: Option<String>,
    max_results: Option<usize>,
    filter: Option<PreviewFilter>,
}

pub(super) async fn operation(
    services: &Services,
    facts: &RequestFacts,
    caller: &berth_core::Caller,
    op: EcrOperation,
    input: &[u8],
) -> Result<Value, JsonError> {
    let registry_id = services.config.account_id.to_string();
    Ok(match op {
        EcrOperation::PutLifecyclePolicy => {
            let i: PutInput = parse(input)?;
            let r = services
                .ecr()
                .put_lifecycle_policy(caller, facts, &i.repository_name, &i.lifecycle_policy_text)
                .await?;
            json!({"registryId": registry_id, "repositoryName": r.name.as_str(),
                   "lifecyclePolicyText": i.lifecycle_policy_text})
        }
        EcrOperation::GetLifecyclePolicy | EcrOperation::DeleteLifecyclePolicy => {
            let i: RepoInput = parse(input)?;
            let r = if op == EcrOperation::GetLifecyclePolicy {
                services
                    .ecr()
                    .get_lifecycle_policy(caller, facts, &i.repository_name)
                    .await?
            } else {
                services
                    .ecr()
                    .delete_lifecycle_policy(caller, facts, &i.repository_name)
                    .await?
            };
            let mut out = json!({"registryId": registry_id, "repositoryName": r.repository.as_str(),
                                 "lifecyclePolicyText": r.text});
            if let Some(at) = r.last_evaluated_at {
                out["lastEvaluatedAt"] = json!(at);
            }
            out
        }
        EcrOperation::StartLifecyclePolicyPreview => {
            let i: StartPreviewInput = parse(input)?;
            let (r, text) = services
                .ecr()
                .start_lifecycle_policy_preview(
                    caller,
                    facts,
                    &i.repository_name,
                    i.lifecycle_policy_text.as_deref(),
                )
                .await?;
            json!({"registryId": registry_id, "repositoryName": r.name.as_str(),
                   "lifecyclePolicyText": text, "status": "COMPLETE"})
        }
        EcrOperation::GetLifecyclePolicyPreview => {
            let i: GetPreviewInput = parse(input)?;
            let limit = check_limit(i.max_results, 100)?;
            let tag_status = i.filter.unwrap_or_default().tag_status;
            if let Some(s) = tag_status.as_deref()
                && !matches!(s, "TAGGED" | "UNTAGGED" | "ANY")
            {
                return Err(invalid(format!(
                    "Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]' (got {s})"
                )));
            }
            let (r, text, results) = services
                .ecr()
                .get_lifecycle_policy_preview(caller, facts, &i.repository_name)
                .await?;
            let total = results.len();
            let ids = i.image_ids.unwrap_or_default();
            let selected: Vec<PreviewResult> = results
                .into_iter()
                .filter(|p| match tag_status.as_deref() {
                    Some("TAGGED") => !p.tags.is_empty(),
                    Some("UNTAGGED") => p.tags.is_empty(),
                    _ => true,
                })
                .filter(|p| {
                    ids.is_empty()
                        || ids.iter().any(|id| {
                            id.image_digest.as_deref().is_none_or(|d| d == p.digest)
                                && id
                                    .image_tag
                                    .as_deref()
                                    .is_none_or(|t| p.tags.iter().any(|x| x == t))
                        })
                })
                .collect();
            let (items, next) = page(selected, i.next_token.as_deref(), limit)?;
            let mut out = json!({
                "registryId": registry_id,
                "repositoryName": r.name.as_str(),
                "lifecyclePolicyText": text,
                "status": "COMPLETE",
                "previewResults": items.iter().map(preview_json).collect::<Vec<_>>(),
                "summary": {"expiringImageTotalCount": total},
            });
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            out
        }
        other => {
            return Err(invalid(format!(
                "operation `{}` is not a lifecycle operation",
                other.name()
            )));
        }
    })
}

fn preview_json(p: &PreviewResult) -> Value {
    let mut v = json!({
        "imageDigest": p.digest,
        "imagePushedAt": p.pushed_at,
        "action": {"type": "EXPIRE"},
        "appliedRulePriority": p.rule_priority,
        "storageClass": "STANDARD",
    });
    if !p.tags.is_empty() {
        v["imageTags"] = json!(p.tags);
    }
    v
}
