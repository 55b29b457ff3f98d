//! The error of [`crate::Policy::parse`].

/// Why IAM would reject a policy document: `message` is IAM's `MalformedPolicyDocument`
/// message, verbatim; `pointer` is the JSON pointer (RFC 6901) of the offending element,
/// `""` for the whole document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    pub message: String,
    pub pointer: String,
}

impl PolicyError {
    pub(crate) fn new(message: impl Into<String>, pointer: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            pointer: pointer.into(),
        }
    }
}

/// IAM's messages, as IAM writes them.
pub(crate) mod msg {
    pub(crate) const SYNTAX: &str = "Syntax errors in policy.";
    pub(crate) const VERSION: &str = "Policy document must be version 2012-10-17 or greater.";
    pub(crate) const LEGACY: &str = "The policy failed legacy parsing";
    pub(crate) const SID_UNIQUE: &str = "Statement IDs (SID) in a single policy must be unique.";
    pub(crate) const ACTIONS: &str = "Policy statement must contain actions.";
    pub(crate) const RESOURCES: &str = "Policy statement must contain resources.";
    pub(crate) const PRINCIPAL_FORBIDDEN: &str = "Policy document should not specify a principal.";
    // UNCONFIRMED wording (widely quoted for trust policies without a principal).
    pub(crate) const PRINCIPAL_MISSING: &str = "Missing required field Principal";
    pub(crate) const TRUST_ACTIONS: &str = "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity";
    pub(crate) const VENDOR_MISSING: &str =
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
    pub(crate) const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
    pub(crate) const VENDOR_REGEX: &str =
        "Resource vendor must be fully qualified and cannot contain regexes.";
}
