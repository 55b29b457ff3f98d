//! What the api tells the audit trail about each call, in CloudTrail's shapes: the
//! request's parameters with camelCase members, the response elements, the resources.
//! Core's `audit` module completes, scrubs and stores the record.

use std::collections::BTreeMap;

use berth_core::audit::{ApiCall, CallError, EventSource, TrailResource, UserIdentity};
use berth_core::authorizer::RequestFacts;
use berth_core::{Caller, Services};
use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::query::Params;
pub(crate) use crate::query::recorded::query_parameters;

/// Members of a JSON request longer than this are recorded as a note of their size, not
/// parsed (a manifest is, at 4 MiB; a layer part is never read at all).
const MAX_PARSED_MEMBER: usize = 64 * 1024;

/// A call's outcome, in its protocol's words, with a denial's explanation.
pub(crate) fn failure(code: &str, message: &str, explanation: Option<String>) -> Failure {
    Failure {
        error: CallError {
            code: code.to_owned(),
            message: message.to_owned(),
        },
        explanation,
    }
}

pub(crate) struct Failure {
    pub error: CallError,
    pub explanation: Option<String>,
}

/// Completes `call` with the request id and the outcome, and records it.
pub(crate) async fn record(
    services: &Services,
    facts: &RequestFacts,
    request_id: &str,
    mut call: ApiCall,
    outcome: Option<Failure>,
) {
    call.request_id = request_id.to_owned();
    if let Some(failure) = outcome {
        call.additional.denial_explanation = failure.explanation;
        call.error = Some(failure.error);
        call.response_elements = None;
    }
    services.audit(facts, call).await;
}

pub(crate) fn recording(services: &Services) -> bool {
    services.audit_trail.is_enabled()
}

/// A JSON request's members, without parsing the large ones (a layer part is never read).
pub(crate) fn json_parameters(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    let members: BTreeMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    let mut recorded = Map::new();
    for (name, raw) in members {
        // Secrets and layer bytes are never read, let alone kept.
        if berth_core::audit::never_recorded(&name) {
            continue;
        }
        let text = raw.get();
        let value = if text.len() > MAX_PARSED_MEMBER {
            Value::String(format!("({} bytes, not recorded)", text.len()))
        } else {
            serde_json::from_str(text).unwrap_or(Value::Null)
        };
        recorded.insert(name, value);
    }
    Some(Value::Object(recorded))
}

/// The resources an IAM request names by its parameters.
fn iam_resources(account: &str, params: &Params) -> Vec<TrailResource> {
    let mut resources = Vec::new();
    if let Some(role) = params.get("RoleName") {
        resources.push(TrailResource::role(
            account,
            &format!("arn:aws:iam::{account}:role/{role}"),
        ));
    }
    for (parameter, resource_type) in [
        ("PolicyArn", "AWS::IAM::Policy"),
        ("OpenIDConnectProviderArn", "AWS::IAM::OIDCProvider"),
    ] {
        if let Some(arn) = params.get(parameter) {
            resources.push(TrailResource {
                arn: arn.to_owned(),
                account_id: account.to_owned(),
                resource_type,
                name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            });
        }
    }
    resources
}

/// The repository an ECR request names (`repositoryName`, or a repository ARN).
fn ecr_resources(account: &str, region: &str, parameters: Option<&Value>) -> Vec<TrailResource> {
    let name = parameters.and_then(|p| {
        p.get("repositoryName").and_then(Value::as_str).or_else(|| {
            p.get("resourceArn")
                .and_then(Value::as_str)
                .and_then(|arn| arn.split_once(":repository/"))
                .map(|(_, name)| name)
        })
    });
    name.map(|name| TrailResource::repository(account, region, name))
        .into_iter()
        .collect()
}

pub(crate) fn repository(services: &Services, name: &str) -> TrailResource {
    TrailResource::repository(
        services.config.account_id.as_str(),
        &services.config.region,
        name,
    )
}

/// A Query call's record (IAM, STS): the parameters worth recording are copied (a web
/// identity token is not), and made into JSON by the writer.
pub(crate) fn query_call(
    services: &Services,
    source: EventSource,
    name: &'static str,
    caller: Option<Caller>,
    params: &Params,
) -> ApiCall {
    let mut call = ApiCall::new(source, name, UserIdentity::default());
    call.caller = caller;
    let kept: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| !berth_core::audit::never_recorded(name))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let account = services.config.account_id.to_string();
    call.completion = Some(Box::new(move |call: &mut ApiCall| {
        let params = Params::from_pairs(kept);
        call.request_parameters = query_parameters(&params);
        if source == EventSource::Iam {
            call.resources = iam_resources(&account, &params);
        }
    }));
    call
}

/// Bodies up to this size are kept for the writer to read; a larger one is read now, so
/// the queue never holds a large body (an UploadLayerPart's 30 MiB) alive.
const DEFERRED_BODY: usize = 64 * 1024;

fn defer_unless_large(
    call: &mut ApiCall,
    body_len: usize,
    complete: impl FnOnce(&mut ApiCall) + Send + 'static,
) {
    if body_len <= DEFERRED_BODY {
        call.completion = Some(Box::new(complete));
    } else {
        complete(call);
    }
}

/// An ECR call's record, its parameters and repository read by the writer.
pub(crate) fn ecr_call(
    services: &Services,
    name: &'static str,
    caller: Caller,
    body: &Bytes,
) -> ApiCall {
    let mut call = ApiCall::by(EventSource::Ecr, name, caller);
    let body_len = body.len();
    let body = body.clone();
    let account = services.config.account_id.to_string();
    let region = services.config.region.clone();
    let complete = move |call: &mut ApiCall| {
        call.request_parameters = json_parameters(&body);
        call.resources = ecr_resources(&account, &region, call.request_parameters.as_ref());
    };
    defer_unless_large(&mut call, body_len, complete);
    call
}

/// AssumeRole*'s response elements, without the secret key and the session token.
/// The response elements CloudTrail records for new temporary credentials: never their
/// secret or session token.
pub(crate) fn credentials_elements(access_key_id: &str, expiration: i64) -> Map<String, Value> {
    let mut elements = Map::new();
    elements.insert(
        "credentials".into(),
        json!({
            "accessKeyId": access_key_id,
            "expiration": berth_core::audit::timestamp(expiration),
        }),
    );
    elements
}

pub(crate) fn assumed_role_elements(
    access_key_id: &str,
    expiration: i64,
    assumed_role_id: &str,
    arn: &str,
) -> Map<String, Value> {
    let mut elements = credentials_elements(access_key_id, expiration);
    elements.insert(
        "assumedRoleUser".into(),
        json!({"assumedRoleId": assumed_role_id, "arn": arn}),
    );
    elements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_members_are_kept_but_layer_bytes_never_read() {
        let big = "x".repeat(MAX_PARSED_MEMBER + 1);
        let body =
            format!(r#"{{"repositoryName":"app","layerPartBlob":"AAAA","imageManifest":"{big}"}}"#);
        let value = json_parameters(body.as_bytes()).unwrap();
        assert_eq!(value["repositoryName"], "app");
        assert!(value.get("layerPartBlob").is_none());
        assert!(
            value["imageManifest"]
                .as_str()
                .unwrap()
                .contains("not recorded")
        );
        assert_eq!(json_parameters(b"not json"), None);
    }
}
