//! The one mapping from Berth's typed errors to AWS's wire errors: Query protocol
//! (`<Code>`, HTTP status, Sender/Receiver) and JSON 1.1 (`__type`, status). Internal
//! errors are logged here and never sent.

use axum::response::Response;
use berth_core::error::{AuthError, EcrError, IamError, InternalError, StsError};
use http::StatusCode;

use crate::ecr::json_error;
use crate::query;

/// A Query-protocol error: status, `<Code>`, message.
pub struct QueryError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// A denial's explanation, for the audit trail (never sent).
    pub explanation: Option<String>,
}

fn q(status: u16, code: &'static str, message: String) -> QueryError {
    QueryError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        code,
        message,
        explanation: None,
    }
}

fn denied(error: QueryError, explanation: Option<String>) -> QueryError {
    QueryError {
        explanation,
        ..error
    }
}

fn internal(e: &InternalError) -> String {
    tracing::error!(error = %e, "internal error");
    "An internal error occurred.".into()
}

impl From<AuthError> for QueryError {
    fn from(e: AuthError) -> Self {
        let m = e.to_string();
        match e {
            AuthError::MissingAuthenticationToken => q(403, "MissingAuthenticationToken", m),
            AuthError::InvalidClientTokenId => q(403, "InvalidClientTokenId", m),
            AuthError::ExpiredToken => q(403, "ExpiredToken", m),
            AuthError::SignatureDoesNotMatch
            | AuthError::WrongRegion
            | AuthError::WrongService(_)
            | AuthError::RequestExpired(_) => q(403, "SignatureDoesNotMatch", m),
            AuthError::IncompleteSignature(_) => q(400, "IncompleteSignature", m),
            AuthError::Internal(i) => q(500, "InternalFailure", internal(&i)),
        }
    }
}

impl From<IamError> for QueryError {
    fn from(e: IamError) -> Self {
        match e {
            IamError::NoSuchEntity(m) => q(404, "NoSuchEntity", m),
            IamError::EntityAlreadyExists(m) => q(409, "EntityAlreadyExists", m),
            IamError::MalformedPolicyDocument(m) => q(400, "MalformedPolicyDocument", m),
            IamError::LimitExceeded(m) => q(409, "LimitExceeded", m),
            IamError::DeleteConflict(m) => q(409, "DeleteConflict", m),
            IamError::InvalidInput(m) => q(400, "InvalidInput", m),
            IamError::Validation(m) => q(400, "ValidationError", m),
            IamError::AccessDenied(d) => denied(q(403, "AccessDenied", d.message), d.explanation),
            IamError::Internal(i) => q(500, "ServiceFailure", internal(&i)),
        }
    }
}

impl From<StsError> for QueryError {
    fn from(e: StsError) -> Self {
        match e {
            StsError::InvalidIdentityToken(m) => q(400, "InvalidIdentityToken", m),
            StsError::ExpiredToken(m) => q(400, "ExpiredTokenException", m),
            StsError::IdpCommunication(m) => q(400, "IDPCommunicationError", m),
            StsError::MalformedPolicyDocument(m) => q(400, "MalformedPolicyDocument", m),
            StsError::PackedPolicyTooLarge(m) => q(400, "PackedPolicyTooLarge", m),
            StsError::Validation(m) => q(400, "ValidationError", m),
            StsError::AccessDenied(d) => denied(q(403, "AccessDenied", d.message), d.explanation),
            StsError::Internal(i) => q(500, "InternalFailure", internal(&i)),
        }
    }
}

impl QueryError {
    pub fn into_response(self, ns: &str, request_id: &str) -> Response {
        let fault = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        query::error_response(self.status, fault, self.code, &self.message, ns, request_id)
    }
}

/// A JSON 1.1 error: status, `__type`, message, extra members.
pub struct JsonError {
    pub status: StatusCode,
    pub type_name: &'static str,
    pub message: String,
    pub extra: Option<serde_json::Value>,
    /// A denial's explanation, for the audit trail (never sent).
    pub explanation: Option<String>,
}

fn j(type_name: &'static str, message: String) -> JsonError {
    JsonError {
        status: StatusCode::BAD_REQUEST,
        type_name,
        message,
        extra: None,
        explanation: None,
    }
}

impl From<AuthError> for JsonError {
    fn from(e: AuthError) -> Self {
        let m = e.to_string();
        match e {
            AuthError::MissingAuthenticationToken => JsonError {
                status: StatusCode::FORBIDDEN,
                ..j("MissingAuthenticationTokenException", m)
            },
            AuthError::InvalidClientTokenId => j("UnrecognizedClientException", m),
            AuthError::ExpiredToken => j("ExpiredTokenException", m),
            AuthError::SignatureDoesNotMatch
            | AuthError::WrongRegion
            | AuthError::WrongService(_)
            | AuthError::RequestExpired(_) => j("InvalidSignatureException", m),
            AuthError::IncompleteSignature(_) => j("IncompleteSignatureException", m),
            AuthError::Internal(i) => JsonError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                ..j("ServerException", internal(&i))
            },
        }
    }
}

impl From<EcrError> for JsonError {
    fn from(e: EcrError) -> Self {
        match e {
            EcrError::RepositoryNotFound(m) => j("RepositoryNotFoundException", m),
            EcrError::RepositoryAlreadyExists(m) => j("RepositoryAlreadyExistsException", m),
            EcrError::RepositoryNotEmpty(m) => j("RepositoryNotEmptyException", m),
            EcrError::InvalidParameter(m) => j("InvalidParameterException", m),
            EcrError::InvalidTagParameter(m) => j("InvalidTagParameterException", m),
            EcrError::TooManyTags(m) => j("TooManyTagsException", m),
            EcrError::UploadNotFound(m) => j("UploadNotFoundException", m),
            EcrError::InvalidLayerPart {
                message,
                upload_id,
                repository,
                last_valid_byte_received,
            } => JsonError {
                extra: Some(serde_json::json!({
                    "uploadId": upload_id,
                    "repositoryName": repository,
                    "lastValidByteReceived": last_valid_byte_received,
                })),
                ..j("InvalidLayerPartException", message)
            },
            EcrError::InvalidLayer(m) => j("InvalidLayerException", m),
            EcrError::LayerPartTooSmall(m) => j("LayerPartTooSmallException", m),
            EcrError::LayerAlreadyExists(m) => j("LayerAlreadyExistsException", m),
            EcrError::EmptyUpload(m) => j("EmptyUploadException", m),
            EcrError::LayersNotFound(m) => j("LayersNotFoundException", m),
            EcrError::LayerInaccessible(m) => j("LayerInaccessibleException", m),
            EcrError::ReferencedImagesNotFound(m) => j("ReferencedImagesNotFoundException", m),
            EcrError::ImageAlreadyExists(m) => j("ImageAlreadyExistsException", m),
            EcrError::ImageTagAlreadyExists(m) => j("ImageTagAlreadyExistsException", m),
            EcrError::ImageDigestDoesNotMatch(m) => j("ImageDigestDoesNotMatchException", m),
            EcrError::ImageNotFound(m) => j("ImageNotFoundException", m),
            EcrError::RepositoryPolicyNotFound(m) => j("RepositoryPolicyNotFoundException", m),
            EcrError::LifecyclePolicyNotFound(m) => j("LifecyclePolicyNotFoundException", m),
            EcrError::LifecyclePolicyPreviewNotFound(m) => {
                j("LifecyclePolicyPreviewNotFoundException", m)
            }
            EcrError::RegistryPolicyNotFound(m) => j("RegistryPolicyNotFoundException", m),
            EcrError::TemplateNotFound(m) => j("TemplateNotFoundException", m),
            EcrError::TemplateAlreadyExists(m) => j("TemplateAlreadyExistsException", m),
            EcrError::PullThroughCacheRuleNotFound(m) => {
                j("PullThroughCacheRuleNotFoundException", m)
            }
            EcrError::PullThroughCacheRuleAlreadyExists(m) => {
                j("PullThroughCacheRuleAlreadyExistsException", m)
            }
            EcrError::UnsupportedUpstreamRegistry(m) => {
                j("UnsupportedUpstreamRegistryException", m)
            }
            EcrError::UnableToAccessSecret(m) => j("UnableToAccessSecretException", m),
            EcrError::ScanNotFound(m) => j("ScanNotFoundException", m),
            EcrError::Kms(m) => j("KmsException", m),
            EcrError::Validation(m) => j("ValidationException", m),
            EcrError::LimitExceeded(m) => j("LimitExceededException", m),
            EcrError::AccessDenied(d) => JsonError {
                explanation: d.explanation,
                ..j("AccessDeniedException", d.message)
            },
            EcrError::Internal(i) => JsonError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                ..j("ServerException", internal(&i))
            },
        }
    }
}

impl JsonError {
    pub fn into_response(self, request_id: &str) -> Response {
        json_error(self, request_id)
    }
}
