//! The distribution spec's error-code table and the one place that renders its envelope.
//!
//! Codes, messages and statuses follow the OCI distribution spec's error table; where the
//! spec gives no status, distribution's `errcode` registry decides (noted per row).

use serde::Serialize;

/// One row of the error-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: the blob is not in this repository. 404.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: the upload can no longer proceed. 400.
    ///
    /// distribution registers 404 for this code; that reads as "unknown upload" to clients,
    /// so Berth answers 400 (the request was wrong, the session still exists).
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: no such upload session (cancelled, finished or never started). 404.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: a digest is malformed or does not match the content. 400.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: a pushed manifest references a blob or manifest the
    /// repository lacks. 400 (distribution), the client sent an unusable manifest.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: the manifest failed validation. 400.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: no such manifest (tag or digest). 404.
    ManifestUnknown,
    /// `NAME_INVALID`: the repository name is malformed. 400.
    NameInvalid,
    /// `NAME_UNKNOWN`: no such repository. 404.
    NameUnknown,
    /// `SIZE_INVALID`: a length does not match the content. 400.
    SizeInvalid,
    /// `UNAUTHORIZED`: authentication required (pair with `WWW-Authenticate`). 401.
    Unauthorized,
    /// `DENIED`: authenticated, but not allowed. 403.
    Denied,
    /// `UNSUPPORTED`: the operation is not supported. 405 (distribution).
    Unsupported,
    /// `TOOMANYREQUESTS`: rate limited. 429.
    TooManyRequests,
    /// `RANGE_INVALID`: a chunk's `Content-Range` is out of order. 416 (distribution; the
    /// spec requires 416 for out-of-order chunks).
    RangeInvalid,
    /// `TAG_INVALID`: the tag is malformed or does not match the manifest. 400 (distribution).
    TagInvalid,
    /// `PAGINATION_NUMBER_INVALID`: `n` is not a usable count. 400 (distribution).
    PaginationNumberInvalid,
    /// `UNKNOWN`: an internal failure. 500 (distribution). The message must never carry
    /// backend text.
    Unknown,
    /// `UNAVAILABLE`: the service is temporarily unavailable. 503 (distribution).
    Unavailable,
}

impl ErrorCode {
    /// Every code, in table order.
    pub const ALL: [ErrorCode; 19] = [
        Self::BlobUnknown,
        Self::BlobUploadInvalid,
        Self::BlobUploadUnknown,
        Self::DigestInvalid,
        Self::ManifestBlobUnknown,
        Self::ManifestInvalid,
        Self::ManifestUnknown,
        Self::NameInvalid,
        Self::NameUnknown,
        Self::SizeInvalid,
        Self::Unauthorized,
        Self::Denied,
        Self::Unsupported,
        Self::TooManyRequests,
        Self::RangeInvalid,
        Self::TagInvalid,
        Self::PaginationNumberInvalid,
        Self::Unknown,
        Self::Unavailable,
    ];

    /// The wire identifier, e.g. `BLOB_UNKNOWN`.
    pub fn code(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status this code is sent with.
    pub fn status(self) -> u16 {
        self.row().1
    }

    /// The spec's message for this code, used when the caller has nothing more specific.
    pub fn default_message(self) -> &'static str {
        self.row().2
    }

    /// The code named by a wire identifier (for clients of other registries and tests).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    fn row(self) -> (&'static str, u16, &'static str) {
        match self {
            Self::BlobUnknown => ("BLOB_UNKNOWN", 404, "blob unknown to registry"),
            Self::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid"),
            Self::BlobUploadUnknown => (
                "BLOB_UPLOAD_UNKNOWN",
                404,
                "blob upload unknown to registry",
            ),
            Self::DigestInvalid => (
                "DIGEST_INVALID",
                400,
                "provided digest did not match uploaded content",
            ),
            Self::ManifestBlobUnknown => (
                "MANIFEST_BLOB_UNKNOWN",
                400,
                "manifest references a manifest or blob unknown to registry",
            ),
            Self::ManifestInvalid => ("MANIFEST_INVALID", 400, "manifest invalid"),
            Self::ManifestUnknown => ("MANIFEST_UNKNOWN", 404, "manifest unknown"),
            Self::NameInvalid => ("NAME_INVALID", 400, "invalid repository name"),
            Self::NameUnknown => ("NAME_UNKNOWN", 404, "repository name not known to registry"),
            Self::SizeInvalid => (
                "SIZE_INVALID",
                400,
                "provided length did not match content length",
            ),
            Self::Unauthorized => ("UNAUTHORIZED", 401, "authentication required"),
            Self::Denied => ("DENIED", 403, "requested access to the resource is denied"),
            Self::Unsupported => ("UNSUPPORTED", 405, "the operation is unsupported"),
            Self::TooManyRequests => ("TOOMANYREQUESTS", 429, "too many requests"),
            Self::RangeInvalid => ("RANGE_INVALID", 416, "invalid content range"),
            Self::TagInvalid => ("TAG_INVALID", 400, "manifest tag did not match URI"),
            Self::PaginationNumberInvalid => (
                "PAGINATION_NUMBER_INVALID",
                400,
                "invalid number of results requested",
            ),
            Self::Unknown => ("UNKNOWN", 500, "unknown error"),
            Self::Unavailable => ("UNAVAILABLE", 503, "service unavailable"),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    errors: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

/// Renders the spec's error envelope for one error:
/// `{"errors":[{"code":"...","message":"...","detail":...}]}`.
///
/// An empty `message` is replaced by the code's default message; `detail` is left out when
/// `None`.
pub fn error_body(code: ErrorCode, message: &str, detail: Option<&serde_json::Value>) -> String {
    errors_body(&[(code, message, detail)])
}

/// Renders the envelope for several errors at once, in the given order.
pub fn errors_body(errors: &[(ErrorCode, &str, Option<&serde_json::Value>)]) -> String {
    let envelope = Envelope {
        errors: errors
            .iter()
            .map(|&(code, message, detail)| Entry {
                code: code.code(),
                message: if message.is_empty() {
                    code.default_message()
                } else {
                    message
                },
                detail,
            })
            .collect(),
    };
    // Serialising strings, static strs and a `Value` cannot fail; the fallback keeps the
    // function total without a panic path.
    serde_json::to_string(&envelope).unwrap_or_else(|_| {
        String::from(r#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
            assert!((400..600).contains(&code.status()), "{code}");
            assert!(!code.default_message().is_empty());
        }
        assert_eq!(ErrorCode::from_code("NOPE"), None);
    }

    #[test]
    fn statuses() {
        use ErrorCode::*;
        let expected = [
            (BlobUnknown, 404),
            (BlobUploadInvalid, 400),
            (BlobUploadUnknown, 404),
            (DigestInvalid, 400),
            (ManifestBlobUnknown, 400),
            (ManifestInvalid, 400),
            (ManifestUnknown, 404),
            (NameInvalid, 400),
            (NameUnknown, 404),
            (SizeInvalid, 400),
            (Unauthorized, 401),
            (Denied, 403),
            (Unsupported, 405),
            (TooManyRequests, 429),
            (RangeInvalid, 416),
            (TagInvalid, 400),
            (PaginationNumberInvalid, 400),
            (Unknown, 500),
            (Unavailable, 503),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (code, status) in expected {
            assert_eq!(code.status(), status, "{code}");
        }
    }

    #[test]
    fn golden_bodies() {
        assert_eq!(
            error_body(ErrorCode::BlobUnknown, "", None),
            r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#
        );
        assert_eq!(
            error_body(ErrorCode::ManifestUnknown, "manifest unknown", None),
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
        );
        let detail = serde_json::json!({"Tag": "latest"});
        assert_eq!(
            error_body(ErrorCode::ManifestUnknown, "", Some(&detail)),
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"latest"}}]}"#
        );
        assert_eq!(
            error_body(
                ErrorCode::Denied,
                "Your authorization token has expired. Reauthenticate and try again.",
                None
            ),
            r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}"#
        );
        // Messages are escaped, never spliced.
        assert_eq!(
            error_body(
                ErrorCode::NameInvalid,
                "bad \"name\"\n",
                Some(&serde_json::Value::Null)
            ),
            r#"{"errors":[{"code":"NAME_INVALID","message":"bad \"name\"\n","detail":null}]}"#
        );
        assert_eq!(
            errors_body(&[
                (ErrorCode::Unauthorized, "", None),
                (ErrorCode::TooManyRequests, "slow down", None)
            ]),
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"},{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#
        );
        assert_eq!(errors_body(&[]), r#"{"errors":[]}"#);
    }
}
