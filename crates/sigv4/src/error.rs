//! The one error type of SigV4 verification.
//!
//! Each variant corresponds to one AWS error code; [`SigV4Error::query_code`] and
//! [`SigV4Error::json_code`] give the code for the Query protocol (STS/IAM) and the JSON
//! protocol (ECR). Messages never contain a secret, a signature we computed or a
//! session token.

/// Why a request's SigV4 authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header and no presigned query (AWS `MissingAuthenticationToken`).
    #[error("Request is missing Authentication Token")]
    MissingAuthentication,
    /// Malformed `Authorization` header / presigned query, or a missing date
    /// (AWS `IncompleteSignature`); the message reads like AWS's.
    #[error("{0}")]
    Incomplete(String),
    /// The credential scope does not fit the request, e.g. its date differs from the
    /// request date (AWS answers `SignatureDoesNotMatch` with this message).
    #[error("{0}")]
    InvalidCredentialScope(String),
    /// The signature (or a signed `x-amz-content-sha256`) does not match
    /// (AWS `SignatureDoesNotMatch`).
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
    /// The request time is more than 15 minutes away from now, or a presigned URL has
    /// expired. AWS answers `SignatureDoesNotMatch` (Query) / `InvalidSignatureException`
    /// (JSON) with this message ("Signature expired: ... is now earlier than ...").
    #[error("{0}")]
    RequestExpired(String),
}

impl SigV4Error {
    /// The `<Code>` of the Query protocol (STS, IAM) error response.
    #[must_use]
    pub fn query_code(&self) -> &'static str {
        match self {
            Self::MissingAuthentication => "MissingAuthenticationToken",
            Self::Incomplete(_) => "IncompleteSignature",
            Self::InvalidCredentialScope(_)
            | Self::SignatureDoesNotMatch
            | Self::RequestExpired(_) => "SignatureDoesNotMatch",
        }
    }

    /// The `__type` of the JSON protocol (ECR) error response.
    #[must_use]
    pub fn json_code(&self) -> &'static str {
        match self {
            Self::MissingAuthentication => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::InvalidCredentialScope(_)
            | Self::SignatureDoesNotMatch
            | Self::RequestExpired(_) => "InvalidSignatureException",
        }
    }
}
