use serde::{Deserialize, Serialize};

/// An assumed-role session, as sealed into its session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSession {
    pub account: String,
    pub role_name: String,
    /// The role ARN, with its path.
    pub role_arn: String,
    pub role_id: String,
    pub session_name: String,
    pub expires_at: i64,
    /// The inline session policy passed to AssumeRole*, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
}

/// Who is making an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    /// The account's root credentials: allowed everything in the account.
    Root {
        account: String,
    },
    AssumedRole(RoleSession),
}

impl Caller {
    pub fn account(&self) -> &str {
        match self {
            Self::Root { account } => account,
            Self::AssumedRole(s) => &s.account,
        }
    }

    /// The ARN AWS reports for this caller (GetCallerIdentity, access-denied messages).
    /// An assumed-role ARN drops the role's path.
    pub fn arn(&self) -> String {
        match self {
            Self::Root { account } => format!("arn:aws:iam::{account}:root"),
            Self::AssumedRole(s) => format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                s.account, s.role_name, s.session_name
            ),
        }
    }

    /// GetCallerIdentity's `UserId`.
    pub fn user_id(&self) -> String {
        match self {
            Self::Root { account } => account.clone(),
            Self::AssumedRole(s) => format!("{}:{}", s.role_id, s.session_name),
        }
    }
}
