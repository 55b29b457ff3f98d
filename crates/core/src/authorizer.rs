//! Every authenticated request is decided here: the caller's identity policies, the
//! resource's policy and the session policy, evaluated by `berth-policy` with AWS's
//! combination rules. Compiled policies are cached by version, so a policy change applies
//! to the next request and an unchanged policy is never parsed twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_policy::{
    Context, Decision, Policy, PolicyKind, PolicySet, Principal, PrincipalKind, Request,
};
use berth_store::{MetadataStore, StoreError};

use crate::caller::{Caller, RoleSession, UserCaller};
use crate::error::{AccessDenied, InternalError};

/// A refusal or a failure to decide. Deciding fails closed: no answer is never an allow.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for AuthzError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// Per-request facts that become global condition keys.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub source_ip: Option<String>,
    pub secure_transport: bool,
    pub user_agent: Option<String>,
    /// Condition keys the request itself sets (`iam:PermissionsBoundary`, ...).
    pub request_keys: Vec<(&'static str, String)>,
}

impl RequestFacts {
    /// These facts with one more key the request sets.
    pub fn with_request_key(&self, key: &'static str, value: impl Into<String>) -> Self {
        let mut facts = self.clone();
        facts.request_keys.push((key, value.into()));
        facts
    }
}

/// A web identity asking to assume a role: the identity provider, the role's account,
/// the role and its compiled trust policy.
#[derive(Clone, Copy)]
pub struct WebIdentityAssume<'a> {
    pub provider_arn: &'a str,
    pub account: &'a str,
    pub role_arn: &'a str,
    pub trust: &'a Policy,
}

/// Why a web identity may not assume a role: the refused action, and the explanation.
pub struct WebIdentityRefusal<'a> {
    pub action: &'a str,
    pub explanation: String,
}

/// A role's policies as the evaluator takes them, each with its label.
struct CompiledRolePolicies {
    identity: Vec<(String, Policy)>,
    boundary: Option<(String, Policy)>,
    /// The role's or user's own tags: `aws:PrincipalTag/KEY`.
    tags: Vec<(String, String)>,
}

impl CompiledRolePolicies {
    fn identity(&self) -> Vec<(&str, &Policy)> {
        self.identity.iter().map(|(l, p)| (l.as_str(), p)).collect()
    }

    fn boundary(&self) -> Option<(&str, &Policy)> {
        self.boundary.as_ref().map(|(l, p)| (l.as_str(), p))
    }
}

/// A signed-in principal other than root, as the evaluator sees it.
struct SignedIn<'c> {
    compiled: CompiledRolePolicies,
    session_policies: Vec<Policy>,
    context: Context,
    arn: String,
    /// A role session's role (a policy naming the role matches its sessions).
    role_arn: Option<&'c str>,
    /// The role's or the user's unique id.
    unique_id: &'c str,
    account: &'c str,
}

impl SignedIn<'_> {
    fn principal(&self) -> Principal<'_> {
        Principal {
            kind: PrincipalKind::Aws,
            arn: &self.arn,
            role_arn: self.role_arn,
            role_id: Some(self.unique_id),
            account: Some(self.account),
        }
    }
}

/// What a permissions boundary's label starts with: a policy may be a role's boundary and
/// attached to it too, and a refusal says which of the two refused.
const BOUNDARY_LABEL: &str = "boundary:";

pub struct Authorizer {
    store: Arc<dyn MetadataStore>,
    /// `label \0 version` -> compiled policy.
    cache: Mutex<HashMap<String, Policy>>,
}

/// Bounds the cache; when full it is cleared (policies recompile on next use).
const CACHE_LIMIT: usize = 10_000;

impl Authorizer {
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Compiles `document` once per `key`.
    pub fn compiled(
        &self,
        key: &str,
        document: &str,
        kind: PolicyKind,
    ) -> Result<Policy, InternalError> {
        if let Ok(cache) = self.cache.lock()
            && let Some(p) = cache.get(key)
        {
            return Ok(p.clone());
        }
        // Stored documents were validated on write; one that no longer compiles must not
        // be skipped (it may hold a Deny), so the request fails.
        let policy = Policy::parse(document, kind)
            .map_err(|e| InternalError(format!("stored policy `{key}` does not compile: {e}")))?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key.to_owned(), policy.clone());
        }
        Ok(policy)
    }

    /// The session's inline and managed session policies. A managed one deleted since the
    /// session began grants nothing; if none is left the session may do nothing, since
    /// session policies only ever narrow.
    async fn session_policies(&self, session: &RoleSession) -> Result<Vec<Policy>, AuthzError> {
        let mut policies = Vec::new();
        if let Some(text) = &session.session_policy {
            policies.push(self.compiled(&format!("session\0{text}"), text, PolicyKind::Session)?);
        }
        for arn in &session.session_policy_arns {
            let Some(record) = self.store.get_managed_policy(arn).await? else {
                continue;
            };
            let Some(version) = self
                .store
                .get_policy_version(arn, &record.default_version_id)
                .await?
            else {
                continue;
            };
            policies.push(self.compiled(
                &format!("{arn}\0{}", version.version_id),
                &version.document,
                PolicyKind::Session,
            )?);
        }
        if policies.is_empty() && session.has_session_policies() {
            // Evaluated as a session policy that allows nothing.
            policies.push(self.compiled(
                "session\0{}",
                r#"{"Version":"2012-10-17","Statement":[]}"#,
                PolicyKind::Session,
            )?);
        }
        Ok(policies)
    }

    /// The identity policies and the permissions boundary of the session's role, compiled;
    /// `None` when the role the session was issued for no longer exists. A role is its
    /// unique id, not its name: a session of a deleted role stays refused even when a role
    /// of the same name is created again, as in AWS.
    async fn role_policies(
        &self,
        session: &RoleSession,
    ) -> Result<Option<CompiledRolePolicies>, AuthzError> {
        let effective = match self.store.role_effective_policies(&session.role_name).await {
            Ok(effective) => effective,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // The policies were read by name: the role must be the session's, by unique id,
        // once they are read, or they may be a new role's of the same name.
        let role = self.store.get_role(&session.role_name).await?;
        if role.is_none_or(|r| r.role_id != session.role_id) {
            return Ok(None);
        }
        self.compile_principal(&effective).map(Some)
    }

    /// A user's identity policies and permissions boundary, compiled; `None` when the
    /// user (by unique id, as for roles) no longer exists.
    async fn user_policies(
        &self,
        user: &UserCaller,
    ) -> Result<Option<CompiledRolePolicies>, AuthzError> {
        let effective = match self.store.user_effective_policies(&user.user_name).await {
            Ok(effective) => effective,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let found = self.store.get_user(&user.user_name).await?;
        if found.is_none_or(|u| u.user_id != user.user_id) {
            return Ok(None);
        }
        self.compile_principal(&effective).map(Some)
    }

    fn compile_principal(
        &self,
        effective: &berth_store::PrincipalPolicies,
    ) -> Result<CompiledRolePolicies, AuthzError> {
        let compile = |p: &berth_store::EffectivePolicy| -> Result<(String, Policy), AuthzError> {
            let key = format!("{}\0{}", p.label, p.version);
            Ok((
                p.label.clone(),
                self.compiled(&key, &p.document, PolicyKind::Identity)?,
            ))
        };
        Ok(CompiledRolePolicies {
            identity: effective
                .identity
                .iter()
                .map(compile)
                .collect::<Result<_, _>>()?,
            boundary: effective
                .boundary
                .as_ref()
                .map(|b| {
                    compile(b).map(|(label, policy)| (format!("{BOUNDARY_LABEL}{label}"), policy))
                })
                .transpose()?,
            tags: effective.tags.clone(),
        })
    }

    /// What the evaluator needs of a signed-in principal other than root: its policies,
    /// its session policies (a role session's), its condition keys and its names. `None`
    /// when the principal no longer exists.
    async fn signed_in<'c>(
        &self,
        caller: &'c Caller,
        facts: &RequestFacts,
    ) -> Result<Option<SignedIn<'c>>, AuthzError> {
        Ok(match caller {
            Caller::Root { .. } => None,
            Caller::AssumedRole(session) => match self.role_policies(session).await? {
                None => None,
                Some(compiled) => Some(SignedIn {
                    session_policies: self.session_policies(session).await?,
                    context: session_context(caller, session, &compiled.tags, facts),
                    compiled,
                    arn: caller.arn(),
                    role_arn: Some(&session.role_arn),
                    unique_id: &session.role_id,
                    account: &session.account,
                }),
            },
            Caller::User(user) => self.user_policies(user).await?.map(|compiled| SignedIn {
                session_policies: Vec::new(),
                context: user_context(caller, user, &compiled.tags, facts),
                compiled,
                arn: user.user_arn.clone(),
                role_arn: None,
                unique_id: &user.user_id,
                account: &user.account,
            }),
        })
    }

    /// Whether a role session may perform `actions` (sts:AssumeRole, and sts:TagSession /
    /// sts:SetSourceIdentity when it asks for them) on `role_arn`, whose trust policy is
    /// `trust`. As in AWS: the trust policy must allow each action explicitly; an explicit
    /// deny anywhere refuses; and when the trust policy grants only to the caller's
    /// account (not to the caller's role or session by ARN), the caller's identity
    /// policies, narrowed by its session policies, must allow the action too.
    pub async fn may_assume_role(
        &self,
        caller: &Caller,
        actions: &[&str],
        role_arn: &str,
        trust: &Policy,
        facts: &RequestFacts,
        request_keys: &Context,
    ) -> Result<Result<(), String>, AuthzError> {
        // The root user may not assume roles.
        if matches!(caller, Caller::Root { .. }) {
            return Ok(Err("the root user may not assume roles".into()));
        }
        let Some(signed) = self.signed_in(caller, facts).await? else {
            tracing::info!(caller = %caller.arn(), "assume role refused: the caller's role or user no longer exists");
            return Ok(Err("the caller's role or user no longer exists".into()));
        };
        let identity = signed.compiled.identity();
        let session_set: Vec<(&str, &Policy)> = signed
            .session_policies
            .iter()
            .map(|p| ("session", p))
            .collect();
        let mut context = signed.context.clone();
        for (key, values) in request_keys.iter() {
            context.insert_multi(key, values.to_vec());
        }
        let caller_arn = signed.arn.as_str();
        let account = signed.account;
        let principal = signed.principal();
        // The trust policy must let the caller in; where it names only the caller's
        // account it delegates, and the caller's identity policies (narrowed by its
        // session policies) must allow the action too. The evaluator applies both rules.
        let everything = PolicySet {
            identity: &identity,
            resource: Some(("trust", trust)),
            session: &session_set,
            boundary: signed.compiled.boundary(),
            resource_account: Some(account),
            resource_required: true,
        };
        for &action in actions {
            let request = Request {
                principal,
                action,
                resource: role_arn,
                context: &context,
            };
            let allowed = berth_policy::decide(&everything, &request) == Decision::Allow;
            if !allowed {
                let explanation = berth_policy::explain(&everything, &request).summary();
                tracing::info!(caller = %caller_arn, action, role = role_arn, explanation, "assume role refused");
                return Ok(Err(explanation));
            }
        }
        Ok(Ok(()))
    }

    /// Decides whether a web identity from provider `provider_arn` may assume the role
    /// in `account`: a federated principal has no identity policies, so the trust policy
    /// alone decides, over the token's keys (`token_keys`) and the request's global keys,
    /// as for every other policy. `Err`: the first of `actions` refused, with the
    /// explanation for the operator's log (the caller only gets AWS's terse AccessDenied).
    pub fn may_assume_role_with_web_identity<'a>(
        &self,
        assume: &WebIdentityAssume<'_>,
        actions: &[&'a str],
        facts: &RequestFacts,
        token_keys: Context,
    ) -> Result<(), WebIdentityRefusal<'a>> {
        let WebIdentityAssume {
            provider_arn,
            account,
            role_arn,
            trust,
        } = *assume;
        let mut context = token_keys;
        request_context(&mut context, facts);
        let set = PolicySet {
            identity: &[],
            resource: Some(("trust", trust)),
            session: &[],
            boundary: None,
            resource_account: Some(account),
            resource_required: true,
        };
        for &action in actions {
            let request = Request {
                principal: Principal {
                    kind: PrincipalKind::Federated,
                    arn: provider_arn,
                    role_arn: None,
                    role_id: None,
                    account: Some(account),
                },
                action,
                resource: role_arn,
                context: &context,
            };
            if berth_policy::decide(&set, &request) != Decision::Allow {
                berth_metrics::metrics().authorization(false);
                return Err(WebIdentityRefusal {
                    action,
                    explanation: berth_policy::explain(&set, &request).summary(),
                });
            }
        }
        berth_metrics::metrics().authorization(true);
        Ok(())
    }

    /// Decides whether `caller` may perform `action` on `resource`.
    /// `resource_policy` is the resource's own policy (an ECR repository policy), if any.
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        resource_policy: Option<&Policy>,
        facts: &RequestFacts,
    ) -> Result<(), AuthzError> {
        self.authorize_all(caller, &[action], resource, resource_policy, facts)
            .await
    }

    /// Decides whether `caller` may perform every one of `actions` on `resource` (a
    /// request that is several ECR actions at once, such as a monolithic blob upload),
    /// reading the caller's policies once; the first action refused is the one reported.
    pub async fn authorize_all(
        &self,
        caller: &Caller,
        actions: &[&str],
        resource: &str,
        resource_policy: Option<&Policy>,
        facts: &RequestFacts,
    ) -> Result<(), AuthzError> {
        let decision = self
            .decide_all(caller, actions, resource, resource_policy, facts)
            .await;
        if !matches!(decision, Err(AuthzError::Internal(_))) {
            berth_metrics::metrics().authorization(decision.is_ok());
        }
        decision
    }

    async fn decide_all(
        &self,
        caller: &Caller,
        actions: &[&str],
        resource: &str,
        resource_policy: Option<&Policy>,
        facts: &RequestFacts,
    ) -> Result<(), AuthzError> {
        // No action decided is no decision: fail closed.
        if actions.is_empty() {
            return Err(AuthzError::Internal(InternalError(
                "an authorization decision over no action".into(),
            )));
        }
        if let Caller::Root { account, .. } = caller {
            for action in actions {
                self.authorize_root(caller, account, action, resource, resource_policy, facts)?;
            }
            return Ok(());
        }
        let Some(signed) = self.signed_in(caller, facts).await? else {
            return deleted_principal(
                caller,
                actions.first().copied().unwrap_or_default(),
                resource,
            );
        };
        let identity = signed.compiled.identity();
        let session_set: Vec<(&str, &Policy)> = signed
            .session_policies
            .iter()
            .map(|p| ("session", p))
            .collect();
        let set = PolicySet {
            identity: &identity,
            resource: resource_policy.map(|p| ("resource", p)),
            session: &session_set,
            boundary: signed.compiled.boundary(),
            resource_account: Some(signed.account),
            resource_required: false,
        };
        let principal = signed.principal();
        let context = &signed.context;
        for &action in actions {
            let request = Request {
                principal,
                action,
                resource,
                context,
            };
            // Allowing is the common path: decide without collecting anything.
            if berth_policy::decide(&set, &request) != Decision::Allow {
                refuse(&set, &request)?;
            }
        }
        Ok(())
    }
}

impl Authorizer {
    /// The root user of the account needs no identity policy: it may do anything in its
    /// account, except what an explicit Deny in the resource's own policy refuses, which
    /// in AWS applies to the root user as to any principal. Managing that policy itself
    /// (`ROOT_MAY_ALWAYS`) stays open to root, so a repository whose policy locks every
    /// principal out can still be repaired, as AWS keeps a bucket's policy open to the
    /// account's root user.
    fn authorize_root(
        &self,
        caller: &Caller,
        account: &str,
        action: &str,
        resource: &str,
        resource_policy: Option<&Policy>,
        facts: &RequestFacts,
    ) -> Result<(), AuthzError> {
        let Some(policy) = resource_policy else {
            return Ok(());
        };
        if ROOT_MAY_ALWAYS
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
        {
            return Ok(());
        }
        let caller_arn = format!("arn:aws:iam::{account}:root");
        let context = root_context(caller, account, facts);
        let set = PolicySet {
            identity: &[],
            resource: Some(("resource", policy)),
            session: &[],
            boundary: None,
            resource_account: Some(account),
            resource_required: false,
        };
        let request = Request {
            principal: Principal {
                kind: PrincipalKind::Aws,
                arn: &caller_arn,
                role_arn: None,
                role_id: None,
                account: Some(account),
            },
            action,
            resource,
            context: &context,
        };
        if berth_policy::decide(&set, &request) != Decision::ExplicitDeny {
            return Ok(());
        }
        refuse(&set, &request)
    }
}

/// Actions the root user may perform whatever the resource's policy says: the management
/// of that policy, so that a lock-out can be undone.
const ROOT_MAY_ALWAYS: &[&str] = &[
    crate::actions::ECR_GET_REPOSITORY_POLICY,
    crate::actions::ECR_SET_REPOSITORY_POLICY,
    crate::actions::ECR_DELETE_REPOSITORY_POLICY,
];

/// The global condition keys of a request by the account's root user.
fn root_context(caller: &Caller, account: &str, facts: &RequestFacts) -> Context {
    let mut c = Context::new();
    c.insert("aws:PrincipalArn", format!("arn:aws:iam::{account}:root"));
    c.insert("aws:PrincipalAccount", account.to_owned());
    c.insert("aws:PrincipalType", "Account");
    c.insert("aws:userid", account.to_owned());
    request_context(&mut c, facts);
    credentials_context(&mut c, caller);
    c
}

/// Keys present only for temporary credentials, as in AWS: when they were issued, and
/// that no MFA authenticated them (Berth has no MFA devices). Long-term keys have
/// neither, which is why AWS's examples test MFA with `BoolIfExists`.
fn credentials_context(c: &mut Context, caller: &Caller) {
    if !caller.is_temporary() {
        return;
    }
    c.insert("aws:MultiFactorAuthPresent", "false");
    if let Some(issued_at) = caller.token_issued_at()
        && let Ok(t) = time::OffsetDateTime::from_unix_timestamp(issued_at)
        && let Ok(s) = t.format(&time::format_description::well_known::Rfc3339)
    {
        c.insert("aws:TokenIssueTime", s);
    }
}

/// Keys that come from the request rather than the principal.
fn request_context(c: &mut Context, facts: &RequestFacts) {
    let now = crate::now_unix();
    c.insert("aws:EpochTime", now.to_string());
    if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now)
        && let Ok(s) = t.format(&time::format_description::well_known::Rfc3339)
    {
        c.insert("aws:CurrentTime", s);
    }
    c.insert(
        "aws:SecureTransport",
        if facts.secure_transport {
            "true"
        } else {
            "false"
        },
    );
    if let Some(ip) = &facts.source_ip {
        c.insert("aws:SourceIp", ip.clone());
    }
    if let Some(ua) = &facts.user_agent {
        c.insert("aws:UserAgent", ua.clone());
    }
    for (key, value) in &facts.request_keys {
        c.insert(key, value.clone());
    }
}

/// The global condition keys of a request signed with an IAM user's key.
fn user_context(
    caller: &Caller,
    user: &UserCaller,
    tags: &[(String, String)],
    facts: &RequestFacts,
) -> Context {
    let mut c = Context::new();
    c.insert("aws:PrincipalArn", user.user_arn.clone());
    c.insert("aws:PrincipalAccount", user.account.clone());
    c.insert("aws:PrincipalType", "User");
    c.insert("aws:userid", user.user_id.clone());
    c.insert("aws:username", user.user_name.clone());
    request_context(&mut c, facts);
    credentials_context(&mut c, caller);
    for (key, value) in tags {
        c.insert(&format!("aws:PrincipalTag/{key}"), value.clone());
    }
    c
}

/// A role session's keys. `aws:PrincipalTag/KEY` is the role's tags with the session's
/// tags over them, as in AWS.
fn session_context(
    caller: &Caller,
    session: &RoleSession,
    role_tags: &[(String, String)],
    facts: &RequestFacts,
) -> Context {
    let mut c = Context::new();
    c.insert("aws:PrincipalArn", session.role_arn.clone());
    c.insert("aws:PrincipalAccount", session.account.clone());
    c.insert("aws:PrincipalType", "AssumedRole");
    c.insert("aws:userid", caller.user_id());
    request_context(&mut c, facts);
    credentials_context(&mut c, caller);
    if let Some(source_identity) = &session.source_identity {
        c.insert("aws:SourceIdentity", source_identity.clone());
    }
    for (key, value) in role_tags.iter().chain(&session.tags) {
        c.insert(&format!("aws:PrincipalTag/{key}"), value.clone());
    }
    c
}

/// The refusal of every request made with a session whose role was deleted, or with a key
/// of a deleted user (or deleted and created again: a new role or user of the same name is
/// another principal).
fn deleted_principal(caller: &Caller, action: &str, resource: &str) -> Result<(), AuthzError> {
    let caller_arn = caller.arn();
    let gone = match caller {
        Caller::User(_) => "the user no longer exists",
        _ => "the session's role no longer exists",
    };
    tracing::info!(caller = %caller_arn, action, resource, "request denied: {gone}");
    Err(AuthzError::Denied(AccessDenied {
        message: format!(
            "User: {caller_arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
        ),
        explanation: Some(gone.into()),
    }))
}

/// The refusal of `request`, which `set` does not allow: the explanation logged, AWS's
/// message returned.
fn refuse(set: &PolicySet<'_>, request: &Request<'_>) -> Result<(), AuthzError> {
    let evaluation = berth_policy::evaluate(set, request);
    let explanation = berth_policy::explain(set, request).summary();
    let (caller_arn, action, resource) = (request.principal.arn, request.action, request.resource);
    let has_session_policy = !set.session.is_empty();
    let has_boundary = set.boundary.is_some();
    let reason = match evaluation.decision {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDeny => {
            let source = evaluation
                .matched
                .iter()
                .find(|m| matches!(m.effect, berth_policy::Effect::Deny))
                .map(|m| m.label.as_str())
                .unwrap_or_default();
            if source == "session" {
                "with an explicit deny in a session policy".to_owned()
            } else if source.starts_with(BOUNDARY_LABEL) {
                "with an explicit deny in a permissions boundary".to_owned()
            } else if source == "resource" {
                "with an explicit deny in a resource-based policy".to_owned()
            } else {
                "with an explicit deny in an identity-based policy".to_owned()
            }
        }
        Decision::ImplicitDeny => {
            let allowed_by = |from: &dyn Fn(&str) -> bool| {
                evaluation
                    .matched
                    .iter()
                    .any(|m| from(&m.label) && matches!(m.effect, berth_policy::Effect::Allow))
            };
            let identity_allowed =
                allowed_by(&|l| l != "session" && !l.starts_with(BOUNDARY_LABEL));
            if identity_allowed && has_boundary && !allowed_by(&|l| l.starts_with(BOUNDARY_LABEL)) {
                format!("because no permissions boundary allows the {action} action")
            } else if identity_allowed && has_session_policy {
                format!("because no session policy allows the {action} action")
            } else {
                format!("because no identity-based policy allows the {action} action")
            }
        }
    };
    tracing::info!(
        caller = caller_arn,
        action,
        resource,
        decision = ?evaluation.decision,
        explanation,
        "request denied"
    );
    Err(AuthzError::Denied(AccessDenied {
        message: format!(
            "User: {caller_arn} is not authorized to perform: {action} on resource: {resource} {reason}"
        ),
        explanation: Some(explanation.to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REPO: &str = "arn:aws:ecr:us-east-1:123456789012:repository/app";

    async fn authorizer() -> Authorizer {
        let store = berth_store_sql::SqlStore::open_sqlite_in_memory()
            .await
            .unwrap();
        Authorizer::new(Arc::new(store))
    }

    fn root() -> Caller {
        Caller::Root {
            account: ACCOUNT.into(),
            session: None,
        }
    }

    fn repository_policy(statements: &str) -> Policy {
        Policy::parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            PolicyKind::Resource,
        )
        .unwrap()
    }

    async fn root_may(authz: &Authorizer, action: &str, policy: Option<&Policy>) -> bool {
        let facts = RequestFacts {
            source_ip: Some("192.0.2.7".into()),
            ..RequestFacts::default()
        };
        match authz.authorize(&root(), action, REPO, policy, &facts).await {
            Ok(()) => true,
            Err(AuthzError::Denied(d)) => {
                assert!(
                    d.message
                        .contains("with an explicit deny in a resource-based policy"),
                    "{}",
                    d.message
                );
                false
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn root_needs_no_identity_policy() {
        let authz = authorizer().await;
        assert!(root_may(&authz, "ecr:PutImage", None).await);
        // A repository policy that allows only someone else does not narrow root.
        let other = repository_policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:*"}"#,
        );
        assert!(root_may(&authz, "ecr:PutImage", Some(&other)).await);
    }

    #[tokio::test]
    async fn an_explicit_deny_in_the_repository_policy_refuses_root() {
        let authz = authorizer().await;
        for principal in [
            r#""*""#,
            r#"{"AWS":"*"}"#,
            r#"{"AWS":"123456789012"}"#,
            r#"{"AWS":"arn:aws:iam::123456789012:root"}"#,
        ] {
            let policy = repository_policy(&format!(
                r#"{{"Effect":"Deny","Principal":{principal},"Action":"ecr:PutImage"}}"#
            ));
            assert!(
                !root_may(&authz, "ecr:PutImage", Some(&policy)).await,
                "{principal}"
            );
            assert!(
                root_may(&authz, "ecr:BatchGetImage", Some(&policy)).await,
                "{principal}"
            );
        }
        // A Deny for another account, or one whose condition does not hold, does not.
        let elsewhere = repository_policy(
            r#"{"Effect":"Deny","Principal":{"AWS":"210987654321"},"Action":"ecr:*"}"#,
        );
        assert!(root_may(&authz, "ecr:PutImage", Some(&elsewhere)).await);
        let other_network = repository_policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}"#,
        );
        assert!(root_may(&authz, "ecr:PutImage", Some(&other_network)).await);
        // Conditions see root's own keys.
        let root_by_type = repository_policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalType":"Account","aws:PrincipalArn":"arn:aws:iam::123456789012:root"}}}"#,
        );
        assert!(!root_may(&authz, "ecr:PutImage", Some(&root_by_type)).await);
    }

    #[tokio::test]
    async fn root_can_always_repair_a_locked_repository_policy() {
        let authz = authorizer().await;
        let lockout = repository_policy(r#"{"Effect":"Deny","Principal":"*","Action":"*"}"#);
        assert!(!root_may(&authz, "ecr:BatchGetImage", Some(&lockout)).await);
        for action in [
            "ecr:GetRepositoryPolicy",
            "ecr:SetRepositoryPolicy",
            "ecr:DeleteRepositoryPolicy",
            "ECR:deleterepositorypolicy",
        ] {
            assert!(root_may(&authz, action, Some(&lockout)).await, "{action}");
        }
    }
}
