//! IAM over the Query protocol. Every call is SigV4-authenticated, then authorized in core.

use axum::response::Response;
use berth_core::Services;
use berth_core::authorizer::RequestFacts;
use berth_core::iam::account::AuthorizationDetail;
use berth_core::iam::instance_profile::CreateInstanceProfileInput;
use berth_core::iam::operation::IamOperation;
use berth_core::iam::{
    CreatePolicyInput, CreateRoleInput, EntitiesForPolicyFilter, ListPoliciesFilter, Page,
    PolicyEntity, PolicyScope,
};
use berth_core::model::{
    GroupRecord, IamTag, InstanceProfileRecord, ManagedPolicyRecord, OidcProviderRecord,
    RoleRecord, UserRecord,
};
use http::request::Parts;

use berth_core::audit::EventSource;

use crate::auth::authenticate;
use crate::error::QueryError;
use crate::query::{IAM_NS, Params, Xml, encode_policy, error_response, success, timestamp};

pub const VERSION: &str = "2010-05-08";

mod simulate;

pub async fn handle(
    services: &Services,
    facts: &RequestFacts,
    parts: &Parts,
    body: &bytes::Bytes,
    params: &Params,
    request_id: &str,
) -> Response {
    let action = params.get("Action").unwrap_or_default().to_owned();
    let mut call = None;
    let mut handled = ("unknown", None);
    let result = match authenticate(services, parts, body, "iam").await {
        Ok(caller) => match IamOperation::from_name(&action) {
            Some(known) => {
                handled = (known.name(), Some(caller.arn()));
                let result = operation(services, facts, &caller, known, params).await;
                if crate::audit::recording(services) {
                    call = Some(crate::audit::query_call(
                        services,
                        EventSource::Iam,
                        known.name(),
                        Some(caller),
                        params,
                    ));
                }
                result
            }
            None => Err(None),
        },
        Err(e) => Err(Some(e.into())),
    };
    if let Some(call) = call {
        let failure = match &result {
            Err(Some(e)) => Some(crate::audit::failure(
                e.code,
                &e.message,
                e.explanation.clone(),
            )),
            _ => None,
        };
        crate::audit::record(services, facts, request_id, call, failure).await;
    }
    let response = match result {
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
    };
    crate::observe::handled(response, "iam", handled.0, handled.1)
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Option<QueryError>> {
    params.get(name).ok_or_else(|| {
        Some(QueryError {
            status: http::StatusCode::BAD_REQUEST,
            code: "MissingParameter",
            message: format!("The request must contain the parameter {name}"),
            explanation: None,
        })
    })
}

/// `Ok(None)`: an operation without a result element.
async fn operation(
    services: &Services,
    facts: &RequestFacts,
    caller: &berth_core::Caller,
    action: IamOperation,
    p: &Params,
) -> Result<Option<String>, Option<QueryError>> {
    let mut x = Xml::new();
    let map = |e: berth_core::error::IamError| Some(QueryError::from(e));
    let marker = p.get("Marker");
    // Read first in the listings that take it (before their other parameters); the other
    // operations have no MaxItems and ignore one, as IAM does.
    let max_items = || integer_param(p, "MaxItems", "maxItems");
    match action {
        IamOperation::CreateOpenIDConnectProvider => {
            let (r, tags) = services
                .iam()
                .create_open_id_connect_provider_with_tags(
                    caller,
                    facts,
                    required(p, "Url")?,
                    &p.list("ClientIDList"),
                    &p.list("ThumbprintList"),
                    &tag_params(p, "Tags")?,
                )
                .await
                .map_err(map)?;
            x.text("OpenIDConnectProviderArn", &r.arn);
            tags_xml(&mut x, &tags);
        }
        IamOperation::GetOpenIDConnectProvider => {
            let r = services
                .iam()
                .get_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                )
                .await
                .map_err(map)?;
            provider_xml(&mut x, &r);
            let tags = services.iam().iam_entity_tags(&r.arn).await.map_err(map)?;
            tags_xml(&mut x, &tags);
        }
        IamOperation::ListOpenIDConnectProviders => {
            let list = services
                .iam()
                .list_open_id_connect_providers(caller, facts)
                .await
                .map_err(map)?;
            x.open("OpenIDConnectProviderList");
            for r in list {
                x.open("member").text("Arn", &r.arn).close("member");
            }
            x.close("OpenIDConnectProviderList");
        }
        IamOperation::DeleteOpenIDConnectProvider => {
            services
                .iam()
                .delete_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::CreateRole => {
            let max = integer_param(p, "MaxSessionDuration", "maxSessionDuration")?;
            let (r, tags) = services
                .iam()
                .create_role(
                    caller,
                    facts,
                    &CreateRoleInput {
                        name: required(p, "RoleName")?,
                        path: p.get("Path"),
                        trust_policy: required(p, "AssumeRolePolicyDocument")?,
                        description: p.get("Description"),
                        max_session_duration: max,
                        permissions_boundary: p.get("PermissionsBoundary"),
                        tags: &tag_params(p, "Tags")?,
                    },
                )
                .await
                .map_err(map)?;
            role_xml(&mut x, &r, &tags);
        }
        IamOperation::GetRole => {
            let r = services
                .iam()
                .get_role(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            let tags = services.iam().iam_entity_tags(&r.arn).await.map_err(map)?;
            role_xml(&mut x, &r, &tags);
        }
        IamOperation::DeleteRole => {
            services
                .iam()
                .delete_role(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::UpdateRole => {
            let max_session_duration =
                integer_param(p, "MaxSessionDuration", "maxSessionDuration")?;
            services
                .iam()
                .update_role(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    p.get("Description"),
                    max_session_duration,
                )
                .await
                .map_err(map)?;
        }
        IamOperation::UpdateRoleDescription => {
            let r = services
                .iam()
                .update_role_description(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "Description")?,
                )
                .await
                .map_err(map)?;
            let tags = services.iam().iam_entity_tags(&r.arn).await.map_err(map)?;
            role_xml(&mut x, &r, &tags);
        }
        IamOperation::PutRolePermissionsBoundary => {
            services
                .iam()
                .put_role_permissions_boundary(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    required(p, "PermissionsBoundary")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::DeleteRolePermissionsBoundary => {
            services
                .iam()
                .delete_role_permissions_boundary(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::GetAccountSummary => {
            let summary = services
                .iam()
                .get_account_summary(caller, facts)
                .await
                .map_err(map)?;
            x.open("SummaryMap");
            for (key, value) in summary {
                x.open("entry")
                    .text("key", key)
                    .text("value", &value.to_string())
                    .close("entry");
            }
            x.close("SummaryMap");
        }
        IamOperation::GetAccountAuthorizationDetails => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .get_account_authorization_details(
                    caller,
                    facts,
                    &p.list("Filter"),
                    marker,
                    max_items,
                )
                .await
                .map_err(map)?;
            x.open("UserDetailList");
            for detail in page
                .items
                .iter()
                .filter(|d| matches!(d, AuthorizationDetail::User(_)))
            {
                authorization_detail_xml(&mut x, detail);
            }
            x.close("UserDetailList").open("GroupDetailList");
            for detail in page
                .items
                .iter()
                .filter(|d| matches!(d, AuthorizationDetail::Group(_)))
            {
                authorization_detail_xml(&mut x, detail);
            }
            x.close("GroupDetailList").open("RoleDetailList");
            for detail in page
                .items
                .iter()
                .filter(|d| matches!(d, AuthorizationDetail::Role(_)))
            {
                authorization_detail_xml(&mut x, detail);
            }
            x.close("RoleDetailList").open("Policies");
            for detail in page
                .items
                .iter()
                .filter(|d| matches!(d, AuthorizationDetail::Policy(_)))
            {
                authorization_detail_xml(&mut x, detail);
            }
            x.close("Policies");
            page_end(&mut x, &page);
        }
        IamOperation::CreateUser => {
            let tags = tag_params(p, "Tags")?;
            let user = services
                .iam()
                .create_user(
                    caller,
                    facts,
                    required(p, "UserName")?,
                    p.get("Path"),
                    p.get("PermissionsBoundary"),
                    &tags,
                )
                .await
                .map_err(map)?;
            user_xml(&mut x, &user, &tags);
        }
        IamOperation::GetUser => {
            match services
                .iam()
                .get_user(caller, facts, p.get("UserName"))
                .await
                .map_err(map)?
            {
                Some(user) => {
                    let tags = services
                        .iam()
                        .iam_entity_tags(&user.arn)
                        .await
                        .map_err(map)?;
                    user_xml(&mut x, &user, &tags);
                }
                // The root user, asking about itself.
                None => {
                    x.open("User")
                        .text("UserId", caller.account())
                        .text("Arn", &caller.arn())
                        .text("CreateDate", &timestamp(0))
                        .close("User");
                }
            }
        }
        IamOperation::ListUsers => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_users(caller, facts, p.get("PathPrefix"), marker, max_items)
                .await
                .map_err(map)?;
            x.open("Users");
            for user in &page.items {
                x.open("member");
                user_fields(&mut x, user);
                x.close("member");
            }
            x.close("Users");
            page_end(&mut x, &page);
        }
        IamOperation::UpdateUser => {
            services
                .iam()
                .update_user(
                    caller,
                    facts,
                    required(p, "UserName")?,
                    p.get("NewUserName"),
                    p.get("NewPath"),
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::DeleteUser => {
            services
                .iam()
                .delete_user(caller, facts, required(p, "UserName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::PutUserPermissionsBoundary => {
            services
                .iam()
                .put_user_permissions_boundary(
                    caller,
                    facts,
                    required(p, "UserName")?,
                    required(p, "PermissionsBoundary")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::DeleteUserPermissionsBoundary => {
            services
                .iam()
                .delete_user_permissions_boundary(caller, facts, required(p, "UserName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::TagUser => {
            let tags = tag_params(p, "Tags")?;
            services
                .iam()
                .tag_user(caller, facts, required(p, "UserName")?, &tags)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::UntagUser => {
            services
                .iam()
                .untag_user(caller, facts, required(p, "UserName")?, &p.list("TagKeys"))
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListUserTags => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_user_tags(caller, facts, required(p, "UserName")?, marker, max_items)
                .await
                .map_err(map)?;
            tags_xml(&mut x, &page.items);
            page_end(&mut x, &page);
        }
        IamOperation::PutUserPolicy => {
            services
                .iam()
                .put_user_policy(
                    caller,
                    facts,
                    required(p, "UserName")?,
                    required(p, "PolicyName")?,
                    required(p, "PolicyDocument")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::GetUserPolicy => {
            let name = required(p, "PolicyName")?;
            let (user, document) = services
                .iam()
                .get_user_policy(caller, facts, required(p, "UserName")?, name)
                .await
                .map_err(map)?;
            x.text("UserName", &user)
                .text("PolicyName", name)
                .text("PolicyDocument", &encode_policy(&document));
        }
        IamOperation::DeleteUserPolicy => {
            services
                .iam()
                .delete_user_policy(
                    caller,
                    facts,
                    required(p, "UserName")?,
                    required(p, "PolicyName")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListUserPolicies => {
            let names = services
                .iam()
                .list_user_policies(caller, facts, required(p, "UserName")?)
                .await
                .map_err(map)?;
            x.members("PolicyNames", &names)
                .text("IsTruncated", "false");
        }
        IamOperation::AttachUserPolicy | IamOperation::DetachUserPolicy => {
            let user = required(p, "UserName")?;
            let arn = required(p, "PolicyArn")?;
            if action == IamOperation::AttachUserPolicy {
                services
                    .iam()
                    .attach_user_policy(caller, facts, user, arn)
                    .await
            } else {
                services
                    .iam()
                    .detach_user_policy(caller, facts, user, arn)
                    .await
            }
            .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListAttachedUserPolicies => {
            let attached = services
                .iam()
                .list_attached_user_policies(caller, facts, required(p, "UserName")?)
                .await
                .map_err(map)?;
            attached_policies_xml(&mut x, &attached);
        }
        IamOperation::CreateAccessKey => {
            let key = services
                .iam()
                .create_access_key(caller, facts, p.get("UserName"))
                .await
                .map_err(map)?;
            x.open("AccessKey")
                .text("UserName", &key.user_name)
                .text("AccessKeyId", &key.access_key_id)
                .text("Status", "Active")
                .text("SecretAccessKey", &key.secret_access_key)
                .text("CreateDate", &timestamp(key.created_at))
                .close("AccessKey");
        }
        IamOperation::ListAccessKeys => {
            let (user, keys) = services
                .iam()
                .list_access_keys(caller, facts, p.get("UserName"))
                .await
                .map_err(map)?;
            x.open("AccessKeyMetadata");
            for key in &keys {
                x.open("member")
                    .text("UserName", &user)
                    .text("AccessKeyId", &key.access_key_id)
                    .text("Status", &key.status)
                    .text("CreateDate", &timestamp(key.created_at))
                    .close("member");
            }
            x.close("AccessKeyMetadata").text("IsTruncated", "false");
        }
        IamOperation::UpdateAccessKey => {
            services
                .iam()
                .update_access_key(
                    caller,
                    facts,
                    p.get("UserName"),
                    required(p, "AccessKeyId")?,
                    required(p, "Status")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::DeleteAccessKey => {
            services
                .iam()
                .delete_access_key(
                    caller,
                    facts,
                    p.get("UserName"),
                    required(p, "AccessKeyId")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::GetAccessKeyLastUsed => {
            let (user, key) = services
                .iam()
                .get_access_key_last_used(caller, facts, required(p, "AccessKeyId")?)
                .await
                .map_err(map)?;
            x.text("UserName", &user).open("AccessKeyLastUsed");
            match &key.last_used {
                Some(used) => {
                    x.text("LastUsedDate", &timestamp(used.at))
                        .text("ServiceName", &used.service)
                        .text("Region", &used.region);
                }
                // IAM's answer for a key never used.
                None => {
                    x.text("ServiceName", "N/A").text("Region", "N/A");
                }
            }
            x.close("AccessKeyLastUsed");
        }
        IamOperation::CreateGroup => {
            let group = services
                .iam()
                .create_group(caller, facts, required(p, "GroupName")?, p.get("Path"))
                .await
                .map_err(map)?;
            x.open("Group");
            group_fields(&mut x, &group);
            x.close("Group");
        }
        IamOperation::GetGroup => {
            let (group, users) = services
                .iam()
                .get_group(caller, facts, required(p, "GroupName")?)
                .await
                .map_err(map)?;
            x.open("Group");
            group_fields(&mut x, &group);
            x.close("Group").open("Users");
            for user in &users {
                x.open("member");
                user_fields(&mut x, user);
                x.close("member");
            }
            x.close("Users").text("IsTruncated", "false");
        }
        IamOperation::ListGroups => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_groups(caller, facts, p.get("PathPrefix"), marker, max_items)
                .await
                .map_err(map)?;
            x.open("Groups");
            for group in &page.items {
                x.open("member");
                group_fields(&mut x, group);
                x.close("member");
            }
            x.close("Groups");
            page_end(&mut x, &page);
        }
        IamOperation::UpdateGroup => {
            services
                .iam()
                .update_group(
                    caller,
                    facts,
                    required(p, "GroupName")?,
                    p.get("NewGroupName"),
                    p.get("NewPath"),
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::DeleteGroup => {
            services
                .iam()
                .delete_group(caller, facts, required(p, "GroupName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::AddUserToGroup | IamOperation::RemoveUserFromGroup => {
            services
                .iam()
                .change_group_membership(
                    caller,
                    facts,
                    required(p, "GroupName")?,
                    required(p, "UserName")?,
                    action == IamOperation::AddUserToGroup,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListGroupsForUser => {
            let groups = services
                .iam()
                .list_groups_for_user(caller, facts, required(p, "UserName")?)
                .await
                .map_err(map)?;
            x.open("Groups");
            for group in &groups {
                x.open("member");
                group_fields(&mut x, group);
                x.close("member");
            }
            x.close("Groups").text("IsTruncated", "false");
        }
        IamOperation::PutGroupPolicy => {
            services
                .iam()
                .put_group_policy(
                    caller,
                    facts,
                    required(p, "GroupName")?,
                    required(p, "PolicyName")?,
                    required(p, "PolicyDocument")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::GetGroupPolicy => {
            let name = required(p, "PolicyName")?;
            let (group, document) = services
                .iam()
                .get_group_policy(caller, facts, required(p, "GroupName")?, name)
                .await
                .map_err(map)?;
            x.text("GroupName", &group)
                .text("PolicyName", name)
                .text("PolicyDocument", &encode_policy(&document));
        }
        IamOperation::DeleteGroupPolicy => {
            services
                .iam()
                .delete_group_policy(
                    caller,
                    facts,
                    required(p, "GroupName")?,
                    required(p, "PolicyName")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListGroupPolicies => {
            let names = services
                .iam()
                .list_group_policies(caller, facts, required(p, "GroupName")?)
                .await
                .map_err(map)?;
            x.members("PolicyNames", &names)
                .text("IsTruncated", "false");
        }
        IamOperation::AttachGroupPolicy | IamOperation::DetachGroupPolicy => {
            services
                .iam()
                .change_group_attachment(
                    caller,
                    facts,
                    required(p, "GroupName")?,
                    required(p, "PolicyArn")?,
                    action == IamOperation::AttachGroupPolicy,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListAttachedGroupPolicies => {
            let attached = services
                .iam()
                .list_attached_group_policies(caller, facts, required(p, "GroupName")?)
                .await
                .map_err(map)?;
            attached_policies_xml(&mut x, &attached);
        }
        IamOperation::ListAccountAliases => {
            let aliases = services
                .iam()
                .list_account_aliases(caller, facts)
                .await
                .map_err(map)?;
            x.open("AccountAliases");
            for alias in aliases {
                x.text("member", &alias);
            }
            x.close("AccountAliases").text("IsTruncated", "false");
        }
        IamOperation::CreateAccountAlias | IamOperation::DeleteAccountAlias => {
            let alias = required(p, "AccountAlias")?;
            let iam = services.iam();
            if action == IamOperation::CreateAccountAlias {
                iam.create_account_alias(caller, facts, alias).await
            } else {
                iam.delete_account_alias(caller, facts, alias).await
            }
            .map_err(map)?;
            return Ok(None);
        }
        IamOperation::CreateInstanceProfile => {
            let (profile, tags) = services
                .iam()
                .create_instance_profile(
                    caller,
                    facts,
                    &CreateInstanceProfileInput {
                        name: required(p, "InstanceProfileName")?,
                        path: p.get("Path"),
                        tags: &tag_params(p, "Tags")?,
                    },
                )
                .await
                .map_err(map)?;
            instance_profile_xml(&mut x, &profile, &tags);
        }
        IamOperation::GetInstanceProfile => {
            let (profile, tags) = services
                .iam()
                .get_instance_profile(caller, facts, required(p, "InstanceProfileName")?)
                .await
                .map_err(map)?;
            instance_profile_xml(&mut x, &profile, &tags);
        }
        IamOperation::DeleteInstanceProfile => {
            services
                .iam()
                .delete_instance_profile(caller, facts, required(p, "InstanceProfileName")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::AddRoleToInstanceProfile => {
            services
                .iam()
                .add_role_to_instance_profile(
                    caller,
                    facts,
                    required(p, "InstanceProfileName")?,
                    required(p, "RoleName")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::RemoveRoleFromInstanceProfile => {
            services
                .iam()
                .remove_role_from_instance_profile(
                    caller,
                    facts,
                    required(p, "InstanceProfileName")?,
                    required(p, "RoleName")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListInstanceProfiles | IamOperation::ListInstanceProfilesForRole => {
            let max_items = max_items()?;
            let iam = services.iam();
            let page = if action == IamOperation::ListInstanceProfiles {
                iam.list_instance_profiles(caller, facts, p.get("PathPrefix"), marker, max_items)
                    .await
            } else {
                iam.list_instance_profiles_for_role(
                    caller,
                    facts,
                    required(p, "RoleName")?,
                    marker,
                    max_items,
                )
                .await
            }
            .map_err(map)?;
            x.open("InstanceProfiles");
            for profile in &page.items {
                // Listings leave out tags, as IAM's do (GetInstanceProfile has them).
                x.open("member");
                instance_profile_fields(&mut x, profile);
                x.close("member");
            }
            x.close("InstanceProfiles");
            page_end(&mut x, &page);
        }
        IamOperation::ListEntitiesForPolicy => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_entities_for_policy(
                    caller,
                    facts,
                    required(p, "PolicyArn")?,
                    &EntitiesForPolicyFilter {
                        entity: p.get("EntityFilter"),
                        path_prefix: p.get("PathPrefix"),
                        usage: p.get("PolicyUsageFilter"),
                    },
                    marker,
                    max_items,
                )
                .await
                .map_err(map)?;
            x.open("PolicyGroups");
            for entity in &page.items {
                if let PolicyEntity::Group(group) = entity {
                    x.open("member")
                        .text("GroupName", &group.name)
                        .text("GroupId", &group.group_id)
                        .close("member");
                }
            }
            x.close("PolicyGroups").open("PolicyUsers");
            for entity in &page.items {
                if let PolicyEntity::User(user) = entity {
                    x.open("member")
                        .text("UserName", &user.name)
                        .text("UserId", &user.user_id)
                        .close("member");
                }
            }
            x.close("PolicyUsers").open("PolicyRoles");
            for entity in &page.items {
                if let PolicyEntity::Role(role) = entity {
                    x.open("member")
                        .text("RoleName", &role.name)
                        .text("RoleId", &role.role_id)
                        .close("member");
                }
            }
            x.close("PolicyRoles");
            page_end(&mut x, &page);
        }
        IamOperation::ListRolePolicies => {
            let names = services
                .iam()
                .list_role_policies(caller, facts, required(p, "RoleName")?)
                .await
                .map_err(map)?;
            x.open("PolicyNames");
            for name in names {
                x.text("member", &name);
            }
            x.close("PolicyNames").text("IsTruncated", "false");
        }
        IamOperation::UpdateAssumeRolePolicy => {
            services
                .iam()
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
        IamOperation::CreatePolicy => {
            let (r, tags) = services
                .iam()
                .create_policy(
                    caller,
                    facts,
                    &CreatePolicyInput {
                        name: required(p, "PolicyName")?,
                        path: p.get("Path"),
                        document: required(p, "PolicyDocument")?,
                        description: p.get("Description"),
                        tags: &tag_params(p, "Tags")?,
                    },
                )
                .await
                .map_err(map)?;
            x.open("Policy");
            policy_fields(&mut x, &r, false);
            tags_xml(&mut x, &tags);
            x.close("Policy");
        }
        IamOperation::GetPolicy => {
            let r = services
                .iam()
                .get_policy(caller, facts, required(p, "PolicyArn")?)
                .await
                .map_err(map)?;
            let tags = services.iam().iam_entity_tags(&r.arn).await.map_err(map)?;
            x.open("Policy");
            policy_fields(&mut x, &r, true);
            tags_xml(&mut x, &tags);
            x.close("Policy");
        }
        IamOperation::GetPolicyVersion => {
            let v = services
                .iam()
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
        IamOperation::DeletePolicy => {
            services
                .iam()
                .delete_policy(caller, facts, required(p, "PolicyArn")?)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::AttachRolePolicy => {
            services
                .iam()
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
        IamOperation::DetachRolePolicy => {
            services
                .iam()
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
        IamOperation::ListAttachedRolePolicies => {
            let list = services
                .iam()
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
        IamOperation::PutRolePolicy => {
            services
                .iam()
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
        IamOperation::GetRolePolicy => {
            let name = required(p, "PolicyName")?;
            let (role, doc) = services
                .iam()
                .get_role_policy(caller, facts, required(p, "RoleName")?, name)
                .await
                .map_err(map)?;
            x.text("RoleName", &role)
                .text("PolicyName", name)
                .text("PolicyDocument", &encode_policy(&doc));
        }
        IamOperation::DeleteRolePolicy => {
            services
                .iam()
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
        IamOperation::SimulatePrincipalPolicy => {
            let results = services
                .iam()
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
        IamOperation::SimulateCustomPolicy => {
            let results = services
                .iam()
                .simulate_custom_policy(caller, facts, &simulate::input(p))
                .await
                .map_err(map)?;
            simulate::results_xml(&mut x, p, &results).map_err(map)?;
        }
        IamOperation::CreatePolicyVersion => {
            let v = services
                .iam()
                .create_policy_version(
                    caller,
                    facts,
                    required(p, "PolicyArn")?,
                    required(p, "PolicyDocument")?,
                    bool_param(p, "SetAsDefault", "setAsDefault")?,
                )
                .await
                .map_err(map)?;
            x.open("PolicyVersion")
                .text("VersionId", &v.version_id)
                .text("IsDefaultVersion", bool_text(v.is_default))
                .text("CreateDate", &timestamp(v.created_at))
                .close("PolicyVersion");
        }
        IamOperation::ListPolicyVersions => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_policy_versions(caller, facts, required(p, "PolicyArn")?, marker, max_items)
                .await
                .map_err(map)?;
            x.open("Versions");
            for v in &page.items {
                x.open("member")
                    .text("VersionId", &v.version_id)
                    .text("IsDefaultVersion", bool_text(v.is_default))
                    .text("CreateDate", &timestamp(v.created_at))
                    .close("member");
            }
            x.close("Versions");
            page_end(&mut x, &page);
        }
        IamOperation::DeletePolicyVersion | IamOperation::SetDefaultPolicyVersion => {
            let arn = required(p, "PolicyArn")?;
            let version = required(p, "VersionId")?;
            if action == IamOperation::DeletePolicyVersion {
                services
                    .iam()
                    .delete_policy_version(caller, facts, arn, version)
                    .await
            } else {
                services
                    .iam()
                    .set_default_policy_version(caller, facts, arn, version)
                    .await
            }
            .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListRoles => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_roles(caller, facts, p.get("PathPrefix"), marker, max_items)
                .await
                .map_err(map)?;
            x.open("Roles");
            for r in &page.items {
                // ListRoles leaves out tags (documented: use GetRole).
                x.open("member");
                role_fields(&mut x, r);
                x.close("member");
            }
            x.close("Roles");
            page_end(&mut x, &page);
        }
        IamOperation::ListPolicies => {
            let max_items = max_items()?;
            let scope = p
                .get("Scope")
                .map(PolicyScope::parse)
                .transpose()
                .map_err(map)?
                .unwrap_or_default();
            let filter = ListPoliciesFilter {
                scope,
                only_attached: bool_param(p, "OnlyAttached", "onlyAttached")?,
                path_prefix: p.get("PathPrefix"),
                marker,
                max_items,
            };
            let page = services
                .iam()
                .list_policies(caller, facts, &filter)
                .await
                .map_err(map)?;
            x.open("Policies");
            for r in &page.items {
                x.open("member");
                policy_fields(&mut x, r, false);
                x.close("member");
            }
            x.close("Policies");
            page_end(&mut x, &page);
        }
        IamOperation::TagRole => {
            let tags = tag_params(p, "Tags")?;
            services
                .iam()
                .tag_role(caller, facts, required(p, "RoleName")?, &tags)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::UntagRole => {
            services
                .iam()
                .untag_role(caller, facts, required(p, "RoleName")?, &p.list("TagKeys"))
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListRoleTags => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_role_tags(caller, facts, required(p, "RoleName")?, marker, max_items)
                .await
                .map_err(map)?;
            tags_xml(&mut x, &page.items);
            page_end(&mut x, &page);
        }
        IamOperation::TagPolicy => {
            let tags = tag_params(p, "Tags")?;
            services
                .iam()
                .tag_policy(caller, facts, required(p, "PolicyArn")?, &tags)
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::UntagPolicy => {
            services
                .iam()
                .untag_policy(caller, facts, required(p, "PolicyArn")?, &p.list("TagKeys"))
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListPolicyTags => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_policy_tags(caller, facts, required(p, "PolicyArn")?, marker, max_items)
                .await
                .map_err(map)?;
            tags_xml(&mut x, &page.items);
            page_end(&mut x, &page);
        }
        IamOperation::TagOpenIDConnectProvider => {
            let tags = tag_params(p, "Tags")?;
            services
                .iam()
                .tag_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                    &tags,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::UntagOpenIDConnectProvider => {
            services
                .iam()
                .untag_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                    &p.list("TagKeys"),
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::ListOpenIDConnectProviderTags => {
            let max_items = max_items()?;
            let page = services
                .iam()
                .list_open_id_connect_provider_tags(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                    marker,
                    max_items,
                )
                .await
                .map_err(map)?;
            tags_xml(&mut x, &page.items);
            page_end(&mut x, &page);
        }
        IamOperation::AddClientIDToOpenIDConnectProvider => {
            services
                .iam()
                .add_client_id_to_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                    required(p, "ClientID")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::RemoveClientIDFromOpenIDConnectProvider => {
            services
                .iam()
                .remove_client_id_from_open_id_connect_provider(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                    required(p, "ClientID")?,
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
        IamOperation::UpdateOpenIDConnectProviderThumbprint => {
            services
                .iam()
                .update_open_id_connect_provider_thumbprint(
                    caller,
                    facts,
                    required(p, "OpenIDConnectProviderArn")?,
                    &p.list("ThumbprintList"),
                )
                .await
                .map_err(map)?;
            return Ok(None);
        }
    }
    Ok(Some(x.finish()))
}

fn validation_error(value: &str, member: &str, constraint: &str) -> Option<QueryError> {
    Some(QueryError::from(berth_core::iam::validation(
        value, member, constraint,
    )))
}

fn integer_param(p: &Params, name: &str, member: &str) -> Result<Option<i64>, Option<QueryError>> {
    p.get(name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| validation_error(v, member, "Member must be a number"))
        })
        .transpose()
}

fn bool_param(p: &Params, name: &str, member: &str) -> Result<bool, Option<QueryError>> {
    match p.get(name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(validation_error(other, member, "Member must be a boolean")),
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `Tags.member.N.Key` / `Tags.member.N.Value`, N = 1, 2, ... until the first gap.
fn tag_params(p: &Params, name: &str) -> Result<Vec<IamTag>, Option<QueryError>> {
    let mut tags = Vec::new();
    for n in 1.. {
        let key = p.get(&format!("{name}.member.{n}.Key"));
        let value = p.get(&format!("{name}.member.{n}.Value"));
        match (key, value) {
            (None, None) => break,
            (Some(key), Some(value)) => tags.push(IamTag {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
            (None, Some(_)) => {
                return Err(validation_error(
                    "null",
                    &format!("tags.{n}.member.key"),
                    "Member must not be null",
                ));
            }
            (Some(_), None) => {
                return Err(validation_error(
                    "null",
                    &format!("tags.{n}.member.value"),
                    "Member must not be null",
                ));
            }
        }
    }
    Ok(tags)
}

fn tags_xml(x: &mut Xml, tags: &[IamTag]) {
    x.open("Tags");
    for t in tags {
        x.open("member")
            .text("Key", &t.key)
            .text("Value", &t.value)
            .close("member");
    }
    x.close("Tags");
}

fn page_end<T>(x: &mut Xml, page: &Page<T>) {
    x.text("IsTruncated", bool_text(page.marker.is_some()))
        .opt("Marker", page.marker.as_deref());
}

fn provider_xml(x: &mut Xml, r: &OidcProviderRecord) {
    x.text("Url", &r.url)
        .members("ClientIDList", &r.client_ids)
        .members("ThumbprintList", &r.thumbprints)
        .text("CreateDate", &timestamp(r.created_at));
}

/// A user as Create/GetUser show it: with its boundary and tags.
fn user_xml(x: &mut Xml, user: &UserRecord, tags: &[IamTag]) {
    x.open("User");
    user_fields(x, user);
    if let Some(boundary) = &user.permissions_boundary {
        x.open("PermissionsBoundary")
            .text("PermissionsBoundaryType", "Policy")
            .text("PermissionsBoundaryArn", boundary)
            .close("PermissionsBoundary");
    }
    if !tags.is_empty() {
        tags_xml(x, tags);
    }
    x.close("User");
}

fn group_fields(x: &mut Xml, group: &GroupRecord) {
    x.text("Path", &group.path)
        .text("GroupName", &group.name)
        .text("GroupId", &group.group_id)
        .text("Arn", &group.arn)
        .text("CreateDate", &timestamp(group.created_at));
}

/// `AttachedPolicies` of a user or group (a handful: never truncated).
fn attached_policies_xml(x: &mut Xml, attached: &[berth_core::model::AttachedPolicy]) {
    x.open("AttachedPolicies");
    for a in attached {
        x.open("member")
            .text("PolicyName", &a.name)
            .text("PolicyArn", &a.arn)
            .close("member");
    }
    x.close("AttachedPolicies").text("IsTruncated", "false");
}

fn user_fields(x: &mut Xml, user: &UserRecord) {
    x.text("Path", &user.path)
        .text("UserName", &user.name)
        .text("UserId", &user.user_id)
        .text("Arn", &user.arn)
        .text("CreateDate", &timestamp(user.created_at));
}

/// A role as GetRole shows it: with its boundary, tags and last use, which listings omit.
fn role_xml(x: &mut Xml, r: &RoleRecord, tags: &[IamTag]) {
    x.open("Role");
    role_fields(x, r);
    role_boundary_xml(x, r);
    if !tags.is_empty() {
        tags_xml(x, tags);
    }
    role_last_used_xml(x, r);
    x.close("Role");
}

fn role_boundary_xml(x: &mut Xml, r: &RoleRecord) {
    if let Some(boundary) = &r.permissions_boundary {
        x.open("PermissionsBoundary")
            .text("PermissionsBoundaryType", "Policy")
            .text("PermissionsBoundaryArn", boundary)
            .close("PermissionsBoundary");
    }
}

/// `RoleLastUsed`, empty for a role never assumed (as IAM shows it).
fn role_last_used_xml(x: &mut Xml, r: &RoleRecord) {
    x.open("RoleLastUsed");
    if let Some(used) = &r.last_used {
        x.text("LastUsedDate", &timestamp(used.at))
            .text("Region", &used.region);
    }
    x.close("RoleLastUsed");
}

/// An entity's inline policies (name and document) under `element`.
fn inline_policies_xml(x: &mut Xml, element: &str, inline: &[(String, String)]) {
    x.open(element);
    for (name, document) in inline {
        x.open("member")
            .text("PolicyName", name)
            .text("PolicyDocument", &encode_policy(document))
            .close("member");
    }
    x.close(element);
}

/// `AttachedManagedPolicies` of an authorization details entry.
fn attached_members_xml(x: &mut Xml, attached: &[berth_core::model::AttachedPolicy]) {
    x.open("AttachedManagedPolicies");
    for a in attached {
        x.open("member")
            .text("PolicyName", &a.name)
            .text("PolicyArn", &a.arn)
            .close("member");
    }
    x.close("AttachedManagedPolicies");
}

/// One entry of GetAccountAuthorizationDetails: a role with its documents, or a managed
/// policy with every version.
fn authorization_detail_xml(x: &mut Xml, detail: &AuthorizationDetail) {
    x.open("member");
    match detail {
        AuthorizationDetail::Role(d) => {
            role_fields(x, &d.role);
            x.open("InstanceProfileList");
            for profile in &d.instance_profiles {
                x.open("member");
                instance_profile_fields(x, profile);
                x.close("member");
            }
            x.close("InstanceProfileList");
            inline_policies_xml(x, "RolePolicyList", &d.inline);
            attached_members_xml(x, &d.attached);
            role_boundary_xml(x, &d.role);
            tags_xml(x, &d.tags);
            role_last_used_xml(x, &d.role);
        }
        AuthorizationDetail::User(d) => {
            user_fields(x, &d.user);
            inline_policies_xml(x, "UserPolicyList", &d.inline);
            x.members("GroupList", &d.groups);
            attached_members_xml(x, &d.attached);
            if let Some(boundary) = &d.user.permissions_boundary {
                x.open("PermissionsBoundary")
                    .text("PermissionsBoundaryType", "Policy")
                    .text("PermissionsBoundaryArn", boundary)
                    .close("PermissionsBoundary");
            }
            tags_xml(x, &d.tags);
        }
        AuthorizationDetail::Group(d) => {
            group_fields(x, &d.group);
            inline_policies_xml(x, "GroupPolicyList", &d.inline);
            attached_members_xml(x, &d.attached);
        }
        AuthorizationDetail::Policy(d) => {
            policy_fields(x, &d.policy, true);
            x.open("PolicyVersionList");
            for v in &d.versions {
                x.open("member")
                    .text("Document", &encode_policy(&v.document))
                    .text("VersionId", &v.version_id)
                    .text("IsDefaultVersion", bool_text(v.is_default))
                    .text("CreateDate", &timestamp(v.created_at))
                    .close("member");
            }
            x.close("PolicyVersionList");
        }
    }
    x.close("member");
}

fn instance_profile_xml(x: &mut Xml, profile: &InstanceProfileRecord, tags: &[IamTag]) {
    x.open("InstanceProfile");
    instance_profile_fields(x, profile);
    if !tags.is_empty() {
        tags_xml(x, tags);
    }
    x.close("InstanceProfile");
}

/// A profile's members, its role (without the role's tags) among them.
fn instance_profile_fields(x: &mut Xml, profile: &InstanceProfileRecord) {
    x.text("Path", &profile.path)
        .text("InstanceProfileName", &profile.name)
        .text("InstanceProfileId", &profile.profile_id)
        .text("Arn", &profile.arn)
        .text("CreateDate", &timestamp(profile.created_at))
        .open("Roles");
    for role in &profile.roles {
        x.open("member");
        role_fields(x, role);
        x.close("member");
    }
    x.close("Roles");
}

fn role_fields(x: &mut Xml, r: &RoleRecord) {
    x.text("Path", &r.path)
        .text("RoleName", &r.name)
        .text("RoleId", &r.role_id)
        .text("Arn", &r.arn)
        .text("CreateDate", &timestamp(r.created_at))
        .text("AssumeRolePolicyDocument", &encode_policy(&r.trust_policy))
        .opt("Description", r.description.as_deref())
        .text("MaxSessionDuration", &r.max_session_duration.to_string());
}

fn policy_fields(x: &mut Xml, r: &ManagedPolicyRecord, with_description: bool) {
    x.text("PolicyName", &r.name)
        .text("PolicyId", &r.policy_id)
        .text("Arn", &r.arn)
        .text("Path", &r.path)
        .text("DefaultVersionId", &r.default_version_id)
        .text("AttachmentCount", &r.attachment_count.to_string())
        .text(
            "PermissionsBoundaryUsageCount",
            &r.boundary_usage_count.to_string(),
        )
        .text("IsAttachable", "true");
    if with_description {
        x.opt("Description", r.description.as_deref());
    }
    x.text("CreateDate", &timestamp(r.created_at))
        .text("UpdateDate", &timestamp(r.updated_at));
}
