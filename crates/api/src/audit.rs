//! What the api tells the audit trail about each call, in CloudTrail's shapes: the
//! request's parameters with camelCase members, the response elements, the resources.
//! Core's `audit` module completes, scrubs and stores the record.

use std::collections::BTreeMap;

use berth_core::Services;
use berth_core::audit::{ApiCall, CallError, EventSource, TrailResource, UserIdentity};
use berth_core::authorizer::RequestFacts;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::query::Params;

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
        if let Some(explanation) = failure.explanation {
            call.additional
                .insert("denialExplanation".into(), Value::String(explanation));
        }
        call.error = Some(failure.error);
        call.response_elements = None;
    }
    services.audit(facts, call).await;
}

pub(crate) fn recording(services: &Services) -> bool {
    services.audit_trail.is_enabled()
}

/// `RoleName` → `roleName`, `OpenIDConnectProviderArn` → `openIDConnectProviderArn`,
/// `ClientIDList` → `clientIDList`: CloudTrail lowers the leading capital (and a leading
/// acronym's letters but the last before a lowercase letter).
fn lower_camel(name: &str) -> String {
    let upper = name.chars().take_while(char::is_ascii_uppercase).count();
    let lowered = match upper {
        0 => 0,
        n if n == name.len() => n,
        1 => 1,
        n => n - 1,
    };
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < lowered {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

/// The largest list index recorded: a request naming `member.100000` is not expanded.
const MAX_LIST_INDEX: usize = 1_000;

/// IAM and STS Query parameters as CloudTrail records them: `Tags.member.1.Key=k` becomes
/// `"tags": [{"key": "k"}]`; `Action` and `Version` are left out.
pub(crate) fn query_parameters(params: &Params) -> Option<Value> {
    let mut root = Value::Object(Map::new());
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| *k != "Action" && *k != "Version")
        .collect();
    sorted.sort_unstable();
    for (key, value) in sorted {
        let path: Vec<&str> = key.split('.').collect();
        insert(&mut root, &path, value);
    }
    match &root {
        Value::Object(m) if m.is_empty() => None,
        _ => Some(root),
    }
}

fn insert(node: &mut Value, path: &[&str], value: &str) {
    match path {
        [] => *node = Value::String(value.to_owned()),
        ["member", index, rest @ ..] => {
            let Some(i) = index
                .parse::<usize>()
                .ok()
                .filter(|i| (1..=MAX_LIST_INDEX).contains(i))
            else {
                return;
            };
            if !node.is_array() {
                *node = Value::Array(Vec::new());
            }
            if let Value::Array(items) = node {
                if items.len() < i {
                    items.resize(i, Value::Null);
                }
                insert(&mut items[i - 1], rest, value);
            }
        }
        [name, rest @ ..] => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(members) = node {
                let child = members.entry(lower_camel(name)).or_insert(Value::Null);
                insert(child, rest, value);
            }
        }
    }
}

/// A JSON request's members, without parsing the large ones (a layer part is never read).
pub(crate) fn json_parameters(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    let members: BTreeMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    let mut recorded = Map::new();
    for (name, raw) in members {
        if name == "layerPartBlob" {
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
pub(crate) fn iam_resources(services: &Services, params: &Params) -> Vec<TrailResource> {
    let account = services.config.account_id.to_string();
    let mut resources = Vec::new();
    if let Some(role) = params.get("RoleName") {
        resources.push(TrailResource::role(
            &account,
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
                account_id: account.clone(),
                resource_type,
                name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            });
        }
    }
    resources
}

/// The repository an ECR request names (`repositoryName`, or a repository ARN).
pub(crate) fn ecr_resources(services: &Services, parameters: Option<&Value>) -> Vec<TrailResource> {
    let name = parameters.and_then(|p| {
        p.get("repositoryName").and_then(Value::as_str).or_else(|| {
            p.get("resourceArn")
                .and_then(Value::as_str)
                .and_then(|arn| arn.split_once(":repository/"))
                .map(|(_, name)| name)
        })
    });
    name.map(|name| repository(services, name))
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

/// An STS call's record; the identity is the caller's, or the web identity's.
pub(crate) fn sts_call(name: &'static str, identity: UserIdentity, params: &Params) -> ApiCall {
    let mut call = ApiCall::new(EventSource::Sts, name, identity);
    call.request_parameters = query_parameters(params);
    call
}

/// AssumeRole*'s response elements, without the secret key and the session token.
pub(crate) fn assumed_role_elements(
    access_key_id: &str,
    expiration: i64,
    assumed_role_id: &str,
    arn: &str,
) -> Map<String, Value> {
    let mut elements = Map::new();
    elements.insert(
        "credentials".into(),
        json!({
            "accessKeyId": access_key_id,
            "expiration": berth_core::audit::timestamp(expiration),
        }),
    );
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
    fn names_lose_their_leading_capital_as_in_cloudtrail() {
        for (name, expected) in [
            ("RoleName", "roleName"),
            ("OpenIDConnectProviderArn", "openIDConnectProviderArn"),
            ("ClientIDList", "clientIDList"),
            ("URL", "url"),
            ("Url", "url"),
            ("already", "already"),
        ] {
            assert_eq!(lower_camel(name), expected, "{name}");
        }
    }

    #[test]
    fn query_lists_and_structures_nest() {
        let parts = http::Request::post("/").body(()).unwrap().into_parts().0;
        let body = b"Action=CreateRole&Version=2010-05-08&RoleName=r&Tags.member.2.Key=b\
                     &Tags.member.1.Key=a&Tags.member.1.Value=1&ClientIDList.member.1=x\
                     &Huge.member.100000=no";
        let params = Params::from_request(&parts, body).unwrap();
        let value = query_parameters(&params).unwrap();
        assert_eq!(
            value,
            json!({
                "roleName": "r",
                "tags": [{"key": "a", "value": "1"}, {"key": "b"}],
                "clientIDList": ["x"],
                "huge": null,
            })
        );
    }

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
