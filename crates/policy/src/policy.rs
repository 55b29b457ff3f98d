//! The compiled policy: what [`Policy::parse`] produces and [`crate::evaluate`] reads.

use std::sync::Arc;

use crate::condition::Condition;
use crate::error::PolicyError;
use crate::evaluator::{Principal, PrincipalKind, Request};
use crate::glob::{Glob, Template};

/// Where a policy is used; decides which elements it must, may and must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A managed or inline identity policy: `Resource`/`NotResource` required, no
    /// `Principal`. Requires `"Version": "2012-10-17"` (the managed-policy rule).
    Identity,
    /// A resource-based policy such as an ECR repository policy: `Principal`/`NotPrincipal`
    /// required, `Resource` optional.
    Resource,
    /// A role trust policy: `Principal` required, `Resource`/`NotResource` prohibited,
    /// actions limited to `sts:AssumeRole*`, `sts:TagSession`, `sts:SetSourceIdentity`,
    /// `sts:SetContext`.
    Trust,
    /// A session policy (AssumeRole* `Policy`): like `Identity`, but `2008-10-17` and a
    /// missing `Version` are accepted.
    Session,
}

impl PolicyKind {
    pub(crate) fn has_principal(self) -> bool {
        matches!(self, PolicyKind::Resource | PolicyKind::Trust)
    }
}

/// The `Version` of a policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17`, or no `Version`: `${...}` is literal text.
    V2008_10_17,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed, validated and compiled IAM policy. Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) inner: Arc<PolicyInner>,
}

#[derive(Debug)]
pub(crate) struct PolicyInner {
    pub(crate) kind: PolicyKind,
    pub(crate) version: PolicyVersion,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// Parses and validates `json` as a policy of `kind`, with IAM's
    /// `MalformedPolicyDocument` messages on failure.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        crate::parser::parse(json, kind)
    }

    pub fn kind(&self) -> PolicyKind {
        self.inner.kind
    }

    pub fn version(&self) -> PolicyVersion {
        self.inner.version
    }

    /// The document's `Id`, if any.
    pub fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    pub fn statement_count(&self) -> usize {
        self.inner.statements.len()
    }

    /// Every principal entry of every statement, in document order.
    fn principal_entries(&self) -> impl Iterator<Item = &PrincipalEntry> {
        self.inner
            .statements
            .iter()
            .filter_map(|s| s.principal.as_ref())
            .flat_map(|p| p.items.iter())
    }

    /// The `Federated` principal values named anywhere in the policy, in document order.
    pub fn federated_principals(&self) -> impl Iterator<Item = &str> {
        self.principal_entries().filter_map(|e| match e {
            PrincipalEntry::Federated(f) => Some(f.as_str()),
            _ => None,
        })
    }

    /// The `{"AWS": ...}` principal values that name an IAM role by ARN, in document order.
    pub fn role_principals(&self) -> impl Iterator<Item = &str> {
        self.entity_principals("role/")
    }

    /// The `{"AWS": ...}` principal values that name an IAM user by ARN, in document order.
    pub fn user_principals(&self) -> impl Iterator<Item = &str> {
        self.entity_principals("user/")
    }

    fn entity_principals(&self, kind: &'static str) -> impl Iterator<Item = &str> {
        self.principal_entries().filter_map(move |e| match e {
            PrincipalEntry::Arn(a) if a.split(':').nth(5).is_some_and(|r| r.starts_with(kind)) => {
                Some(a.as_str())
            }
            _ => None,
        })
    }

    /// The `Sid` of each statement, in document order.
    pub fn sids(&self) -> impl Iterator<Item = Option<&str>> {
        self.inner.statements.iter().map(|s| s.sid.as_deref())
    }
}

/// A list element that is either `X` or `NotX`.
#[derive(Debug, Clone)]
pub(crate) struct Listed<T> {
    pub(crate) not: bool,
    pub(crate) items: Vec<T>,
}

impl<T> Listed<T> {
    pub(crate) fn applies(&self, mut matches: impl FnMut(&T) -> bool) -> bool {
        self.items.iter().any(&mut matches) != self.not
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}` (the latter only for AWS and anonymous principals).
    Anyone,
    AnyAws,
    /// `{"AWS": "123456789012"}` or `{"AWS": "arn:aws:iam::123456789012:root"}`.
    Account(String),
    /// `{"AWS": "<user, role or session ARN>"}`; a role ARN also matches its sessions.
    Arn(String),
    /// `{"AWS": "AROA..."}`: a role's unique id, which is what a policy that named the
    /// role by ARN names once the role is deleted ([`crate::replace_aws_principal`]). It
    /// matches the sessions of that role only, never a new role of the same name.
    UniqueId(String),
    Federated(String),
    Service(String),
    /// Accepted, never matches: Berth has no canonical users.
    CanonicalUser(String),
}

impl PrincipalEntry {
    pub(crate) fn matches(&self, p: &Principal<'_>) -> bool {
        match self {
            PrincipalEntry::Anyone => true,
            PrincipalEntry::AnyAws => {
                matches!(p.kind, PrincipalKind::Aws | PrincipalKind::Anonymous)
            }
            PrincipalEntry::Account(a) => {
                p.kind == PrincipalKind::Aws && p.account_id() == Some(a.as_str())
            }
            PrincipalEntry::Arn(a) => {
                p.kind == PrincipalKind::Aws && (p.arn == a || p.role_arn == Some(a.as_str()))
            }
            PrincipalEntry::UniqueId(id) => {
                p.kind == PrincipalKind::Aws && p.role_id == Some(id.as_str())
            }
            PrincipalEntry::Federated(f) => p.kind == PrincipalKind::Federated && p.arn == f,
            PrincipalEntry::Service(s) => p.kind == PrincipalKind::Service && p.arn == s,
            PrincipalEntry::CanonicalUser(_) => false,
        }
    }
}

/// How a statement's `Principal` covers the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalScope {
    /// By name (the caller's ARN, its role's ARN), by type (`*`, a federated provider, a
    /// service), or by exclusion (`NotPrincipal`); or the statement has no `Principal`
    /// (an identity policy). An Allow grants.
    Named,
    /// Only through the caller's account (`"AWS": "123456789012"` or `...:root`). In AWS an
    /// Allow of this kind delegates to the account: it lets the account's identities in
    /// when their own identity policies allow the action, and grants nothing by itself
    /// (IAM User Guide, "AWS account principals").
    Account,
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `Principal`/`NotPrincipal`; only resource and trust policies have one.
    pub(crate) principal: Option<Listed<PrincipalEntry>>,
    /// Lower-case patterns; action names compare case-insensitively.
    pub(crate) action: Listed<Glob>,
    /// `None` when a resource or trust policy statement names no resource.
    pub(crate) resource: Option<Listed<Template>>,
    pub(crate) conditions: Vec<Condition>,
    /// The elements as the policy writes them, for explanations.
    pub(crate) source: StatementSource,
}

/// `Principal`, `Action` and `Resource` values as written (principal values as
/// `<type> <value>`, or `*`).
#[derive(Debug, Clone, Default)]
pub(crate) struct StatementSource {
    pub(crate) principal: Vec<String>,
    pub(crate) action: Vec<String>,
    pub(crate) resource: Vec<String>,
}

impl Statement {
    /// Whether this statement applies to the request, and if so how its `Principal`
    /// covers the caller.
    pub(crate) fn applies(
        &self,
        request: &Request<'_>,
        action: &ActionName<'_>,
    ) -> Option<PrincipalScope> {
        let context = request.context;
        let scope = self.principal_scope(&request.principal)?;
        (self.action_matches(action)
            && self
                .resource
                .as_ref()
                .is_none_or(|r| r.applies(|t| t.matches(request.resource, context)))
            && self.conditions.iter().all(|c| c.evaluate(context)))
        .then_some(scope)
    }

    /// How the statement's `Principal` covers `p`; `None` when it does not.
    pub(crate) fn principal_scope(&self, p: &Principal<'_>) -> Option<PrincipalScope> {
        let Some(listed) = &self.principal else {
            return Some(PrincipalScope::Named);
        };
        if listed.not {
            return listed
                .applies(|e| e.matches(p))
                .then_some(PrincipalScope::Named);
        }
        let mut scope = None;
        for entry in listed.items.iter().filter(|e| e.matches(p)) {
            if !matches!(entry, PrincipalEntry::Account(_)) {
                return Some(PrincipalScope::Named);
            }
            scope = Some(PrincipalScope::Account);
        }
        scope
    }

    pub(crate) fn action_matches(&self, action: &ActionName<'_>) -> bool {
        match action {
            ActionName::Ascii(a) => self.action.applies(|g| g.matches_ascii_folded(a)),
            ActionName::Lowered(a) => self.action.applies(|g| g.matches(a)),
        }
    }
}

/// The request's action, ready for case-insensitive matching against lower-case patterns:
/// an ASCII name (every real action) is matched as is, folding case while matching, so
/// deciding does not allocate; anything else is lower-cased once.
pub(crate) enum ActionName<'a> {
    Ascii(&'a str),
    Lowered(String),
}

impl<'a> ActionName<'a> {
    pub(crate) fn new(action: &'a str) -> Self {
        if action.is_ascii() {
            ActionName::Ascii(action)
        } else {
            ActionName::Lowered(action.to_lowercase())
        }
    }
}
