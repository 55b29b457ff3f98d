use std::sync::Arc;

use async_trait::async_trait;
use berth_types::{Arn, Digest, PolicyName, RepositoryName, RoleName, Tag, TagMutability};

use crate::StoreResult;

/// An IAM OpenID Connect identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderRecord {
    pub arn: Arn,
    /// The provider URL without `https://`, as IAM returns it (`token.actions.githubusercontent.com`).
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// As created; unique regardless of case.
    pub name: RoleName,
    /// The role's unique id (`AROA…`): what sessions and policies bind to.
    pub role_id: String,
    pub path: String,
    pub arn: Arn,
    /// The trust policy exactly as submitted.
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub created_at: i64,
    /// The ARN of the managed policy that bounds the role's permissions, if any.
    pub permissions_boundary: Option<String>,
    /// The last time the role was assumed (filled in by reads; ignored on create).
    pub last_used: Option<RoleLastUsed>,
}

/// An IAM user: a principal with long-term access keys of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// As created; unique regardless of case.
    pub name: String,
    /// The user's unique id (`AIDA…`): what policies bind to.
    pub user_id: String,
    pub path: String,
    pub arn: Arn,
    pub created_at: i64,
    /// The ARN of the managed policy that bounds the user's permissions, if any.
    pub permissions_boundary: Option<String>,
}

/// An IAM group: its policies apply to every user in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// As created; unique regardless of case.
    pub name: String,
    /// The group's unique id (`AGPA…`).
    pub group_id: String,
    pub path: String,
    pub arn: Arn,
    pub created_at: i64,
}

/// A user's long-term access key.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    /// The secret access key, sealed by the service layer: the store never sees it clear.
    pub secret_sealed: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub created_at: i64,
    /// Filled in by reads; ignored on create.
    pub last_used: Option<AccessKeyLastUsed>,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("secret_sealed", &"<redacted>")
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("last_used", &self.last_used)
            .finish()
    }
}

/// When, with which service and in which region an access key was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyLastUsed {
    pub at: i64,
    pub service: String,
    pub region: String,
}

/// When and where a role was last assumed: IAM's `RoleLastUsed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleLastUsed {
    pub at: i64,
    pub region: String,
}

/// An IAM instance profile: a container for one role (IAM allows no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfileRecord {
    /// As created; unique regardless of case.
    pub name: String,
    /// The profile's unique id (`AIPA…`).
    pub profile_id: String,
    pub path: String,
    pub arn: Arn,
    pub created_at: i64,
    /// The role it holds, if any (filled in by reads; ignored on create).
    pub roles: Vec<RoleRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicyRecord {
    pub arn: Arn,
    pub name: PolicyName,
    pub path: String,
    pub policy_id: String,
    pub default_version_id: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Filled in by the store on reads; ignored on create.
    pub attachment_count: i64,
    /// The roles it bounds; filled in by the store on reads, ignored on create.
    pub boundary_usage_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    pub version_id: String,
    /// The document exactly as submitted.
    pub document: String,
    pub is_default: bool,
    pub created_at: i64,
}

/// A policy that applies to a role, as the authorizer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// `inline:<name>` for inline policies, the policy ARN for managed ones.
    pub label: String,
    /// Changes whenever the document does (inline policies: a hash of the document, chosen
    /// by the store; managed: the default version id), so compiled policies can be cached.
    pub version: String,
    pub document: String,
}

/// Everything that decides what a role's sessions may do, read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPolicies {
    /// Inline policies first, then managed ones, each in byte order of their labels.
    pub identity: Vec<EffectivePolicy>,
    /// The permissions boundary's default version. A boundary whose policy cannot be read
    /// is a document that allows nothing: a boundary only ever narrows.
    pub boundary: Option<EffectivePolicy>,
    /// The principal's own tags (key, value), by key: its `aws:PrincipalTag/KEY` values.
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

/// A tag on an IAM entity (role, managed policy, OIDC provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRecord {
    pub name: RepositoryName,
    pub created_at: i64,
    pub image_tag_mutability: TagMutability,
    /// The filters of a `*_WITH_EXCLUSION` mutability (empty otherwise).
    pub tag_mutability_exclusions: Vec<String>,
    pub scan_on_push: bool,
    pub encryption_type: String,
    /// The repository policy (SetRepositoryPolicy) exactly as submitted.
    pub policy: Option<String>,
}

/// Registry-wide documents kept by repository prefix, one kind to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixDocumentKind {
    /// ECR repository creation templates: the settings a repository created under the
    /// prefix gets. Their prefix is a namespace (`prod`, `prod/team`) or `ROOT`.
    CreationTemplate,
    /// ECR pull-through cache rules: the upstream registry that repositories under the
    /// prefix are pulled from.
    PullThroughCacheRule,
}

/// One document of a [`PrefixDocumentKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixDocument {
    pub prefix: String,
    /// The document as JSON (the service layer's format).
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A repository's ECR lifecycle policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicyRecord {
    pub repository: RepositoryName,
    /// The policy exactly as submitted.
    pub text: String,
    /// When the server last applied it (unix seconds); `None` since it was (re)set.
    pub last_evaluated_at: Option<i64>,
}

/// Which images a listing wants, by whether any tag points at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagStatus {
    #[default]
    Any,
    Tagged,
    Untagged,
}

/// A position in a repository's image listing, whose order is newest push first (then
/// digest, descending): a page starts after this image, or at it when `inclusive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCursor {
    pub pushed_at: i64,
    pub digest: Digest,
    pub inclusive: bool,
}

/// An image a lifecycle policy may expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleCandidate {
    pub digest: Digest,
    pub pushed_at: i64,
    pub tags: Vec<String>,
    pub last_pulled_at: Option<i64>,
}

/// An image as listings show it: its record (without its blob and child lists), its
/// tags in lexical order, and when it was last pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub manifest: ManifestRecord,
    pub tags: Vec<String>,
    pub last_pulled_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    pub repository: RepositoryName,
    pub digest: Digest,
    pub media_type: String,
    /// Size of the manifest bytes.
    pub size: i64,
    /// Sum of the sizes of the blobs it references (ECR's `imageSizeInBytes`).
    pub image_size: i64,
    pub pushed_at: i64,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// Blobs the manifest references (config and layers).
    pub blobs: Vec<Digest>,
    /// Manifests an index references.
    pub children: Vec<Digest>,
}

/// What `put_manifest` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutManifestOutcome {
    /// The manifest or the tag is new, or the tag moved.
    Stored,
    /// The manifest existed already, and so did the tag (if any) pointing at it.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub repository: RepositoryName,
    pub created_at: i64,
    /// Size of the last ECR `UploadLayerPart`, if any (ECR's 5 MiB rule).
    pub last_part_size: Option<i64>,
    /// A part below 5 MiB was followed by another part.
    pub small_part_seen: bool,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// What the key signs or seals (`session-token`, `dev-issuer`, ...).
    pub purpose: String,
    pub material: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("purpose", &self.purpose)
            .field("material", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Every record Berth keeps, one trait per area so a reader sees one area at a time.
/// Writes that must be atomic (a tag move, a repository delete) are one method each, so a
/// backend can put them in one transaction. Implement the five area traits; this one
/// follows.
pub trait MetadataStore:
    IamStore + UserStore + RepositoryStore + UploadStore + LeaseStore + KeyStore + AuditStore
{
}

impl<T> MetadataStore for T where
    T: IamStore
        + UserStore
        + RepositoryStore
        + UploadStore
        + LeaseStore
        + KeyStore
        + AuditStore
        + ?Sized
{
}

/// IAM users: the users, their inline and attached policies, and their access keys.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// `AlreadyExists` when a user of that name (regardless of case) exists; `NotFound`
    /// when its permissions boundary names no policy.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// Case-insensitive lookup.
    async fn get_user(&self, name: &str) -> StoreResult<Option<UserRecord>>;
    /// Every user, by name regardless of case.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Renames and/or moves the user (its tags follow its new ARN). `NotFound` when
    /// absent; `AlreadyExists` when the new name is taken.
    async fn update_user(
        &self,
        name: &str,
        new_name: &str,
        new_path: &str,
        new_arn: &str,
    ) -> StoreResult<()>;
    /// `NotFound` when absent; `Conflict` while it has access keys or policies, or is in
    /// a group.
    async fn delete_user(&self, name: &str) -> StoreResult<()>;
    /// Sets or removes the user's permissions boundary. `NotFound` when the user, or the
    /// policy to set, does not exist.
    async fn set_user_permissions_boundary(
        &self,
        name: &str,
        policy_arn: Option<&str>,
    ) -> StoreResult<()>;
    /// Creates or replaces. `NotFound` when the user does not exist.
    async fn put_user_policy(&self, user: &str, policy: &str, document: &str) -> StoreResult<()>;
    async fn get_user_policy(&self, user: &str, policy: &str) -> StoreResult<Option<String>>;
    /// `NotFound` when absent.
    async fn delete_user_policy(&self, user: &str, policy: &str) -> StoreResult<()>;
    /// The names of the user's inline policies; `NotFound` when the user does not exist.
    async fn list_user_policies(&self, user: &str) -> StoreResult<Vec<String>>;
    /// Idempotent. `NotFound` when the user or the policy does not exist.
    async fn attach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()>;
    /// `NotFound` when the user does not exist or the policy is not attached.
    async fn detach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()>;
    /// `NotFound` when the user does not exist.
    async fn list_attached_user_policies(&self, user: &str) -> StoreResult<Vec<AttachedPolicy>>;
    /// The users a managed policy is attached to, and those it bounds.
    async fn list_policy_users(&self, policy_arn: &str) -> StoreResult<Vec<UserRecord>>;
    async fn list_boundary_users(&self, policy_arn: &str) -> StoreResult<Vec<UserRecord>>;
    /// The user's inline policies, the default versions of its attached managed policies,
    /// those of every group it is in (inline ones labelled `inline:group/<group>/<name>`)
    /// and its permissions boundary, in one read. `NotFound` when the user does not exist.
    async fn user_effective_policies(&self, name: &str) -> StoreResult<PrincipalPolicies>;

    // --- Groups ---------------------------------------------------------------------
    /// `AlreadyExists` when a group of that name (regardless of case) exists.
    async fn create_group(&self, group: &GroupRecord) -> StoreResult<()>;
    /// Case-insensitive lookup.
    async fn get_group(&self, name: &str) -> StoreResult<Option<GroupRecord>>;
    /// Every group, by name regardless of case.
    async fn list_groups(&self) -> StoreResult<Vec<GroupRecord>>;
    /// Renames and/or moves the group. `NotFound` when absent; `AlreadyExists` when the
    /// new name is taken.
    async fn update_group(
        &self,
        name: &str,
        new_name: &str,
        new_path: &str,
        new_arn: &str,
    ) -> StoreResult<()>;
    /// `NotFound` when absent; `Conflict` while it has members or policies.
    async fn delete_group(&self, name: &str) -> StoreResult<()>;
    /// Idempotent. `NotFound` when the group or the user does not exist.
    async fn add_user_to_group(&self, group: &str, user: &str) -> StoreResult<()>;
    /// `NotFound` when either does not exist or the user is not in the group.
    async fn remove_user_from_group(&self, group: &str, user: &str) -> StoreResult<()>;
    /// The group's members by name; `NotFound` when the group does not exist.
    async fn list_group_users(&self, group: &str) -> StoreResult<Vec<UserRecord>>;
    /// The user's groups by name; `NotFound` when the user does not exist.
    async fn list_groups_for_user(&self, user: &str) -> StoreResult<Vec<GroupRecord>>;
    /// Creates or replaces. `NotFound` when the group does not exist.
    async fn put_group_policy(&self, group: &str, policy: &str, document: &str) -> StoreResult<()>;
    async fn get_group_policy(&self, group: &str, policy: &str) -> StoreResult<Option<String>>;
    /// `NotFound` when absent.
    async fn delete_group_policy(&self, group: &str, policy: &str) -> StoreResult<()>;
    async fn list_group_policies(&self, group: &str) -> StoreResult<Vec<String>>;
    /// Idempotent. `NotFound` when the group or the policy does not exist.
    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> StoreResult<()>;
    /// `NotFound` when the group does not exist or the policy is not attached.
    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> StoreResult<()>;
    async fn list_attached_group_policies(&self, group: &str) -> StoreResult<Vec<AttachedPolicy>>;
    /// The groups a managed policy is attached to.
    async fn list_policy_groups(&self, policy_arn: &str) -> StoreResult<Vec<GroupRecord>>;
    /// Adds a key to the user. `NotFound` when the user does not exist; `Conflict` when
    /// it has `max_per_user` keys already.
    async fn create_access_key(
        &self,
        user: &str,
        key: &AccessKeyRecord,
        max_per_user: usize,
    ) -> StoreResult<()>;
    /// A key and the user it belongs to.
    async fn get_access_key(&self, id: &str) -> StoreResult<Option<(AccessKeyRecord, UserRecord)>>;
    /// The user's keys, oldest first. `NotFound` when the user does not exist.
    async fn list_access_keys(&self, user: &str) -> StoreResult<Vec<AccessKeyRecord>>;
    /// `NotFound` unless the key is the user's.
    async fn set_access_key_status(&self, user: &str, id: &str, status: &str) -> StoreResult<()>;
    /// `NotFound` unless the key is the user's.
    async fn delete_access_key(&self, user: &str, id: &str) -> StoreResult<()>;
    /// Records the keys' uses (`(key id, time, service)`) in `region`, keeping the latest
    /// of each. Keys deleted meanwhile are skipped.
    async fn record_access_keys_last_used(
        &self,
        uses: &[(String, i64, String)],
        region: &str,
    ) -> StoreResult<()>;
}

/// IAM: OIDC providers, roles, managed and inline policies, attachments, versions, tags.
#[async_trait]
pub trait IamStore: Send + Sync + 'static {
    // --- OIDC providers -------------------------------------------------------------
    /// `AlreadyExists` when a provider with the same URL exists.
    async fn create_oidc_provider(&self, provider: &OidcProviderRecord) -> StoreResult<()>;
    async fn get_oidc_provider(&self, arn: &str) -> StoreResult<Option<OidcProviderRecord>>;
    async fn find_oidc_provider_by_url(&self, url: &str)
    -> StoreResult<Option<OidcProviderRecord>>;
    async fn list_oidc_providers(&self) -> StoreResult<Vec<OidcProviderRecord>>;
    /// `NotFound` when absent.
    async fn delete_oidc_provider(&self, arn: &str) -> StoreResult<()>;

    // --- Roles ----------------------------------------------------------------------
    /// `AlreadyExists` when a role with the same name, compared case-insensitively, exists.
    async fn create_role(&self, role: &RoleRecord) -> StoreResult<()>;
    /// Case-insensitive lookup.
    async fn get_role(&self, name: &str) -> StoreResult<Option<RoleRecord>>;
    async fn list_roles(&self) -> StoreResult<Vec<RoleRecord>>;
    /// `NotFound` when absent.
    async fn update_role_trust_policy(&self, name: &str, document: &str) -> StoreResult<()>;
    /// Sets what is given of the role's description and maximum session duration.
    /// `NotFound` when absent.
    async fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> StoreResult<()>;
    /// Sets (`Some`) or removes (`None`) the role's permissions boundary. `NotFound` when
    /// the role, or the policy to set, does not exist.
    async fn set_role_permissions_boundary(
        &self,
        name: &str,
        policy_arn: Option<&str>,
    ) -> StoreResult<()>;
    /// Records that the roles with these unique ids were assumed at these times in
    /// `region`, keeping the latest time of each. Roles deleted meanwhile are skipped.
    async fn record_roles_last_used(&self, uses: &[(String, i64)], region: &str)
    -> StoreResult<()>;
    /// `NotFound` when absent; `Conflict` while inline or attached policies remain, or
    /// while an instance profile holds it.
    async fn delete_role(&self, name: &str) -> StoreResult<()>;

    // --- The account's alias ---------------------------------------------------------
    async fn get_account_alias(&self, account: &str) -> StoreResult<Option<String>>;
    /// Sets the alias, replacing any other (an account has at most one).
    async fn set_account_alias(&self, account: &str, alias: &str) -> StoreResult<()>;
    /// `NotFound` unless `alias` is the account's.
    async fn delete_account_alias(&self, account: &str, alias: &str) -> StoreResult<()>;

    // --- Instance profiles ----------------------------------------------------------
    /// `AlreadyExists` when a profile of that name (regardless of case) exists.
    async fn create_instance_profile(&self, profile: &InstanceProfileRecord) -> StoreResult<()>;
    async fn get_instance_profile(&self, name: &str) -> StoreResult<Option<InstanceProfileRecord>>;
    /// Every profile by name, or (`role` given) those holding that role: `NotFound` when
    /// the role does not exist.
    async fn list_instance_profiles(
        &self,
        role: Option<&str>,
    ) -> StoreResult<Vec<InstanceProfileRecord>>;
    /// `NotFound` when either is absent; `Conflict` when the profile holds a role already.
    async fn add_role_to_instance_profile(&self, profile: &str, role: &str) -> StoreResult<()>;
    /// `NotFound` when either is absent or the role is not in the profile.
    async fn remove_role_from_instance_profile(&self, profile: &str, role: &str)
    -> StoreResult<()>;
    /// `NotFound` when absent; `Conflict` while it holds a role.
    async fn delete_instance_profile(&self, name: &str) -> StoreResult<()>;

    // --- Managed policies -----------------------------------------------------------
    /// Creates the policy with `version` as its default. `AlreadyExists` for the same ARN.
    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        version: &PolicyVersionRecord,
    ) -> StoreResult<()>;
    async fn get_managed_policy(&self, arn: &str) -> StoreResult<Option<ManagedPolicyRecord>>;
    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> StoreResult<Option<PolicyVersionRecord>>;
    /// `NotFound` when absent; `Conflict` while attached or bounding a role.
    async fn delete_managed_policy(&self, arn: &str) -> StoreResult<()>;

    // --- Attachments and inline policies -------------------------------------------
    /// Idempotent. `NotFound` when the role or the policy does not exist.
    async fn attach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()>;
    /// `NotFound` when the role does not exist or the policy is not attached.
    async fn detach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()>;
    /// The roles a managed policy is attached to, by name regardless of case.
    async fn list_policy_roles(&self, policy_arn: &str) -> StoreResult<Vec<RoleRecord>>;
    /// The roles a managed policy is the permissions boundary of, by name regardless of case.
    async fn list_boundary_roles(&self, policy_arn: &str) -> StoreResult<Vec<RoleRecord>>;
    async fn list_attached_role_policies(
        &self,
        role_name: &str,
    ) -> StoreResult<Vec<AttachedPolicy>>;
    /// Creates or replaces. `NotFound` when the role does not exist.
    async fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> StoreResult<()>;
    async fn get_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> StoreResult<Option<String>>;
    /// `NotFound` when absent.
    async fn delete_role_policy(&self, role_name: &str, policy_name: &str) -> StoreResult<()>;
    async fn list_role_policies(&self, role_name: &str) -> StoreResult<Vec<String>>;
    /// The inline policies, the default versions of the attached managed policies and the
    /// permissions boundary of a role, in one read. `NotFound` when the role does not exist.
    async fn role_effective_policies(&self, role_name: &str) -> StoreResult<PrincipalPolicies>;

    // --- IAM: policy versions, listings, tags, provider updates -----------------------
    /// Adds a version of a managed policy under the next unused id (`v2`, `v3`, ...: ids
    /// are never reused), making it the default when `set_as_default`. `NotFound` when the
    /// policy does not exist; `Conflict` when it already has `max_versions` versions.
    async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        created_at: i64,
        set_as_default: bool,
        max_versions: usize,
    ) -> StoreResult<PolicyVersionRecord>;
    /// Every version of a managed policy, newest first. `NotFound` when the policy does
    /// not exist.
    async fn list_policy_versions(&self, arn: &str) -> StoreResult<Vec<PolicyVersionRecord>>;
    /// `NotFound` when the policy or the version does not exist; `Conflict` for the
    /// default version.
    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> StoreResult<()>;
    /// `NotFound` when the policy or the version does not exist.
    async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        updated_at: i64,
    ) -> StoreResult<()>;
    /// Every managed policy, in ARN order.
    async fn list_managed_policies(&self) -> StoreResult<Vec<ManagedPolicyRecord>>;
    /// Adds tags to an IAM entity, replacing the value of a key it already has (keys
    /// compare case-insensitively; the new spelling wins). `Conflict` when the entity would
    /// end up with more than `max_tags` tags. The caller checks that the entity exists.
    async fn tag_iam_resource(
        &self,
        arn: &str,
        tags: &[IamTag],
        max_tags: usize,
    ) -> StoreResult<()>;
    /// Removes tags by key (case-insensitive); keys the entity lacks are not an error.
    async fn untag_iam_resource(&self, arn: &str, keys: &[String]) -> StoreResult<()>;
    /// The tags of an IAM entity, in the order they were first added. Deleting the entity
    /// deletes its tags.
    async fn list_iam_resource_tags(&self, arn: &str) -> StoreResult<Vec<IamTag>>;
    /// Adds a client id (audience) to a provider; present already is not an error.
    /// `NotFound` when the provider does not exist; `Conflict` when it already has
    /// `max_client_ids`.
    async fn add_oidc_provider_client_id(
        &self,
        arn: &str,
        client_id: &str,
        max_client_ids: usize,
    ) -> StoreResult<()>;
    /// Removes a client id; absent is not an error. `NotFound` when the provider does not
    /// exist.
    async fn remove_oidc_provider_client_id(&self, arn: &str, client_id: &str) -> StoreResult<()>;
    /// Replaces the thumbprint list. `NotFound` when the provider does not exist.
    async fn update_oidc_provider_thumbprints(
        &self,
        arn: &str,
        thumbprints: &[String],
    ) -> StoreResult<()>;
}

/// ECR repositories and what they hold: settings, policies, lifecycle policies, resource
/// tags, blob links, manifests and tags.
#[async_trait]
pub trait RepositoryStore: Send + Sync + 'static {
    // --- Repositories ---------------------------------------------------------------
    /// `AlreadyExists` when present.
    async fn create_repository(&self, repository: &RepositoryRecord) -> StoreResult<()>;
    async fn get_repository(&self, name: &RepositoryName) -> StoreResult<Option<RepositoryRecord>>;
    /// Repositories in name order, strictly after `after`, at most `limit`.
    async fn list_repositories(
        &self,
        after: Option<&RepositoryName>,
        limit: usize,
    ) -> StoreResult<Vec<RepositoryRecord>>;
    /// Sets the mutability and its exclusion filters. `NotFound` when absent.
    async fn set_image_tag_mutability(
        &self,
        name: &RepositoryName,
        image_tag_mutability: TagMutability,
        exclusions: &[String],
    ) -> StoreResult<()>;
    /// `AlreadyExists` for a document of the same kind and prefix.
    async fn create_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        document: &PrefixDocument,
    ) -> StoreResult<()>;
    async fn get_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
    ) -> StoreResult<Option<PrefixDocument>>;
    /// Every document of the kind, by prefix.
    async fn list_prefix_documents(
        &self,
        kind: PrefixDocumentKind,
    ) -> StoreResult<Vec<PrefixDocument>>;
    /// Replaces the document. `NotFound` when absent.
    async fn update_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
        document: &str,
        updated_at: i64,
    ) -> StoreResult<()>;
    /// `NotFound` when absent.
    async fn delete_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
    ) -> StoreResult<()>;
    /// `NotFound` when absent.
    async fn set_scan_on_push(&self, name: &RepositoryName, scan_on_push: bool) -> StoreResult<()>;
    /// A registry-wide setting (ECR's registry policy, scanning configuration, account
    /// settings) by name.
    async fn get_registry_setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Creates or replaces a registry-wide setting.
    async fn put_registry_setting(&self, name: &str, value: &str) -> StoreResult<()>;
    /// `NotFound` when absent.
    async fn delete_registry_setting(&self, name: &str) -> StoreResult<()>;
    /// Sets or (with `None`) removes the repository policy. `NotFound` when absent.
    async fn set_repository_policy(
        &self,
        name: &RepositoryName,
        policy: Option<&str>,
    ) -> StoreResult<()>;
    /// Number of manifests in the repository.
    async fn count_manifests(&self, name: &RepositoryName) -> StoreResult<u64>;
    /// Deletes the repository with its tags, manifests, blob links and uploads, in one
    /// transaction. `NotFound` when absent; `Conflict` when it has manifests and `!force`.
    async fn delete_repository(&self, name: &RepositoryName, force: bool) -> StoreResult<()>;

    // --- Lifecycle policies (ECR) ---------------------------------------------------
    /// Sets the repository's lifecycle policy, clearing `last_evaluated_at`. `NotFound`
    /// when the repository is absent. Deleting the repository deletes it.
    async fn put_lifecycle_policy(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()>;
    async fn get_lifecycle_policy(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<LifecyclePolicyRecord>>;
    /// `NotFound` when the repository has no lifecycle policy.
    async fn delete_lifecycle_policy(&self, repository: &RepositoryName) -> StoreResult<()>;
    /// Records when the policy was last applied. `NotFound` when there is no policy.
    async fn set_lifecycle_policy_evaluated(
        &self,
        repository: &RepositoryName,
        at: i64,
    ) -> StoreResult<()>;
    /// Every lifecycle policy, in repository name order.
    async fn list_lifecycle_policies(&self) -> StoreResult<Vec<LifecyclePolicyRecord>>;
    /// Keeps the text of the repository's latest lifecycle policy preview, replacing the
    /// previous one. `NotFound` when the repository is absent. Deleting the repository
    /// deletes it.
    async fn put_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()>;
    async fn get_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<String>>;
    /// Adds or overwrites resource tags (key, value) in one transaction. `NotFound` when
    /// the repository is absent; `Conflict` (and nothing changes) when it would then have
    /// more than `max_tags` tags.
    async fn tag_repository(
        &self,
        name: &RepositoryName,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> StoreResult<()>;
    /// Removes resource tags by key; absent keys are not an error. `NotFound` when the
    /// repository is absent.
    async fn untag_repository(&self, name: &RepositoryName, keys: &[String]) -> StoreResult<()>;
    /// The repository's resource tags in key order (empty for an unknown repository).
    async fn list_repository_tags(
        &self,
        name: &RepositoryName,
    ) -> StoreResult<Vec<(String, String)>>;

    // --- Blob links: which blobs a repository may serve -----------------------------
    /// Idempotent.
    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: i64,
    ) -> StoreResult<()>;
    /// The linked blob's size, `None` when the repository has no such blob.
    async fn blob_link(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<i64>>;
    /// Removes the repository's link to a blob (the bytes stay for garbage collection).
    /// `NotFound` when the repository has no such blob.
    async fn unlink_blob(&self, repository: &RepositoryName, digest: &Digest) -> StoreResult<()>;

    // --- Manifests and tags ---------------------------------------------------------
    /// Stores the manifest (if new) and points `tag` at it, in one transaction. When the
    /// tag already points at another digest and `immutable_tags` is set: `Conflict`.
    async fn put_manifest(
        &self,
        manifest: &ManifestRecord,
        tag: Option<&Tag>,
        immutable_tags: bool,
    ) -> StoreResult<PutManifestOutcome>;
    async fn get_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>>;
    async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> StoreResult<Option<Digest>>;
    /// Tags in lexical order, strictly after `after`, at most `limit`.
    async fn list_tags(
        &self,
        repository: &RepositoryName,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
    /// Every manifest of the repository with its tags, newest push first.
    async fn list_manifests(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<(ManifestRecord, Vec<String>)>>;
    /// A page of the repository's images, newest push first, from `from` (the start when
    /// `None`), at most `limit`. Its cost is the page's, whatever the repository holds
    /// (but for `Untagged` in a repository of mostly tagged images, which must skip them).
    async fn list_images_page(
        &self,
        repository: &RepositoryName,
        status: TagStatus,
        from: Option<&ImageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<ImageEntry>>;
    /// What a lifecycle policy is evaluated over: every image of the repository that no
    /// index lists, with its push time, tags (in no particular order) and last pull. Only
    /// these columns, a row per image: it stays small for a repository of many tags.
    async fn lifecycle_candidates(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<LifecycleCandidate>>;
    /// One image with its tags and last pull, `None` when the repository has no such
    /// manifest.
    async fn image_entry(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<ImageEntry>>;
    /// The repository's manifests whose `subject` is `subject`, in digest order, without
    /// their blob and child lists (the referrers API needs only the records).
    async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>>;
    /// Deletes a manifest and every tag pointing at it. `NotFound` when absent.
    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<()>;
    /// `NotFound` when absent.
    async fn delete_tag(&self, repository: &RepositoryName, tag: &Tag) -> StoreResult<()>;
    /// Records pulls (`(repository, digest, time)`), keeping the latest of each image.
    /// Images deleted meanwhile are skipped.
    async fn record_image_pulls(&self, pulls: &[(RepositoryName, Digest, i64)]) -> StoreResult<()>;
    /// When each pulled image of the repository was last pulled, by digest.
    async fn image_pull_times(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<std::collections::HashMap<Digest, i64>>;
}

/// In-progress blob uploads (the bytes are the blob store's).
#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    // --- Uploads --------------------------------------------------------------------
    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()>;
    async fn get_upload(&self, id: &str) -> StoreResult<Option<UploadRecord>>;
    /// `NotFound` when absent.
    async fn update_upload_parts(
        &self,
        id: &str,
        last_part_size: i64,
        small_part_seen: bool,
    ) -> StoreResult<()>;
    /// Unknown ids are not an error.
    async fn delete_upload(&self, id: &str) -> StoreResult<()>;

    /// Uploads created before `before` (unix seconds), for garbage collection.
    async fn list_uploads_created_before(&self, before: i64) -> StoreResult<Vec<UploadRecord>>;
}

/// Coordination: leases and claims of blob garbage collection, and background-job leases.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    // --- Garbage collection of blob bytes -------------------------------------------
    // The protocol (explained in berth-core's `gc` module): a writer leases the digests it
    // is about to store or reference; the collector claims a digest only when nothing
    // references or leases it, and deletes the bytes only while its claim stands.

    /// Leases `digests` under `lease` for a write that will store or reference them.
    /// `Conflict` when one of them is claimed by the collector with a claim made at or
    /// after `live_claims_since` (older claims are from a collector that died).
    async fn lease_blobs(
        &self,
        lease: &str,
        digests: &[Digest],
        now: i64,
        live_claims_since: i64,
    ) -> StoreResult<()>;
    /// Ends a lease. Unknown leases are not an error.
    async fn release_blob_lease(&self, lease: &str) -> StoreResult<()>;
    /// In one transaction: when no repository links `digest`, no manifest has that
    /// digest or references it as a blob, and no lease made at or after
    /// `live_leases_since` names it, records a claim at `now` and returns `true`.
    async fn claim_unreferenced_blob(
        &self,
        digest: &Digest,
        now: i64,
        live_leases_since: i64,
    ) -> StoreResult<bool>;
    /// Removes the collector's claim on `digest`. Unknown claims are not an error.
    async fn drop_blob_claim(&self, digest: &Digest) -> StoreResult<()>;
    /// Forgets leases and claims made before `before` (their holders died).
    async fn prune_blob_leases_and_claims(&self, before: i64) -> StoreResult<()>;

    // --- Background jobs: one runner at a time, however many replicas ---------------
    /// Takes the lease on `job` for `holder` until `expires_at` (unix seconds) when no one
    /// holds it, when its holder's lease has run out (`expires_at` at or before `now`), or
    /// when `holder` holds it already (a renewal). `true` when `holder` holds it now.
    async fn acquire_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool>;
    /// Gives up `holder`'s lease on `job`; a lease someone else holds is left alone.
    async fn release_job_lease(&self, job: &str, holder: &str) -> StoreResult<()>;

    // --- Health ---------------------------------------------------------------------
    /// One round trip to the store, reading nothing (readiness checks).
    async fn ping(&self) -> StoreResult<()>;
}

/// Signing and sealing keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    // --- Signing keys ---------------------------------------------------------------
    /// Returns the newest key for `candidate.purpose`, inserting `candidate` first when
    /// there is none. Safe against concurrent callers: all of them get the same key.
    async fn get_or_create_signing_key(
        &self,
        candidate: &SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord>;
    /// Every key for a purpose, newest first (old keys keep verifying until they expire).
    async fn list_signing_keys(&self, purpose: &str) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key: a rotation (its `created_at` may lie ahead: when it starts being used).
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Removes a key nothing it signed can still need. Unknown keys are not an error.
    async fn delete_signing_key(&self, purpose: &str, kid: &str) -> StoreResult<()>;
}

/// One audit event: its CloudTrail record, kept as the JSON it is exported and returned
/// as ([`AuditEventRecord::cloudtrail_json`]), beside the fields `LookupEvents` filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    /// Unique, a UUID whose first 48 bits are the event's time in milliseconds (version
    /// 7, see [`audit_event_id`]): a lookup by id finds the event's time in it. The page
    /// cursor's tie-breaker.
    pub event_id: String,
    /// Milliseconds since the epoch.
    pub event_time_ms: i64,
    /// `ecr.amazonaws.com`, `iam.amazonaws.com`, `sts.amazonaws.com`.
    pub event_source: String,
    pub event_name: String,
    pub read_only: bool,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub resources: Vec<AuditResource>,
    /// The record's `userIdentity`, as JSON. One caller's events share it, and a store
    /// keeps it once for all of them.
    pub identity: Arc<str>,
    /// The rest of the CloudTrail record (`eventVersion`, `eventTime`, ...), as a JSON
    /// object.
    pub document: String,
}

impl AuditEventRecord {
    /// The whole CloudTrail record, as JSON: `document` with `userIdentity` put first.
    pub fn cloudtrail_json(&self) -> String {
        let rest = self.document.trim_start().strip_prefix('{').unwrap_or("}");
        let separator = if rest.trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        let mut json = String::with_capacity(self.identity.len() + self.document.len() + 20);
        json.push_str("{\"userIdentity\":");
        json.push_str(if self.identity.is_empty() {
            "null"
        } else {
            &self.identity
        });
        json.push_str(separator);
        json.push_str(rest);
        json
    }
}

/// An event id for an event at `time_ms`: a version 7 UUID (the time in its first 48
/// bits, then `random`), so ids sort by time and a lookup by id knows where to look.
pub fn audit_event_id(time_ms: i64, random: [u8; 10]) -> String {
    let time = u64::try_from(time_ms).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    let mut bytes = [0_u8; 16];
    bytes[..6].copy_from_slice(&time.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    bytes[6] = (bytes[6] & 0x0F) | 0x70;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xF)]));
    }
    id
}

/// The time in milliseconds an [`audit_event_id`] carries; `None` for anything else.
pub fn audit_event_time(event_id: &str) -> Option<i64> {
    let bytes = event_id.as_bytes();
    if bytes.len() != 36 || bytes.get(14) != Some(&b'7') {
        return None;
    }
    let hex: String = event_id[..13].chars().filter(|c| *c != '-').collect();
    if hex.len() != 12 {
        return None;
    }
    i64::from_str_radix(&hex, 16).ok()
}

/// A resource an event names, as `LookupEvents` matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditResource {
    /// `AWS::ECR::Repository`, `AWS::IAM::Role`, ...
    pub resource_type: String,
    pub resource_name: String,
}

/// The one attribute a lookup filters on (`LookupEvents` takes at most one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuditFilter {
    #[default]
    All,
    EventId(String),
    EventName(String),
    ReadOnly(bool),
    Username(String),
    ResourceType(String),
    ResourceName(String),
    EventSource(String),
    AccessKeyId(String),
}

/// Which events a lookup returns: those matching `filter` with `start_ms <= time < end_ms`,
/// newest first (or oldest first), after the `after` position of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub oldest_first: bool,
    /// The last (time, event id) of the previous page.
    pub after: Option<(i64, String)>,
    pub limit: usize,
}

/// The audit trail: append-only events, looked up by attribute and time, pruned by age.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends the events in one transaction. An event id already stored is skipped, so a
    /// batch retried after an unclear failure is not stored twice.
    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> StoreResult<()>;
    async fn lookup_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEventRecord>>;
    /// Deletes at most `limit` of the events older than `before_ms`, oldest first;
    /// returns how many it deleted.
    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> StoreResult<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_version_7_uuids_that_carry_their_time() {
        let id = audit_event_id(1_765_000_000_123, [0xAB; 10]);
        assert_eq!(id, "019af232-b27b-7bab-abab-abababababab");
        assert_eq!(audit_event_time(&id), Some(1_765_000_000_123));
        assert_eq!(audit_event_time("not-an-id"), None);
    }

    #[test]
    fn the_record_is_its_document_with_the_identity_first() {
        let mut event = AuditEventRecord {
            event_id: String::new(),
            event_time_ms: 0,
            event_source: String::new(),
            event_name: String::new(),
            read_only: true,
            username: None,
            access_key_id: None,
            resources: Vec::new(),
            identity: r#"{"type":"Root"}"#.into(),
            document: r#"{"eventVersion":"1.08"}"#.into(),
        };
        assert_eq!(
            event.cloudtrail_json(),
            r#"{"userIdentity":{"type":"Root"},"eventVersion":"1.08"}"#
        );
        event.document = "{}".into();
        assert_eq!(
            event.cloudtrail_json(),
            r#"{"userIdentity":{"type":"Root"}}"#
        );
    }
}
