//! IAM: OIDC providers, roles, managed and inline policies, attachments. Each operation
//! authorizes the caller for its IAM action on the entity's ARN before touching state.

use berth_policy::{Policy, PolicyKind, non_whitespace_len};
use berth_store::{
    AttachedPolicy, Conflict, IamTag, ManagedPolicyRecord, OidcProviderRecord, PolicyVersionRecord,
    RoleRecord, StoreError,
};
use berth_types::{Arn, PolicyName, RoleName};

use crate::Iam;
use crate::authorizer::{AuthzError, RequestFacts};
use crate::caller::Caller;
use crate::error::IamError;
use crate::ids;

pub mod account;
pub mod account_alias;
pub mod group;
pub mod instance_profile;
pub mod operation;
pub mod simulate;
pub mod user;

/// IAM quotas (whitespace not counted).
pub const TRUST_POLICY_MAX: usize = 2048;
pub const MANAGED_POLICY_MAX: usize = 6144;
pub const INLINE_POLICIES_PER_ROLE_MAX: usize = 10240;
pub const CLIENT_IDS_MAX: usize = 100;
pub const THUMBPRINTS_MAX: usize = 5;

impl From<AuthzError> for IamError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied(d) => Self::AccessDenied(d),
            AuthzError::Internal(i) => Self::Internal(i),
        }
    }
}

/// botocore-style constraint message.
pub fn validation(value: &str, member: &str, constraint: &str) -> IamError {
    let shown: String = value.chars().take(100).collect();
    IamError::Validation(format!(
        "1 validation error detected: Value '{shown}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

fn role_name(name: &str) -> Result<RoleName, IamError> {
    RoleName::parse(name).map_err(|_| {
        validation(
            name,
            "roleName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 64",
        )
    })
}

fn policy_name(name: &str) -> Result<PolicyName, IamError> {
    PolicyName::parse(name).map_err(|_| {
        validation(
            name,
            "policyName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 128",
        )
    })
}

/// IAM paths: `/` or `/a/b/`, 1–512 characters.
fn path(p: Option<&str>) -> Result<String, IamError> {
    let p = p.unwrap_or("/");
    let ok = p.len() <= 512
        && p.starts_with('/')
        && p.ends_with('/')
        && !p.contains("//")
        && p.chars()
            .all(|c| c == '/' || c.is_ascii_alphanumeric() || ".,+@=_-".contains(c));
    if ok {
        Ok(p.to_owned())
    } else {
        Err(validation(
            p,
            "path",
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ))
    }
}

fn policy_arn(arn: &str) -> Result<Arn, IamError> {
    Arn::parse(arn).map_err(|_| IamError::InvalidInput(format!("ARN {arn} is not valid.")))
}

/// IAM's model caps a policy document at 131,072 characters, whitespace included
/// (`policyDocumentType`), before any quota (which skips whitespace) is counted.
const POLICY_DOCUMENT_MAX_CHARS: usize = 131_072;

fn document_length(document: &str, member: &str) -> Result<(), IamError> {
    // Bytes bound characters from above: count characters only when bytes exceed the cap.
    if document.len() > POLICY_DOCUMENT_MAX_CHARS
        && document.chars().count() > POLICY_DOCUMENT_MAX_CHARS
    {
        return Err(validation(
            document,
            member,
            "Member must have length less than or equal to 131072",
        ));
    }
    Ok(())
}

fn check_policy(document: &str, kind: PolicyKind) -> Result<Policy, IamError> {
    Policy::parse(document, kind).map_err(|e| IamError::MalformedPolicyDocument(e.message))
}

/// CreateRole's members.
#[derive(Debug, Clone, Copy)]
pub struct CreateRoleInput<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub trust_policy: &'a str,
    pub description: Option<&'a str>,
    pub max_session_duration: Option<i64>,
    /// The ARN of a managed policy to be the role's permissions boundary.
    pub permissions_boundary: Option<&'a str>,
    pub tags: &'a [IamTag],
}

/// A role or user a managed policy is attached to or bounds (ListEntitiesForPolicy).
#[derive(Debug, Clone)]
pub enum PolicyEntity {
    Role(RoleRecord),
    User(berth_store::UserRecord),
    Group(berth_store::GroupRecord),
}

/// ListEntitiesForPolicy's filters.
#[derive(Debug, Clone, Copy, Default)]
pub struct EntitiesForPolicyFilter<'a> {
    /// `EntityFilter`: `Role`, `User`, `Group`, ...
    pub entity: Option<&'a str>,
    pub path_prefix: Option<&'a str>,
    /// `PolicyUsageFilter`: `PermissionsPolicy` or `PermissionsBoundary`.
    pub usage: Option<&'a str>,
}

/// CreatePolicy's members.
#[derive(Debug, Clone, Copy)]
pub struct CreatePolicyInput<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub document: &'a str,
    pub description: Option<&'a str>,
    pub tags: &'a [IamTag],
}

impl Iam<'_> {
    fn iam_arn(&self, resource: &str) -> String {
        format!("arn:aws:iam::{}:{resource}", self.config.account_id)
    }

    /// The ARN of an entity being created, as the record keeps it.
    fn new_entity_arn(&self, arn: &str) -> Result<Arn, IamError> {
        Arn::parse(arn).map_err(|e| IamError::Internal(crate::error::InternalError(e.to_string())))
    }

    async fn iam_authorize(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        resource: &str,
    ) -> Result<(), IamError> {
        Ok(self
            .authorizer
            .authorize(caller, action, resource, None, facts)
            .await?)
    }

    // --- OIDC providers ------------------------------------------------------------

    pub async fn create_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        url: &str,
        client_ids: &[String],
        thumbprints: &[String],
    ) -> Result<OidcProviderRecord, IamError> {
        // IAM takes https:// URLs; --dev also takes http:// on loopback, so a test can run
        // its own identity provider (its JWKS is then fetched over plain HTTP).
        let host_path = url
            .strip_prefix("https://")
            .or_else(|| {
                url.strip_prefix("http://")
                    .filter(|_| self.config.dev && self.jwks.fetchable(url))
            })
            .filter(|rest| {
                !rest.is_empty()
                    && url.len() <= 255
                    && !rest.contains(['?', '#', ' '])
                    && !rest.starts_with('/')
            })
            .ok_or_else(|| IamError::InvalidInput("Invalid OpenID Connect Provider URL".into()))?
            .trim_end_matches('/')
            .to_owned();
        if client_ids.len() > CLIENT_IDS_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {CLIENT_IDS_MAX}"
            )));
        }
        for id in client_ids {
            if id.is_empty() || id.len() > 255 {
                return Err(validation(
                    id,
                    "clientIDList",
                    "Member must have length between 1 and 255",
                ));
            }
        }
        if thumbprints.len() > THUMBPRINTS_MAX {
            return Err(IamError::InvalidInput(format!(
                "Thumbprint list must contain at most {THUMBPRINTS_MAX} entries."
            )));
        }
        for t in thumbprints {
            if t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(validation(
                    t,
                    "thumbprintList",
                    "Member must have length equal to 40",
                ));
            }
        }
        let arn = self.iam_arn(&format!("oidc-provider/{host_path}"));
        self.iam_authorize(caller, facts, "iam:CreateOpenIDConnectProvider", &arn)
            .await?;
        let mut ids: Vec<String> = Vec::new();
        for id in client_ids {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let record = OidcProviderRecord {
            arn: self.new_entity_arn(&arn)?,
            url: host_path,
            client_ids: ids,
            thumbprints: thumbprints.to_vec(),
            created_at: crate::now_unix(),
        };
        match self.metadata.create_oidc_provider(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "Provider with url {url} already exists."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
    ) -> Result<OidcProviderRecord, IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, "iam:GetOpenIDConnectProvider", arn)
            .await?;
        self.metadata
            .get_oidc_provider(arn)
            .await?
            .ok_or_else(|| provider_not_found(arn))
    }

    pub async fn list_open_id_connect_providers(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<Vec<OidcProviderRecord>, IamError> {
        self.iam_authorize(caller, facts, "iam:ListOpenIDConnectProviders", "*")
            .await?;
        Ok(self.metadata.list_oidc_providers().await?)
    }

    pub async fn delete_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, "iam:DeleteOpenIDConnectProvider", arn)
            .await?;
        match self.metadata.delete_oidc_provider(arn).await {
            Err(StoreError::NotFound) => Err(provider_not_found(arn)),
            other => Ok(other?),
        }
    }

    // --- Roles ---------------------------------------------------------------------

    /// CreateRole without its tags (`create_role` checks and applies those).
    async fn create_role_record(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &CreateRoleInput<'_>,
    ) -> Result<RoleRecord, IamError> {
        let CreateRoleInput {
            name,
            path: role_path,
            trust_policy,
            description,
            max_session_duration,
            permissions_boundary,
            tags: _,
        } = *input;
        let name = role_name(name)?;
        let role_path = path(role_path)?;
        document_length(trust_policy, "assumeRolePolicyDocument")?;
        check_role_description(description)?;
        let max_session_duration = max_session_duration.unwrap_or(3600);
        check_max_session_duration(Some(max_session_duration))?;
        if let Some(boundary) = permissions_boundary {
            boundary_arn(boundary)?;
        }
        let arn = self.iam_arn(&format!("role{role_path}{name}"));
        let facts = match permissions_boundary {
            Some(boundary) => facts.with_request_key(PERMISSIONS_BOUNDARY_KEY, boundary),
            None => facts.clone(),
        };
        self.iam_authorize(caller, &facts, "iam:CreateRole", &arn)
            .await?;
        let policy = self.check_trust_policy(trust_policy)?;
        if let Some(arn) = self.missing_role_principal(&policy).await? {
            return Err(invalid_principal(&arn));
        }
        if let Some(boundary) = permissions_boundary
            && self.metadata.get_managed_policy(boundary).await?.is_none()
        {
            return Err(boundary_not_found(boundary));
        }
        let record = RoleRecord {
            name: name.clone(),
            role_id: ids::unique_id("AROA"),
            path: role_path,
            arn: self.new_entity_arn(&arn)?,
            trust_policy: trust_policy.to_owned(),
            description: description.map(str::to_owned),
            max_session_duration,
            created_at: crate::now_unix(),
            permissions_boundary: permissions_boundary.map(str::to_owned),
            last_used: None,
        };
        match self.metadata.create_role(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            ))),
            // The boundary's policy went meanwhile.
            Err(StoreError::NotFound) => {
                Err(boundary_not_found(permissions_boundary.unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn check_trust_policy(&self, document: &str) -> Result<Policy, IamError> {
        if non_whitespace_len(document) > TRUST_POLICY_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_MAX}"
            )));
        }
        let policy = check_policy(document, PolicyKind::Trust)?;
        if !self.config.allow_unscoped_github_trust
            && let Some(message) = crate::github_trust::unscoped_github_trust(document)
        {
            return Err(IamError::MalformedPolicyDocument(message));
        }
        Ok(policy)
    }

    /// The first role or user this account's policy names by ARN that does not exist. IAM
    /// binds such a principal to the entity's unique id when the policy is stored, so it
    /// refuses one it cannot bind ("Invalid principal in policy"); ECR refuses the
    /// repository policy. Entities of other accounts cannot be looked up here and are left
    /// as written.
    pub(crate) async fn missing_role_principal(
        &self,
        policy: &Policy,
    ) -> Result<Option<String>, berth_store::StoreError> {
        let ours = |arn: &str| {
            Arn::parse(arn)
                .ok()
                .filter(|a| a.account() == self.config.account_id.as_str())
                .map(|a| {
                    a.resource()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
        };
        for arn in policy.role_principals() {
            let Some(name) = ours(arn) else { continue };
            let exists = self
                .metadata
                .get_role(&name)
                .await?
                .is_some_and(|r| r.arn == arn);
            if !exists {
                return Ok(Some(arn.to_owned()));
            }
        }
        for arn in policy.user_principals() {
            let Some(name) = ours(arn) else { continue };
            let exists = self
                .metadata
                .get_user(&name)
                .await?
                .is_some_and(|u| u.arn == arn);
            if !exists {
                return Ok(Some(arn.to_owned()));
            }
        }
        Ok(None)
    }

    /// Before a role is deleted, every trust and repository policy that names it by ARN is
    /// rewritten to name its unique id, as IAM shows such a policy afterwards: the policy
    /// keeps matching the old role's sessions only, and a new role of the same name is a
    /// different principal. Run before the deletion, so there is no moment when the role is
    /// gone and a policy still names it, and again after it, for a policy stored in between
    /// (once the role is gone, no new policy may name it). Each policy is read again just
    /// before it is rewritten, so a change made meanwhile is kept.
    async fn unbind_role_principals(&self, role: &RoleRecord) -> Result<(), IamError> {
        self.rewrite_principal(&role.arn, &role.role_id).await
    }

    /// Rewrites every trust policy, repository policy and creation template's repository
    /// policy that names the principal `from` to name `to` instead: a deleted entity's
    /// unique id (see `unbind_role_principals`), or a renamed user's new ARN.
    pub(crate) async fn rewrite_principal(&self, from: &str, to: &str) -> Result<(), IamError> {
        self.rewrite_template_principals(from, to).await?;
        let rebind = |text: &str| berth_policy::replace_aws_principal(text, from, to);
        for listed in self.metadata.list_roles().await? {
            if rebind(&listed.trust_policy).is_none() {
                continue;
            }
            let Some(current) = self.metadata.get_role(&listed.name).await? else {
                continue;
            };
            if let Some(text) = rebind(&current.trust_policy) {
                match self
                    .metadata
                    .update_role_trust_policy(&current.name, &text)
                    .await
                {
                    Err(StoreError::NotFound) => {}
                    other => other?,
                }
            }
        }
        let mut after = None;
        loop {
            let page = self
                .metadata
                .list_repositories(after.as_ref(), 1000)
                .await?;
            for listed in &page {
                if listed.policy.as_deref().and_then(rebind).is_none() {
                    continue;
                }
                let Some(current) = self.metadata.get_repository(&listed.name).await? else {
                    continue;
                };
                if let Some(text) = current.policy.as_deref().and_then(rebind) {
                    match self
                        .metadata
                        .set_repository_policy(&current.name, Some(&text))
                        .await
                    {
                        Err(StoreError::NotFound) => {}
                        other => other?,
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.name.clone()),
                _ => return Ok(()),
            }
        }
    }

    /// Looks a role up and authorizes `action` on it. The caller learns whether the role
    /// exists only once authorized.
    async fn authorized_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
    ) -> Result<RoleRecord, IamError> {
        let name = role_name(name)?;
        let role = self.metadata.get_role(name.as_str()).await?;
        let arn = role.as_ref().map_or_else(
            || self.iam_arn(&format!("role/{name}")),
            |r| r.arn.to_string(),
        );
        let facts = with_current_boundary(
            facts,
            action,
            role.as_ref()
                .and_then(|r| r.permissions_boundary.as_deref()),
        );
        self.iam_authorize(caller, &facts, action, &arn).await?;
        role.ok_or_else(|| role_not_found(name.as_str()))
    }

    pub async fn get_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<RoleRecord, IamError> {
        self.authorized_role(caller, facts, "iam:GetRole", name)
            .await
    }

    pub async fn delete_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(), IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:DeleteRole", name)
            .await?;
        // Checked before the principals are unbound, so a refused delete changes nothing;
        // the store checks again in the delete's transaction.
        if !self
            .metadata
            .list_attached_role_policies(&role.name)
            .await?
            .is_empty()
        {
            return Err(StoreError::Conflict(Conflict::RoleHasAttachedPolicies).into());
        }
        if !self
            .metadata
            .list_role_policies(&role.name)
            .await?
            .is_empty()
        {
            return Err(StoreError::Conflict(Conflict::RoleHasInlinePolicies).into());
        }
        match self
            .metadata
            .list_instance_profiles(Some(role.name.as_str()))
            .await
        {
            Err(StoreError::NotFound) => return Err(role_not_found(&role.name)),
            Ok(profiles) if !profiles.is_empty() => {
                return Err(StoreError::Conflict(Conflict::RoleInInstanceProfile).into());
            }
            other => {
                other?;
            }
        }
        self.unbind_role_principals(&role).await?;
        match self.metadata.delete_role(&role.name).await {
            Err(StoreError::NotFound) => return Err(role_not_found(&role.name)),
            other => other?,
        }
        self.unbind_role_principals(&role).await
    }

    pub async fn update_assume_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        document_length(document, "policyDocument")?;
        let role = self
            .authorized_role(caller, facts, "iam:UpdateAssumeRolePolicy", name)
            .await?;
        let policy = self.check_trust_policy(document)?;
        if let Some(arn) = self.missing_role_principal(&policy).await? {
            return Err(invalid_principal(&arn));
        }
        match self
            .metadata
            .update_role_trust_policy(&role.name, document)
            .await
        {
            Err(StoreError::NotFound) => Err(role_not_found(&role.name)),
            other => Ok(other?),
        }
    }

    /// UpdateRole: the description and the maximum session duration (what is given of
    /// them), which AssumeRole* then honours.
    pub async fn update_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<(), IamError> {
        check_role_description(description)?;
        check_max_session_duration(max_session_duration)?;
        let role = self
            .authorized_role(caller, facts, "iam:UpdateRole", name)
            .await?;
        match self
            .metadata
            .update_role(&role.name, description, max_session_duration)
            .await
        {
            Err(StoreError::NotFound) => Err(role_not_found(&role.name)),
            other => Ok(other?),
        }
    }

    /// UpdateRoleDescription: returns the role as it now is.
    pub async fn update_role_description(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        description: &str,
    ) -> Result<RoleRecord, IamError> {
        check_role_description(Some(description))?;
        let role = self
            .authorized_role(caller, facts, "iam:UpdateRoleDescription", name)
            .await?;
        match self
            .metadata
            .update_role(&role.name, Some(description), None)
            .await
        {
            Err(StoreError::NotFound) => return Err(role_not_found(&role.name)),
            other => other?,
        }
        Ok(RoleRecord {
            description: Some(description.to_owned()),
            ..role
        })
    }

    /// PutRolePermissionsBoundary: sets or replaces the managed policy that bounds what
    /// the role's sessions may do, from their next request.
    pub async fn put_role_permissions_boundary(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        boundary: &str,
    ) -> Result<(), IamError> {
        boundary_arn(boundary)?;
        let facts = facts.with_request_key(PERMISSIONS_BOUNDARY_KEY, boundary);
        let role = self
            .authorized_role(caller, &facts, "iam:PutRolePermissionsBoundary", name)
            .await?;
        if self.metadata.get_managed_policy(boundary).await?.is_none() {
            return Err(boundary_not_found(boundary));
        }
        match self
            .metadata
            .set_role_permissions_boundary(&role.name, Some(boundary))
            .await
        {
            Err(StoreError::NotFound) => match self.metadata.get_role(&role.name).await? {
                Some(_) => Err(boundary_not_found(boundary)),
                None => Err(role_not_found(&role.name)),
            },
            other => Ok(other?),
        }
    }

    /// DeleteRolePermissionsBoundary: the role's sessions are then bounded by nothing
    /// but their identity and session policies. Removing the boundary of a role that has
    /// none succeeds (AWS's documentation names no error for it).
    pub async fn delete_role_permissions_boundary(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(), IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:DeleteRolePermissionsBoundary", name)
            .await?;
        match self
            .metadata
            .set_role_permissions_boundary(&role.name, None)
            .await
        {
            Err(StoreError::NotFound) => Err(role_not_found(&role.name)),
            other => Ok(other?),
        }
    }

    /// ListRolePolicies: the names of the role's inline policies.
    pub async fn list_role_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
    ) -> Result<Vec<String>, IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:ListRolePolicies", role)
            .await?;
        Ok(self.metadata.list_role_policies(&role.name).await?)
    }

    // --- Managed policies ----------------------------------------------------------

    /// CreatePolicy without its tags (`create_policy` checks and applies those).
    async fn create_policy_record(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &CreatePolicyInput<'_>,
    ) -> Result<ManagedPolicyRecord, IamError> {
        let CreatePolicyInput {
            name,
            path: policy_path,
            document,
            description,
            tags: _,
        } = *input;
        let name = policy_name(name)?;
        let policy_path = path(policy_path)?;
        document_length(document, "policyDocument")?;
        if let Some(d) = description
            && d.chars().count() > 1000
        {
            return Err(validation(
                d,
                "description",
                "Member must have length less than or equal to 1000",
            ));
        }
        let arn = self.iam_arn(&format!("policy{policy_path}{name}"));
        self.iam_authorize(caller, facts, "iam:CreatePolicy", &arn)
            .await?;
        if non_whitespace_len(document) > MANAGED_POLICY_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PolicySize: {MANAGED_POLICY_MAX}"
            )));
        }
        check_policy(document, PolicyKind::Identity)?;
        let now = crate::now_unix();
        let record = ManagedPolicyRecord {
            arn: self.new_entity_arn(&arn)?,
            name: name.clone(),
            path: policy_path,
            policy_id: ids::unique_id("ANPA"),
            default_version_id: "v1".into(),
            description: description.map(str::to_owned),
            created_at: now,
            updated_at: now,
            attachment_count: 0,
            boundary_usage_count: 0,
        };
        let version = PolicyVersionRecord {
            version_id: "v1".into(),
            document: document.to_owned(),
            is_default: true,
            created_at: now,
        };
        match self.metadata.create_managed_policy(&record, &version).await {
            Ok(()) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
    ) -> Result<ManagedPolicyRecord, IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, "iam:GetPolicy", arn)
            .await?;
        self.metadata
            .get_managed_policy(arn)
            .await?
            .ok_or_else(|| policy_not_found(arn))
    }

    pub async fn get_policy_version(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        version_id: &str,
    ) -> Result<PolicyVersionRecord, IamError> {
        policy_arn(arn)?;
        let valid_version = version_id.strip_prefix('v').is_some_and(|n| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !n.starts_with('0')
        });
        if !valid_version {
            return Err(validation(
                version_id,
                "versionId",
                "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?",
            ));
        }
        self.iam_authorize(caller, facts, "iam:GetPolicyVersion", arn)
            .await?;
        self.metadata
            .get_policy_version(arn, version_id)
            .await?
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version_id} does not exist or is not attachable."
                ))
            })
    }

    pub async fn delete_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, "iam:DeletePolicy", arn)
            .await?;
        // IAM refuses while non-default versions remain.
        if let Ok(versions) = self.metadata.list_policy_versions(arn).await
            && versions.len() > 1
        {
            return Err(IamError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
            ));
        }
        match self.metadata.delete_managed_policy(arn).await {
            Err(StoreError::NotFound) => Err(policy_not_found(arn)),
            other => Ok(other?),
        }
    }

    // --- Attachments ---------------------------------------------------------------

    pub async fn attach_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        let role = self
            .authorized_role(caller, facts, "iam:AttachRolePolicy", role)
            .await?;
        if self.metadata.get_managed_policy(arn).await?.is_none() {
            return Err(policy_not_found(arn));
        }
        match self.metadata.attach_role_policy(&role.name, arn).await {
            Err(StoreError::NotFound) => Err(policy_not_found(arn)),
            other => Ok(other?),
        }
    }

    pub async fn detach_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        let role = self
            .authorized_role(caller, facts, "iam:DetachRolePolicy", role)
            .await?;
        match self.metadata.detach_role_policy(&role.name, arn).await {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            ))),
            other => Ok(other?),
        }
    }

    pub async fn list_attached_role_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
    ) -> Result<Vec<AttachedPolicy>, IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:ListAttachedRolePolicies", role)
            .await?;
        Ok(self
            .metadata
            .list_attached_role_policies(&role.name)
            .await?)
    }

    /// ListEntitiesForPolicy: the roles the policy is attached to and those it bounds, or
    /// one of the two with `PolicyUsageFilter`. Berth has no IAM users
    /// or groups, so a filter for those finds nothing.
    pub async fn list_entities_for_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        filter: &EntitiesForPolicyFilter<'_>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<PolicyEntity>, IamError> {
        let prefix = check_path_prefix(filter.path_prefix)?;
        let (roles_wanted, users_wanted, groups_wanted) = match filter.entity {
            None => (true, true, true),
            Some("Role") => (true, false, false),
            Some("User") => (false, true, false),
            Some("Group") => (false, false, true),
            Some("LocalManagedPolicy" | "AWSManagedPolicy") => (false, false, false),
            Some(other) => {
                return Err(validation(
                    other,
                    "entityFilter",
                    "Member must satisfy enum value set: [LocalManagedPolicy, User, Role, AWSManagedPolicy, Group]",
                ));
            }
        };
        let (as_permissions, as_boundary) = match filter.usage {
            None => (true, true),
            Some("PermissionsPolicy") => (true, false),
            Some("PermissionsBoundary") => (false, true),
            Some(other) => {
                return Err(validation(
                    other,
                    "policyUsageFilter",
                    "Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]",
                ));
            }
        };
        self.authorized_policy(caller, facts, "iam:ListEntitiesForPolicy", arn)
            .await?;
        // Keyed for paging: groups (`g` + folded name), roles (`r`), then users (`u`).
        let mut entities: Vec<(String, PolicyEntity)> = Vec::new();
        if roles_wanted {
            let mut roles = Vec::new();
            if as_permissions {
                roles.extend(self.metadata.list_policy_roles(arn).await?);
            }
            if as_boundary {
                roles.extend(self.metadata.list_boundary_roles(arn).await?);
            }
            for role in roles.into_iter().filter(|r| r.path.starts_with(prefix)) {
                let key = format!("r{}", role.name.as_str().to_lowercase());
                entities.push((key, PolicyEntity::Role(role)));
            }
        }
        if users_wanted {
            let mut users = Vec::new();
            if as_permissions {
                users.extend(self.metadata.list_policy_users(arn).await?);
            }
            if as_boundary {
                users.extend(self.metadata.list_boundary_users(arn).await?);
            }
            for user in users.into_iter().filter(|u| u.path.starts_with(prefix)) {
                let key = format!("u{}", user.name.to_lowercase());
                entities.push((key, PolicyEntity::User(user)));
            }
        }
        // A group has no boundary: only its attachments count.
        if groups_wanted && as_permissions {
            for group in self.metadata.list_policy_groups(arn).await? {
                if group.path.starts_with(prefix) {
                    let key = format!("g{}", group.name.to_lowercase());
                    entities.push((key, PolicyEntity::Group(group)));
                }
            }
        }
        // An entity both attached to and bounded by the policy is listed once.
        entities.sort_by(|a, b| a.0.cmp(&b.0));
        entities.dedup_by(|a, b| a.0 == b.0);
        let page = paginate(entities, |(key, _)| key.as_str(), marker, max_items)?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, e)| e).collect(),
            marker: page.marker,
        })
    }

    // --- Inline role policies ------------------------------------------------------

    pub async fn put_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let name = policy_name(name)?;
        document_length(document, "policyDocument")?;
        let role = self
            .authorized_role(caller, facts, "iam:PutRolePolicy", role)
            .await?;
        check_policy(document, PolicyKind::Identity)?;
        // The quota counts every inline policy of the role together.
        let mut total = non_whitespace_len(document);
        for other in self.metadata.list_role_policies(&role.name).await? {
            if other == name.as_str() {
                continue;
            }
            if let Some(doc) = self.metadata.get_role_policy(&role.name, &other).await? {
                total += non_whitespace_len(&doc);
            }
        }
        if total > INLINE_POLICIES_PER_ROLE_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {INLINE_POLICIES_PER_ROLE_MAX} bytes exceeded for role {}",
                role.name
            )));
        }
        match self
            .metadata
            .put_role_policy(&role.name, name.as_str(), document)
            .await
        {
            Err(StoreError::NotFound) => Err(role_not_found(&role.name)),
            other => Ok(other?),
        }
    }

    pub async fn get_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        name: &str,
    ) -> Result<(String, String), IamError> {
        let name = policy_name(name)?;
        let role = self
            .authorized_role(caller, facts, "iam:GetRolePolicy", role)
            .await?;
        let doc = self
            .metadata
            .get_role_policy(&role.name, name.as_str())
            .await?
            .ok_or_else(|| inline_not_found(&role.name, name.as_str()))?;
        Ok((role.name.to_string(), doc))
    }

    pub async fn delete_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        name: &str,
    ) -> Result<(), IamError> {
        let name = policy_name(name)?;
        let role = self
            .authorized_role(caller, facts, "iam:DeleteRolePolicy", role)
            .await?;
        match self
            .metadata
            .delete_role_policy(&role.name, name.as_str())
            .await
        {
            Err(StoreError::NotFound) => Err(inline_not_found(&role.name, name.as_str())),
            other => Ok(other?),
        }
    }
}

fn invalid_principal(arn: &str) -> IamError {
    IamError::MalformedPolicyDocument(format!("Invalid principal in policy: \"AWS\":\"{arn}\""))
}

/// IAM's bound on a role's description.
fn check_role_description(description: Option<&str>) -> Result<(), IamError> {
    match description {
        Some(d) if d.chars().count() > 1000 => Err(validation(
            d,
            "description",
            "Member must have length less than or equal to 1000",
        )),
        _ => Ok(()),
    }
}

/// IAM's range for a role's maximum session duration, in seconds.
fn check_max_session_duration(seconds: Option<i64>) -> Result<(), IamError> {
    let constraint = match seconds {
        Some(n) if n > 43200 => "Member must have value less than or equal to 43200",
        Some(n) if n < 3600 => "Member must have value greater than or equal to 3600",
        _ => return Ok(()),
    };
    Err(validation(
        &seconds.unwrap_or_default().to_string(),
        "maxSessionDuration",
        constraint,
    ))
}

fn role_not_found(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

/// The condition key that carries the boundary a request sets on a role.
const PERMISSIONS_BOUNDARY_KEY: &str = "iam:PermissionsBoundary";

/// The actions on a role or user whose `iam:PermissionsBoundary` key is the entity's
/// current boundary (for Put*PermissionsBoundary it is the new one, set by the caller), as
/// in IAM: a policy can then refuse changes to a bounded entity's policies or boundary.
const ACTIONS_KEYED_BY_CURRENT_BOUNDARY: &[&str] = &[
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:DetachRolePolicy",
    "iam:DetachUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:DeleteRolePolicy",
    "iam:DeleteUserPolicy",
];

/// `facts` with `iam:PermissionsBoundary` set to the entity's current boundary when
/// `action` is keyed by it.
pub(crate) fn with_current_boundary(
    facts: &RequestFacts,
    action: &str,
    boundary: Option<&str>,
) -> RequestFacts {
    match boundary {
        Some(b) if ACTIONS_KEYED_BY_CURRENT_BOUNDARY.contains(&action) => {
            facts.with_request_key(PERMISSIONS_BOUNDARY_KEY, b)
        }
        _ => facts.clone(),
    }
}

/// A permissions boundary is a managed policy, named by its ARN.
fn boundary_arn(arn: &str) -> Result<(), IamError> {
    match Arn::parse(arn) {
        Ok(parsed) if parsed.service() == "iam" && parsed.resource().starts_with("policy/") => {
            Ok(())
        }
        _ => Err(IamError::InvalidInput(format!("ARN {arn} is not valid."))),
    }
}

fn boundary_not_found(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "Scope ARN: {arn} does not exist or is not attachable."
    ))
}

fn policy_not_found(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
}

fn provider_not_found(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

fn inline_not_found(role: &str, name: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "The role policy with name {name} cannot be found for role {role}."
    ))
}

// --- Policy versions, listings, tags, provider updates ----------------------------------

/// IAM quotas for the operations below.
pub const POLICY_VERSIONS_MAX: usize = 5;
pub const TAGS_PER_ENTITY_MAX: usize = 50;
const MAX_ITEMS_DEFAULT: usize = 100;

/// One page of a listing. `marker` is where the next page starts, `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub marker: Option<String>,
}

/// Pages a listing ordered by name regardless of case (roles, instance profiles): the
/// marker is the next item's lowercased name.
fn paginate_by_name<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<T>, IamError> {
    let keyed: Vec<(String, T)> = items
        .into_iter()
        .map(|item| (name(&item).to_lowercase(), item))
        .collect();
    let page = paginate(keyed, |(k, _)| k.as_str(), marker, max_items)?;
    Ok(Page {
        items: page.items.into_iter().map(|(_, item)| item).collect(),
        marker: page.marker,
    })
}

/// Pages an ordered listing. The marker is the key of the first item of the next page,
/// so a listing that changes between calls neither repeats nor skips untouched items.
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<T>, IamError> {
    let limit = match max_items {
        None => MAX_ITEMS_DEFAULT,
        Some(n @ 1..=1000) => usize::try_from(n).unwrap_or(MAX_ITEMS_DEFAULT),
        Some(n) => {
            return Err(validation(
                &n.to_string(),
                "maxItems",
                "Member must have value between 1 and 1000",
            ));
        }
    };
    let mut rest = items.into_iter().skip_while(|item| match marker {
        Some(m) => key(item) < m,
        None => false,
    });
    let page: Vec<T> = rest.by_ref().take(limit).collect();
    let marker = rest.next().map(|next| key(&next).to_owned());
    Ok(Page {
        items: page,
        marker,
    })
}

/// IAM's tag key `[\p{L}\p{Z}\p{N}_.:/=+\-@]+` (1–128) and value (0–256) rules.
fn is_tag_char(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

fn check_tag_key(key: &str, member: &str) -> Result<(), IamError> {
    let len = key.chars().count();
    if !(1..=128).contains(&len) || !key.chars().all(is_tag_char) {
        return Err(validation(
            key,
            member,
            "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+ and have length between 1 and 128",
        ));
    }
    Ok(())
}

/// Checks tags as IAM does before any of them is applied.
pub fn check_tags(tags: &[IamTag]) -> Result<(), IamError> {
    if tags.len() > TAGS_PER_ENTITY_MAX {
        return Err(validation(
            &tags.len().to_string(),
            "tags",
            "Member must have length less than or equal to 50",
        ));
    }
    let mut seen: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        check_tag_key(&tag.key, "tags.member.key")?;
        if tag.value.chars().count() > 256 || !tag.value.chars().all(is_tag_char) {
            return Err(validation(
                &tag.value,
                "tags.member.value",
                "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]* and have length between 0 and 256",
            ));
        }
        let folded = tag.key.to_lowercase();
        if seen.contains(&folded) {
            return Err(IamError::InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            ));
        }
        seen.push(folded);
    }
    Ok(())
}

fn check_tag_keys(keys: &[String]) -> Result<(), IamError> {
    if keys.len() > TAGS_PER_ENTITY_MAX {
        return Err(validation(
            &keys.len().to_string(),
            "tagKeys",
            "Member must have length less than or equal to 50",
        ));
    }
    keys.iter()
        .try_for_each(|k| check_tag_key(k, "tagKeys.member"))
}

fn check_version_id(version_id: &str) -> Result<(), IamError> {
    let valid = version_id.strip_prefix('v').is_some_and(|n| {
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !n.starts_with('0')
    });
    if valid {
        Ok(())
    } else {
        Err(validation(
            version_id,
            "versionId",
            "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?",
        ))
    }
}

fn version_not_found(arn: &str, version_id: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "Policy {arn} version {version_id} does not exist or is not attachable."
    ))
}

fn check_path_prefix(prefix: Option<&str>) -> Result<&str, IamError> {
    let prefix = prefix.unwrap_or("/");
    if prefix.is_empty() || prefix.len() > 512 || !prefix.starts_with('/') {
        return Err(validation(
            prefix,
            "pathPrefix",
            "Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*",
        ));
    }
    Ok(prefix)
}

/// ListPolicies' `Scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyScope {
    #[default]
    All,
    Aws,
    Local,
}

impl PolicyScope {
    pub fn parse(s: &str) -> Result<Self, IamError> {
        match s {
            "All" => Ok(Self::All),
            "AWS" => Ok(Self::Aws),
            "Local" => Ok(Self::Local),
            other => Err(validation(
                other,
                "scope",
                "Member must satisfy enum value set: [All, AWS, Local]",
            )),
        }
    }
}

/// What ListPolicies filters by.
#[derive(Debug, Clone, Default)]
pub struct ListPoliciesFilter<'a> {
    pub scope: PolicyScope,
    pub only_attached: bool,
    pub path_prefix: Option<&'a str>,
    pub marker: Option<&'a str>,
    pub max_items: Option<i64>,
}

impl Iam<'_> {
    /// An entity's tags, for the Get* responses that include them.
    pub async fn iam_entity_tags(&self, arn: &str) -> Result<Vec<IamTag>, IamError> {
        Ok(self.metadata.list_iam_resource_tags(arn).await?)
    }

    async fn apply_tags(&self, arn: &str, tags: &[IamTag]) -> Result<(), IamError> {
        if tags.is_empty() {
            return Ok(());
        }
        Ok(self
            .metadata
            .tag_iam_resource(arn, tags, TAGS_PER_ENTITY_MAX)
            .await?)
    }

    /// CreateRole; with `Tags` it also needs `iam:TagRole`.
    pub async fn create_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &CreateRoleInput<'_>,
    ) -> Result<(RoleRecord, Vec<IamTag>), IamError> {
        let tags = input.tags;
        check_tags(tags)?;
        if !tags.is_empty() {
            let arn = self.iam_arn(&format!(
                "role{}{}",
                path(input.path)?,
                role_name(input.name)?
            ));
            self.iam_authorize(caller, facts, "iam:TagRole", &arn)
                .await?;
        }
        let role = self.create_role_record(caller, facts, input).await?;
        self.apply_tags(&role.arn, tags).await?;
        Ok((role, tags.to_vec()))
    }

    /// CreatePolicy; with `Tags` it also needs `iam:TagPolicy`.
    pub async fn create_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &CreatePolicyInput<'_>,
    ) -> Result<(ManagedPolicyRecord, Vec<IamTag>), IamError> {
        let tags = input.tags;
        check_tags(tags)?;
        if !tags.is_empty() {
            let arn = self.iam_arn(&format!(
                "policy{}{}",
                path(input.path)?,
                policy_name(input.name)?
            ));
            self.iam_authorize(caller, facts, "iam:TagPolicy", &arn)
                .await?;
        }
        let policy = self.create_policy_record(caller, facts, input).await?;
        self.apply_tags(&policy.arn, tags).await?;
        Ok((policy, tags.to_vec()))
    }

    /// CreateOpenIDConnectProvider with `Tags`: also needs `iam:TagOpenIDConnectProvider`
    /// when tags are given.
    pub async fn create_open_id_connect_provider_with_tags(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        url: &str,
        client_ids: &[String],
        thumbprints: &[String],
        tags: &[IamTag],
    ) -> Result<(OidcProviderRecord, Vec<IamTag>), IamError> {
        check_tags(tags)?;
        if !tags.is_empty() {
            let host_path = url.strip_prefix("https://").unwrap_or(url);
            let arn = self.iam_arn(&format!(
                "oidc-provider/{}",
                host_path.trim_end_matches('/')
            ));
            self.iam_authorize(caller, facts, "iam:TagOpenIDConnectProvider", &arn)
                .await?;
        }
        let provider = self
            .create_open_id_connect_provider(caller, facts, url, client_ids, thumbprints)
            .await?;
        self.apply_tags(&provider.arn, tags).await?;
        Ok((provider, tags.to_vec()))
    }

    // --- Policy versions -------------------------------------------------------------

    pub async fn create_policy_version(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<PolicyVersionRecord, IamError> {
        policy_arn(arn)?;
        document_length(document, "policyDocument")?;
        self.iam_authorize(caller, facts, "iam:CreatePolicyVersion", arn)
            .await?;
        if non_whitespace_len(document) > MANAGED_POLICY_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PolicySize: {MANAGED_POLICY_MAX}"
            )));
        }
        check_policy(document, PolicyKind::Identity)?;
        match self
            .metadata
            .create_policy_version(
                arn,
                document,
                crate::now_unix(),
                set_as_default,
                POLICY_VERSIONS_MAX,
            )
            .await
        {
            Err(StoreError::NotFound) => Err(policy_not_found(arn)),
            other => Ok(other?),
        }
    }

    pub async fn list_policy_versions(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<PolicyVersionRecord>, IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, "iam:ListPolicyVersions", arn)
            .await?;
        let versions = match self.metadata.list_policy_versions(arn).await {
            Err(StoreError::NotFound) => return Err(policy_not_found(arn)),
            other => other?,
        };
        // Newest first; the marker compares version numbers, not text.
        let keyed: Vec<(String, PolicyVersionRecord)> = versions
            .into_iter()
            .map(|v| {
                let n: u64 = v.version_id.trim_start_matches('v').parse().unwrap_or(0);
                (format!("{:020}", u64::MAX - n), v)
            })
            .collect();
        let page = paginate(keyed, |(k, _)| k.as_str(), marker, max_items)?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, v)| v).collect(),
            marker: page.marker,
        })
    }

    pub async fn delete_policy_version(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        check_version_id(version_id)?;
        self.iam_authorize(caller, facts, "iam:DeletePolicyVersion", arn)
            .await?;
        match self.metadata.delete_policy_version(arn, version_id).await {
            Err(StoreError::NotFound) => Err(version_not_found(arn, version_id)),
            other => Ok(other?),
        }
    }

    pub async fn set_default_policy_version(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        check_version_id(version_id)?;
        self.iam_authorize(caller, facts, "iam:SetDefaultPolicyVersion", arn)
            .await?;
        match self
            .metadata
            .set_default_policy_version(arn, version_id, crate::now_unix())
            .await
        {
            Err(StoreError::NotFound) => Err(version_not_found(arn, version_id)),
            other => Ok(other?),
        }
    }

    // --- Listings --------------------------------------------------------------------

    pub async fn list_roles(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<RoleRecord>, IamError> {
        let prefix = check_path_prefix(path_prefix)?;
        self.iam_authorize(caller, facts, "iam:ListRoles", "*")
            .await?;
        let mut roles: Vec<RoleRecord> = self
            .metadata
            .list_roles()
            .await?
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect();
        // IAM lists roles by name regardless of case.
        roles.sort_by_key(|r| r.name.to_lowercase());
        paginate_by_name(roles, |r| r.name.as_str(), marker, max_items)
    }

    pub async fn list_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        filter: &ListPoliciesFilter<'_>,
    ) -> Result<Page<ManagedPolicyRecord>, IamError> {
        let prefix = check_path_prefix(filter.path_prefix)?;
        self.iam_authorize(caller, facts, "iam:ListPolicies", "*")
            .await?;
        // Berth has no AWS managed policies: every policy is the account's own.
        let policies: Vec<ManagedPolicyRecord> = if filter.scope == PolicyScope::Aws {
            Vec::new()
        } else {
            self.metadata
                .list_managed_policies()
                .await?
                .into_iter()
                .filter(|p| p.path.starts_with(prefix))
                .filter(|p| !filter.only_attached || p.attachment_count > 0)
                .collect()
        };
        paginate(
            policies,
            |p| p.arn.as_str(),
            filter.marker,
            filter.max_items,
        )
    }

    // --- Tags ------------------------------------------------------------------------

    pub async fn tag_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        tags: &[IamTag],
    ) -> Result<(), IamError> {
        check_tags(tags)?;
        let role = self
            .authorized_role(caller, facts, "iam:TagRole", role)
            .await?;
        self.apply_tags(&role.arn, tags).await
    }

    pub async fn untag_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        keys: &[String],
    ) -> Result<(), IamError> {
        check_tag_keys(keys)?;
        let role = self
            .authorized_role(caller, facts, "iam:UntagRole", role)
            .await?;
        Ok(self.metadata.untag_iam_resource(&role.arn, keys).await?)
    }

    pub async fn list_role_tags(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        role: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<IamTag>, IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:ListRoleTags", role)
            .await?;
        let tags = self.metadata.list_iam_resource_tags(&role.arn).await?;
        paginate_tags(tags, marker, max_items)
    }

    /// Authorizes `action` on a managed policy and checks that it exists.
    async fn authorized_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, action, arn).await?;
        match self.metadata.get_managed_policy(arn).await? {
            Some(_) => Ok(()),
            None => Err(policy_not_found(arn)),
        }
    }

    pub async fn tag_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        tags: &[IamTag],
    ) -> Result<(), IamError> {
        check_tags(tags)?;
        self.authorized_policy(caller, facts, "iam:TagPolicy", arn)
            .await?;
        self.apply_tags(arn, tags).await
    }

    pub async fn untag_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        keys: &[String],
    ) -> Result<(), IamError> {
        check_tag_keys(keys)?;
        self.authorized_policy(caller, facts, "iam:UntagPolicy", arn)
            .await?;
        Ok(self.metadata.untag_iam_resource(arn, keys).await?)
    }

    pub async fn list_policy_tags(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<IamTag>, IamError> {
        self.authorized_policy(caller, facts, "iam:ListPolicyTags", arn)
            .await?;
        let tags = self.metadata.list_iam_resource_tags(arn).await?;
        paginate_tags(tags, marker, max_items)
    }

    /// Authorizes `action` on an OIDC provider and checks that it exists.
    async fn authorized_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        arn: &str,
    ) -> Result<OidcProviderRecord, IamError> {
        policy_arn(arn)?;
        self.iam_authorize(caller, facts, action, arn).await?;
        self.metadata
            .get_oidc_provider(arn)
            .await?
            .ok_or_else(|| provider_not_found(arn))
    }

    pub async fn tag_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        tags: &[IamTag],
    ) -> Result<(), IamError> {
        check_tags(tags)?;
        self.authorized_provider(caller, facts, "iam:TagOpenIDConnectProvider", arn)
            .await?;
        self.apply_tags(arn, tags).await
    }

    pub async fn untag_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        keys: &[String],
    ) -> Result<(), IamError> {
        check_tag_keys(keys)?;
        self.authorized_provider(caller, facts, "iam:UntagOpenIDConnectProvider", arn)
            .await?;
        Ok(self.metadata.untag_iam_resource(arn, keys).await?)
    }

    pub async fn list_open_id_connect_provider_tags(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<IamTag>, IamError> {
        self.authorized_provider(caller, facts, "iam:ListOpenIDConnectProviderTags", arn)
            .await?;
        let tags = self.metadata.list_iam_resource_tags(arn).await?;
        paginate_tags(tags, marker, max_items)
    }

    // --- OIDC provider updates -------------------------------------------------------

    pub async fn add_client_id_to_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        client_id: &str,
    ) -> Result<(), IamError> {
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(validation(
                client_id,
                "clientID",
                "Member must have length between 1 and 255",
            ));
        }
        self.authorized_provider(caller, facts, "iam:AddClientIDToOpenIDConnectProvider", arn)
            .await?;
        match self
            .metadata
            .add_oidc_provider_client_id(arn, client_id, CLIENT_IDS_MAX)
            .await
        {
            Err(StoreError::NotFound) => Err(provider_not_found(arn)),
            other => Ok(other?),
        }
    }

    pub async fn remove_client_id_from_open_id_connect_provider(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        client_id: &str,
    ) -> Result<(), IamError> {
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(validation(
                client_id,
                "clientID",
                "Member must have length between 1 and 255",
            ));
        }
        self.authorized_provider(
            caller,
            facts,
            "iam:RemoveClientIDFromOpenIDConnectProvider",
            arn,
        )
        .await?;
        match self
            .metadata
            .remove_oidc_provider_client_id(arn, client_id)
            .await
        {
            Err(StoreError::NotFound) => Err(provider_not_found(arn)),
            other => Ok(other?),
        }
    }

    pub async fn update_open_id_connect_provider_thumbprint(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        thumbprints: &[String],
    ) -> Result<(), IamError> {
        check_thumbprints(thumbprints)?;
        self.authorized_provider(
            caller,
            facts,
            "iam:UpdateOpenIDConnectProviderThumbprint",
            arn,
        )
        .await?;
        match self
            .metadata
            .update_oidc_provider_thumbprints(arn, thumbprints)
            .await
        {
            Err(StoreError::NotFound) => Err(provider_not_found(arn)),
            other => Ok(other?),
        }
    }
}

fn check_thumbprints(thumbprints: &[String]) -> Result<(), IamError> {
    if thumbprints.len() > THUMBPRINTS_MAX {
        return Err(IamError::InvalidInput(format!(
            "Thumbprint list must contain at most {THUMBPRINTS_MAX} entries."
        )));
    }
    for t in thumbprints {
        if t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(validation(
                t,
                "thumbprintList",
                "Member must have length equal to 40",
            ));
        }
    }
    Ok(())
}

/// Tags keep their order; the marker is the position of the next one.
fn paginate_tags(
    tags: Vec<IamTag>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<IamTag>, IamError> {
    let keyed: Vec<(String, IamTag)> = tags
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("{i:04}"), t))
        .collect();
    let page = paginate(keyed, |(k, _)| k.as_str(), marker, max_items)?;
    Ok(Page {
        items: page.items.into_iter().map(|(_, t)| t).collect(),
        marker: page.marker,
    })
}

#[cfg(test)]
mod setup_ops_tests {
    use super::*;

    fn tag(k: &str, v: &str) -> IamTag {
        IamTag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn pages_resume_at_the_marker() {
        let items: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
        let first = paginate(items.clone(), |s| s.as_str(), None, Some(2)).unwrap();
        assert_eq!(first.items, vec!["r0", "r1"]);
        assert_eq!(first.marker.as_deref(), Some("r2"));
        let last = paginate(items.clone(), |s| s.as_str(), Some("r4"), Some(2)).unwrap();
        assert_eq!((last.items, last.marker), (vec!["r4".to_owned()], None));
        assert!(matches!(
            paginate(items.clone(), |s| s.as_str(), None, Some(0)),
            Err(IamError::Validation(_))
        ));
        assert!(paginate(items, |s| s.as_str(), None, Some(1001)).is_err());
    }

    #[test]
    fn tags_follow_iam_rules() {
        check_tags(&[tag("managed-by", "berth"), tag("a b:c/d=e+f-g@h_i.", "")]).unwrap();
        check_tags(&[tag("café", "日本")]).unwrap();
        assert!(matches!(
            check_tags(&[tag("Team", "a"), tag("team", "b")]),
            Err(IamError::InvalidInput(_))
        ));
        assert!(check_tags(&[tag("", "x")]).is_err());
        assert!(check_tags(&[tag(&"k".repeat(129), "x")]).is_err());
        assert!(check_tags(&[tag("k", &"v".repeat(257))]).is_err());
        assert!(check_tags(&[tag("semi;colon", "x")]).is_err());
        assert!(check_tags(&[tag("k", "a,b")]).is_err());
        let many: Vec<IamTag> = (0..51).map(|i| tag(&format!("k{i}"), "")).collect();
        assert!(check_tags(&many).is_err());
        assert!(check_tag_keys(&["ok".into()]).is_ok());
        assert!(check_tag_keys(&["".into()]).is_err());
    }

    #[test]
    fn version_ids() {
        check_version_id("v1").unwrap();
        check_version_id("v12").unwrap();
        for bad in ["v0", "1", "v", "v01", "vx"] {
            assert!(check_version_id(bad).is_err(), "{bad}");
        }
    }
}
