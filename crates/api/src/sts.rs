//! STS over the Query protocol.

use axum::response::Response;
use berth_core::Services;
use berth_core::authorizer::RequestFacts;
use berth_core::sts::operation::StsOperation;
use berth_core::sts::{AssumeRoleInput, AssumeRoleWithWebIdentityInput};
use http::request::Parts;

use crate::auth::authenticate;
use crate::error::QueryError;
use crate::query::{Params, STS_NS, Xml, error_response, success, timestamp};

pub const VERSION: &str = "2011-06-15";

pub async fn handle(
    services: &Services,
    facts: &RequestFacts,
    parts: &Parts,
    body: &[u8],
    params: &Params,
    request_id: &str,
) -> Response {
    let action = params.get("Action").unwrap_or_default();
    let Some(operation) = StsOperation::from_name(action) else {
        let (code, message) = if action.is_empty() {
            ("MissingAction", "Missing Action".to_owned())
        } else {
            (
                "InvalidAction",
                format!("Could not find operation {action} for version {VERSION}"),
            )
        };
        return error_response(
            http::StatusCode::BAD_REQUEST,
            "Sender",
            code,
            &message,
            STS_NS,
            request_id,
        );
    };
    let result = match operation {
        // Authenticated by the web identity token itself, not by SigV4.
        StsOperation::AssumeRoleWithWebIdentity => {
            assume_role_with_web_identity(services, facts, params).await
        }
        StsOperation::AssumeRole => match authenticate(services, parts, body, "sts") {
            Ok(caller) => assume_role(services, facts, &caller, params).await,
            Err(e) => Err(e.into()),
        },
        StsOperation::GetCallerIdentity => match authenticate(services, parts, body, "sts") {
            Ok(caller) => {
                let mut x = Xml::new();
                x.text("Arn", &caller.arn())
                    .text("UserId", &caller.user_id())
                    .text("Account", caller.account());
                Ok(x.finish())
            }
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(xml) => success(action, STS_NS, Some(&xml), request_id),
        Err(e) => e.into_response(STS_NS, request_id),
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, QueryError> {
    params.get(name).ok_or_else(|| QueryError {
        status: http::StatusCode::BAD_REQUEST,
        code: "MissingParameter",
        message: format!("The request must contain the parameter {name}"),
    })
}

fn duration_seconds(params: &Params) -> Result<Option<i64>, QueryError> {
    match params.get("DurationSeconds") {
        Some(d) => Ok(Some(d.parse::<i64>().map_err(|_| QueryError {
            status: http::StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message: format!("Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"),
        })?)),
        None => Ok(None),
    }
}

/// `PolicyArns.member.N.arn`.
fn policy_arns(params: &Params) -> Result<Vec<String>, QueryError> {
    params
        .structures("PolicyArns", &["arn"])
        .into_iter()
        .map(|mut fields| {
            fields.pop().flatten().ok_or_else(|| QueryError {
                status: http::StatusCode::BAD_REQUEST,
                code: "ValidationError",
                message: "1 validation error detected: Value null at 'policyArns.member.arn' failed to satisfy constraint: Member must not be null".into(),
            })
        })
        .collect()
}

/// `Tags.member.N.Key` / `.Value`.
fn tags(params: &Params) -> Result<Vec<(String, String)>, QueryError> {
    params
        .structures("Tags", &["Key", "Value"])
        .into_iter()
        .map(|fields| match fields.as_slice() {
            [Some(k), Some(v)] => Ok((k.clone(), v.clone())),
            [None, _] => Err("key"),
            _ => Err("value"),
        })
        .collect::<Result<_, _>>()
        .map_err(|member| QueryError {
            status: http::StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message: format!("1 validation error detected: Value null at 'tags.member.{member}' failed to satisfy constraint: Member must not be null"),
        })
}

async fn assume_role(
    services: &Services,
    facts: &RequestFacts,
    caller: &berth_core::Caller,
    params: &Params,
) -> Result<String, QueryError> {
    let input = AssumeRoleInput {
        role_arn: required(params, "RoleArn")?.to_owned(),
        role_session_name: required(params, "RoleSessionName")?.to_owned(),
        duration_seconds: duration_seconds(params)?,
        policy: params.get("Policy").map(str::to_owned),
        policy_arns: policy_arns(params)?,
        tags: tags(params)?,
        transitive_tag_keys: params.list("TransitiveTagKeys"),
        source_identity: params.get("SourceIdentity").map(str::to_owned),
        external_id: params.get("ExternalId").map(str::to_owned),
    };
    let out = services.sts().assume_role(caller, &input, facts).await?;
    let mut x = Xml::new();
    x.open("Credentials")
        .text("AccessKeyId", &out.credentials.access_key_id)
        .text("SecretAccessKey", &out.credentials.secret_access_key)
        .text("SessionToken", &out.credentials.session_token)
        .text("Expiration", &timestamp(out.credentials.expiration))
        .close("Credentials")
        .open("AssumedRoleUser")
        .text("AssumedRoleId", &out.assumed_role_id)
        .text("Arn", &out.assumed_role_arn)
        .close("AssumedRoleUser");
    if let Some(size) = out.packed_policy_size {
        x.text("PackedPolicySize", &size.to_string());
    }
    if let Some(source_identity) = &out.source_identity {
        x.text("SourceIdentity", source_identity);
    }
    Ok(x.finish())
}

async fn assume_role_with_web_identity(
    services: &Services,
    facts: &RequestFacts,
    params: &Params,
) -> Result<String, QueryError> {
    let input = AssumeRoleWithWebIdentityInput {
        role_arn: required(params, "RoleArn")?.to_owned(),
        role_session_name: required(params, "RoleSessionName")?.to_owned(),
        web_identity_token: required(params, "WebIdentityToken")?.to_owned(),
        duration_seconds: duration_seconds(params)?,
        policy: params.get("Policy").map(str::to_owned),
        policy_arns: policy_arns(params)?,
    };
    let out = services
        .sts()
        .assume_role_with_web_identity(&input, facts)
        .await?;
    let mut x = Xml::new();
    x.open("Credentials")
        .text("AccessKeyId", &out.credentials.access_key_id)
        .text("SecretAccessKey", &out.credentials.secret_access_key)
        .text("SessionToken", &out.credentials.session_token)
        .text("Expiration", &timestamp(out.credentials.expiration))
        .close("Credentials")
        .text("SubjectFromWebIdentityToken", &out.subject)
        .open("AssumedRoleUser")
        .text("AssumedRoleId", &out.assumed_role_id)
        .text("Arn", &out.assumed_role_arn)
        .close("AssumedRoleUser");
    if let Some(size) = out.packed_policy_size {
        x.text("PackedPolicySize", &size.to_string());
    }
    x.text("Provider", &out.provider)
        .text("Audience", &out.audience);
    if let Some(source_identity) = &out.source_identity {
        x.text("SourceIdentity", source_identity);
    }
    Ok(x.finish())
}
