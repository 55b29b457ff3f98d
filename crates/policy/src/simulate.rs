//! What IAM's policy simulator (`SimulatePrincipalPolicy`, `SimulateCustomPolicy`) reports
//! beyond the decision: where each statement sits in its document, and which condition keys
//! the statements that bear on a request use but the request does not carry.

use crate::evaluator::{PolicySet, Request};
use crate::policy::{ActionName, Policy};

/// A place in a policy document as IAM's simulator reports it: `line` counts from 1;
/// `column` is the 1-based column of the character just after the statement's opening
/// (start) or closing (end) brace — the AWS CLI's documented example, a one-line policy
/// whose statement object spans 0-based offsets 36..=165, reports columns 38 and 167.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// The start and end of each statement of `json`, in document order: one span for a
/// `Statement` object, one per element for a `Statement` array. Empty when `json` is not a
/// JSON object with a `Statement` member (callers pass documents that already parsed, so
/// this only happens for documents no policy parser accepts).
pub fn statement_spans(json: &str) -> Vec<(Position, Position)> {
    let bytes = json.as_bytes();
    let mut spans = Vec::new();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return spans;
    }
    i += 1;
    loop {
        i = skip_ws(bytes, i);
        if bytes.get(i) != Some(&b'"') {
            return spans;
        }
        let key_end = skip_string(bytes, i);
        let key: Option<String> = json
            .get(i..key_end)
            .and_then(|k| serde_json::from_str(k).ok());
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return spans;
        }
        i = skip_ws(bytes, i + 1);
        let value_end = skip_value(bytes, i);
        if key.as_deref() == Some("Statement") {
            match bytes.get(i) {
                Some(b'{') => spans.push(span(json, i, value_end)),
                Some(b'[') => {
                    let mut j = i + 1;
                    loop {
                        j = skip_ws(bytes, j);
                        match bytes.get(j) {
                            Some(b'{') => {
                                let end = skip_value(bytes, j);
                                spans.push(span(json, j, end));
                                j = end;
                            }
                            Some(b',') => j += 1,
                            _ => break,
                        }
                    }
                }
                _ => {}
            }
            return spans;
        }
        i = skip_ws(bytes, value_end);
        match bytes.get(i) {
            Some(b',') => i += 1,
            _ => return spans,
        }
    }
}

/// `open` is the offset of `{`, `end` the offset just after its `}`.
fn span(json: &str, open: usize, end: usize) -> (Position, Position) {
    let at = |offset: usize| {
        let before = json.get(..offset).unwrap_or(json);
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let line = before.matches('\n').count() + 1;
        let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 2;
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    };
    (at(open), at(end.saturating_sub(1)))
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `i` is at `"`; returns the offset just after the closing quote (or the end).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'\\' => i += 1,
            b'"' => return i,
            _ => {}
        }
    }
    bytes.len()
}

/// The offset just after the value starting at `i`. Iterative, so nesting depth is
/// bounded by nothing but the input's length.
fn skip_value(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i = skip_string(bytes, i);
                if depth == 0 {
                    return i;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth <= 1 {
                    return i + 1;
                }
                depth -= 1;
            }
            b',' if depth == 0 => return i,
            b if depth == 0 && b.is_ascii_whitespace() => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The condition keys (as the policies write them, first spelling wins, in policy order)
/// that statements whose principal, action and resource match `request` test, but that
/// `request.context` does not carry: with them the simulation's answer could differ.
pub fn missing_context_keys(set: &PolicySet<'_>, request: &Request<'_>) -> Vec<String> {
    let action = ActionName::new(request.action);
    let mut missing: Vec<String> = Vec::new();
    let mut visit = |policy: &Policy| {
        for statement in &policy.inner.statements {
            let scoped = statement
                .principal
                .as_ref()
                .is_none_or(|p| p.applies(|e| e.matches(&request.principal)))
                && statement.action_matches(&action)
                && statement
                    .resource
                    .as_ref()
                    .is_none_or(|r| r.applies(|t| t.matches(request.resource, request.context)));
            if !scoped {
                continue;
            }
            for condition in &statement.conditions {
                if request.context.get_lower(&condition.key).is_none()
                    && !missing
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&condition.source.key))
                {
                    missing.push(condition.source.key.clone());
                }
            }
        }
    };
    for (_, policy) in set.identity {
        visit(policy);
    }
    if let Some((_, policy)) = set.resource {
        visit(policy);
    }
    if let Some((_, policy)) = set.boundary {
        visit(policy);
    }
    for (_, policy) in set.session {
        visit(policy);
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, PolicyKind, Principal, PrincipalKind};

    fn pos(line: u32, column: u32) -> Position {
        Position { line, column }
    }

    #[test]
    fn spans_match_the_aws_cli_documented_example() {
        // aws iam simulate-custom-policy example 1 (awscli/examples/iam).
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;
        assert_eq!(statement_spans(doc), vec![(pos(1, 38), pos(1, 167))]);
    }

    #[test]
    fn spans_of_a_statement_array_across_lines() {
        let doc = "{\n  \"Id\": \"x\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Sid\": \"a}\\\"\"},\n    {\n      \"Effect\": \"Deny\"\n    }\n  ]\n}";
        assert_eq!(
            statement_spans(doc),
            vec![(pos(4, 6), pos(4, 39)), (pos(5, 6), pos(7, 6))]
        );
    }

    #[test]
    fn spans_of_non_policies_are_empty() {
        for doc in [
            "",
            "[]",
            "{",
            r#"{"Statement":"x"}"#,
            r#"{"a":1}"#,
            "{\"Statement\":[{",
        ] {
            let _ = statement_spans(doc);
        }
        assert!(statement_spans(r#"{"a":[1,{"Statement":{}}]}"#).is_empty());
        assert_eq!(
            statement_spans(r#"{"a":[1,{"b":2}],"Statement":[{}]}"#).len(),
            1
        );
    }

    #[test]
    fn missing_keys_come_from_statements_in_scope_only() {
        let policy = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"ecr:PutImage","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"v","ecr:ResourceTag/team":"t"},"Bool":{"AWS:SecureTransport":"true"}}},
                {"Effect":"Deny","Action":"ecr:PutImage","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"w"}}},
                {"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"p"}}}
            ]}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        let mut context = Context::new();
        context.insert("aws:securetransport", "true");
        let ids = [("p", &policy)];
        let set = PolicySet {
            identity: &ids,
            ..PolicySet::default()
        };
        let request = Request {
            principal: Principal {
                kind: PrincipalKind::Aws,
                arn: "arn:aws:iam::123456789012:role/R",
                role_arn: None,
                role_id: None,
                account: None,
            },
            action: "ECR:PutImage",
            resource: "*",
            context: &context,
        };
        assert_eq!(
            missing_context_keys(&set, &request),
            vec!["aws:SourceVpc", "ecr:ResourceTag/team"]
        );
    }
}
