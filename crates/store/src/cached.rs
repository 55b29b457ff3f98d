//! A read cache in front of any `MetadataStore`, for the lookups every STS and signed
//! request makes (the OIDC provider, the role, its policies, the repository). Without it
//! each request pays several database round trips, which dominated the server's time.
//!
//! Freshness rules, in this order of strength:
//! - A write through this wrapper bumps a generation counter when it finishes (or is
//!   cancelled); entries read under an older generation are misses. So a change made
//!   through this server applies to its very next request.
//! - Every entry also expires `ttl` after the read that produced it began, so writes made
//!   elsewhere (another replica sharing the database, an operator's tool, or a write whose
//!   request was cancelled while the backend still completed it) apply within `ttl`.
//!
//! Every trait method is delegated explicitly, so a new one forces a decision: cache it
//! (read of data that changes only by writes), pass it through, or bump the generation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use berth_types::{Digest, RepositoryName, Tag, TagMutability};

use crate::{
    AccessKeyRecord, AttachedPolicy, AuditEventRecord, AuditQuery, AuditStore, GroupRecord,
    IamStore, IamTag, ImageCursor, ImageEntry, InstanceProfileRecord, KeyStore, LeaseStore,
    LifecycleCandidate, LifecyclePolicyRecord, ManagedPolicyRecord, ManifestRecord, MetadataStore,
    OidcProviderRecord, PolicyVersionRecord, PrefixDocument, PrefixDocumentKind, PrincipalPolicies,
    PutManifestOutcome, RepositoryRecord, RepositoryStore, RoleRecord, SigningKeyRecord,
    StoreResult, TagStatus, UploadRecord, UploadStore, UserRecord, UserStore,
};

/// The default time an entry may be served: the bound on how late a write made by another
/// replica is seen.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// Entries per lookup kind; a full map is cleared (entries are cheap to read again).
const ENTRY_LIMIT: usize = 10_000;

struct Entry<V> {
    generation: u64,
    read_at: Instant,
    value: V,
}

/// One kind of cached lookup, keyed by its arguments.
struct Lookup<V> {
    entries: Mutex<HashMap<String, Entry<V>>>,
    /// Per key, held while one request reads the backend, so concurrent misses of a key
    /// wait for that read instead of each querying (when a hot entry expires, every
    /// request in flight misses at once).
    reads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<V: Clone> Lookup<V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
        }
    }

    /// The entry for `key` if fresh, else `read`'s answer, remembered unless `generation`
    /// moved (a write finished) while it ran. Errors are not cached.
    async fn cached<F>(
        &self,
        generation_counter: &AtomicU64,
        ttl: Duration,
        key: &str,
        read: impl FnOnce() -> F,
    ) -> StoreResult<V>
    where
        F: Future<Output = StoreResult<V>>,
    {
        // Taken before the read: a write that finishes during the read makes the answer
        // (possibly from before the write) a miss, and the TTL counts from the earliest
        // moment the answer can describe.
        let generation = generation_counter.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(value) = self.get(key, generation, now, ttl) {
            return Ok(value);
        }
        // One read per key at a time; whoever waited looks again, as a new request would.
        let read_lock = self.read_lock(key);
        let _reading = read_lock.lock().await;
        let generation = generation_counter.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(value) = self.get(key, generation, now, ttl) {
            return Ok(value);
        }
        let value = read().await?;
        if generation_counter.load(Ordering::Acquire) == generation {
            self.insert(key, generation, now, value.clone());
        }
        Ok(value)
    }

    fn read_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = reads.get(key) {
            return Arc::clone(lock);
        }
        if reads.len() >= ENTRY_LIMIT {
            reads.clear();
        }
        Arc::clone(reads.entry(key.to_owned()).or_default())
    }

    fn get(&self, key: &str, generation: u64, now: Instant, ttl: Duration) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(key)?;
        (entry.generation == generation && now.saturating_duration_since(entry.read_at) < ttl)
            .then(|| entry.value.clone())
    }

    fn insert(&self, key: &str, generation: u64, read_at: Instant, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= ENTRY_LIMIT && !entries.contains_key(key) {
                entries.clear();
            }
            entries.insert(
                key.to_owned(),
                Entry {
                    generation,
                    read_at,
                    value,
                },
            );
        }
    }
}

/// Bumps the generation when dropped: when the write finishes, fails, or its future is
/// dropped mid-way (a cancelled request; the backend may still complete the write, which
/// the TTL then bounds).
struct Bump<'a>(&'a AtomicU64);

impl Drop for Bump<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// See the module documentation.
pub struct CachedMetadataStore<S> {
    inner: S,
    ttl: Duration,
    generation: AtomicU64,
    providers: Lookup<Option<OidcProviderRecord>>,
    providers_by_url: Lookup<Option<OidcProviderRecord>>,
    roles: Lookup<Option<RoleRecord>>,
    effective_policies: Lookup<PrincipalPolicies>,
    user_policies: Lookup<PrincipalPolicies>,
    access_keys: Lookup<Option<(AccessKeyRecord, UserRecord)>>,
    managed_policies: Lookup<Option<ManagedPolicyRecord>>,
    policy_versions: Lookup<Option<PolicyVersionRecord>>,
    repositories: Lookup<Option<RepositoryRecord>>,
    repository_pages: Lookup<Vec<RepositoryRecord>>,
    /// Pull-through cache rules are looked for on every manifest pull by tag.
    prefix_documents: Lookup<Vec<PrefixDocument>>,
}

impl<S: MetadataStore> CachedMetadataStore<S> {
    /// Caches `inner`'s hot lookups for at most `ttl` each; a zero `ttl` caches nothing.
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            generation: AtomicU64::new(0),
            providers: Lookup::new(),
            providers_by_url: Lookup::new(),
            roles: Lookup::new(),
            effective_policies: Lookup::new(),
            user_policies: Lookup::new(),
            access_keys: Lookup::new(),
            managed_policies: Lookup::new(),
            policy_versions: Lookup::new(),
            repositories: Lookup::new(),
            repository_pages: Lookup::new(),
            prefix_documents: Lookup::new(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// `lookup[key]` if fresh, else `read`'s answer, remembered unless a write finished
    /// while it ran. Errors are not cached.
    async fn cached<V: Clone, F>(
        &self,
        lookup: &Lookup<V>,
        key: &str,
        read: impl FnOnce() -> F,
    ) -> StoreResult<V>
    where
        F: Future<Output = StoreResult<V>>,
    {
        if self.ttl.is_zero() {
            return read().await;
        }
        lookup.cached(&self.generation, self.ttl, key, read).await
    }

    async fn write<T>(&self, write: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let _bump = Bump(&self.generation);
        write.await
    }
}

/// Keys of lookups with several arguments: NUL never occurs in names, ARNs or ids.
fn key2(a: &str, b: &str) -> String {
    format!("{a}\0{b}")
}

#[async_trait]
impl<S: MetadataStore> IamStore for CachedMetadataStore<S> {
    async fn create_oidc_provider(&self, provider: &OidcProviderRecord) -> StoreResult<()> {
        self.write(self.inner.create_oidc_provider(provider)).await
    }

    async fn get_oidc_provider(&self, arn: &str) -> StoreResult<Option<OidcProviderRecord>> {
        self.cached(&self.providers, arn, || self.inner.get_oidc_provider(arn))
            .await
    }

    async fn find_oidc_provider_by_url(
        &self,
        url: &str,
    ) -> StoreResult<Option<OidcProviderRecord>> {
        self.cached(&self.providers_by_url, url, || {
            self.inner.find_oidc_provider_by_url(url)
        })
        .await
    }

    async fn list_oidc_providers(&self) -> StoreResult<Vec<OidcProviderRecord>> {
        self.inner.list_oidc_providers().await
    }

    async fn delete_oidc_provider(&self, arn: &str) -> StoreResult<()> {
        self.write(self.inner.delete_oidc_provider(arn)).await
    }

    async fn create_role(&self, role: &RoleRecord) -> StoreResult<()> {
        self.write(self.inner.create_role(role)).await
    }

    async fn get_role(&self, name: &str) -> StoreResult<Option<RoleRecord>> {
        self.cached(&self.roles, name, || self.inner.get_role(name))
            .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<RoleRecord>> {
        self.inner.list_roles().await
    }

    async fn update_role_trust_policy(&self, name: &str, document: &str) -> StoreResult<()> {
        self.write(self.inner.update_role_trust_policy(name, document))
            .await
    }

    async fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .update_role(name, description, max_session_duration),
        )
        .await
    }

    async fn set_role_permissions_boundary(
        &self,
        name: &str,
        policy_arn: Option<&str>,
    ) -> StoreResult<()> {
        self.write(self.inner.set_role_permissions_boundary(name, policy_arn))
            .await
    }

    /// A write like any other: callers batch the uses of many assumes (every few seconds),
    /// so the caches are emptied no more often than that.
    async fn record_roles_last_used(
        &self,
        uses: &[(String, i64)],
        region: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.record_roles_last_used(uses, region))
            .await
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        self.write(self.inner.delete_role(name)).await
    }

    async fn get_account_alias(&self, account: &str) -> StoreResult<Option<String>> {
        self.inner.get_account_alias(account).await
    }

    async fn set_account_alias(&self, account: &str, alias: &str) -> StoreResult<()> {
        self.write(self.inner.set_account_alias(account, alias))
            .await
    }

    async fn delete_account_alias(&self, account: &str, alias: &str) -> StoreResult<()> {
        self.write(self.inner.delete_account_alias(account, alias))
            .await
    }

    async fn list_policy_roles(&self, policy_arn: &str) -> StoreResult<Vec<RoleRecord>> {
        self.inner.list_policy_roles(policy_arn).await
    }

    async fn list_boundary_roles(&self, policy_arn: &str) -> StoreResult<Vec<RoleRecord>> {
        self.inner.list_boundary_roles(policy_arn).await
    }

    async fn create_instance_profile(&self, profile: &InstanceProfileRecord) -> StoreResult<()> {
        self.write(self.inner.create_instance_profile(profile))
            .await
    }

    async fn get_instance_profile(&self, name: &str) -> StoreResult<Option<InstanceProfileRecord>> {
        self.inner.get_instance_profile(name).await
    }

    async fn list_instance_profiles(
        &self,
        role: Option<&str>,
    ) -> StoreResult<Vec<InstanceProfileRecord>> {
        self.inner.list_instance_profiles(role).await
    }

    async fn add_role_to_instance_profile(&self, profile: &str, role: &str) -> StoreResult<()> {
        self.write(self.inner.add_role_to_instance_profile(profile, role))
            .await
    }

    async fn remove_role_from_instance_profile(
        &self,
        profile: &str,
        role: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.remove_role_from_instance_profile(profile, role))
            .await
    }

    async fn delete_instance_profile(&self, name: &str) -> StoreResult<()> {
        self.write(self.inner.delete_instance_profile(name)).await
    }

    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        version: &PolicyVersionRecord,
    ) -> StoreResult<()> {
        self.write(self.inner.create_managed_policy(policy, version))
            .await
    }

    async fn get_managed_policy(&self, arn: &str) -> StoreResult<Option<ManagedPolicyRecord>> {
        self.cached(&self.managed_policies, arn, || {
            self.inner.get_managed_policy(arn)
        })
        .await
    }

    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> StoreResult<Option<PolicyVersionRecord>> {
        self.cached(&self.policy_versions, &key2(arn, version_id), || {
            self.inner.get_policy_version(arn, version_id)
        })
        .await
    }

    async fn delete_managed_policy(&self, arn: &str) -> StoreResult<()> {
        self.write(self.inner.delete_managed_policy(arn)).await
    }

    async fn attach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()> {
        self.write(self.inner.attach_role_policy(role_name, policy_arn))
            .await
    }

    async fn detach_role_policy(&self, role_name: &str, policy_arn: &str) -> StoreResult<()> {
        self.write(self.inner.detach_role_policy(role_name, policy_arn))
            .await
    }

    async fn list_attached_role_policies(
        &self,
        role_name: &str,
    ) -> StoreResult<Vec<AttachedPolicy>> {
        self.inner.list_attached_role_policies(role_name).await
    }

    async fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.put_role_policy(role_name, policy_name, document))
            .await
    }

    async fn get_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> StoreResult<Option<String>> {
        self.inner.get_role_policy(role_name, policy_name).await
    }

    async fn delete_role_policy(&self, role_name: &str, policy_name: &str) -> StoreResult<()> {
        self.write(self.inner.delete_role_policy(role_name, policy_name))
            .await
    }

    async fn list_role_policies(&self, role_name: &str) -> StoreResult<Vec<String>> {
        self.inner.list_role_policies(role_name).await
    }

    async fn role_effective_policies(&self, role_name: &str) -> StoreResult<PrincipalPolicies> {
        self.cached(&self.effective_policies, role_name, || {
            self.inner.role_effective_policies(role_name)
        })
        .await
    }

    async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        created_at: i64,
        set_as_default: bool,
        max_versions: usize,
    ) -> StoreResult<PolicyVersionRecord> {
        self.write(self.inner.create_policy_version(
            arn,
            document,
            created_at,
            set_as_default,
            max_versions,
        ))
        .await
    }

    async fn list_policy_versions(&self, arn: &str) -> StoreResult<Vec<PolicyVersionRecord>> {
        self.inner.list_policy_versions(arn).await
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> StoreResult<()> {
        self.write(self.inner.delete_policy_version(arn, version_id))
            .await
    }

    async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        updated_at: i64,
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .set_default_policy_version(arn, version_id, updated_at),
        )
        .await
    }

    async fn list_managed_policies(&self) -> StoreResult<Vec<ManagedPolicyRecord>> {
        self.inner.list_managed_policies().await
    }

    async fn tag_iam_resource(
        &self,
        arn: &str,
        tags: &[IamTag],
        max_tags: usize,
    ) -> StoreResult<()> {
        self.write(self.inner.tag_iam_resource(arn, tags, max_tags))
            .await
    }

    async fn untag_iam_resource(&self, arn: &str, keys: &[String]) -> StoreResult<()> {
        self.write(self.inner.untag_iam_resource(arn, keys)).await
    }

    async fn list_iam_resource_tags(&self, arn: &str) -> StoreResult<Vec<IamTag>> {
        self.inner.list_iam_resource_tags(arn).await
    }

    async fn add_oidc_provider_client_id(
        &self,
        arn: &str,
        client_id: &str,
        max_client_ids: usize,
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .add_oidc_provider_client_id(arn, client_id, max_client_ids),
        )
        .await
    }

    async fn remove_oidc_provider_client_id(&self, arn: &str, client_id: &str) -> StoreResult<()> {
        self.write(self.inner.remove_oidc_provider_client_id(arn, client_id))
            .await
    }

    async fn update_oidc_provider_thumbprints(
        &self,
        arn: &str,
        thumbprints: &[String],
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .update_oidc_provider_thumbprints(arn, thumbprints),
        )
        .await
    }
}

#[async_trait]
impl<S: MetadataStore> UserStore for CachedMetadataStore<S> {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.write(self.inner.create_user(user)).await
    }

    async fn get_user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        self.inner.get_user(name).await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.inner.list_users().await
    }

    async fn update_user(
        &self,
        name: &str,
        new_name: &str,
        new_path: &str,
        new_arn: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.update_user(name, new_name, new_path, new_arn))
            .await
    }

    async fn delete_user(&self, name: &str) -> StoreResult<()> {
        self.write(self.inner.delete_user(name)).await
    }

    async fn set_user_permissions_boundary(
        &self,
        name: &str,
        policy_arn: Option<&str>,
    ) -> StoreResult<()> {
        self.write(self.inner.set_user_permissions_boundary(name, policy_arn))
            .await
    }

    async fn put_user_policy(&self, user: &str, policy: &str, document: &str) -> StoreResult<()> {
        self.write(self.inner.put_user_policy(user, policy, document))
            .await
    }

    async fn get_user_policy(&self, user: &str, policy: &str) -> StoreResult<Option<String>> {
        self.inner.get_user_policy(user, policy).await
    }

    async fn delete_user_policy(&self, user: &str, policy: &str) -> StoreResult<()> {
        self.write(self.inner.delete_user_policy(user, policy))
            .await
    }

    async fn list_user_policies(&self, user: &str) -> StoreResult<Vec<String>> {
        self.inner.list_user_policies(user).await
    }

    async fn attach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()> {
        self.write(self.inner.attach_user_policy(user, policy_arn))
            .await
    }

    async fn detach_user_policy(&self, user: &str, policy_arn: &str) -> StoreResult<()> {
        self.write(self.inner.detach_user_policy(user, policy_arn))
            .await
    }

    async fn list_attached_user_policies(&self, user: &str) -> StoreResult<Vec<AttachedPolicy>> {
        self.inner.list_attached_user_policies(user).await
    }

    async fn list_policy_users(&self, policy_arn: &str) -> StoreResult<Vec<UserRecord>> {
        self.inner.list_policy_users(policy_arn).await
    }

    async fn list_boundary_users(&self, policy_arn: &str) -> StoreResult<Vec<UserRecord>> {
        self.inner.list_boundary_users(policy_arn).await
    }

    /// Cached: every signed request of a user reads it, as for a role session.
    async fn user_effective_policies(&self, name: &str) -> StoreResult<PrincipalPolicies> {
        self.cached(&self.user_policies, name, || {
            self.inner.user_effective_policies(name)
        })
        .await
    }

    async fn create_access_key(
        &self,
        user: &str,
        key: &AccessKeyRecord,
        max_per_user: usize,
    ) -> StoreResult<()> {
        self.write(self.inner.create_access_key(user, key, max_per_user))
            .await
    }

    /// Cached: every request signed with a user's key reads it.
    async fn get_access_key(&self, id: &str) -> StoreResult<Option<(AccessKeyRecord, UserRecord)>> {
        self.cached(&self.access_keys, id, || self.inner.get_access_key(id))
            .await
    }

    async fn list_access_keys(&self, user: &str) -> StoreResult<Vec<AccessKeyRecord>> {
        self.inner.list_access_keys(user).await
    }

    async fn set_access_key_status(&self, user: &str, id: &str, status: &str) -> StoreResult<()> {
        self.write(self.inner.set_access_key_status(user, id, status))
            .await
    }

    async fn delete_access_key(&self, user: &str, id: &str) -> StoreResult<()> {
        self.write(self.inner.delete_access_key(user, id)).await
    }

    /// A write like any other (batched by callers, as role uses are).
    async fn record_access_keys_last_used(
        &self,
        uses: &[(String, i64, String)],
        region: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.record_access_keys_last_used(uses, region))
            .await
    }

    async fn create_group(&self, group: &GroupRecord) -> StoreResult<()> {
        self.write(self.inner.create_group(group)).await
    }

    async fn get_group(&self, name: &str) -> StoreResult<Option<GroupRecord>> {
        self.inner.get_group(name).await
    }

    async fn list_groups(&self) -> StoreResult<Vec<GroupRecord>> {
        self.inner.list_groups().await
    }

    async fn update_group(
        &self,
        name: &str,
        new_name: &str,
        new_path: &str,
        new_arn: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.update_group(name, new_name, new_path, new_arn))
            .await
    }

    async fn delete_group(&self, name: &str) -> StoreResult<()> {
        self.write(self.inner.delete_group(name)).await
    }

    async fn add_user_to_group(&self, group: &str, user: &str) -> StoreResult<()> {
        self.write(self.inner.add_user_to_group(group, user)).await
    }

    async fn remove_user_from_group(&self, group: &str, user: &str) -> StoreResult<()> {
        self.write(self.inner.remove_user_from_group(group, user))
            .await
    }

    async fn list_group_users(&self, group: &str) -> StoreResult<Vec<UserRecord>> {
        self.inner.list_group_users(group).await
    }

    async fn list_groups_for_user(&self, user: &str) -> StoreResult<Vec<GroupRecord>> {
        self.inner.list_groups_for_user(user).await
    }

    async fn put_group_policy(&self, group: &str, policy: &str, document: &str) -> StoreResult<()> {
        self.write(self.inner.put_group_policy(group, policy, document))
            .await
    }

    async fn get_group_policy(&self, group: &str, policy: &str) -> StoreResult<Option<String>> {
        self.inner.get_group_policy(group, policy).await
    }

    async fn delete_group_policy(&self, group: &str, policy: &str) -> StoreResult<()> {
        self.write(self.inner.delete_group_policy(group, policy))
            .await
    }

    async fn list_group_policies(&self, group: &str) -> StoreResult<Vec<String>> {
        self.inner.list_group_policies(group).await
    }

    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> StoreResult<()> {
        self.write(self.inner.attach_group_policy(group, policy_arn))
            .await
    }

    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> StoreResult<()> {
        self.write(self.inner.detach_group_policy(group, policy_arn))
            .await
    }

    async fn list_attached_group_policies(&self, group: &str) -> StoreResult<Vec<AttachedPolicy>> {
        self.inner.list_attached_group_policies(group).await
    }

    async fn list_policy_groups(&self, policy_arn: &str) -> StoreResult<Vec<GroupRecord>> {
        self.inner.list_policy_groups(policy_arn).await
    }
}

#[async_trait]
impl<S: MetadataStore> RepositoryStore for CachedMetadataStore<S> {
    async fn create_repository(&self, repository: &RepositoryRecord) -> StoreResult<()> {
        self.write(self.inner.create_repository(repository)).await
    }

    async fn get_repository(&self, name: &RepositoryName) -> StoreResult<Option<RepositoryRecord>> {
        self.cached(&self.repositories, name.as_str(), || {
            self.inner.get_repository(name)
        })
        .await
    }

    async fn list_repositories(
        &self,
        after: Option<&RepositoryName>,
        limit: usize,
    ) -> StoreResult<Vec<RepositoryRecord>> {
        // Repository names never contain NUL, so `\0` keys "from the start" apart.
        let key = key2(after.map_or("\0", |a| a.as_str()), &limit.to_string());
        self.cached(&self.repository_pages, &key, || {
            self.inner.list_repositories(after, limit)
        })
        .await
    }

    async fn set_image_tag_mutability(
        &self,
        name: &RepositoryName,
        image_tag_mutability: TagMutability,
        exclusions: &[String],
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .set_image_tag_mutability(name, image_tag_mutability, exclusions),
        )
        .await
    }

    async fn create_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        document: &PrefixDocument,
    ) -> StoreResult<()> {
        self.write(self.inner.create_prefix_document(kind, document))
            .await
    }

    async fn get_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
    ) -> StoreResult<Option<PrefixDocument>> {
        self.inner.get_prefix_document(kind, prefix).await
    }

    async fn list_prefix_documents(
        &self,
        kind: PrefixDocumentKind,
    ) -> StoreResult<Vec<PrefixDocument>> {
        let key = match kind {
            PrefixDocumentKind::CreationTemplate => "creation-template",
            PrefixDocumentKind::PullThroughCacheRule => "pull-through-cache-rule",
        };
        self.cached(&self.prefix_documents, key, || {
            self.inner.list_prefix_documents(kind)
        })
        .await
    }

    async fn update_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
        document: &str,
        updated_at: i64,
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .update_prefix_document(kind, prefix, document, updated_at),
        )
        .await
    }

    async fn delete_prefix_document(
        &self,
        kind: PrefixDocumentKind,
        prefix: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.delete_prefix_document(kind, prefix))
            .await
    }

    async fn set_scan_on_push(&self, name: &RepositoryName, scan_on_push: bool) -> StoreResult<()> {
        self.write(self.inner.set_scan_on_push(name, scan_on_push))
            .await
    }

    async fn get_registry_setting(&self, name: &str) -> StoreResult<Option<String>> {
        self.inner.get_registry_setting(name).await
    }

    async fn put_registry_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        self.write(self.inner.put_registry_setting(name, value))
            .await
    }

    async fn delete_registry_setting(&self, name: &str) -> StoreResult<()> {
        self.write(self.inner.delete_registry_setting(name)).await
    }

    async fn set_repository_policy(
        &self,
        name: &RepositoryName,
        policy: Option<&str>,
    ) -> StoreResult<()> {
        self.write(self.inner.set_repository_policy(name, policy))
            .await
    }

    async fn count_manifests(&self, name: &RepositoryName) -> StoreResult<u64> {
        self.inner.count_manifests(name).await
    }

    async fn delete_repository(&self, name: &RepositoryName, force: bool) -> StoreResult<()> {
        self.write(self.inner.delete_repository(name, force)).await
    }

    async fn put_lifecycle_policy(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.put_lifecycle_policy(repository, text))
            .await
    }

    async fn get_lifecycle_policy(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<LifecyclePolicyRecord>> {
        self.inner.get_lifecycle_policy(repository).await
    }

    async fn delete_lifecycle_policy(&self, repository: &RepositoryName) -> StoreResult<()> {
        self.write(self.inner.delete_lifecycle_policy(repository))
            .await
    }

    async fn set_lifecycle_policy_evaluated(
        &self,
        repository: &RepositoryName,
        at: i64,
    ) -> StoreResult<()> {
        self.write(self.inner.set_lifecycle_policy_evaluated(repository, at))
            .await
    }

    async fn list_lifecycle_policies(&self) -> StoreResult<Vec<LifecyclePolicyRecord>> {
        self.inner.list_lifecycle_policies().await
    }

    async fn put_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
        text: &str,
    ) -> StoreResult<()> {
        self.write(self.inner.put_lifecycle_policy_preview(repository, text))
            .await
    }

    async fn get_lifecycle_policy_preview(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Option<String>> {
        self.inner.get_lifecycle_policy_preview(repository).await
    }

    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: i64,
    ) -> StoreResult<()> {
        self.write(self.inner.link_blob(repository, digest, size))
            .await
    }

    async fn blob_link(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<i64>> {
        self.inner.blob_link(repository, digest).await
    }

    async fn unlink_blob(&self, repository: &RepositoryName, digest: &Digest) -> StoreResult<()> {
        self.write(self.inner.unlink_blob(repository, digest)).await
    }

    async fn tag_repository(
        &self,
        name: &RepositoryName,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> StoreResult<()> {
        self.write(self.inner.tag_repository(name, tags, max_tags))
            .await
    }

    async fn untag_repository(&self, name: &RepositoryName, keys: &[String]) -> StoreResult<()> {
        self.write(self.inner.untag_repository(name, keys)).await
    }

    async fn list_repository_tags(
        &self,
        name: &RepositoryName,
    ) -> StoreResult<Vec<(String, String)>> {
        self.inner.list_repository_tags(name).await
    }

    async fn put_manifest(
        &self,
        manifest: &ManifestRecord,
        tag: Option<&Tag>,
        immutable_tags: bool,
    ) -> StoreResult<PutManifestOutcome> {
        self.write(self.inner.put_manifest(manifest, tag, immutable_tags))
            .await
    }

    async fn get_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>> {
        self.inner.get_manifest(repository, digest).await
    }

    async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> StoreResult<Option<Digest>> {
        self.inner.resolve_tag(repository, tag).await
    }

    async fn list_tags(
        &self,
        repository: &RepositoryName,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.inner.list_tags(repository, after, limit).await
    }

    async fn list_manifests(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<(ManifestRecord, Vec<String>)>> {
        self.inner.list_manifests(repository).await
    }

    async fn list_images_page(
        &self,
        repository: &RepositoryName,
        status: TagStatus,
        from: Option<&ImageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<ImageEntry>> {
        self.inner
            .list_images_page(repository, status, from, limit)
            .await
    }

    async fn lifecycle_candidates(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<Vec<LifecycleCandidate>> {
        self.inner.lifecycle_candidates(repository).await
    }

    async fn image_entry(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<Option<ImageEntry>> {
        self.inner.image_entry(repository, digest).await
    }

    async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>> {
        self.inner.list_referrers(repository, subject).await
    }

    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> StoreResult<()> {
        self.write(self.inner.delete_manifest(repository, digest))
            .await
    }

    async fn delete_tag(&self, repository: &RepositoryName, tag: &Tag) -> StoreResult<()> {
        self.write(self.inner.delete_tag(repository, tag)).await
    }

    /// Not a write for the cache: no cached lookup reads pull times, and pulls are
    /// recorded every few seconds.
    async fn record_image_pulls(&self, pulls: &[(RepositoryName, Digest, i64)]) -> StoreResult<()> {
        self.inner.record_image_pulls(pulls).await
    }

    async fn image_pull_times(
        &self,
        repository: &RepositoryName,
    ) -> StoreResult<HashMap<Digest, i64>> {
        self.inner.image_pull_times(repository).await
    }
}

#[async_trait]
impl<S: MetadataStore> UploadStore for CachedMetadataStore<S> {
    async fn list_uploads_created_before(&self, before: i64) -> StoreResult<Vec<UploadRecord>> {
        self.inner.list_uploads_created_before(before).await
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        self.write(self.inner.create_upload(upload)).await
    }

    async fn get_upload(&self, id: &str) -> StoreResult<Option<UploadRecord>> {
        self.inner.get_upload(id).await
    }

    async fn update_upload_parts(
        &self,
        id: &str,
        last_part_size: i64,
        small_part_seen: bool,
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .update_upload_parts(id, last_part_size, small_part_seen),
        )
        .await
    }

    async fn delete_upload(&self, id: &str) -> StoreResult<()> {
        self.write(self.inner.delete_upload(id)).await
    }
}

/// Garbage collection: writes, but of nothing cached; they bump all the same, so the rule
/// "every write invalidates" stays without exceptions.
#[async_trait]
impl<S: MetadataStore> LeaseStore for CachedMetadataStore<S> {
    async fn lease_blobs(
        &self,
        lease: &str,
        digests: &[Digest],
        now: i64,
        live_claims_since: i64,
    ) -> StoreResult<()> {
        self.write(
            self.inner
                .lease_blobs(lease, digests, now, live_claims_since),
        )
        .await
    }

    async fn release_blob_lease(&self, lease: &str) -> StoreResult<()> {
        self.write(self.inner.release_blob_lease(lease)).await
    }

    async fn claim_unreferenced_blob(
        &self,
        digest: &Digest,
        now: i64,
        live_leases_since: i64,
    ) -> StoreResult<bool> {
        self.write(
            self.inner
                .claim_unreferenced_blob(digest, now, live_leases_since),
        )
        .await
    }

    async fn drop_blob_claim(&self, digest: &Digest) -> StoreResult<()> {
        self.write(self.inner.drop_blob_claim(digest)).await
    }

    async fn acquire_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.inner
            .acquire_job_lease(job, holder, now, expires_at)
            .await
    }

    async fn release_job_lease(&self, job: &str, holder: &str) -> StoreResult<()> {
        self.inner.release_job_lease(job, holder).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn prune_blob_leases_and_claims(&self, before: i64) -> StoreResult<()> {
        self.write(self.inner.prune_blob_leases_and_claims(before))
            .await
    }
}

#[async_trait]
impl<S: MetadataStore> KeyStore for CachedMetadataStore<S> {
    async fn get_or_create_signing_key(
        &self,
        candidate: &SigningKeyRecord,
    ) -> StoreResult<SigningKeyRecord> {
        self.write(self.inner.get_or_create_signing_key(candidate))
            .await
    }

    async fn list_signing_keys(&self, purpose: &str) -> StoreResult<Vec<SigningKeyRecord>> {
        self.inner.list_signing_keys(purpose).await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.inner.add_signing_key(key).await
    }

    async fn delete_signing_key(&self, purpose: &str, kid: &str) -> StoreResult<()> {
        self.inner.delete_signing_key(purpose, kid).await
    }
}

/// The audit trail caches nothing and invalidates nothing: its writes touch no cached
/// record, and each batch would otherwise empty the whole cache.
#[async_trait]
impl<S: MetadataStore> AuditStore for CachedMetadataStore<S> {
    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> StoreResult<()> {
        self.inner.append_audit_events(events).await
    }

    async fn lookup_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEventRecord>> {
        self.inner.lookup_audit_events(query).await
    }

    async fn prune_audit_events(&self, before_ms: i64, limit: usize) -> StoreResult<u64> {
        self.inner.prune_audit_events(before_ms, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_an_older_generation_or_past_the_ttl_are_misses() {
        let lookup = Lookup::new();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        lookup.insert("k", 3, t0, 7);
        assert_eq!(lookup.get("k", 3, t0, ttl), Some(7));
        assert_eq!(lookup.get("k", 4, t0, ttl), None);
        assert_eq!(lookup.get("k", 3, t0 + ttl, ttl), None);
        assert_eq!(lookup.get("other", 3, t0, ttl), None);
    }

    #[test]
    fn a_full_lookup_starts_over_instead_of_growing() {
        let lookup = Lookup::new();
        let t0 = Instant::now();
        for i in 0..ENTRY_LIMIT {
            lookup.insert(&i.to_string(), 0, t0, i);
        }
        lookup.insert("one more", 0, t0, 0);
        let len = lookup.entries.lock().map(|e| e.len()).unwrap_or_default();
        assert_eq!(len, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_of_a_key_make_one_read() {
        let lookup = Arc::new(Lookup::new());
        let generation = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(AtomicU64::new(0));
        let ttl = Duration::from_secs(60);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (lookup, generation, reads) =
                    (lookup.clone(), generation.clone(), reads.clone());
                tokio::spawn(async move {
                    lookup
                        .cached(&generation, ttl, "role", || async {
                            reads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(42)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 42);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // A write since: the next request reads again.
        generation.fetch_add(1, Ordering::SeqCst);
        let value = lookup
            .cached(&generation, ttl, "role", || async { Ok(43) })
            .await
            .unwrap();
        assert_eq!(value, 43);
    }
}
