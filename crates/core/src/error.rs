//! Typed errors of the services. The `api` crate owns the one mapping from these to wire
//! errors (AWS Query XML, JSON 1.1, OCI error bodies).

use berth_store::{Conflict, StoreError};

/// A failure the caller cannot fix. The text is logged, never sent.
#[derive(Debug, thiserror::Error)]
#[error("internal error: {0}")]
pub struct InternalError(pub String);

impl From<StoreError> for InternalError {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

/// An authorization refusal, with the message AWS would give.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AccessDenied {
    pub message: String,
    /// Which statement and which condition decided, for the operator (the log and the
    /// audit trail); the caller gets only `message`, as from AWS.
    pub explanation: Option<String>,
}

impl AccessDenied {
    /// A refusal whose message says all there is.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            explanation: None,
        }
    }
}

/// Why a signed request's credentials were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
    /// The credential scope names a region that is neither the server's nor `us-east-1`
    /// (the signing region of the global IAM/STS endpoints). AWS answers
    /// `SignatureDoesNotMatch` with this text.
    #[error("Credential should be scoped to a valid region.")]
    WrongRegion,
    /// The credential scope names another service than the one the request is for (a
    /// signature for one AWS service is not valid for another). AWS answers
    /// `SignatureDoesNotMatch` / `InvalidSignatureException` with this text.
    #[error("Credential should be scoped to correct service: '{0}'. ")]
    WrongService(&'static str),
    /// Clock skew beyond 15 minutes; the message is AWS's "Signature expired: ..." text.
    #[error("{0}")]
    RequestExpired(String),
    #[error("{0}")]
    IncompleteSignature(String),
    /// The credentials could not be looked up (a store failure): no decision, a 500.
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Validation(String),
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// IAM's words for the store's refusals, written once. A refusal IAM has no words for
/// (it would be a bug to reach one here) stays internal.
impl From<StoreError> for IamError {
    fn from(e: StoreError) -> Self {
        let StoreError::Conflict(conflict) = e else {
            return Self::Internal(e.into());
        };
        match conflict {
            Conflict::RoleHasInlinePolicies => {
                Self::DeleteConflict("Cannot delete entity, must delete policies first.".into())
            }
            Conflict::RoleHasAttachedPolicies => {
                Self::DeleteConflict("Cannot delete entity, must detach all policies first.".into())
            }
            Conflict::RoleInInstanceProfile => Self::DeleteConflict(
                "Cannot delete entity, must remove roles from instance profile first.".into(),
            ),
            Conflict::UserHasAccessKeys => {
                Self::DeleteConflict("Cannot delete entity, must delete access keys first.".into())
            }
            Conflict::UserHasInlinePolicies => {
                Self::DeleteConflict("Cannot delete entity, must delete policies first.".into())
            }
            Conflict::UserHasAttachedPolicies => {
                Self::DeleteConflict("Cannot delete entity, must detach all policies first.".into())
            }
            Conflict::UserInGroups => Self::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ),
            Conflict::GroupHasMembers => Self::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ),
            Conflict::GroupHasInlinePolicies => {
                Self::DeleteConflict("Cannot delete entity, must delete policies first.".into())
            }
            Conflict::GroupHasAttachedPolicies => {
                Self::DeleteConflict("Cannot delete entity, must detach all policies first.".into())
            }
            Conflict::AccessKeyLimit { max } => {
                Self::LimitExceeded(format!("Cannot exceed quota for AccessKeysPerUser: {max}"))
            }
            Conflict::InstanceProfileHasRole => Self::DeleteConflict(
                "Cannot delete entity, must remove roles from instance profile first.".into(),
            ),
            Conflict::InstanceProfileFull => Self::LimitExceeded(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".into(),
            ),
            Conflict::PolicyAttached => {
                Self::DeleteConflict("Cannot delete a policy attached to entities.".into())
            }
            Conflict::DefaultPolicyVersion => {
                Self::DeleteConflict("Cannot delete the default version of a policy.".into())
            }
            Conflict::PolicyVersionLimit { max } => Self::LimitExceeded(format!(
                "A managed policy can have up to {max} versions. Before you create a new \
                 version, you must delete an existing version."
            )),
            Conflict::IamTagLimit { max } => {
                Self::LimitExceeded(format!("Cannot exceed quota for TagsPerEntity: {max}"))
            }
            Conflict::ClientIdLimit { max } => Self::LimitExceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {max}"
            )),
            other => Self::Internal(StoreError::Conflict(other).into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("{0}")]
    InvalidIdentityToken(String),
    #[error("{0}")]
    ExpiredToken(String),
    #[error("{0}")]
    IdpCommunication(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    PackedPolicyTooLarge(String),
    #[error("{0}")]
    Validation(String),
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for StsError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// ECR's modeled exceptions (botocore `ecr` service model), plus access denial.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    #[error("{0}")]
    RepositoryNotFound(String),
    #[error("{0}")]
    RepositoryAlreadyExists(String),
    #[error("{0}")]
    RepositoryNotEmpty(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidTagParameter(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    UploadNotFound(String),
    #[error("{message}")]
    InvalidLayerPart {
        message: String,
        upload_id: String,
        repository: String,
        last_valid_byte_received: i64,
    },
    #[error("{0}")]
    InvalidLayer(String),
    #[error("{0}")]
    LayerPartTooSmall(String),
    #[error("{0}")]
    LayerAlreadyExists(String),
    #[error("{0}")]
    EmptyUpload(String),
    #[error("{0}")]
    LayersNotFound(String),
    #[error("{0}")]
    LayerInaccessible(String),
    #[error("{0}")]
    ReferencedImagesNotFound(String),
    #[error("{0}")]
    ImageAlreadyExists(String),
    #[error("{0}")]
    ImageTagAlreadyExists(String),
    #[error("{0}")]
    ImageDigestDoesNotMatch(String),
    #[error("{0}")]
    ImageNotFound(String),
    #[error("{0}")]
    RepositoryPolicyNotFound(String),
    #[error("{0}")]
    LifecyclePolicyNotFound(String),
    #[error("{0}")]
    LifecyclePolicyPreviewNotFound(String),
    #[error("{0}")]
    RegistryPolicyNotFound(String),
    #[error("{0}")]
    TemplateNotFound(String),
    #[error("{0}")]
    TemplateAlreadyExists(String),
    #[error("{0}")]
    PullThroughCacheRuleNotFound(String),
    #[error("{0}")]
    PullThroughCacheRuleAlreadyExists(String),
    #[error("{0}")]
    UnsupportedUpstreamRegistry(String),
    /// A rule naming credentials, which Berth cannot read (it has no Secrets Manager).
    #[error("{0}")]
    UnableToAccessSecret(String),
    /// No scan findings exist for the image (Berth never scans).
    #[error("{0}")]
    ScanNotFound(String),
    /// A request for KMS encryption, which Berth does not have.
    #[error("{0}")]
    Kms(String),
    /// A request ECR refuses as invalid with `ValidationException`.
    #[error("{0}")]
    Validation(String),
    /// A per-principal bound (concurrent uploads) is reached.
    #[error("{0}")]
    LimitExceeded(String),
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for EcrError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// A registry (`/v2`) failure: an OCI error code and its message.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{message}")]
    Oci {
        code: berth_oci::ErrorCode,
        message: String,
    },
    /// 416: a chunk that does not continue the upload.
    #[error("{message}")]
    RangeNotSatisfiable { message: String, current_len: u64 },
    /// A path that names no endpoint of the API: 404 (414 when it is too long).
    #[error("no such endpoint")]
    NoSuchEndpoint { status: u16 },
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl RegistryError {
    /// An ECR service error met while serving the registry (creating a repository on
    /// push or pull): denials stay denials; anything else is the server's failure while
    /// `doing` it.
    pub(crate) fn of_ecr(e: EcrError, doing: &str) -> Self {
        match e {
            EcrError::AccessDenied(d) => Self::AccessDenied(d),
            EcrError::Internal(i) => Self::Internal(i),
            other => Self::Internal(InternalError(format!("{doing}: {other}"))),
        }
    }

    pub fn oci(code: berth_oci::ErrorCode, message: impl Into<String>) -> Self {
        Self::Oci {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// A CloudTrail (`LookupEvents`) failure.
#[derive(Debug, thiserror::Error)]
pub enum CloudTrailError {
    #[error("{0}")]
    InvalidLookupAttributes(String),
    #[error("{0}")]
    InvalidTimeRange(String),
    #[error("{0}")]
    InvalidMaxResults(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for CloudTrailError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<crate::authorizer::AuthzError> for CloudTrailError {
    fn from(e: crate::authorizer::AuthzError) -> Self {
        match e {
            crate::authorizer::AuthzError::Denied(d) => Self::AccessDenied(d),
            crate::authorizer::AuthzError::Internal(i) => Self::Internal(i),
        }
    }
}
