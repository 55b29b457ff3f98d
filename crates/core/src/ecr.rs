//! ECR: repositories, the layer-upload API, images, and the registry's authentication
//! (the password of GetAuthorizationToken) and authorization (each `/v2` request as the
//! ECR action it corresponds to, on the repository's ARN).

use base64::Engine;
use berth_oci::ErrorCode;
use berth_policy::{Policy, PolicyKind};
use berth_store::{
    Conflict, ImageCursor, ManifestRecord, PutManifestOutcome, RepositoryRecord, StoreError,
    TagStatus,
};
use berth_types::{Digest, Reference, RepositoryName, Tag, TagMutability};
use serde::{Deserialize, Serialize};

use crate::Ecr;
use crate::actions::*;
use crate::authorized::Authorized;
use crate::authorizer::{AuthzError, RequestFacts};
use crate::caller::Caller;
use crate::error::{EcrError, InternalError, RegistryError};
use crate::images::{ImageError, MIN_PART_SIZE, StoredManifest};
use crate::registry::RegistryOperation;
use crate::sealer::Purpose;

pub mod creation_template;
pub mod lifecycle_policy;
pub mod operation;
pub mod pull_through_cache;
pub mod registry_settings;

/// ECR authorization tokens are valid for 12 hours.
pub const AUTH_TOKEN_LIFETIME: i64 = 12 * 3600;
/// Lifetime of a GetDownloadUrlForLayer URL.
pub const DOWNLOAD_URL_LIFETIME: i64 = 3600;
/// ECR's part size hint for InitiateLayerUpload.
pub const PART_SIZE: i64 = 10 * 1024 * 1024;

impl From<AuthzError> for EcrError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied(d) => Self::AccessDenied(d),
            AuthzError::Internal(i) => Self::Internal(i),
        }
    }
}

impl From<AuthzError> for RegistryError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied(d) => Self::AccessDenied(d),
            AuthzError::Internal(i) => Self::Internal(i),
        }
    }
}

impl From<ImageError> for RegistryError {
    fn from(e: ImageError) -> Self {
        let msg = e.to_string();
        match e {
            ImageError::UploadNotFound => Self::oci(ErrorCode::BlobUploadUnknown, msg),
            ImageError::OffsetMismatch { current, .. } => Self::RangeNotSatisfiable {
                message: msg,
                current_len: current,
            },
            ImageError::DigestMismatch { .. } => Self::oci(ErrorCode::DigestInvalid, msg),
            ImageError::EmptyUpload => Self::oci(ErrorCode::BlobUploadInvalid, msg),
            ImageError::BlobsUnknown(_) => Self::oci(ErrorCode::ManifestBlobUnknown, msg),
            ImageError::ManifestsUnknown(_) => Self::oci(ErrorCode::ManifestBlobUnknown, msg),
            ImageError::ManifestInvalid(_) => Self::oci(ErrorCode::ManifestInvalid, msg),
            ImageError::ManifestUnknown => Self::oci(ErrorCode::ManifestUnknown, msg),
            ImageError::BlobUnknown => Self::oci(ErrorCode::BlobUnknown, msg),
            ImageError::TagImmutable { .. } => Self::oci(ErrorCode::Denied, msg),
            ImageError::Internal(i) => Self::Internal(i),
        }
    }
}

/// What a registry password seals.
#[derive(Serialize, Deserialize)]
struct RegistryPassword {
    caller: Caller,
    exp: i64,
    /// For the root user: the root keys' fingerprint when the password was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    root_key: Option<String>,
}

/// What a GetDownloadUrlForLayer URL seals. The caller is authorised again at every use,
/// so a URL stops working as soon as its caller loses the permission (a policy detached,
/// the role deleted, the root keys changed), not when it expires.
#[derive(Serialize, Deserialize)]
struct DownloadGrant {
    repository: String,
    digest: String,
    exp: i64,
    caller: Caller,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    root_key: Option<String>,
}

pub struct AuthorizationData {
    pub authorization_token: String,
    pub expires_at: i64,
    pub proxy_endpoint: String,
}

pub struct LayerAvailability {
    pub digest: String,
    /// `None`: the digest is malformed (failure `InvalidLayerDigest`); `Some(None)`: not
    /// in the repository (failure `MissingLayerDigest`).
    pub size: Option<Option<u64>>,
}

pub enum ImageLookup {
    Found(StoredManifest, Option<String>),
    Failed {
        digest: Option<String>,
        tag: Option<String>,
        code: &'static str,
        reason: String,
    },
}

/// One entry of a BatchDeleteImage answer.
pub enum ImageDeletion {
    Deleted {
        digest: String,
        tag: Option<String>,
    },
    Failed {
        digest: Option<String>,
        tag: Option<String>,
        code: &'static str,
        reason: String,
    },
}

/// An `imageIds` entry.
#[derive(Debug, Clone, Default)]
pub struct ImageId {
    pub digest: Option<String>,
    pub tag: Option<String>,
}

/// An image as DescribeImages shows it: its record, tags, and `lastRecordedPullTime`.
pub type ImageDetail = berth_store::ImageEntry;

fn check_mutability(value: &str) -> Result<TagMutability, EcrError> {
    TagMutability::parse(value).ok_or_else(|| EcrError::InvalidParameter(
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'"
            .into(),
    ))
}

/// One of ECR's `imageTagMutabilityExclusionFilters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionFilter {
    pub filter_type: String,
    pub filter: String,
}

impl ExclusionFilter {
    /// The stored form's filters as ECR shows them.
    pub fn wildcards(filters: &[String]) -> Vec<Self> {
        filters
            .iter()
            .map(|f| Self {
                filter_type: "WILDCARD".into(),
                filter: f.clone(),
            })
            .collect()
    }
}

/// A tag mutability and its exclusion filters, as ECR checks them: 1 to 5 `WILDCARD`
/// filters (`[0-9a-zA-Z._*-]`, 1 to 128 characters) with a `*_WITH_EXCLUSION` mode, none
/// with the others.
pub fn check_tag_mutability(
    mode: Option<&str>,
    filters: &[ExclusionFilter],
) -> Result<(TagMutability, Vec<String>), EcrError> {
    let mode = mode.map(check_mutability).transpose()?.unwrap_or_default();
    let invalid = |why: &str| {
        EcrError::InvalidParameter(format!(
            "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: '{why}'"
        ))
    };
    if !mode.has_exclusions() {
        if !filters.is_empty() {
            return Err(invalid(
                "exclusion filters can only be used with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION",
            ));
        }
        return Ok((mode, Vec::new()));
    }
    if !(1..=5).contains(&filters.len()) {
        return Err(invalid(&format!(
            "{mode} needs between 1 and 5 exclusion filters"
        )));
    }
    for f in filters {
        if f.filter_type != "WILDCARD" {
            return Err(invalid("Member must satisfy enum value set: [WILDCARD]"));
        }
        let valid = (1..=128).contains(&f.filter.len())
            && f.filter
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'*' | b'-'));
        if !valid {
            return Err(invalid(
                "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$",
            ));
        }
    }
    Ok((mode, filters.iter().map(|f| f.filter.clone()).collect()))
}

fn repo_name(name: &str) -> Result<RepositoryName, EcrError> {
    RepositoryName::parse(name).map_err(|_| {
        EcrError::InvalidParameter(
            "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''"
                .into(),
        )
    })
}

/// UploadLayerPart's members (the blob decoded).
#[derive(Debug, Clone, Copy)]
pub struct UploadLayerPartInput<'a> {
    pub repository_name: &'a str,
    pub upload_id: &'a str,
    pub part_first_byte: i64,
    pub part_last_byte: i64,
    pub layer_part_blob: &'a [u8],
}

/// PutImage's members.
#[derive(Debug, Clone, Copy)]
pub struct PutImageInput<'a> {
    pub repository_name: &'a str,
    pub image_manifest: &'a str,
    pub image_manifest_media_type: Option<&'a str>,
    pub image_tag: Option<&'a str>,
    pub image_digest: Option<&'a str>,
}

impl Ecr<'_> {
    fn repo_not_found(&self, name: &str) -> EcrError {
        EcrError::RepositoryNotFound(format!(
            "The repository with name '{name}' does not exist in the registry with id '{}'",
            self.config.account_id
        ))
    }

    /// Authorizes an ECR action on a repository, then loads it.
    pub(crate) async fn ecr_repository(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
    ) -> Result<Authorized<RepositoryRecord>, EcrError> {
        let name = repo_name(name)?;
        let arn = self.config.repository_arn(name.as_str());
        let repo = self.metadata.get_repository(&name).await?;
        let policy = self.repository_policy(repo.as_ref())?;
        self.authorizer
            .authorize(caller, action, &arn, policy.as_ref(), facts)
            .await?;
        repo.map(Authorized::granted)
            .ok_or_else(|| self.repo_not_found(name.as_str()))
    }

    /// As [`Ecr::ecr_repository`] for an action that pushes: a repository that does not
    /// exist is created from a matching creation template first, if one applies.
    async fn ecr_repository_for_push(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
    ) -> Result<Authorized<RepositoryRecord>, EcrError> {
        match self.ecr_repository(caller, facts, action, name).await {
            Err(EcrError::RepositoryNotFound(m)) => {
                let parsed = repo_name(name)?;
                if self.create_on_push(caller, facts, &parsed).await? {
                    self.ecr_repository(caller, facts, action, name).await
                } else {
                    Err(EcrError::RepositoryNotFound(m))
                }
            }
            other => other,
        }
    }

    /// The repository's policy, compiled once per text. It is evaluated as the resource
    /// policy of every ECR and registry request on the repository.
    pub(crate) fn repository_policy(
        &self,
        repo: Option<&RepositoryRecord>,
    ) -> Result<Option<Policy>, InternalError> {
        let Some((repo, text)) = repo.and_then(|r| Some((r, r.policy.as_deref()?))) else {
            return Ok(None);
        };
        let key = format!("repository:{}\0{text}", repo.name);
        self.authorizer
            .compiled(&key, text, PolicyKind::Resource)
            .map(Some)
    }

    // --- Repositories --------------------------------------------------------------

    pub async fn create_repository(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        image_tag_mutability: Option<&str>,
        exclusions: &[ExclusionFilter],
        scan_on_push: bool,
    ) -> Result<RepositoryRecord, EcrError> {
        let name = repo_name(name)?;
        let (mutability, exclusions) = check_tag_mutability(image_tag_mutability, exclusions)?;
        let arn = self.config.repository_arn(name.as_str());
        self.authorizer
            .authorize(caller, ECR_CREATE_REPOSITORY, &arn, None, facts)
            .await?;
        let record = RepositoryRecord {
            name: name.clone(),
            created_at: crate::now_unix(),
            image_tag_mutability: mutability,
            tag_mutability_exclusions: exclusions,
            scan_on_push,
            encryption_type: "AES256".into(),
            policy: None,
        };
        match self.metadata.create_repository(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(EcrError::RepositoryAlreadyExists(format!(
                "The repository with name '{name}' already exists in the registry with id '{}'",
                self.config.account_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Named repositories, or a page of all of them (`after` = the last name of the
    /// previous page). Returns the page and whether more follow.
    pub async fn describe_repositories(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        names: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<RepositoryRecord>, bool), EcrError> {
        if !names.is_empty() {
            let mut out = Vec::with_capacity(names.len());
            for n in names {
                out.push(
                    self.ecr_repository(caller, facts, ECR_DESCRIBE_REPOSITORIES, n)
                        .await?
                        .into_inner(),
                );
            }
            return Ok((out, false));
        }
        let wildcard = self.config.repository_arn("*");
        self.authorizer
            .authorize(caller, ECR_DESCRIBE_REPOSITORIES, &wildcard, None, facts)
            .await?;
        let after = after.map(repo_name).transpose()?;
        let mut page = self
            .metadata
            .list_repositories(after.as_ref(), limit + 1)
            .await?;
        let more = page.len() > limit;
        page.truncate(limit);
        Ok((page, more))
    }

    pub async fn delete_repository(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        force: bool,
    ) -> Result<RepositoryRecord, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_DELETE_REPOSITORY, name)
            .await?;
        match self.metadata.delete_repository(&repo.name, force).await {
            Ok(()) => Ok(repo.into_inner()),
            Err(StoreError::NotFound) => Err(self.repo_not_found(name)),
            Err(StoreError::Conflict(Conflict::RepositoryNotEmpty)) => {
                Err(EcrError::RepositoryNotEmpty(format!(
                    "The repository with name '{name}' in registry with id '{}' cannot be deleted because it still contains images",
                    self.config.account_id
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn put_image_tag_mutability(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        mutability: &str,
        exclusions: &[ExclusionFilter],
    ) -> Result<RepositoryRecord, EcrError> {
        let (mutability, exclusions) = check_tag_mutability(Some(mutability), exclusions)?;
        let repo = self
            .ecr_repository(caller, facts, ECR_PUT_IMAGE_TAG_MUTABILITY, name)
            .await?;
        match self
            .metadata
            .set_image_tag_mutability(&repo.name, mutability, &exclusions)
            .await
        {
            Err(StoreError::NotFound) => return Err(self.repo_not_found(name)),
            other => other?,
        }
        let mut repo = repo.into_inner();
        repo.image_tag_mutability = mutability;
        repo.tag_mutability_exclusions = exclusions;
        Ok(repo)
    }

    // --- Repository policies -------------------------------------------------------

    /// Validates and stores a repository policy; returns the repository and the text.
    pub async fn set_repository_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        policy_text: &str,
    ) -> Result<RepositoryRecord, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_SET_REPOSITORY_POLICY, name)
            .await?;
        let policy = match Policy::parse(policy_text, PolicyKind::Resource) {
            Ok(policy) => policy,
            Err(e) => {
                return Err(EcrError::InvalidParameter(format!(
                    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided': {e}"
                )));
            }
        };
        if self.iam().missing_role_principal(&policy).await?.is_some() {
            return Err(EcrError::InvalidParameter(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'".into(),
            ));
        }
        match self
            .metadata
            .set_repository_policy(&repo.name, Some(policy_text))
            .await
        {
            Err(StoreError::NotFound) => return Err(self.repo_not_found(name)),
            other => other?,
        }
        Ok(RepositoryRecord {
            policy: Some(policy_text.to_owned()),
            ..repo.into_inner()
        })
    }

    /// The repository and its policy text.
    pub async fn get_repository_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(RepositoryRecord, String), EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_GET_REPOSITORY_POLICY, name)
            .await?;
        let text = repo
            .policy
            .clone()
            .ok_or_else(|| self.policy_not_found(name))?;
        Ok((repo.into_inner(), text))
    }

    /// Removes the policy; returns the repository and the policy it had.
    pub async fn delete_repository_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(RepositoryRecord, String), EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_DELETE_REPOSITORY_POLICY, name)
            .await?;
        let text = repo
            .policy
            .clone()
            .ok_or_else(|| self.policy_not_found(name))?;
        match self.metadata.set_repository_policy(&repo.name, None).await {
            Err(StoreError::NotFound) => return Err(self.repo_not_found(name)),
            other => other?,
        }
        Ok((repo.into_inner(), text))
    }

    fn policy_not_found(&self, name: &str) -> EcrError {
        EcrError::RepositoryPolicyNotFound(format!(
            "Repository policy does not exist for the repository with name '{name}' in the registry with id '{}'",
            self.config.account_id
        ))
    }

    // --- Authorization tokens ------------------------------------------------------

    pub async fn get_authorization_token(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<AuthorizationData, EcrError> {
        self.authorizer
            .authorize(caller, ECR_GET_AUTHORIZATION_TOKEN, "*", None, facts)
            .await?;
        let now = crate::now_unix();
        let mut exp = now + AUTH_TOKEN_LIFETIME;
        // A token never outlives the credentials that asked for it.
        if let Some(expires_at) = caller.expires_at() {
            exp = exp.min(expires_at);
        }
        let password = self.sealer.seal(
            Purpose::RegistryPassword,
            &RegistryPassword {
                caller: caller.clone(),
                exp,
                root_key: self.root_key_of(caller),
            },
        )?;
        let authorization_token =
            base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
        Ok(AuthorizationData {
            authorization_token,
            expires_at: exp,
            proxy_endpoint: self.config.public_url.clone(),
        })
    }

    /// The caller behind HTTP Basic credentials on the registry: user `AWS` and a password
    /// from GetAuthorizationToken that has not expired.
    pub fn registry_caller(&self, user: &str, password: &str) -> Result<Caller, RegistryError> {
        let unauthorized = |m: &str| RegistryError::oci(ErrorCode::Unauthorized, m);
        if user != "AWS" {
            return Err(unauthorized("the username must be AWS"));
        }
        let sealed: RegistryPassword = self
            .sealer
            .open(Purpose::RegistryPassword, password)
            .ok_or_else(|| unauthorized("the password is not a valid authorization token"))?;
        if sealed.exp <= crate::now_unix() {
            return Err(unauthorized(
                "Your authorization token has expired. Reauthenticate and try again.",
            ));
        }
        if !self.root_key_current(&sealed.caller, sealed.root_key.as_deref()) {
            return Err(unauthorized(
                "the authorization token was made with root keys that have since changed",
            ));
        }
        Ok(sealed.caller)
    }

    /// Whether the access key a user's registry password or download grant was made with
    /// is still the user's and `Active`: deactivating or deleting a key cuts off what was
    /// made with it at once (root's and role sessions' credentials are checked by
    /// `root_key_current` and on every decision).
    pub async fn user_key_current(&self, caller: &Caller) -> Result<bool, RegistryError> {
        let Caller::User(user) = caller else {
            return Ok(true);
        };
        Ok(self
            .metadata
            .get_access_key(&user.access_key_id)
            .await?
            .is_some_and(|(key, owner)| key.status == "Active" && owner.user_id == user.user_id))
    }

    /// For the root user, the fingerprint of the current root keys.
    fn root_key_of(&self, caller: &Caller) -> Option<String> {
        matches!(caller, Caller::Root { .. }).then(|| self.root.fingerprint())
    }

    /// Whether a credential sealed for `caller` with `root_key` is still good: any role
    /// session's is (its role is checked on use), a root user's only while the root keys
    /// are the ones it was made with.
    fn root_key_current(&self, caller: &Caller, root_key: Option<&str>) -> bool {
        match caller {
            Caller::Root { .. } => root_key.is_some_and(|k| self.root.has_fingerprint(k)),
            // A role session's role, and a user, are checked on every use.
            Caller::AssumedRole(_) | Caller::User(_) => true,
        }
    }

    /// Checks a GetDownloadUrlForLayer grant for a blob download without credentials: the
    /// grant must be for this blob and unexpired, and the caller it was made for must
    /// still be allowed `ecr:GetDownloadUrlForLayer` on the repository.
    pub async fn authorize_download_grant(
        &self,
        grant: &str,
        facts: &RequestFacts,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Authorized<RepositoryRecord>, RegistryError> {
        let invalid = || {
            RegistryError::oci(
                ErrorCode::Denied,
                "the download URL is not valid or has expired",
            )
        };
        let grant = self
            .sealer
            .open::<DownloadGrant>(Purpose::LayerDownload, grant)
            .filter(|g| {
                g.repository == name.as_str()
                    && g.digest == digest.as_str()
                    && g.exp > crate::now_unix()
                    && self.root_key_current(&g.caller, g.root_key.as_deref())
            })
            .ok_or_else(invalid)?;
        if !self.user_key_current(&grant.caller).await? {
            return Err(invalid());
        }
        self.registry()
            .authorize_registry(&grant.caller, facts, RegistryOperation::GetBlob, name)
            .await
    }

    // --- Layers --------------------------------------------------------------------

    pub async fn batch_check_layer_availability(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        digests: &[String],
    ) -> Result<Vec<LayerAvailability>, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_BATCH_CHECK_LAYER_AVAILABILITY, name)
            .await?;
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            let size = match Digest::parse(d) {
                Ok(digest) => Some(
                    self.registry()
                        .blob_size(&repo, &digest)
                        .await
                        .map_err(image_to_ecr_internal)?,
                ),
                Err(_) => None,
            };
            out.push(LayerAvailability {
                digest: d.clone(),
                size,
            });
        }
        Ok(out)
    }

    pub async fn initiate_layer_upload(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(String, i64), EcrError> {
        let repo = self
            .ecr_repository_for_push(caller, facts, ECR_INITIATE_LAYER_UPLOAD, name)
            .await?;
        let upload = self
            .registry()
            .start_upload(&repo)
            .await
            .map_err(image_to_ecr_internal)?;
        Ok((upload.into_inner().id, PART_SIZE))
    }

    /// Returns the last byte received.
    pub async fn upload_layer_part(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &UploadLayerPartInput<'_>,
    ) -> Result<i64, EcrError> {
        let UploadLayerPartInput {
            repository_name: name,
            upload_id,
            part_first_byte: first_byte,
            part_last_byte: last_byte,
            layer_part_blob: blob,
        } = *input;
        let repo = self
            .ecr_repository(caller, facts, ECR_UPLOAD_LAYER_PART, name)
            .await?;
        let upload = self
            .registry()
            .upload(&repo, upload_id)
            .await
            .map_err(|_| self.upload_not_found(upload_id, name))?;
        let current = self
            .registry()
            .upload_len(&upload)
            .await
            .map_err(|_| self.upload_not_found(upload_id, name))?;
        let current_i64 =
            i64::try_from(current).map_err(|_| InternalError("upload too large".into()))?;
        let len = i64::try_from(blob.len()).map_err(|_| InternalError("part too large".into()))?;
        let invalid = |message: String| EcrError::InvalidLayerPart {
            message,
            upload_id: upload_id.to_owned(),
            repository: name.to_owned(),
            last_valid_byte_received: current_i64 - 1,
        };
        if first_byte != current_i64 {
            return Err(invalid(format!(
                "The part's first byte {first_byte} does not follow the last byte received {}",
                current_i64 - 1
            )));
        }
        if last_byte < first_byte || last_byte - first_byte + 1 != len {
            return Err(invalid(format!(
                "The part's byte range {first_byte}-{last_byte} does not match its length {len}"
            )));
        }
        // The same bound on uploads a principal streams at once as the registry's PATCH
        // and PUT: parts are smaller, but each is a disk write all the same.
        let _slot = self
            .upload_slots
            .try_acquire(caller)
            .map_err(|refused| EcrError::LimitExceeded(refused.to_string()))?;
        let mut reader: &[u8] = blob;
        self.registry()
            .append_chunk(&upload, Some(current), &mut reader)
            .await
            .map_err(|e| match e {
                ImageError::OffsetMismatch { .. } => {
                    invalid("The part does not follow the last byte received".into())
                }
                other => image_to_ecr_internal(other),
            })?;
        let small_seen =
            upload.small_part_seen || upload.last_part_size.is_some_and(|s| s < MIN_PART_SIZE);
        self.metadata
            .update_upload_parts(upload_id, len, small_seen)
            .await?;
        Ok(last_byte)
    }

    fn upload_not_found(&self, upload_id: &str, name: &str) -> EcrError {
        EcrError::UploadNotFound(format!(
            "The upload with id '{upload_id}' does not exist in the repository with name '{name}' in the registry with id '{}'",
            self.config.account_id
        ))
    }

    pub async fn complete_layer_upload(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        upload_id: &str,
        digests: &[String],
    ) -> Result<String, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_COMPLETE_LAYER_UPLOAD, name)
            .await?;
        let upload = self
            .registry()
            .upload(&repo, upload_id)
            .await
            .map_err(|_| self.upload_not_found(upload_id, name))?;
        let [digest] = digests else {
            return Err(EcrError::InvalidParameter("Invalid parameter at 'layerDigests' failed to satisfy constraint: 'exactly one digest is supported'".into()));
        };
        let digest = Digest::parse(digest)
            .map_err(|e| EcrError::InvalidLayer(format!("Invalid layer digest: {e}")))?;
        if self
            .registry()
            .upload_len(&upload)
            .await
            .map_err(|_| self.upload_not_found(upload_id, name))?
            == 0
        {
            return Err(EcrError::EmptyUpload(format!(
                "The upload with id '{upload_id}' contains no layer parts"
            )));
        }
        if upload.small_part_seen {
            return Err(EcrError::LayerPartTooSmall(
                "Layer parts must be at least 5 MiB in size".into(),
            ));
        }
        if self
            .registry()
            .blob_size(&repo, &digest)
            .await
            .map_err(image_to_ecr_internal)?
            .is_some()
        {
            let _ = self.registry().cancel_upload(&upload).await;
            return Err(EcrError::LayerAlreadyExists(format!(
                "The layer with digest '{digest}' already exists in the repository with name '{name}' in the registry with id '{}'",
                self.config.account_id
            )));
        }
        self.registry()
            .complete_upload(&upload, &digest)
            .await
            .map_err(|e| match e {
                e @ ImageError::DigestMismatch { .. } => EcrError::InvalidLayer(e.to_string()),
                ImageError::UploadNotFound => self.upload_not_found(upload_id, name),
                other => image_to_ecr_internal(other),
            })?;
        Ok(digest.to_string())
    }

    pub async fn get_download_url_for_layer(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        digest: &str,
    ) -> Result<String, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_GET_DOWNLOAD_URL_FOR_LAYER, name)
            .await?;
        let parsed = Digest::parse(digest).map_err(|_| EcrError::InvalidParameter("Invalid parameter at 'layerDigest' failed to satisfy constraint: 'must be a valid digest'".into()))?;
        if self
            .registry()
            .blob_size(&repo, &parsed)
            .await
            .map_err(image_to_ecr_internal)?
            .is_none()
        {
            return Err(EcrError::LayersNotFound(format!(
                "The layer with digest '{digest}' does not exist in the repository with name '{name}' in the registry with id '{}'",
                self.config.account_id
            )));
        }
        // A URL never outlives the credentials that asked for it.
        let mut exp = crate::now_unix() + DOWNLOAD_URL_LIFETIME;
        if let Some(expires_at) = caller.expires_at() {
            exp = exp.min(expires_at);
        }
        let grant = self.sealer.seal(
            Purpose::LayerDownload,
            &DownloadGrant {
                repository: repo.name.to_string(),
                digest: parsed.to_string(),
                exp,
                caller: caller.clone(),
                root_key: self.root_key_of(caller),
            },
        )?;
        Ok(format!(
            "{}/v2/{}/blobs/{}?X-Berth-Grant={grant}",
            self.config.public_url, repo.name, parsed
        ))
    }

    // --- Images --------------------------------------------------------------------

    pub async fn put_image(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &PutImageInput<'_>,
    ) -> Result<(ManifestRecord, Option<String>), EcrError> {
        let PutImageInput {
            repository_name: name,
            image_manifest: manifest,
            image_manifest_media_type: media_type,
            image_tag: tag,
            image_digest: digest,
        } = *input;
        let repo = self
            .ecr_repository_for_push(caller, facts, ECR_PUT_IMAGE, name)
            .await?;
        let tag = tag
            .map(|t| Tag::parse(t).map_err(|_| EcrError::InvalidParameter("Invalid parameter at 'imageTag' failed to satisfy constraint: 'must be a valid tag'".into())))
            .transpose()?;
        let expected = digest
            .map(|d| Digest::parse(d).map_err(|_| EcrError::InvalidParameter("Invalid parameter at 'imageDigest' failed to satisfy constraint: 'must be a valid digest'".into())))
            .transpose()?;
        let (digest, outcome, record) = self
            .registry().put_manifest(&repo, manifest.as_bytes(), media_type, tag.as_ref(), expected.as_ref())
            .await
            .map_err(|e| match e {
                e @ ImageError::DigestMismatch { .. } => {
                    EcrError::ImageDigestDoesNotMatch(e.to_string())
                }
                ImageError::BlobsUnknown(d) => EcrError::LayersNotFound(format!(
                    "Layers with digests {:?} required for pushing image into repository with name '{name}' in the registry with id '{}' do not exist",
                    d.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                    self.config.account_id
                )),
                ImageError::ManifestsUnknown(_) => EcrError::ReferencedImagesNotFound("The manifest list is referencing an image that does not exist".into()),
                ImageError::ManifestInvalid(m) => EcrError::InvalidParameter(format!("Invalid parameter at 'imageManifest' failed to satisfy constraint: '{m}'")),
                e @ ImageError::TagImmutable { .. } => {
                    EcrError::ImageTagAlreadyExists(e.to_string())
                }
                other => image_to_ecr_internal(other),
            })?;
        if outcome == PutManifestOutcome::Unchanged {
            let tag_part = tag
                .as_ref()
                .map(|t| format!(" and tag '{t}'"))
                .unwrap_or_default();
            return Err(EcrError::ImageAlreadyExists(format!(
                "Image with digest '{digest}'{tag_part} already exists in the repository with name '{name}' in registry with id '{}'",
                self.config.account_id
            )));
        }
        Ok((record, tag.map(|t| t.to_string())))
    }

    pub async fn batch_get_image(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        ids: &[ImageId],
        accepted: &[String],
    ) -> Result<Vec<ImageLookup>, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_BATCH_GET_IMAGE, name)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.lookup_image(&repo, id, accepted).await?);
        }
        Ok(out)
    }

    /// The digest an `imageIds` entry names (and its tag, if given), or ECR's failure code
    /// and reason for it.
    async fn resolve_image_id(
        &self,
        repo: &Authorized<RepositoryRecord>,
        id: &ImageId,
    ) -> Result<Result<(Digest, Option<Tag>), (&'static str, &'static str)>, EcrError> {
        let by_digest = match &id.digest {
            Some(d) => match Digest::parse(d) {
                Ok(d) => Some(d),
                Err(_) => return Ok(Err(("InvalidImageDigest", "Invalid image digest"))),
            },
            None => None,
        };
        let by_tag = match &id.tag {
            Some(t) => match Tag::parse(t) {
                Ok(t) => Some(t),
                Err(_) => return Ok(Err(("InvalidImageTag", "Invalid image tag"))),
            },
            None => None,
        };
        let digest = match (by_digest, &by_tag) {
            (None, None) => {
                return Ok(Err((
                    "MissingDigestAndTag",
                    "Invalid request parameters: both tag and digest cannot be null",
                )));
            }
            (Some(d), None) => d,
            (d, Some(t)) => {
                let Some(resolved) = self.metadata.resolve_tag(&repo.name, t).await? else {
                    return Ok(Err(("ImageNotFound", "Requested image not found")));
                };
                if d.as_ref().is_some_and(|d| d != &resolved) {
                    return Ok(Err((
                        "ImageTagDoesNotMatchDigest",
                        "Invalid request parameters: given tag and digest do not match",
                    )));
                }
                resolved
            }
        };
        Ok(Ok((digest, by_tag)))
    }

    /// Deletes images: by digest the manifest with all its tags; by tag only the tag, and
    /// the image with it when that was its last tag (ECR's rule).
    pub async fn batch_delete_image(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDeletion>, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_BATCH_DELETE_IMAGE, name)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let failed = |code: &'static str, reason: &str| ImageDeletion::Failed {
                digest: id.digest.clone(),
                tag: id.tag.clone(),
                code,
                reason: reason.to_owned(),
            };
            let (digest, tag) = match self.resolve_image_id(&repo, id).await? {
                Ok(found) => found,
                Err((code, reason)) => {
                    out.push(failed(code, reason));
                    continue;
                }
            };
            let result = match &tag {
                Some(t) => {
                    let deleted = self.metadata.delete_tag(&repo.name, t).await;
                    let still_tagged = self
                        .metadata
                        .image_entry(&repo.name, &digest)
                        .await?
                        .is_some_and(|image| !image.tags.is_empty());
                    match deleted {
                        Ok(()) if !still_tagged => {
                            match self.metadata.delete_manifest(&repo.name, &digest).await {
                                // A concurrent delete got there first: the image is gone.
                                Err(StoreError::NotFound) => Ok(()),
                                other => other,
                            }
                        }
                        other => other,
                    }
                }
                None => self.metadata.delete_manifest(&repo.name, &digest).await,
            };
            match result {
                Ok(()) => out.push(ImageDeletion::Deleted {
                    digest: digest.to_string(),
                    tag: tag.map(|t| t.to_string()),
                }),
                Err(StoreError::NotFound) => {
                    out.push(failed("ImageNotFound", "Requested image not found"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    async fn lookup_image(
        &self,
        repo: &Authorized<RepositoryRecord>,
        id: &ImageId,
        accepted: &[String],
    ) -> Result<ImageLookup, EcrError> {
        let fail = |code: &'static str, reason: &str| ImageLookup::Failed {
            digest: id.digest.clone(),
            tag: id.tag.clone(),
            code,
            reason: reason.to_owned(),
        };
        let digest = match self.resolve_image_id(repo, id).await? {
            Ok((digest, _)) => digest,
            Err((code, reason)) => return Ok(fail(code, reason)),
        };
        match self
            .registry()
            .get_manifest(repo, &Reference::Digest(digest))
            .await
        {
            Ok(m) => {
                if !accepted.is_empty() && !accepted.iter().any(|a| a == &m.record.media_type) {
                    return Ok(fail(
                        "UnsupportedImageType",
                        "The image's manifest media type is not in acceptedMediaTypes",
                    ));
                }
                self.note_image_pull(&repo.name, &m.record.digest);
                Ok(ImageLookup::Found(m, id.tag.clone()))
            }
            Err(ImageError::ManifestUnknown) => {
                Ok(fail("ImageNotFound", "Requested image not found"))
            }
            Err(e) => Err(image_to_ecr_internal(e)),
        }
    }

    /// ListImages: a page of `(digest, tag)` image ids (one per tag, one per untagged
    /// image with no tag), newest push first, from `token`. Each page reads only its own
    /// images (see `list_images_page`), whatever the repository holds.
    pub async fn list_images(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        tag_status: Option<&str>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Option<String>)>, Option<String>), EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_LIST_IMAGES, name)
            .await?;
        let (from, entries) = self
            .image_page(&repo.name, tag_status, token, limit + 1)
            .await?;
        let full = entries.len() > limit;
        let mut out = Vec::with_capacity(limit);
        let mut last: Option<ImageToken> = None;
        for entry in entries {
            let digest = &entry.manifest.digest;
            // The image the token stopped in: its tags up to the token's are listed.
            let done_up_to = from
                .as_ref()
                .filter(|f| &f.digest == digest)
                .and_then(|f| f.tag.clone());
            let ids: Vec<Option<String>> = if entry.tags.is_empty() {
                if done_up_to.is_some() {
                    Vec::new()
                } else {
                    vec![None]
                }
            } else {
                entry
                    .tags
                    .iter()
                    .filter(|t| done_up_to.as_ref().is_none_or(|d| *t > d))
                    .map(|t| Some(t.clone()))
                    .collect()
            };
            for id in ids {
                if out.len() == limit {
                    return Ok((out, last.map(|l| l.encode())));
                }
                last = Some(ImageToken {
                    pushed_at: entry.manifest.pushed_at,
                    digest: digest.clone(),
                    tag: id.clone(),
                });
                out.push((digest.to_string(), id));
            }
        }
        let next = if full { last.map(|l| l.encode()) } else { None };
        Ok((out, next))
    }

    /// DescribeImages: a page of images newest push first from `token`, or the images
    /// `ids` name (then unpaged, as in ECR).
    #[allow(clippy::too_many_arguments)]
    pub async fn describe_images(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        ids: &[ImageId],
        tag_status: Option<&str>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ImageDetail>, Option<String>), EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_DESCRIBE_IMAGES, name)
            .await?;
        if ids.is_empty() {
            let (_, mut entries) = self
                .image_page(&repo.name, tag_status, token, limit + 1)
                .await?;
            let next = (entries.len() > limit).then(|| {
                entries.truncate(limit);
                entries.last().map(|e| {
                    ImageToken {
                        pushed_at: e.manifest.pushed_at,
                        digest: e.manifest.digest.clone(),
                        tag: None,
                    }
                    .encode()
                })
            });
            return Ok((entries, next.flatten()));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let not_found = || {
                EcrError::ImageNotFound(format!(
                    "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{name}' in the registry with id '{}'",
                    id.digest.as_deref().unwrap_or("null"),
                    id.tag.as_deref().unwrap_or("null"),
                    self.config.account_id
                ))
            };
            let digest = match (&id.digest, &id.tag) {
                (Some(d), _) => Digest::parse(d).ok(),
                (None, Some(t)) => match Tag::parse(t) {
                    Ok(t) => self.metadata.resolve_tag(&repo.name, &t).await?,
                    Err(_) => None,
                },
                (None, None) => None,
            };
            let Some(digest) = digest else {
                return Err(not_found());
            };
            match self.metadata.image_entry(&repo.name, &digest).await? {
                Some(entry)
                    if id
                        .tag
                        .as_deref()
                        .is_none_or(|t| entry.tags.iter().any(|x| x == t)) =>
                {
                    out.push(entry);
                }
                _ => return Err(not_found()),
            }
        }
        Ok((out, None))
    }
}

impl Ecr<'_> {
    /// Up to `limit` images of the repository from where `token` left off, and the token.
    async fn image_page(
        &self,
        repository: &RepositoryName,
        tag_status: Option<&str>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Option<ImageToken>, Vec<ImageDetail>), EcrError> {
        let from = token.map(ImageToken::parse).transpose()?;
        let cursor = from.as_ref().map(ImageToken::cursor);
        let entries = self
            .metadata
            .list_images_page(
                repository,
                tag_status_of(tag_status),
                cursor.as_ref(),
                limit,
            )
            .await?;
        Ok((from, entries))
    }
}

fn tag_status_of(tag_status: Option<&str>) -> TagStatus {
    match tag_status {
        Some("TAGGED") => TagStatus::Tagged,
        Some("UNTAGGED") => TagStatus::Untagged,
        _ => TagStatus::Any,
    }
}

/// Where an image listing's next page starts: after this image, or (ListImages) after
/// this tag of it. Sent as ECR's opaque `nextToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImageToken {
    pushed_at: i64,
    digest: Digest,
    tag: Option<String>,
}

impl ImageToken {
    fn encode(&self) -> String {
        let text = format!(
            "1:{}:{}:{}",
            self.pushed_at,
            self.digest,
            self.tag.as_deref().unwrap_or_default()
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    fn parse(token: &str) -> Result<Self, EcrError> {
        let invalid = || {
            EcrError::InvalidParameter(
                "Invalid parameter at 'nextToken': the token is not valid".into(),
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(5, ':');
        let (Some("1"), Some(pushed_at), Some(algorithm), Some(hex), Some(tag)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        let pushed_at = pushed_at.parse().map_err(|_| invalid())?;
        let digest = Digest::parse(&format!("{algorithm}:{hex}")).map_err(|_| invalid())?;
        let tag = match tag {
            "" => None,
            t => Some(Tag::parse(t).map_err(|_| invalid())?.to_string()),
        };
        Ok(Self {
            pushed_at,
            digest,
            tag,
        })
    }

    /// The store's cursor: at the image when part of its tags remain, else after it.
    fn cursor(&self) -> ImageCursor {
        ImageCursor {
            pushed_at: self.pushed_at,
            digest: self.digest.clone(),
            inclusive: self.tag.is_some(),
        }
    }
}

impl Ecr<'_> {
    /// ListImageReferrers: the artifacts (signatures, SBOMs, ...) whose `subject` is the
    /// image `subject`, as the registry's referrers API finds them, optionally only those of
    /// the given artifact types. Berth archives nothing, so every referrer is `ACTIVE`.
    pub async fn list_image_referrers(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        subject: &str,
        artifact_types: &[String],
    ) -> Result<Vec<berth_oci::Descriptor>, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_LIST_IMAGE_REFERRERS, name)
            .await?;
        let subject = Digest::parse(subject).map_err(|_| {
            EcrError::InvalidParameter(format!(
                "Invalid parameter at 'subjectId.imageDigest': '{subject}' is not a digest"
            ))
        })?;
        let referrers = self
            .registry()
            .referrers(&repo, &subject, None)
            .await
            .map_err(image_to_ecr_internal)?;
        Ok(referrers
            .into_iter()
            .filter(|d| {
                artifact_types.is_empty()
                    || d.artifact_type
                        .as_ref()
                        .is_some_and(|t| artifact_types.contains(t))
            })
            .collect())
    }
}

fn image_to_ecr_internal(e: ImageError) -> EcrError {
    match e {
        ImageError::Internal(i) => EcrError::Internal(i),
        other => EcrError::Internal(InternalError(other.to_string())),
    }
}

#[cfg(test)]
mod image_token_tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_anything_else() {
        let digest = Digest::parse(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        for tag in [None, Some("v1.2".to_owned())] {
            let token = ImageToken {
                pushed_at: 1_700_000_000,
                digest: digest.clone(),
                tag,
            };
            assert_eq!(ImageToken::parse(&token.encode()).unwrap(), token);
        }
        for bad in ["", "0", "not base64!", "MTox", "MTp4OnNoYTI1Njp4Og"] {
            assert!(ImageToken::parse(bad).is_err(), "{bad}");
        }
    }
}
