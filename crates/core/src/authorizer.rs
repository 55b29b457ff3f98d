//! Every authenticated request is decided here: the caller's identity policies, the
//! resource's policy and the session policy, evaluated by `berth-policy` with AWS's
//! combination rules. Compiled policies are cached by version, so a policy change applies
//! to the next request and an unchanged policy is never parsed twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_policy::{
    Context, Decision, Evaluation, Policy, PolicyKind, PolicySet, Principal, PrincipalKind, Request,
};
use berth_store::{MetadataStore, StoreError};

use crate::caller::{Caller, RoleSession};
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
}

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
    ) -> Result<bool, AuthzError> {
        // The root user may not assume roles.
        let Caller::AssumedRole(session) = caller else {
            return Ok(false);
        };
        let effective = self
            .store
            .role_effective_policies(&session.role_name)
            .await?;
        let mut compiled = Vec::with_capacity(effective.len());
        for p in &effective {
            let key = format!("{}\0{}", p.label, p.version);
            compiled.push((
                p.label.clone(),
                self.compiled(&key, &p.document, PolicyKind::Identity)?,
            ));
        }
        let session_policies = self.session_policies(session).await?;
        let identity: Vec<(&str, &Policy)> =
            compiled.iter().map(|(l, p)| (l.as_str(), p)).collect();
        let session_set: Vec<(&str, &Policy)> =
            session_policies.iter().map(|p| ("session", p)).collect();
        let mut context = session_context(caller, session, facts);
        for (key, values) in request_keys.iter() {
            context.insert_multi(key, values.to_vec());
        }
        let caller_arn = caller.arn();
        let account = session.account.as_str();
        let principal = Principal {
            kind: PrincipalKind::Aws,
            arn: &caller_arn,
            role_arn: Some(&session.role_arn),
            account: Some(account),
        };
        // The same caller with its account hidden: only statements that name the
        // caller's role or session by ARN still match it.
        let by_arn_only = Principal {
            account: Some(""),
            ..principal
        };
        for &action in actions {
            let request = |principal| Request {
                principal,
                action,
                resource: role_arn,
                context: &context,
            };
            let everything = PolicySet {
                identity: &identity,
                resource: Some(("trust", trust)),
                session: &session_set,
                boundary: None,
                resource_account: Some(account),
            };
            let trust_alone = PolicySet {
                identity: &[],
                resource: Some(("trust", trust)),
                session: &[],
                boundary: None,
                resource_account: None,
            };
            let identity_alone = PolicySet {
                identity: &identity,
                resource: None,
                session: &session_set,
                boundary: None,
                resource_account: Some(account),
            };
            let allowed = berth_policy::decide(&everything, &request(principal)) == Decision::Allow
                && berth_policy::decide(&trust_alone, &request(principal)) == Decision::Allow
                && (berth_policy::decide(&trust_alone, &request(by_arn_only)) == Decision::Allow
                    || berth_policy::decide(&identity_alone, &request(principal))
                        == Decision::Allow);
            if !allowed {
                let explanation = berth_policy::explain(&everything, &request(principal));
                tracing::info!(caller = %caller_arn, action, role = role_arn, explanation = %explanation.summary(), "assume role refused");
                return Ok(false);
            }
        }
        Ok(true)
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
        let session = match caller {
            // The root user of the account may do anything in it.
            Caller::Root { .. } => return Ok(()),
            Caller::AssumedRole(s) => s,
        };
        let effective = self
            .store
            .role_effective_policies(&session.role_name)
            .await?;
        let mut compiled = Vec::with_capacity(effective.len());
        for p in &effective {
            let key = format!("{}\0{}", p.label, p.version);
            compiled.push((
                p.label.clone(),
                self.compiled(&key, &p.document, PolicyKind::Identity)?,
            ));
        }
        let session_policies = self.session_policies(session).await?;
        let context = session_context(caller, session, facts);
        let identity: Vec<(&str, &Policy)> =
            compiled.iter().map(|(l, p)| (l.as_str(), p)).collect();
        let session_set: Vec<(&str, &Policy)> =
            session_policies.iter().map(|p| ("session", p)).collect();
        let caller_arn = caller.arn();
        let set = PolicySet {
            identity: &identity,
            resource: resource_policy.map(|p| ("resource", p)),
            session: &session_set,
            boundary: None,
            resource_account: Some(session.account.as_str()),
        };
        let request = Request {
            principal: Principal {
                kind: PrincipalKind::Aws,
                arn: &caller_arn,
                role_arn: Some(&session.role_arn),
                account: Some(&session.account),
            },
            action,
            resource,
            context: &context,
        };
        // Allowing is the common path: decide without collecting anything.
        if berth_policy::decide(&set, &request) == Decision::Allow {
            return Ok(());
        }
        let evaluation = berth_policy::evaluate(&set, &request);
        let explanation = berth_policy::explain(&set, &request);
        decide(
            evaluation,
            &explanation.summary(),
            &caller_arn,
            action,
            resource,
            !session_set.is_empty(),
        )
    }
}

fn session_context(caller: &Caller, session: &RoleSession, facts: &RequestFacts) -> Context {
    let mut c = Context::new();
    let now = crate::now_unix();
    c.insert("aws:PrincipalArn", session.role_arn.clone());
    c.insert("aws:PrincipalAccount", session.account.clone());
    c.insert("aws:PrincipalType", "AssumedRole");
    c.insert("aws:userid", caller.user_id());
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
    if let Some(source_identity) = &session.source_identity {
        c.insert("aws:SourceIdentity", source_identity.clone());
    }
    for (key, value) in &session.tags {
        c.insert(&format!("aws:PrincipalTag/{key}"), value.clone());
    }
    c
}

fn decide(
    evaluation: Evaluation,
    explanation: &str,
    caller_arn: &str,
    action: &str,
    resource: &str,
    has_session_policy: bool,
) -> Result<(), AuthzError> {
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
            } else if source == "resource" {
                "with an explicit deny in a resource-based policy".to_owned()
            } else {
                "with an explicit deny in an identity-based policy".to_owned()
            }
        }
        Decision::ImplicitDeny => {
            let identity_allowed = evaluation
                .matched
                .iter()
                .any(|m| m.label != "session" && matches!(m.effect, berth_policy::Effect::Allow));
            if identity_allowed && has_session_policy {
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
    }))
}
