//! IAM's policy simulator: `SimulatePrincipalPolicy` (a role's own policies, plus any given
//! as text) and `SimulateCustomPolicy` (policies given as text only), decided by the same
//! engine as every real request.
//!
//! One result per (action, resource) pair, in the order given, `EvalResourceName` being the
//! resource as given: IAM's original shape. (IAM now also groups per-resource results under
//! `ResourceSpecificResults`; the CLI and SDKs read both, so Berth keeps the flat form.)

pub use berth_policy::simulate::Position;
use berth_policy::simulate::{missing_context_keys, statement_spans};
use berth_policy::{
    Context, Decision, Effect, Policy, PolicyKind, PolicySet, Principal, PrincipalKind, Request,
};
use berth_types::Arn;

use super::{check_policy, policy_arn, role_not_found, validation};
use crate::Iam;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::error::IamError;

/// The types `ContextKeyType` may name (botocore's `ContextKeyTypeEnum`).
pub const CONTEXT_KEY_TYPES: &[&str] = &[
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// One `ContextEntries` member.
#[derive(Debug, Clone, Default)]
pub struct ContextEntry {
    pub key: String,
    pub values: Vec<String>,
    pub key_type: Option<String>,
}

/// The inputs both simulations share.
#[derive(Debug, Clone, Default)]
pub struct SimulationInput {
    pub policy_inputs: Vec<String>,
    pub permissions_boundary_inputs: Vec<String>,
    pub actions: Vec<String>,
    /// Empty means `["*"]`.
    pub resources: Vec<String>,
    pub resource_policy: Option<String>,
    pub resource_owner: Option<String>,
    pub caller_arn: Option<String>,
    pub context: Vec<ContextEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalDecision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

impl EvalDecision {
    /// botocore's `PolicyEvaluationDecisionType`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalDecision::Allowed => "allowed",
            EvalDecision::ExplicitDeny => "explicitDeny",
            EvalDecision::ImplicitDeny => "implicitDeny",
        }
    }
}

/// A statement that decided a result (botocore's `Statement` shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    pub source_policy_id: String,
    /// botocore's `PolicySourceType`: `role`, `aws-managed`, `user-managed`, `resource`,
    /// `none` (a policy given as text).
    pub source_policy_type: &'static str,
    pub start: Option<Position>,
    pub end: Option<Position>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationResult {
    pub action: String,
    pub resource: String,
    pub decision: EvalDecision,
    /// With an explicit deny, the Deny statements only; when allowed, the Allow statements;
    /// empty for an implicit deny (as IAM reports).
    pub matched: Vec<MatchedStatement>,
    pub missing_context_values: Vec<String>,
}

/// A policy taking part in a simulation.
struct Source {
    id: String,
    kind: &'static str,
    policy: Policy,
    spans: Vec<(Position, Position)>,
}

impl Source {
    fn new(
        id: String,
        kind: &'static str,
        text: &str,
        policy_kind: PolicyKind,
    ) -> Result<Self, IamError> {
        Ok(Source {
            id,
            kind,
            policy: check_policy(text, policy_kind)?,
            spans: statement_spans(text),
        })
    }
}

impl Iam<'_> {
    pub async fn simulate_principal_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        policy_source_arn: &str,
        input: &SimulationInput,
    ) -> Result<Vec<EvaluationResult>, IamError> {
        let arn = policy_arn(policy_source_arn)?;
        self.iam_authorize(caller, facts, "iam:SimulatePrincipalPolicy", arn.as_str())
            .await?;
        // Roles are Berth's only principals with policies of their own.
        let role_name = arn
            .resource()
            .strip_prefix("role/")
            .filter(|_| arn.service() == "iam" && arn.account() == self.config.account_id.as_str())
            .and_then(|r| r.rsplit('/').next())
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("Entity {policy_source_arn} does not exist."))
            })?;
        let role = self
            .metadata
            .get_role(role_name)
            .await?
            .filter(|r| r.arn == policy_source_arn)
            .ok_or_else(|| role_not_found(role_name))?;
        let policies = self.metadata.role_effective_policies(&role.name).await?;
        let stored = |p: &berth_store::EffectivePolicy| {
            let source = match p.label.strip_prefix("inline:") {
                Some(name) => {
                    Source::new(name.to_owned(), "role", &p.document, PolicyKind::Identity)
                }
                None => {
                    let managed = Arn::parse(&p.label).ok();
                    let name = managed
                        .as_ref()
                        .and_then(|a| a.resource().rsplit('/').next())
                        .unwrap_or(&p.label)
                        .to_owned();
                    let kind = if managed.is_some_and(|a| a.account() == "aws") {
                        "aws-managed"
                    } else {
                        "user-managed"
                    };
                    Source::new(name, kind, &p.document, PolicyKind::Identity)
                }
            };
            // A stored policy that no longer compiles is a server fault, not the caller's.
            source
                .map_err(|e| crate::error::InternalError(format!("stored policy {}: {e}", p.label)))
        };
        let identity = policies
            .identity
            .iter()
            .map(stored)
            .collect::<Result<Vec<_>, _>>()?;
        let boundary = policies.boundary.as_ref().map(stored).transpose()?;
        let principal = input
            .caller_arn
            .clone()
            .unwrap_or_else(|| role.arn.to_string());
        self.simulate(identity, boundary, input, &principal)
    }

    pub async fn simulate_custom_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: &SimulationInput,
    ) -> Result<Vec<EvaluationResult>, IamError> {
        self.iam_authorize(caller, facts, "iam:SimulateCustomPolicy", "*")
            .await?;
        if input.policy_inputs.is_empty() {
            return Err(IamError::InvalidInput(
                "The request must contain at least one policy in PolicyInputList.".into(),
            ));
        }
        if input.resource_policy.is_some() && input.caller_arn.is_none() {
            return Err(IamError::InvalidInput(
                "CallerArn must be specified when ResourcePolicy is specified.".into(),
            ));
        }
        let principal = input.caller_arn.clone().unwrap_or_default();
        self.simulate(Vec::new(), None, input, &principal)
    }

    /// `entity_boundary`: the principal's own permissions boundary, which a boundary given
    /// in the input replaces, as in IAM.
    fn simulate(
        &self,
        mut identity: Vec<Source>,
        entity_boundary: Option<Source>,
        input: &SimulationInput,
        principal_arn: &str,
    ) -> Result<Vec<EvaluationResult>, IamError> {
        if input.actions.is_empty() {
            return Err(IamError::InvalidInput(
                "The request must contain at least one action in ActionNames.".into(),
            ));
        }
        for a in &input.actions {
            if !(3..=128).contains(&a.chars().count()) {
                return Err(validation(
                    a,
                    "actionNames",
                    "Member must have length between 3 and 128",
                ));
            }
        }
        for r in &input.resources {
            if !(1..=2048).contains(&r.chars().count()) {
                return Err(validation(
                    r,
                    "resourceArns",
                    "Member must have length between 1 and 2048",
                ));
            }
        }
        if let Some(caller) = &input.caller_arn {
            Arn::parse(caller)
                .map_err(|_| IamError::InvalidInput(format!("Invalid CallerArn: {caller}")))?;
        }
        let context = context(&input.context)?;
        for (i, text) in input.policy_inputs.iter().enumerate() {
            identity.push(Source::new(
                format!("PolicyInputList.{}", i + 1),
                "none",
                text,
                PolicyKind::Identity,
            )?);
        }
        let mut boundaries = input
            .permissions_boundary_inputs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Source::new(
                    format!("PermissionsBoundaryPolicyInputList.{}", i + 1),
                    "none",
                    text,
                    PolicyKind::Identity,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        // IAM takes one boundary; more than one would need AND semantics the engine's one
        // boundary slot does not have.
        if boundaries.len() > 1 {
            return Err(IamError::InvalidInput(
                "PermissionsBoundaryPolicyInputList can contain at most one policy.".into(),
            ));
        }
        if boundaries.is_empty() {
            boundaries.extend(entity_boundary);
        }
        let resource_policy = input
            .resource_policy
            .as_deref()
            .map(|text| {
                Source::new(
                    "ResourcePolicy".into(),
                    "resource",
                    text,
                    PolicyKind::Resource,
                )
            })
            .transpose()?;

        let identity_set: Vec<(&str, &Policy)> = identity
            .iter()
            .map(|s| (s.id.as_str(), &s.policy))
            .collect();
        let account = self.config.account_id.as_str();
        let set = PolicySet {
            identity: &identity_set,
            resource: resource_policy.as_ref().map(|s| (s.id.as_str(), &s.policy)),
            session: &[],
            boundary: boundaries.first().map(|s| (s.id.as_str(), &s.policy)),
            resource_account: Some(input.resource_owner.as_deref().unwrap_or(account)),
            resource_required: false,
        };
        let principal_account = Arn::parse(principal_arn)
            .ok()
            .map(|a| a.account().to_owned())
            .filter(|a| !a.is_empty());
        let all_sources: Vec<&Source> = identity
            .iter()
            .chain(resource_policy.iter())
            .chain(boundaries.iter())
            .collect();
        let star = ["*".to_owned()];
        let resources: &[String] = if input.resources.is_empty() {
            &star
        } else {
            &input.resources
        };
        let mut results = Vec::with_capacity(input.actions.len() * resources.len());
        for action in &input.actions {
            for resource in resources {
                let request = Request {
                    principal: Principal {
                        kind: PrincipalKind::Aws,
                        arn: principal_arn,
                        role_arn: None,
                        role_id: None,
                        account: Some(principal_account.as_deref().unwrap_or(account)),
                    },
                    action,
                    resource,
                    context: &context,
                };
                let evaluation = berth_policy::evaluate(&set, &request);
                let (decision, wanted) = match evaluation.decision {
                    Decision::Allow => (EvalDecision::Allowed, Some(Effect::Allow)),
                    Decision::ExplicitDeny => (EvalDecision::ExplicitDeny, Some(Effect::Deny)),
                    Decision::ImplicitDeny => (EvalDecision::ImplicitDeny, None),
                };
                let matched = evaluation
                    .matched
                    .iter()
                    .filter(|m| Some(m.effect) == wanted)
                    .filter_map(|m| {
                        let source = all_sources.iter().find(|s| s.id == m.label)?;
                        let span = source.spans.get(m.index);
                        Some(MatchedStatement {
                            source_policy_id: source.id.clone(),
                            source_policy_type: source.kind,
                            start: span.map(|s| s.0),
                            end: span.map(|s| s.1),
                        })
                    })
                    .collect();
                results.push(EvaluationResult {
                    action: action.clone(),
                    resource: resource.clone(),
                    decision,
                    matched,
                    missing_context_values: missing_context_keys(&set, &request),
                });
            }
        }
        Ok(results)
    }
}

/// The simulation's request context from `ContextEntries`. Values stay text: each
/// condition operator reads them as its own type, as for a real request.
fn context(entries: &[ContextEntry]) -> Result<Context, IamError> {
    let mut context = Context::new();
    for e in entries {
        if !(5..=256).contains(&e.key.chars().count()) {
            return Err(validation(
                &e.key,
                "contextEntries.member.contextKeyName",
                "Member must have length between 5 and 256",
            ));
        }
        if let Some(t) = &e.key_type {
            if !CONTEXT_KEY_TYPES.contains(&t.as_str()) {
                return Err(validation(
                    t,
                    "contextEntries.member.contextKeyType",
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        CONTEXT_KEY_TYPES.join(", ")
                    ),
                ));
            }
            if !t.ends_with("List") && e.values.len() > 1 {
                return Err(IamError::InvalidInput(format!(
                    "Context key {} of type {t} takes one value, not {}.",
                    e.key,
                    e.values.len()
                )));
            }
        }
        context.insert_multi(&e.key, e.values.clone());
    }
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_entries_are_checked() {
        let entry = |key: &str, values: &[&str], t: Option<&str>| ContextEntry {
            key: key.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            key_type: t.map(str::to_owned),
        };
        let c = context(&[entry("aws:TagKeys", &["a", "b"], Some("stringList"))]).unwrap();
        assert_eq!(c.get("AWS:tagkeys").map(<[String]>::len), Some(2));
        assert!(matches!(
            context(&[entry("aws:SourceIp", &["1.2.3.4"], Some("address"))]),
            Err(IamError::Validation(_))
        ));
        assert!(matches!(
            context(&[entry("aws:SourceIp", &["1.2.3.4", "5.6.7.8"], Some("ip"))]),
            Err(IamError::InvalidInput(_))
        ));
        assert!(matches!(
            context(&[entry("a:b", &["x"], None)]),
            Err(IamError::Validation(_))
        ));
    }
}
