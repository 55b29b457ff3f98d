//! STS over the Query protocol.

use axum::response::Response;
use berth_core::Services;
use berth_core::audit::{ApiCall, EventSource, TrailResource, UserIdentity};
use berth_core::authorizer::RequestFacts;
use berth_core::sts::operation::StsOperation;
use berth_core::sts::{
    AssumeRoleInput, AssumeRoleWithWebIdentityInput, GetSessionTokenInput, WebIdentitySeen,
};
use http::request::Parts;
use serde_json::{Map, Value};

use crate::audit::{assumed_role_elements, credentials_elements, query_call};
use crate::auth::authenticate;
use crate::error::QueryError;
use crate::query::{Params, STS_NS, Xml, error_response, success, timestamp};

pub const VERSION: &str = "2011-06-15";

pub async fn handle(
    services: &Services,
    facts: &RequestFacts,
    parts: &Parts,
    body: &bytes::Bytes,
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
    let recording = crate::audit::recording(services);
    let mut call = None;
    let result = match operation {
        // Authenticated by the web identity token itself, not by SigV4.
        StsOperation::AssumeRoleWithWebIdentity => {
            let mut seen = WebIdentitySeen::default();
            let result = assume_role_with_web_identity(services, facts, params, &mut seen).await;
            let (result, elements) = split_elements(result);
            if recording {
                call = Some(web_identity_call(services, params, seen, elements));
            }
            result
        }
        StsOperation::AssumeRole => match authenticate(services, parts, body, "sts").await {
            Ok(caller) => {
                let (result, elements) =
                    split_elements(assume_role(services, facts, &caller, params).await);
                if recording {
                    let mut record = signed_call(services, operation, caller, params, elements);
                    if let Some(role) = params.get("RoleArn") {
                        let account = services.config.account_id.to_string();
                        record.resources.push(TrailResource::role(&account, role));
                    }
                    call = Some(record);
                }
                result
            }
            Err(e) => Err(e.into()),
        },
        StsOperation::GetAccessKeyInfo => match authenticate(services, parts, body, "sts").await {
            Ok(caller) => {
                let account = services
                    .sts()
                    .get_access_key_info(
                        &caller,
                        facts,
                        params.get("AccessKeyId").unwrap_or_default(),
                    )
                    .await;
                if recording {
                    call = Some(signed_call(services, operation, caller, params, None));
                }
                account
                    .map(|account| {
                        let mut x = Xml::new();
                        x.text("Account", &account);
                        x.finish()
                    })
                    .map_err(Into::into)
            }
            Err(e) => Err(e.into()),
        },
        StsOperation::GetSessionToken => match authenticate(services, parts, body, "sts").await {
            Ok(caller) => {
                let result = get_session_token(services, &caller, params);
                let (result, elements) = split_elements(result);
                if recording {
                    call = Some(signed_call(services, operation, caller, params, elements));
                }
                result
            }
            Err(e) => Err(e.into()),
        },
        StsOperation::GetCallerIdentity => match authenticate(services, parts, body, "sts").await {
            Ok(caller) => {
                let mut x = Xml::new();
                x.text("Arn", &caller.arn())
                    .text("UserId", &caller.user_id())
                    .text("Account", caller.account());
                if recording {
                    call = Some(signed_call(services, operation, caller, params, None));
                }
                Ok(x.finish())
            }
            Err(e) => Err(e.into()),
        },
    };
    let failure = result
        .as_ref()
        .err()
        .map(|e| crate::audit::failure(e.code, &e.message, e.explanation.clone()));
    let response = match result {
        Ok(xml) => success(action, STS_NS, Some(&xml), request_id),
        Err(e) => e.into_response(STS_NS, request_id),
    };
    let principal = call.as_ref().and_then(ApiCall::principal);
    if let Some(call) = call {
        crate::audit::record(services, facts, request_id, call, failure).await;
    }
    crate::observe::handled(response, "sts", operation.name(), principal)
}

/// A signed call's record, with its response elements.
fn signed_call(
    services: &Services,
    operation: StsOperation,
    caller: berth_core::Caller,
    params: &Params,
    elements: Option<Map<String, Value>>,
) -> ApiCall {
    let mut record = query_call(
        services,
        EventSource::Sts,
        operation.name(),
        Some(caller),
        params,
    );
    record.response_elements = elements.map(Value::Object);
    record
}

/// AssumeRoleWithWebIdentity's record: what CloudTrail records (the provider, the
/// subject, the audience), and Berth's additions: the token's identifying claims, and
/// whether its signature was verified.
fn web_identity_call(
    services: &Services,
    params: &Params,
    seen: WebIdentitySeen,
    elements: Option<Map<String, Value>>,
) -> ApiCall {
    let subject = seen.claims.get("sub").map(String::as_str);
    let mut call = query_call(
        services,
        EventSource::Sts,
        StsOperation::AssumeRoleWithWebIdentity.name(),
        None,
        params,
    );
    call.identity = UserIdentity::web_identity(seen.provider_arn.as_deref(), subject);
    call.response_elements = elements.map(Value::Object);
    if let Some(role) = params.get("RoleArn") {
        let account = role.split(':').nth(4).unwrap_or_default();
        call.resources.push(TrailResource::role(account, role));
    }
    if !seen.claims.is_empty() {
        call.additional.token_claims = Some(seen.claims);
        call.additional.token_signature_verified = Some(seen.verified);
    }
    call.additional
        .identity_provider_connection_verification_method = Some("IAMTrustStore");
    call
}

/// An answer's XML, and its response elements (for the audit trail) apart.
fn split_elements(
    result: Result<(String, Map<String, Value>), QueryError>,
) -> (Result<String, QueryError>, Option<Map<String, Value>>) {
    match result {
        Ok((xml, elements)) => (Ok(xml), Some(elements)),
        Err(e) => (Err(e), None),
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, QueryError> {
    params.get(name).ok_or_else(|| QueryError {
        status: http::StatusCode::BAD_REQUEST,
        code: "MissingParameter",
        message: format!("The request must contain the parameter {name}"),
        explanation: None,
    })
}

fn duration_seconds(params: &Params) -> Result<Option<i64>, QueryError> {
    match params.get("DurationSeconds") {
        Some(d) => Ok(Some(d.parse::<i64>().map_err(|_| QueryError {
            status: http::StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message: format!("Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"),
            explanation: None,
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
                explanation: None,
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
            explanation: None,
        })
}

async fn assume_role(
    services: &Services,
    facts: &RequestFacts,
    caller: &berth_core::Caller,
    params: &Params,
) -> Result<(String, Map<String, Value>), QueryError> {
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
    let elements = assumed_role_elements(
        &out.credentials.access_key_id,
        out.credentials.expiration,
        &out.assumed_role_id,
        &out.assumed_role_arn,
    );
    Ok((x.finish(), elements))
}

fn get_session_token(
    services: &Services,
    caller: &berth_core::Caller,
    params: &Params,
) -> Result<(String, Map<String, Value>), QueryError> {
    let input = GetSessionTokenInput {
        duration_seconds: duration_seconds(params)?,
        serial_number: params.get("SerialNumber").map(str::to_owned),
        token_code: params.get("TokenCode").map(str::to_owned),
    };
    let credentials = services.sts().get_session_token(caller, &input)?;
    let mut x = Xml::new();
    x.open("Credentials")
        .text("AccessKeyId", &credentials.access_key_id)
        .text("SecretAccessKey", &credentials.secret_access_key)
        .text("SessionToken", &credentials.session_token)
        .text("Expiration", &timestamp(credentials.expiration))
        .close("Credentials");
    let elements = credentials_elements(&credentials.access_key_id, credentials.expiration);
    Ok((x.finish(), elements))
}

async fn assume_role_with_web_identity(
    services: &Services,
    facts: &RequestFacts,
    params: &Params,
    seen: &mut WebIdentitySeen,
) -> Result<(String, Map<String, Value>), QueryError> {
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
        .assume_role_with_web_identity(&input, facts, seen)
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
    let mut elements = assumed_role_elements(
        &out.credentials.access_key_id,
        out.credentials.expiration,
        &out.assumed_role_id,
        &out.assumed_role_arn,
    );
    elements.insert("subjectFromWebIdentityToken".into(), out.subject.into());
    elements.insert("provider".into(), out.provider.into());
    elements.insert("audience".into(), out.audience.into());
    Ok((x.finish(), elements))
}
