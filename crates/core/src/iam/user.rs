//! IAM users and their access keys: long-term, least-privilege credentials for people and
//! CI systems that cannot use OIDC, instead of the root keys. A user's requests are
//! authorized by its inline and attached policies, narrowed by its permissions boundary,
//! like a role session's (see `authorizer`).
//!
//! A secret access key must be readable to verify SigV4 signatures, so it is stored
//! sealed (AES-256-GCM, bound to its key id) under a key derived from the server's root
//! secret: the database alone does not reveal it. Changing the root credentials therefore
//! makes every user's secret unreadable (those keys must be made again).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_policy::PolicyKind;
use berth_store::{AccessKeyRecord, AttachedPolicy, StoreError, UserRecord};

use super::{
    Iam, IamError, Page, boundary_arn, boundary_not_found, check_policy, document_length,
    non_whitespace_len, paginate_by_name, path, policy_arn, policy_name, policy_not_found,
    validation,
};
use crate::authorizer::RequestFacts;
use crate::caller::{Caller, KeySession, UserCaller};
use crate::error::{AuthError, InternalError};
use crate::ids;

/// IAM's limit on a user's access keys.
pub const ACCESS_KEYS_PER_USER: usize = 2;
/// IAM's quota on the inline policies of one user together (whitespace not counted).
pub const INLINE_POLICIES_PER_USER_MAX: usize = 2048;

/// Seals and opens users' secret access keys.
pub struct AccessKeySecrets {
    key: LessSafeKey,
}

impl AccessKeySecrets {
    /// The sealing key, derived from the root secret access key.
    pub fn new(root_secret: &str) -> Result<Self, InternalError> {
        let bad = |_| InternalError("deriving the access key sealing key".into());
        let prk = Salt::new(HKDF_SHA256, b"berth").extract(root_secret.as_bytes());
        let okm = prk
            .expand(&[b"iam-access-key-secrets/v1"], &AES_256_GCM)
            .map_err(bad)?;
        Ok(Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    fn seal(&self, access_key_id: &str, secret: &str) -> Result<String, InternalError> {
        let nonce = ids::random_bytes::<NONCE_LEN>();
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(access_key_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| InternalError("sealing a secret access key".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// `None` when the seal does not open with this server's key (root credentials
    /// changed, or the row was tampered with).
    fn open(&self, access_key_id: &str, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).ok()?,
                Aad::from(access_key_id.as_bytes()),
                &mut buf,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// A new access key as CreateAccessKey shows it, the only time its secret is shown.
pub struct NewAccessKey {
    pub user_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub created_at: i64,
}

/// IAM's user name rule: 1 to 64 of `[\w+=,.@-]`.
fn user_name(name: &str) -> Result<&str, IamError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(validation(
            name,
            "userName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 64",
        ))
    }
}

fn user_not_found(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn key_not_found(id: &str) -> IamError {
    IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found"))
}

fn check_status(status: &str) -> Result<(), IamError> {
    match status {
        "Active" | "Inactive" => Ok(()),
        other => Err(validation(
            other,
            "status",
            "Member must satisfy enum value set: [Active, Inactive]",
        )),
    }
}

impl Iam<'_> {
    /// Looks a user up and authorizes `action` on it; the caller learns whether the user
    /// exists only once authorized.
    async fn authorized_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
    ) -> Result<UserRecord, IamError> {
        let name = user_name(name)?;
        let user = self.metadata.get_user(name).await?;
        let arn = user.as_ref().map_or_else(
            || self.iam_arn(&format!("user/{name}")),
            |u| u.arn.to_string(),
        );
        let facts = super::with_current_boundary(
            facts,
            action,
            user.as_ref()
                .and_then(|u| u.permissions_boundary.as_deref()),
        );
        self.iam_authorize(caller, &facts, action, &arn).await?;
        user.ok_or_else(|| user_not_found(name))
    }

    /// The user an operation with an optional `UserName` is about: the one named, or (as
    /// IAM does) the calling user itself.
    fn user_name_or_caller<'n>(
        &self,
        caller: &'n Caller,
        name: Option<&'n str>,
    ) -> Result<&'n str, IamError> {
        match (name, caller) {
            (Some(name), _) => Ok(name),
            (None, Caller::User(user)) => Ok(&user.user_name),
            (None, _) => Err(IamError::Validation(
                "Must specify userName when calling with non-User credentials".into(),
            )),
        }
    }

    pub async fn create_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        user_path: Option<&str>,
        permissions_boundary: Option<&str>,
        tags: &[berth_store::IamTag],
    ) -> Result<UserRecord, IamError> {
        let name = user_name(name)?;
        let user_path = path(user_path)?;
        super::check_tags(tags)?;
        if let Some(boundary) = permissions_boundary {
            boundary_arn(boundary)?;
        }
        let arn = self.iam_arn(&format!("user{user_path}{name}"));
        let facts = match permissions_boundary {
            Some(b) => facts.with_request_key(super::PERMISSIONS_BOUNDARY_KEY, b),
            None => facts.clone(),
        };
        self.iam_authorize(caller, &facts, "iam:CreateUser", &arn)
            .await?;
        if !tags.is_empty() {
            self.iam_authorize(caller, &facts, "iam:TagUser", &arn)
                .await?;
        }
        if let Some(boundary) = permissions_boundary
            && self.metadata.get_managed_policy(boundary).await?.is_none()
        {
            return Err(boundary_not_found(boundary));
        }
        let record = UserRecord {
            name: name.to_owned(),
            user_id: ids::unique_id("AIDA"),
            path: user_path,
            arn: self.new_entity_arn(&arn)?,
            created_at: crate::now_unix(),
            permissions_boundary: permissions_boundary.map(str::to_owned),
        };
        match self.metadata.create_user(&record).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(IamError::EntityAlreadyExists(format!(
                    "User with name {name} already exists."
                )));
            }
            Err(StoreError::NotFound) => {
                return Err(boundary_not_found(permissions_boundary.unwrap_or_default()));
            }
            Err(e) => return Err(e.into()),
        }
        self.apply_tags(&record.arn, tags).await?;
        Ok(record)
    }

    /// GetUser: the named user, or the caller's own. For the root user without a name,
    /// IAM answers with the account's root identity (`None` here).
    pub async fn get_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: Option<&str>,
    ) -> Result<Option<UserRecord>, IamError> {
        if name.is_none() && matches!(caller, Caller::Root { .. }) {
            return Ok(None);
        }
        let name = self.user_name_or_caller(caller, name)?;
        self.authorized_user(caller, facts, "iam:GetUser", name)
            .await
            .map(Some)
    }

    pub async fn list_users(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<UserRecord>, IamError> {
        let prefix = super::check_path_prefix(path_prefix)?;
        self.iam_authorize(caller, facts, "iam:ListUsers", &self.iam_arn("user/"))
            .await?;
        let users = self
            .metadata
            .list_users()
            .await?
            .into_iter()
            .filter(|u| u.path.starts_with(prefix))
            .collect();
        paginate_by_name(users, |u| u.name.as_str(), marker, max_items)
    }

    /// UpdateUser: a new name and/or path. Tags follow, and so do trust, repository and
    /// template policies that name the user by ARN (IAM keeps them bound to the user): a
    /// new user of the old name is not their principal.
    pub async fn update_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        if let Some(n) = new_name {
            user_name(n)?;
        }
        let new_path = new_path.map(|p| path(Some(p))).transpose()?;
        let user = self
            .authorized_user(caller, facts, "iam:UpdateUser", name)
            .await?;
        let new_name = new_name.unwrap_or(&user.name);
        let new_path = new_path.unwrap_or_else(|| user.path.clone());
        let new_arn = self.iam_arn(&format!("user{new_path}{new_name}"));
        if new_arn != user.arn.as_str() {
            // Renaming needs the action on the new name too, as in IAM.
            self.iam_authorize(caller, facts, "iam:UpdateUser", &new_arn)
                .await?;
        }
        match self
            .metadata
            .update_user(&user.name, new_name, &new_path, &new_arn)
            .await
        {
            Err(StoreError::NotFound) => Err(user_not_found(&user.name)),
            Err(StoreError::AlreadyExists) => Err(IamError::EntityAlreadyExists(format!(
                "User with name {new_name} already exists."
            ))),
            other => {
                other?;
                if new_arn != user.arn.as_str() {
                    self.rewrite_principal(&user.arn, &new_arn).await?;
                }
                Ok(())
            }
        }
    }

    /// DeleteUser: refused while the user has access keys or policies, as in IAM.
    pub async fn delete_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(), IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:DeleteUser", name)
            .await?;
        match self.metadata.delete_user(&user.name).await {
            Err(StoreError::NotFound) => Err(user_not_found(&user.name)),
            other => {
                other?;
                // Policies that named the user by ARN now name its unique id, so a new
                // user of the same name is not their principal.
                self.rewrite_principal(&user.arn, &user.user_id).await
            }
        }
    }

    pub async fn put_user_permissions_boundary(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        boundary: &str,
    ) -> Result<(), IamError> {
        boundary_arn(boundary)?;
        let facts = facts.with_request_key(super::PERMISSIONS_BOUNDARY_KEY, boundary);
        let user = self
            .authorized_user(caller, &facts, "iam:PutUserPermissionsBoundary", name)
            .await?;
        match self
            .metadata
            .set_user_permissions_boundary(&user.name, Some(boundary))
            .await
        {
            Err(StoreError::NotFound) => match self.metadata.get_user(&user.name).await? {
                Some(_) => Err(boundary_not_found(boundary)),
                None => Err(user_not_found(&user.name)),
            },
            other => Ok(other?),
        }
    }

    pub async fn delete_user_permissions_boundary(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(), IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:DeleteUserPermissionsBoundary", name)
            .await?;
        match self
            .metadata
            .set_user_permissions_boundary(&user.name, None)
            .await
        {
            Err(StoreError::NotFound) => Err(user_not_found(&user.name)),
            other => Ok(other?),
        }
    }

    pub async fn tag_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        tags: &[berth_store::IamTag],
    ) -> Result<(), IamError> {
        super::check_tags(tags)?;
        let user = self
            .authorized_user(caller, facts, "iam:TagUser", name)
            .await?;
        self.apply_tags(&user.arn, tags).await
    }

    pub async fn untag_user(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        keys: &[String],
    ) -> Result<(), IamError> {
        super::check_tag_keys(keys)?;
        let user = self
            .authorized_user(caller, facts, "iam:UntagUser", name)
            .await?;
        Ok(self.metadata.untag_iam_resource(&user.arn, keys).await?)
    }

    pub async fn list_user_tags(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<berth_store::IamTag>, IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:ListUserTags", name)
            .await?;
        let tags = self.metadata.list_iam_resource_tags(&user.arn).await?;
        super::paginate_tags(tags, marker, max_items)
    }

    // --- User policies -------------------------------------------------------------

    pub async fn put_user_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let name = policy_name(name)?;
        document_length(document, "policyDocument")?;
        let user = self
            .authorized_user(caller, facts, "iam:PutUserPolicy", user)
            .await?;
        check_policy(document, PolicyKind::Identity)?;
        let mut total = non_whitespace_len(document);
        for other in self.metadata.list_user_policies(&user.name).await? {
            if other == name.as_str() {
                continue;
            }
            if let Some(text) = self.metadata.get_user_policy(&user.name, &other).await? {
                total += non_whitespace_len(&text);
            }
        }
        if total > INLINE_POLICIES_PER_USER_MAX {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {INLINE_POLICIES_PER_USER_MAX} bytes exceeded for user {}",
                user.name
            )));
        }
        match self
            .metadata
            .put_user_policy(&user.name, name.as_str(), document)
            .await
        {
            Err(StoreError::NotFound) => Err(user_not_found(&user.name)),
            other => Ok(other?),
        }
    }

    /// GetUserPolicy: the user's name as stored, and the document.
    pub async fn get_user_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
        name: &str,
    ) -> Result<(String, String), IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:GetUserPolicy", user)
            .await?;
        let document = self
            .metadata
            .get_user_policy(&user.name, name)
            .await?
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("The user policy with name {name} cannot be found."))
            })?;
        Ok((user.name, document))
    }

    pub async fn delete_user_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
        name: &str,
    ) -> Result<(), IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:DeleteUserPolicy", user)
            .await?;
        match self.metadata.delete_user_policy(&user.name, name).await {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "The user policy with name {name} cannot be found."
            ))),
            other => Ok(other?),
        }
    }

    pub async fn list_user_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
    ) -> Result<Vec<String>, IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:ListUserPolicies", user)
            .await?;
        Ok(self.metadata.list_user_policies(&user.name).await?)
    }

    pub async fn attach_user_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        let user = self
            .authorized_user(caller, facts, "iam:AttachUserPolicy", user)
            .await?;
        match self.metadata.attach_user_policy(&user.name, arn).await {
            Err(StoreError::NotFound) => match self.metadata.get_user(&user.name).await? {
                Some(_) => Err(policy_not_found(arn)),
                None => Err(user_not_found(&user.name)),
            },
            other => Ok(other?),
        }
    }

    pub async fn detach_user_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        policy_arn(arn)?;
        let user = self
            .authorized_user(caller, facts, "iam:DetachUserPolicy", user)
            .await?;
        match self.metadata.detach_user_policy(&user.name, arn).await {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            ))),
            other => Ok(other?),
        }
    }

    pub async fn list_attached_user_policies(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        user: &str,
    ) -> Result<Vec<AttachedPolicy>, IamError> {
        let user = self
            .authorized_user(caller, facts, "iam:ListAttachedUserPolicies", user)
            .await?;
        Ok(self
            .metadata
            .list_attached_user_policies(&user.name)
            .await?)
    }

    // --- Access keys ---------------------------------------------------------------

    /// CreateAccessKey: a new key for the named user (or the calling user), at most two
    /// per user. The secret is shown this once.
    pub async fn create_access_key(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: Option<&str>,
    ) -> Result<NewAccessKey, IamError> {
        let name = self.user_name_or_caller(caller, name)?;
        let user = self
            .authorized_user(caller, facts, "iam:CreateAccessKey", name)
            .await?;
        let access_key_id = ids::access_key_id("AKIA");
        let secret_access_key = ids::secret_access_key();
        let record = AccessKeyRecord {
            secret_sealed: self
                .access_key_secrets
                .seal(&access_key_id, &secret_access_key)?,
            access_key_id: access_key_id.clone(),
            status: "Active".into(),
            created_at: crate::now_unix(),
            last_used: None,
        };
        match self
            .metadata
            .create_access_key(&user.name, &record, ACCESS_KEYS_PER_USER)
            .await
        {
            Err(StoreError::NotFound) => return Err(user_not_found(&user.name)),
            other => other?,
        }
        Ok(NewAccessKey {
            user_name: user.name,
            access_key_id,
            secret_access_key,
            created_at: record.created_at,
        })
    }

    /// ListAccessKeys: the user's keys (without secrets).
    pub async fn list_access_keys(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: Option<&str>,
    ) -> Result<(String, Vec<AccessKeyRecord>), IamError> {
        let name = self.user_name_or_caller(caller, name)?;
        let user = self
            .authorized_user(caller, facts, "iam:ListAccessKeys", name)
            .await?;
        match self.metadata.list_access_keys(&user.name).await {
            Err(StoreError::NotFound) => Err(user_not_found(&user.name)),
            other => Ok((user.name, other?)),
        }
    }

    /// UpdateAccessKey: `Active` or `Inactive`; an inactive key signs nothing.
    pub async fn update_access_key(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: Option<&str>,
        access_key_id: &str,
        status: &str,
    ) -> Result<(), IamError> {
        check_status(status)?;
        let name = self.user_name_or_caller(caller, name)?;
        let user = self
            .authorized_user(caller, facts, "iam:UpdateAccessKey", name)
            .await?;
        match self
            .metadata
            .set_access_key_status(&user.name, access_key_id, status)
            .await
        {
            Err(StoreError::NotFound) => Err(key_not_found(access_key_id)),
            other => Ok(other?),
        }
    }

    pub async fn delete_access_key(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: Option<&str>,
        access_key_id: &str,
    ) -> Result<(), IamError> {
        let name = self.user_name_or_caller(caller, name)?;
        let user = self
            .authorized_user(caller, facts, "iam:DeleteAccessKey", name)
            .await?;
        match self
            .metadata
            .delete_access_key(&user.name, access_key_id)
            .await
        {
            Err(StoreError::NotFound) => Err(key_not_found(access_key_id)),
            other => Ok(other?),
        }
    }

    /// GetAccessKeyLastUsed: the key's user and last use. Authorized as
    /// `iam:GetAccessKeyLastUsed` on the key's user.
    pub async fn get_access_key_last_used(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        access_key_id: &str,
    ) -> Result<(String, AccessKeyRecord), IamError> {
        if !crate::ids::is_access_key_id_shaped(access_key_id) {
            return Err(validation(
                access_key_id,
                "accessKeyId",
                crate::ids::ACCESS_KEY_ID_RULE,
            ));
        }
        let found = self.metadata.get_access_key(access_key_id).await?;
        let user_arn = found
            .as_ref()
            .map_or_else(|| self.iam_arn("user/*"), |(_, user)| user.arn.to_string());
        self.iam_authorize(caller, facts, "iam:GetAccessKeyLastUsed", &user_arn)
            .await?;
        let (key, user) = found.ok_or_else(|| key_not_found(access_key_id))?;
        Ok((user.name, key))
    }
}

impl crate::Sts<'_> {
    /// The secret and caller behind an IAM user's access key: only an `Active` key of an
    /// existing user, whose secret this server can open.
    pub(crate) async fn resolve_user_key(
        &self,
        access_key_id: &str,
    ) -> Result<(String, Caller), AuthError> {
        let well_formed = access_key_id.len() == 20
            && access_key_id.starts_with("AKIA")
            && access_key_id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !well_formed {
            return Err(AuthError::InvalidClientTokenId);
        }
        let (key, user) = self.active_key(access_key_id).await?;
        let secret = self
            .access_key_secrets
            .open(access_key_id, &key.secret_sealed)
            .ok_or_else(|| {
                tracing::warn!(
                    access_key_id,
                    "an access key's secret does not open: were the root credentials changed?"
                );
                AuthError::InvalidClientTokenId
            })?;
        Ok((secret, self.user_caller(user, access_key_id, None)))
    }

    /// The caller behind a user's GetSessionToken session: the user as it is now, while
    /// the key the session was made with is still the user's and `Active` (deactivating
    /// or deleting it ends the sessions made with it, as it ends its registry passwords).
    pub(crate) async fn resolve_user_session(
        &self,
        access_key_id: &str,
        user_id: &str,
        session: KeySession,
    ) -> Result<Caller, AuthError> {
        let (_, user) = self.active_key(access_key_id).await?;
        if user.user_id != user_id {
            return Err(AuthError::InvalidClientTokenId);
        }
        Ok(self.user_caller(user, access_key_id, Some(session)))
    }

    /// An `Active` access key and its user.
    async fn active_key(
        &self,
        access_key_id: &str,
    ) -> Result<(AccessKeyRecord, UserRecord), AuthError> {
        match self
            .metadata
            .get_access_key(access_key_id)
            .await
            .map_err(|e| AuthError::Internal(e.into()))?
        {
            Some((key, user)) if key.status == "Active" => Ok((key, user)),
            _ => Err(AuthError::InvalidClientTokenId),
        }
    }

    fn user_caller(
        &self,
        user: UserRecord,
        access_key_id: &str,
        session: Option<KeySession>,
    ) -> Caller {
        Caller::User(Box::new(UserCaller {
            account: self.config.account_id.to_string(),
            user_name: user.name,
            user_arn: user.arn.to_string(),
            user_id: user.user_id,
            access_key_id: access_key_id.to_owned(),
            session,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_open_only_for_their_key_and_server() {
        let secrets = AccessKeySecrets::new("root-secret").unwrap();
        let sealed = secrets.seal("AKIAONE", "s3cr3t").unwrap();
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(secrets.open("AKIAONE", &sealed).as_deref(), Some("s3cr3t"));
        assert_eq!(
            secrets.open("AKIATWO", &sealed),
            None,
            "bound to its key id"
        );
        let other = AccessKeySecrets::new("another-root-secret").unwrap();
        assert_eq!(other.open("AKIAONE", &sealed), None);
        assert_eq!(secrets.open("AKIAONE", "not base64!"), None);
        assert_eq!(secrets.open("AKIAONE", ""), None);
    }

    #[test]
    fn user_names_follow_iams_rule() {
        for good in ["ci", "build+bot@example.com", "a.b_c-d=e,f"] {
            assert!(user_name(good).is_ok(), "{good}");
        }
        for bad in ["", "with space", "slash/y", &"x".repeat(65)] {
            assert!(user_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_arn_names_a_user() {
        let arn = berth_types::Arn::parse("arn:aws:iam::123456789012:user/ci/builder").unwrap();
        assert_eq!(arn.resource(), "user/ci/builder");
    }
}
