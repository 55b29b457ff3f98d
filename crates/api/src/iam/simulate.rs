//! `SimulatePrincipalPolicy` / `SimulateCustomPolicy` on the wire: the Query parameters
//! into a [`SimulationInput`], the results into `EvaluationResults` XML with IAM's
//! `MaxItems`/`Marker` pagination.

use berth_core::error::IamError;
use berth_core::iam::simulate::Position;
use berth_core::iam::simulate::{ContextEntry, EvaluationResult, SimulationInput};

use crate::query::{Params, Xml};

/// More entries than this are not read (IAM's own request size limit is far below it).
const CONTEXT_ENTRIES_MAX: usize = 1000;

pub fn input(p: &Params) -> SimulationInput {
    let mut context = Vec::new();
    for n in 1..=CONTEXT_ENTRIES_MAX {
        let prefix = format!("ContextEntries.member.{n}");
        let key = p.get(&format!("{prefix}.ContextKeyName"));
        let key_type = p.get(&format!("{prefix}.ContextKeyType"));
        let values = p.list(&format!("{prefix}.ContextKeyValues"));
        if key.is_none() && key_type.is_none() && values.is_empty() {
            break;
        }
        context.push(ContextEntry {
            key: key.unwrap_or_default().to_owned(),
            values,
            key_type: key_type.map(str::to_owned),
        });
    }
    SimulationInput {
        policy_inputs: p.list("PolicyInputList"),
        permissions_boundary_inputs: p.list("PermissionsBoundaryPolicyInputList"),
        actions: p.list("ActionNames"),
        resources: p.list("ResourceArns"),
        resource_policy: p.get("ResourcePolicy").map(str::to_owned),
        resource_owner: p.get("ResourceOwner").map(str::to_owned),
        caller_arn: p.get("CallerArn").map(str::to_owned),
        context,
    }
}

/// Writes one page of `results`: from `Marker` (an index this server handed out), at most
/// `MaxItems` (1–1000, default 100).
pub fn results_xml(x: &mut Xml, p: &Params, results: &[EvaluationResult]) -> Result<(), IamError> {
    let max_items = match p.get("MaxItems") {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                berth_core::iam::validation(
                    v,
                    "maxItems",
                    "Member must have value between 1 and 1000",
                )
            })?,
        None => 100,
    };
    let start = match p.get("Marker") {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= results.len())
            .ok_or_else(|| IamError::InvalidInput(format!("Invalid Marker: {m}")))?,
        None => 0,
    };
    let end = start.saturating_add(max_items).min(results.len());
    x.open("EvaluationResults");
    for r in results.get(start..end).unwrap_or_default() {
        x.open("member")
            .text("EvalActionName", &r.action)
            .text("EvalResourceName", &r.resource)
            .text("EvalDecision", r.decision.as_str())
            .open("MatchedStatements");
        for m in &r.matched {
            x.open("member")
                .text("SourcePolicyId", &m.source_policy_id)
                .text("SourcePolicyType", m.source_policy_type);
            position(x, "StartPosition", m.start);
            position(x, "EndPosition", m.end);
            x.close("member");
        }
        x.close("MatchedStatements")
            .members("MissingContextValues", &r.missing_context_values)
            .close("member");
    }
    x.close("EvaluationResults");
    if end < results.len() {
        x.text("IsTruncated", "true")
            .text("Marker", &end.to_string());
    } else {
        x.text("IsTruncated", "false");
    }
    Ok(())
}

fn position(x: &mut Xml, name: &str, p: Option<Position>) {
    if let Some(p) = p {
        x.open(name)
            .text("Line", &p.line.to_string())
            .text("Column", &p.column.to_string())
            .close(name);
    }
}
