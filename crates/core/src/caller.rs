use serde::{Deserialize, Serialize};

/// An assumed-role session, as sealed into its session token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSession {
    pub account: String,
    pub role_name: String,
    /// The role ARN, with its path.
    pub role_arn: String,
    pub role_id: String,
    pub session_name: String,
    /// When the session began (0 in sessions sealed before Berth recorded it).
    #[serde(default)]
    pub issued_at: i64,
    pub expires_at: i64,
    /// The session's temporary access key id (`ASIA...`), filled in when its credentials
    /// are opened: upload slots are counted per key. Not sealed into the session token,
    /// which carries the key beside the session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_key_id: String,
    /// The inline session policy passed to AssumeRole*, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// Managed session policies (`PolicyArns`), resolved on each request so a deleted
    /// policy grants nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_policy_arns: Vec<String>,
    /// Set once (from the token's `https://aws.amazon.com/source_identity` claim or
    /// AssumeRole's `SourceIdentity`) and kept through role chaining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Session tags, `aws:PrincipalTag/KEY` in the session's requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Tag keys passed on to sessions chained from this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// The web identity the session was assumed with, for the audit trail: which
    /// provider, and which workflow run the token says it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_identity: Option<WebIdentityOrigin>,
}

/// Where a web identity session came from: the provider and the token's identifying
/// claims (`sub`, and GitHub's `repository`, `ref`, `workflow`, `run_id`, `actor`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebIdentityOrigin {
    pub provider_arn: String,
    pub claims: std::collections::BTreeMap<String, String>,
}

impl RoleSession {
    pub fn has_session_policies(&self) -> bool {
        self.session_policy.is_some() || !self.session_policy_arns.is_empty()
    }
}

/// An IAM user signed in with one of its access keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCaller {
    pub account: String,
    pub user_name: String,
    /// The user's ARN, with its path.
    pub user_arn: String,
    /// The user's unique id (`AIDA…`): a request is the user's only while a user with
    /// this id exists, not another user of the same name.
    pub user_id: String,
    /// The user's long-term access key (`AKIA…`): the one the request was signed with,
    /// or for a session, the one the session was made with.
    pub access_key_id: String,
    /// Set when the request was signed with temporary credentials from GetSessionToken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<KeySession>,
}

/// Temporary credentials from GetSessionToken: the root user or an IAM user, acting as
/// itself until they expire. They are refused by IAM, as AWS refuses them without MFA
/// (and Berth has no MFA devices), and by STS but for AssumeRole and GetCallerIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySession {
    /// The session's temporary access key (`ASIA…`).
    pub access_key_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Who is making an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    /// The account's root credentials: allowed everything in the account.
    Root {
        account: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<KeySession>,
    },
    AssumedRole(Box<RoleSession>),
    User(Box<UserCaller>),
}

impl Caller {
    pub fn account(&self) -> &str {
        match self {
            Self::Root { account, .. } => account,
            Self::AssumedRole(s) => &s.account,
            Self::User(u) => &u.account,
        }
    }

    /// The ARN AWS reports for this caller (GetCallerIdentity, access-denied messages).
    /// An assumed-role ARN drops the role's path.
    pub fn arn(&self) -> String {
        match self {
            Self::Root { account, .. } => format!("arn:aws:iam::{account}:root"),
            Self::AssumedRole(s) => format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                s.account, s.role_name, s.session_name
            ),
            Self::User(u) => u.user_arn.clone(),
        }
    }

    /// The access key behind the caller's credentials: the root key (there is one), or
    /// the session's temporary key (its ARN for a session opened before keys were kept).
    pub fn access_key_id(&self) -> &str {
        match self {
            Self::Root { session: None, .. } => "root",
            Self::Root {
                session: Some(s), ..
            } => &s.access_key_id,
            Self::AssumedRole(s) if s.access_key_id.is_empty() => &s.role_arn,
            Self::AssumedRole(s) => &s.access_key_id,
            Self::User(u) => u
                .session
                .as_ref()
                .map_or(&u.access_key_id, |s| &s.access_key_id),
        }
    }

    /// GetSessionToken's session, if the request was signed with one.
    pub fn key_session(&self) -> Option<&KeySession> {
        match self {
            Self::Root { session, .. } => session.as_ref(),
            Self::User(u) => u.session.as_ref(),
            Self::AssumedRole(_) => None,
        }
    }

    /// Whether the caller signed with temporary credentials (a role session, or
    /// GetSessionToken's), not a long-term key.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::AssumedRole(_)) || self.key_session().is_some()
    }

    /// When the caller's temporary credentials expire: what it is given (registry
    /// passwords, download URLs) must not outlive them.
    pub fn expires_at(&self) -> Option<i64> {
        match self {
            Self::AssumedRole(s) => Some(s.expires_at),
            _ => self.key_session().map(|s| s.expires_at),
        }
    }

    /// When the caller's temporary credentials were issued (`aws:TokenIssueTime`).
    pub fn token_issued_at(&self) -> Option<i64> {
        match self {
            Self::AssumedRole(s) => Some(s.issued_at).filter(|t| *t > 0),
            _ => self.key_session().map(|s| s.issued_at),
        }
    }

    /// GetCallerIdentity's `UserId`.
    pub fn user_id(&self) -> String {
        match self {
            Self::Root { account, .. } => account.clone(),
            Self::AssumedRole(s) => format!("{}:{}", s.role_id, s.session_name),
            Self::User(u) => u.user_id.clone(),
        }
    }
}
