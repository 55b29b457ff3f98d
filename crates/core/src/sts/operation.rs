//! STS's operations: the router's table. The api reads the Query `Action` into an
//! [`StsOperation`] and dispatches on it with an exhaustive match; the walk-every-route
//! test sends each operation's [`StsOperation::sample`] as a caller without permissions.

operation_table! {
    /// One STS operation Berth answers.
    StsOperation, "sts", "Minimal valid parameters (form-encoded, without `Action` and `Version`) in account `{account}`; the web identity token is a placeholder, `{token}`.":
    AssumeRoleWithWebIdentity => "RoleArn=arn%3Aaws%3Aiam%3A%3A{account}%3Arole%2Fwalk&RoleSessionName=walk&WebIdentityToken={token}",
    AssumeRole => "RoleArn=arn%3Aaws%3Aiam%3A%3A{account}%3Arole%2Fwalk&RoleSessionName=walk",
    GetCallerIdentity => "",
    GetAccessKeyInfo => "AccessKeyId=AKIAIOSFODNN7EXAMPLE",
    GetSessionToken => "",
}

/// How STS decides an operation, as AWS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsAuthorization {
    /// The caller's identity policies (and the role's trust policy): refused without
    /// permission.
    CallerPolicies,
    /// Not signed: the web identity token and the role's trust policy alone decide.
    TrustPolicyOnly,
    /// Any signed caller may (GetCallerIdentity needs no permission).
    AnySignedCaller,
    /// Only a long-term key (the root user's or an IAM user's) may, whatever the policies
    /// say; session credentials are refused.
    LongTermCredentialsOnly,
}

impl StsOperation {
    pub fn authorization(self) -> StsAuthorization {
        match self {
            Self::AssumeRole | Self::GetAccessKeyInfo => StsAuthorization::CallerPolicies,
            Self::AssumeRoleWithWebIdentity => StsAuthorization::TrustPolicyOnly,
            Self::GetCallerIdentity => StsAuthorization::AnySignedCaller,
            Self::GetSessionToken => StsAuthorization::LongTermCredentialsOnly,
        }
    }
}
