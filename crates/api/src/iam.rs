//! IAM over the Query protocol. Every call is SigV4-authenticated, then authorized in core.

use axum::response::Response;
use berth_core::Services;
use berth_core::authorizer::RequestFacts;
use berth_store::{ManagedPolicyRecord, OidcProviderRecord, RoleRecord};
use http::request::Parts;

use crate::auth::authenticate;
use crate::error::QueryError;
use crate::query::{IAM_NS, Params, Xml, encode_policy, error_response, success, timestamp};

pub const VERSION: &str = "2010-05-08";

mod simulate;

pub async fn handle(
    services: &Services,
    facts: &RequestFacts,
    parts: &Parts,
    body: &[u8],
    params: &Params,
    request_id: &str,
) -> Response {
    let action = params.get("Action").unwrap_or_default().to_owned();
    let result = match authenticate(services, parts, body) {
        Ok(caller) => operation(services, facts, &caller, &action, params).await,
        Err(e) => Err(Some(e.into())),
    };
    match result {
        Ok(xml) => success(&action, IAM_NS, xml.as_deref(), request_id),
        Err(Some(e)) => e.into_response(IAM_NS, request_id),
        Err(None) => error_response(
            http::StatusCode::BAD_REQUEST,
            "Sender",
            "InvalidAction",
            &format!("Could not find operation {action} for version {VERSION}"),
            IAM_NS,
            request_id,
        ),
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Option<QueryError>> {
    params.get(name).ok_or_else(|| {
        Some(QueryError {
            status: http::StatusCode::BAD_REQUEST,
            code: "MissingParameter",
            message: format!("The request must contain the parameter {name}"),
        })
    })
}

/// `Ok(None)`: an operation without a result element. `Err(None)`: unknown action.
async fn operation(
    services: &Services,
    facts: &RequestFacts,
    caller: &berth_core::Caller,
    action: &str,
    p: &Params,
) -> Result<Option<String>, Option<QueryError>> {
    let mut x = Xml::new();
    let map = |e: berth_core::error::IamError| Some(QueryError::from(e));
    match action {
        "CreateOpenIDConnectProvider" => {
            let r = services
                .create_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "Url")?,
                    &p.list("ClientIDList"),
                    &p.list("ThumbprintList"),
                )
                .await
                .map_err(map)?;
            x.text("OpenIDConnectProviderArn", &r.arn);
        }
        "GetOpenIDConnectProvider" => {
            let r = services
                .get_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                )
                .await
                .map_err(map)?;
            provider_xml(&mut x, &r);
        }
        "ListOpenIDConnectProviders" => {
            let list = services
                .list_open_id_connect_providers(caller, facts)
                .await
                .map_err(map)?;
            x.open("OpenIDConnectProviderList");
            for r in list {
                x.open("member").text("Arn", &r.arn).close("member");
            }
            x.close("OpenIDConnectProviderList");
        }
        "DeleteOpenIDConnectProvider" => {
            services
                .delete_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "CreateRole" => {
            let max = match p.get("MaxSessionDuration") {
                Some(v) => Some(v.parse::<i64>().map_err(|_| {
                    map(berth_core::iam::validation(
                        v,
                        "maxSessionDuration",
                        "Member must be a number",
                    ))
                })?),
                None => None,
            };
            let r = services
                .create_role(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    p.get("Path"),
                    required(p, "AssumeRolePolicyDocument")?,
                    p.get("Description"),
                    max,
                )
                .await
                .map_err(map)?;
            role_xml(&mut x, &r);
        }
        "GetRole" => {
            let r = services
                .get_role(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            role_xml(&mut x, &r);
        }
        "DeleteRole" => {
            services
                .delete_role(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "UpdateAssumeRolePolicy" => {
            services
                .update_assume_role_policy(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "PolicyDocument")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "CreatePolicy" => {
            let r = services
                .create_policy(
                    caller,
                    facts,
                    required(p, "PolicyName")?,
                    p.get("Path"),
                    required(p, "PolicyDocument")?,
                    p.get("Description"),
                )
                .await
                .map_err(map)?;
            policy_xml(&mut x, &r, false);
        }
        "GetPolicy" => {
            let r = services
                .get_policy(caller, facts, required(p, "PolicyArn")?)
                .await
                .map_err(map)?;
            policy_xml(&mut x, &r, true);
        }
        "GetPolicyVersion" => {
            let v = services
                .get_policy_version(
                    caller,
                    facts,
                    required(p, "PolicyArn")?,
                    required(p, "VersionId")?,
                )
                .await
                .map_err(map)?;
            x.open("PolicyVersion")
                .text("Document", &encode_policy(&v.document))
                .text("VersionId", &v.version_id)
                .text(
                    "IsDefaultVersion",
                    if v.is_default { "true" } else { "false" },
                )
                .text("CreateDate", &timestamp(v.created_at))
                .close("PolicyVersion");
        }
        "DeletePolicy" => {
            services
                .delete_policy(caller, facts, required(p, "PolicyArn")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "AttachRolePolicy" => {
            services
                .attach_role_policy(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "PolicyArn")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "DetachRolePolicy" => {
            services
                .detach_role_policy(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "PolicyArn")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "ListAttachedRolePolicies" => {
            let list = services
                .list_attached_role_policies(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            x.open("AttachedPolicies");
            for a in list {
                x.open("member")
                    .text("PolicyName", &a.name)
                    .text("PolicyArn", &a.arn)
                    .close("member");
            }
            x.close("AttachedPolicies").text("IsTruncated", "false");
        }
        "PutRolePolicy" => {
            services
                .put_role_policy(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "PolicyName")?,
                    required(p, "PolicyDocument")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "GetRolePolicy" => {
            let name = required(p, "PolicyName")?;
            let (role, doc) = services
                .get_role_policy(caller, facts, required(p, "RoleName")?, name)
                .await
                .map_err(map)?;
            x.text("RoleName", &role)
                .text("PolicyName", name)
                .text("PolicyDocument", &encode_policy(&doc));
        }
        "DeleteRolePolicy" => {
            services
                .delete_role_policy(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "PolicyName")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        "SimulatePrincipalPolicy" => {
            let results = services
                .simulate_principal_policy(
                    caller,
                    facts,
                    required(p, "PolicySourceArn")?,
                    &simulate::input(p),
                )
                .await
                .map_err(map)?;
            simulate::results_xml(&mut x, p, &results).map_err(map)?;
        }
        "SimulateCustomPolicy" => {
            let results = services
                .simulate_custom_policy(caller, facts, &simulate::input(p))
                .await
                .map_err(map)?;
            simulate::results_xml(&mut x, p, &results).map_err(map)?;
        }
        _ => return Err(None),
    }
    Ok(Some(x.finish()))
}

fn provider_xml(x: &mut Xml, r: &OidcProviderRecord) {
    x.text("Url", &r.url)
        .members("ClientIDList", &r.client_ids)
        .members("ThumbprintList", &r.thumbprints)
        .text("CreateDate", &timestamp(r.created_at));
}

fn role_xml(x: &mut Xml, r: &RoleRecord) {
    x.open("Role")
        .text("Path", &r.path)
        .text("RoleName", &r.name)
        .text("RoleId", &r.role_id)
        .text("Arn", &r.arn)
        .text("CreateDate", &timestamp(r.created_at))
        .text("AssumeRolePolicyDocument", &encode_policy(&r.trust_policy))
        .opt("Description", r.description.as_deref())
        .text("MaxSessionDuration", &r.max_session_duration.to_string())
        .close("Role");
}

fn policy_xml(x: &mut Xml, r: &ManagedPolicyRecord, with_description: bool) {
    x.open("Policy")
        .text("PolicyName", &r.name)
        .text("PolicyId", &r.policy_id)
        .text("Arn", &r.arn)
        .text("Path", &r.path)
        .text("DefaultVersionId", &r.default_version_id)
        .text("AttachmentCount", &r.attachment_count.to_string())
        .text("PermissionsBoundaryUsageCount", "0")
        .text("IsAttachable", "true");
    if with_description {
        x.opt("Description", r.description.as_deref());
    }
    x.text("CreateDate", &timestamp(r.created_at))
        .text("UpdateDate", &timestamp(r.updated_at))
        .close("Policy");
}
