//! Account-wide IAM reads: GetAccountSummary (entity counts and the quotas Berth enforces)
//! and GetAccountAuthorizationDetails (every role, customer managed policy, user and group
//! with its documents, one page at a time), which audit and IaC tools read to snapshot an
//! account.

use berth_store::{
    AttachedPolicy, GroupRecord, IamTag, InstanceProfileRecord, ManagedPolicyRecord,
    PolicyVersionRecord, RoleRecord, StoreError, UserRecord,
};

use super::{Iam, IamError, Page, paginate, validation};
use crate::authorizer::RequestFacts;
use crate::caller::Caller;

/// A role as GetAccountAuthorizationDetails shows it: with its documents and attachments.
#[derive(Debug, Clone)]
pub struct RoleDetail {
    pub role: RoleRecord,
    /// Inline policies: name and document.
    pub inline: Vec<(String, String)>,
    pub attached: Vec<AttachedPolicy>,
    pub instance_profiles: Vec<InstanceProfileRecord>,
    pub tags: Vec<IamTag>,
}

/// A customer managed policy with every version's document.
#[derive(Debug, Clone)]
pub struct PolicyDetail {
    pub policy: ManagedPolicyRecord,
    pub versions: Vec<PolicyVersionRecord>,
}

/// A user with its inline and attached policies, groups and tags.
#[derive(Debug, Clone)]
pub struct UserDetail {
    pub user: UserRecord,
    pub inline: Vec<(String, String)>,
    pub attached: Vec<AttachedPolicy>,
    pub groups: Vec<String>,
    pub tags: Vec<IamTag>,
}

/// A group with its inline and attached policies.
#[derive(Debug, Clone)]
pub struct GroupDetail {
    pub group: GroupRecord,
    pub inline: Vec<(String, String)>,
    pub attached: Vec<AttachedPolicy>,
}

/// One entry of the details listing.
#[derive(Debug, Clone)]
pub enum AuthorizationDetail {
    Role(RoleDetail),
    Policy(PolicyDetail),
    User(UserDetail),
    Group(GroupDetail),
}

/// The kinds of entity GetAccountAuthorizationDetails' `Filter` names.
const FILTERS: [&str; 5] = [
    "User",
    "Role",
    "Group",
    "LocalManagedPolicy",
    "AWSManagedPolicy",
];

impl Iam<'_> {
    /// GetAccountSummary: how many of each entity the account has, and the quotas Berth
    /// enforces (the ones it does not enforce are left out rather than invented).
    pub async fn get_account_summary(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<Vec<(&'static str, u64)>, IamError> {
        self.iam_authorize(caller, facts, "iam:GetAccountSummary", "*")
            .await?;
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let roles = self.metadata.list_roles().await?;
        let policies = self.metadata.list_managed_policies().await?;
        let mut versions_in_use = 0;
        for policy in policies.iter().filter(|p| p.attachment_count > 0) {
            versions_in_use += self
                .metadata
                .list_policy_versions(policy.arn.as_str())
                .await?
                .len();
        }
        let instance_profiles = self.metadata.list_instance_profiles(None).await?;
        let providers = self.metadata.list_oidc_providers().await?;
        let users = self.metadata.list_users().await?;
        let groups = self.metadata.list_groups().await?;
        Ok(vec![
            ("Roles", count(roles.len())),
            ("Policies", count(policies.len())),
            ("PolicyVersionsInUse", count(versions_in_use)),
            ("InstanceProfiles", count(instance_profiles.len())),
            ("Providers", count(providers.len())),
            ("Users", count(users.len())),
            ("Groups", count(groups.len())),
            ("MFADevices", 0),
            ("MFADevicesInUse", 0),
            ("AccountMFAEnabled", 0),
            // The root user has access keys: Berth's root credentials.
            ("AccountAccessKeysPresent", 1),
            ("AssumeRolePolicySizeQuota", count(super::TRUST_POLICY_MAX)),
            ("PolicySizeQuota", count(super::MANAGED_POLICY_MAX)),
            (
                "RolePolicySizeQuota",
                count(super::INLINE_POLICIES_PER_ROLE_MAX),
            ),
            ("VersionsPerPolicyQuota", count(super::POLICY_VERSIONS_MAX)),
            (
                "AccessKeysPerUserQuota",
                count(super::user::ACCESS_KEYS_PER_USER),
            ),
            (
                "UserPolicySizeQuota",
                count(super::user::INLINE_POLICIES_PER_USER_MAX),
            ),
        ])
    }

    /// GetAccountAuthorizationDetails: roles (by name regardless of case), customer managed
    /// policies (by ARN), users, then groups, each page read in full only for what it
    /// holds. Berth has no AWS managed policies, so that filter finds nothing.
    pub async fn get_account_authorization_details(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        filters: &[String],
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<AuthorizationDetail>, IamError> {
        for (i, filter) in filters.iter().enumerate() {
            if !FILTERS.contains(&filter.as_str()) {
                return Err(validation(
                    filter,
                    &format!("filter.{}.member", i + 1),
                    "Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]",
                ));
            }
        }
        self.iam_authorize(caller, facts, "iam:GetAccountAuthorizationDetails", "*")
            .await?;
        let wanted = |kind: &str| filters.is_empty() || filters.iter().any(|f| f == kind);
        // Keys order roles before policies: `0` + folded name, `1` + ARN.
        let mut entries: Vec<(String, Entry)> = Vec::new();
        if wanted("Role") {
            for role in self.metadata.list_roles().await? {
                entries.push((
                    format!("0{}", role.name.as_str().to_lowercase()),
                    Entry::Role(role),
                ));
            }
        }
        if wanted("LocalManagedPolicy") {
            let mut policies = self.metadata.list_managed_policies().await?;
            policies.sort_by(|a, b| a.arn.as_str().cmp(b.arn.as_str()));
            for policy in policies {
                entries.push((format!("1{}", policy.arn), Entry::Policy(policy)));
            }
        }
        if wanted("User") {
            for user in self.metadata.list_users().await? {
                entries.push((format!("2{}", user.name.to_lowercase()), Entry::User(user)));
            }
        }
        if wanted("Group") {
            for group in self.metadata.list_groups().await? {
                entries.push((
                    format!("3{}", group.name.to_lowercase()),
                    Entry::Group(group),
                ));
            }
        }
        let page = paginate(entries, |(key, _)| key.as_str(), marker, max_items)?;
        let mut items = Vec::with_capacity(page.items.len());
        for (_, entry) in page.items {
            // An entity deleted between the listing and its details is left out.
            match entry {
                Entry::Role(role) => match self.role_detail(role).await {
                    Ok(detail) => items.push(AuthorizationDetail::Role(detail)),
                    Err(IamError::NoSuchEntity(_)) => {}
                    Err(e) => return Err(e),
                },
                Entry::User(user) => match self.user_detail(user).await {
                    Ok(detail) => items.push(AuthorizationDetail::User(detail)),
                    Err(IamError::NoSuchEntity(_)) => {}
                    Err(e) => return Err(e),
                },
                Entry::Group(group) => {
                    let mut inline = Vec::new();
                    for name in self.metadata.list_group_policies(&group.name).await? {
                        if let Some(document) =
                            self.metadata.get_group_policy(&group.name, &name).await?
                        {
                            inline.push((name, document));
                        }
                    }
                    let attached = self
                        .metadata
                        .list_attached_group_policies(&group.name)
                        .await?;
                    items.push(AuthorizationDetail::Group(GroupDetail {
                        group,
                        inline,
                        attached,
                    }));
                }
                Entry::Policy(policy) => {
                    match self
                        .metadata
                        .list_policy_versions(policy.arn.as_str())
                        .await
                    {
                        Ok(versions) => {
                            items.push(AuthorizationDetail::Policy(PolicyDetail {
                                policy,
                                versions,
                            }));
                        }
                        Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(Page {
            items,
            marker: page.marker,
        })
    }

    async fn user_detail(&self, user: UserRecord) -> Result<UserDetail, IamError> {
        let gone = |e: StoreError| match e {
            StoreError::NotFound => IamError::NoSuchEntity(String::new()),
            other => other.into(),
        };
        let mut inline = Vec::new();
        for name in self.metadata.list_user_policies(&user.name).await? {
            if let Some(document) = self.metadata.get_user_policy(&user.name, &name).await? {
                inline.push((name, document));
            }
        }
        let attached = self
            .metadata
            .list_attached_user_policies(&user.name)
            .await?;
        let groups = self
            .metadata
            .list_groups_for_user(&user.name)
            .await
            .map_err(gone)?
            .into_iter()
            .map(|g| g.name)
            .collect();
        let tags = self
            .metadata
            .list_iam_resource_tags(user.arn.as_str())
            .await?;
        Ok(UserDetail {
            user,
            inline,
            attached,
            groups,
            tags,
        })
    }

    async fn role_detail(&self, role: RoleRecord) -> Result<RoleDetail, IamError> {
        let gone = |e: StoreError| match e {
            StoreError::NotFound => IamError::NoSuchEntity(String::new()),
            other => other.into(),
        };
        let mut inline = Vec::new();
        for name in self
            .metadata
            .list_role_policies(&role.name)
            .await
            .map_err(gone)?
        {
            if let Some(document) = self.metadata.get_role_policy(&role.name, &name).await? {
                inline.push((name, document));
            }
        }
        let attached = self
            .metadata
            .list_attached_role_policies(&role.name)
            .await
            .map_err(gone)?;
        let instance_profiles = self
            .metadata
            .list_instance_profiles(Some(role.name.as_str()))
            .await
            .map_err(gone)?;
        let tags = self
            .metadata
            .list_iam_resource_tags(role.arn.as_str())
            .await?;
        Ok(RoleDetail {
            role,
            inline,
            attached,
            instance_profiles,
            tags,
        })
    }
}

enum Entry {
    Role(RoleRecord),
    Policy(ManagedPolicyRecord),
    User(UserRecord),
    Group(GroupRecord),
}
