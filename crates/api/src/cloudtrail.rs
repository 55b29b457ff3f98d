//! CloudTrail's `LookupEvents` (JSON 1.1, `X-Amz-Target:
//! com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`), over the audit
//! trail, so `aws cloudtrail lookup-events` works unchanged.

use axum::response::Response;
use berth_core::Services;
use berth_core::audit::{CloudTrailOperation, LookupEvents};
use berth_core::authorizer::RequestFacts;
use berth_core::error::CloudTrailError;
use berth_core::model::AuditFilter;
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::authenticate;
use crate::ecr::json_ok;
use crate::error::JsonError;

pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// Every CloudTrail input Berth reads is a few attributes and times.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsInput {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: String,
    attribute_value: String,
}

fn error(type_name: &'static str, message: impl Into<String>) -> JsonError {
    JsonError {
        status: StatusCode::BAD_REQUEST,
        type_name,
        message: message.into(),
        extra: None,
        explanation: None,
    }
}

impl From<CloudTrailError> for JsonError {
    fn from(e: CloudTrailError) -> Self {
        match e {
            CloudTrailError::InvalidLookupAttributes(m) => {
                error("InvalidLookupAttributesException", m)
            }
            CloudTrailError::InvalidTimeRange(m) => error("InvalidTimeRangeException", m),
            CloudTrailError::InvalidMaxResults(m) => error("InvalidMaxResultsException", m),
            CloudTrailError::InvalidNextToken(m) => error("InvalidNextTokenException", m),
            CloudTrailError::AccessDenied(d) => JsonError {
                explanation: d.explanation,
                ..error("AccessDeniedException", d.message)
            },
            CloudTrailError::Internal(i) => {
                tracing::error!(error = %i, "internal error");
                JsonError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    ..error("InternalServerException", "An internal error occurred.")
                }
            }
        }
    }
}

pub async fn handle(
    services: &Services,
    facts: &RequestFacts,
    parts: &Parts,
    body: &[u8],
    target: &str,
    request_id: &str,
) -> Response {
    let mut principal = None;
    let result = async {
        let caller = authenticate(services, parts, body, "cloudtrail").await?;
        principal = Some(caller.arn());
        let name = target.strip_prefix(TARGET_PREFIX).unwrap_or_default();
        let Some(operation) = CloudTrailOperation::from_name(name) else {
            return Err(error(
                "UnknownOperationException",
                format!("operation `{name}` is not supported"),
            ));
        };
        match operation {
            CloudTrailOperation::LookupEvents => {}
        }
        let input: LookupEventsInput = serde_json::from_slice(if body.is_empty() {
            b"{}"
        } else {
            body
        })
        .map_err(|e| error("ValidationException", format!("Invalid request: {e}")))?;
        let lookup = lookup_input(input)?;
        let Some(lookup) = lookup else {
            // Insights events: Berth has none.
            return Ok(json!({"Events": []}));
        };
        let page = services
            .cloudtrail()
            .lookup_events(&caller, facts, lookup)
            .await?;
        let events: Vec<Value> = page
            .events
            .iter()
            .map(|e| {
                let resources: Vec<Value> = e
                    .resources
                    .iter()
                    .map(|r| json!({"ResourceType": r.resource_type, "ResourceName": r.resource_name}))
                    .collect();
                let mut event = json!({
                    "EventId": e.event_id,
                    "EventName": e.event_name,
                    "ReadOnly": e.read_only.to_string(),
                    "EventTime": e.event_time_ms as f64 / 1000.0,
                    "EventSource": e.event_source,
                    "Resources": resources,
                    "CloudTrailEvent": e.cloudtrail_json(),
                });
                if let Some(key) = &e.access_key_id {
                    event["AccessKeyId"] = key.as_str().into();
                }
                if let Some(name) = &e.username {
                    event["Username"] = name.as_str().into();
                }
                event
            })
            .collect();
        let mut out = json!({ "Events": events });
        if let Some(token) = page.next_token {
            out["NextToken"] = token.into();
        }
        Ok(out)
    }
    .await;
    let response = match result {
        Ok(v) => json_ok(&v, request_id),
        Err(e) => e.into_response(request_id),
    };
    crate::observe::handled(response, "cloudtrail", "LookupEvents", principal)
}

/// The lookup the input asks for; `None` for insights events, which Berth has none of.
fn lookup_input(input: LookupEventsInput) -> Result<Option<LookupEvents>, JsonError> {
    match input.event_category.as_deref() {
        None => {}
        Some("insight") => return Ok(None),
        Some(other) => {
            return Err(error(
                "InvalidEventCategoryException",
                format!("Event category {other} is not valid."),
            ));
        }
    }
    let invalid = |m: String| error("InvalidLookupAttributesException", m);
    let filter = match input.lookup_attributes.as_slice() {
        [] => AuditFilter::All,
        [attribute] => {
            let value = attribute.attribute_value.clone();
            if value.is_empty() || value.len() > 2000 {
                return Err(invalid(
                    "AttributeValue must be between 1 and 2000 characters.".into(),
                ));
            }
            match attribute.attribute_key.as_str() {
                "EventId" => AuditFilter::EventId(value),
                "EventName" => AuditFilter::EventName(value),
                "ReadOnly" => AuditFilter::ReadOnly(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("ReadOnly must be true or false.".into())),
                }),
                "Username" => AuditFilter::Username(value),
                "ResourceType" => AuditFilter::ResourceType(value),
                "ResourceName" => AuditFilter::ResourceName(value),
                "EventSource" => AuditFilter::EventSource(value),
                "AccessKeyId" => AuditFilter::AccessKeyId(value),
                other => {
                    return Err(invalid(format!(
                        "{other} is not a valid AttributeKey: use EventId, EventName, ReadOnly, \
                         Username, ResourceType, ResourceName, EventSource or AccessKeyId."
                    )));
                }
            }
        }
        _ => {
            return Err(invalid(
                "You cannot specify more than one lookup attribute.".into(),
            ));
        }
    };
    let millis = |seconds: Option<f64>| -> Result<Option<i64>, JsonError> {
        seconds
            .map(|s| {
                (s.is_finite() && (0.0..1e11).contains(&s))
                    .then_some((s * 1000.0) as i64)
                    .ok_or_else(|| error("InvalidTimeRangeException", "The time is not valid."))
            })
            .transpose()
    };
    let max_results = input
        .max_results
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    Ok(Some(LookupEvents {
        filter,
        start_ms: millis(input.start_time)?,
        end_ms: millis(input.end_time)?,
        max_results,
        next_token: input.next_token,
    }))
}
