//! IAM: OIDC providers, roles, managed and inline policies, attachments. Each operation
//! authorizes the caller for its IAM action on the entity's ARN before touching state.

use berth_policy::{Policy, PolicyKind, non_whitespace_len};
use berth_store::{
    AttachedPolicy, ManagedPolicyRecord, OidcProviderRecord, PolicyVersionRecord, RoleRecord,
    StoreError,
};
use berth_types::{Arn, PolicyName, RoleName};

use crate::Services;
use crate::authorizer::{AuthzError, RequestFacts};
use crate::caller::Caller;
use crate::error::IamError;
use crate::ids;

pub mod simulate;

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

fn check_policy(document: &str, kind: PolicyKind) -> Result<Policy, IamError> {
    Policy::parse(document, kind).map_err(|e| IamError::MalformedPolicyDocument(e.message))
}

impl Services {
    fn iam_arn(&self, resource: &str) -> String {
        format!("arn:aws:iam::{}:{resource}", self.config.account_id)
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
            arn,
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

    #[allow(clippy::too_many_arguments)]
    pub async fn create_role(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        role_path: Option<&str>,
        trust_policy: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<RoleRecord, IamError> {
        let name = role_name(name)?;
        let role_path = path(role_path)?;
        if let Some(d) = description
            && d.chars().count() > 1000
        {
            return Err(validation(
                d,
                "description",
                "Member must have length less than or equal to 1000",
            ));
        }
        let max_session_duration = max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&max_session_duration) {
            return Err(validation(
                &max_session_duration.to_string(),
                "maxSessionDuration",
                "Member must have value between 3600 and 43200",
            ));
        }
        let arn = self.iam_arn(&format!("role{role_path}{name}"));
        self.iam_authorize(caller, facts, "iam:CreateRole", &arn)
            .await?;
        self.check_trust_policy(trust_policy)?;
        let record = RoleRecord {
            name: name.to_string(),
            role_id: ids::unique_id("AROA"),
            path: role_path,
            arn,
            trust_policy: trust_policy.to_owned(),
            description: description.map(str::to_owned),
            max_session_duration,
            created_at: crate::now_unix(),
        };
        match self.metadata.create_role(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            ))),
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
        let arn = role
            .as_ref()
            .map_or_else(|| self.iam_arn(&format!("role/{name}")), |r| r.arn.clone());
        self.iam_authorize(caller, facts, action, &arn).await?;
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
        if !self
            .metadata
            .list_attached_role_policies(&role.name)
            .await?
            .is_empty()
        {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if !self
            .metadata
            .list_role_policies(&role.name)
            .await?
            .is_empty()
        {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        match self.metadata.delete_role(&role.name).await {
            Err(StoreError::NotFound) => Err(role_not_found(&role.name)),
            Err(StoreError::Conflict(_)) => Err(IamError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            )),
            other => Ok(other?),
        }
    }

    pub async fn update_assume_role_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let role = self
            .authorized_role(caller, facts, "iam:UpdateAssumeRolePolicy", name)
            .await?;
        self.check_trust_policy(document)?;
        match self
            .metadata
            .update_role_trust_policy(&role.name, document)
            .await
        {
            Err(StoreError::NotFound) => Err(role_not_found(&role.name)),
            other => Ok(other?),
        }
    }

    // --- Managed policies ----------------------------------------------------------

    pub async fn create_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        policy_path: Option<&str>,
        document: &str,
        description: Option<&str>,
    ) -> Result<ManagedPolicyRecord, IamError> {
        let name = policy_name(name)?;
        let policy_path = path(policy_path)?;
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
            arn,
            name: name.to_string(),
            path: policy_path,
            policy_id: ids::unique_id("ANPA"),
            default_version_id: "v1".into(),
            description: description.map(str::to_owned),
            created_at: now,
            updated_at: now,
            attachment_count: 0,
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
        match self.metadata.delete_managed_policy(arn).await {
            Err(StoreError::NotFound) => Err(policy_not_found(arn)),
            Err(StoreError::Conflict(_)) => Err(IamError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            )),
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
        Ok((role.name, doc))
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

fn role_not_found(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
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
