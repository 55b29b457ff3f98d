//! Validation and compilation of a policy document.
//!
//! Checks run in the order of IAM's validator (as reverse-engineered by moto), so the
//! first error reported is the one IAM reports: syntax over the whole document, then the
//! managed-policy `Version`, legacy parsing, `Sid` uniqueness, actions, principals,
//! resources, resource formats, action vendors, trust-policy actions, principal values.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::condition::{Condition, Family, Operator};
use crate::error::{PolicyError, msg};
use crate::glob::{Glob, Template};
use crate::json::{Json, escape_token, member};
use crate::policy::{
    Effect, Listed, Policy, PolicyInner, PolicyKind, PolicyVersion, PrincipalEntry, Statement,
    StatementSource,
};

const TOP_KEYS: &[&str] = &["Version", "Id", "Statement", "Conditions"];
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];
const PRINCIPAL_KEYS: &[&str] = &["AWS", "Federated", "Service", "CanonicalUser"];
const TRUST_ACTIONS: &[&str] = &[
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
    "sts:tagsession",
    "sts:setsourceidentity",
    "sts:setcontext",
];
const IAM_RESOURCE_TYPES: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

fn syntax(pointer: impl Into<String>) -> PolicyError {
    PolicyError::new(msg::SYNTAX, pointer)
}

fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape_token(token))
}

/// A string or list of strings, as written.
struct StrList<'a> {
    field: &'a str,
    pointer: String,
    is_array: bool,
    items: Vec<&'a str>,
}

impl StrList<'_> {
    fn item_pointer(&self, index: usize) -> String {
        if self.is_array {
            format!("{}/{index}", self.pointer)
        } else {
            self.pointer.clone()
        }
    }
    fn not(&self) -> bool {
        self.field.starts_with("Not")
    }
}

struct RawPrincipal<'a> {
    field: &'a str,
    pointer: String,
    /// `"Principal": "*"`.
    star: bool,
    entries: Vec<(&'a str, StrList<'a>)>,
}

struct RawConditionEntry<'a> {
    key: &'a str,
    pointer: String,
    is_array: bool,
    values: Vec<String>,
}

struct RawCondition<'a> {
    name: &'a str,
    operator: Operator,
    entries: Vec<RawConditionEntry<'a>>,
}

struct RawStatement<'a> {
    pointer: String,
    sid: Option<&'a str>,
    effect: &'a str,
    principal: Option<RawPrincipal<'a>>,
    action: Option<StrList<'a>>,
    resource: Option<StrList<'a>>,
    conditions: Vec<RawCondition<'a>>,
}

pub(crate) fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
    let doc = Json::parse(text).map_err(|_| syntax(""))?;
    let root = doc.as_object().ok_or_else(|| syntax(""))?;

    // 1. Syntax, over the whole document.
    for (key, _) in root {
        if !TOP_KEYS.contains(&key.as_str()) {
            return Err(syntax(child("", key)));
        }
    }
    let version = match member(root, "Version") {
        None => None,
        Some(Json::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.as_str()),
        Some(_) => return Err(syntax("/Version")),
    };
    let id = match member(root, "Id") {
        None => None,
        Some(Json::String(id)) => Some(id.clone()),
        Some(_) => return Err(syntax("/Id")),
    };
    let statements = match member(root, "Statement") {
        Some(Json::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, s)| statement_syntax(format!("/Statement/{i}"), s))
            .collect::<Result<Vec<_>, _>>()?,
        Some(s @ Json::Object(_)) => vec![statement_syntax("/Statement".to_owned(), s)?],
        _ => return Err(syntax("/Statement")),
    };

    // 2. Managed identity policies must use the current language version.
    if kind == PolicyKind::Identity && version != Some("2012-10-17") {
        return Err(PolicyError::new(msg::VERSION, "/Version"));
    }

    // 3. Legacy parsing: exact Effect, date values, resource ARN shapes. A resource format
    //    error (step 7) found first stops the legacy check of later resources, as in IAM.
    let mut resource_error: Option<PolicyError> = None;
    for s in &statements {
        if s.effect != "Allow" && s.effect != "Deny" {
            return Err(PolicyError::new(msg::LEGACY, child(&s.pointer, "Effect")));
        }
        for c in &s.conditions {
            if !matches!(c.operator.family, Family::Date(_)) {
                continue;
            }
            for e in &c.entries {
                for (j, v) in e.values.iter().enumerate() {
                    if crate::condition::parse_date(v).is_none() {
                        let p = if e.is_array {
                            format!("{}/{j}", e.pointer)
                        } else {
                            e.pointer.clone()
                        };
                        return Err(PolicyError::new(msg::LEGACY, p));
                    }
                }
            }
        }
    }
    for s in &statements {
        let Some(list) = &s.resource else { continue };
        for (j, r) in list.items.iter().enumerate() {
            if resource_error.is_none()
                && let Some(message) = resource_format_error(r)
            {
                resource_error = Some(PolicyError::new(message, list.item_pointer(j)));
            }
        }
        if resource_error.is_none() {
            for (j, r) in list.items.iter().enumerate() {
                if !resource_legacy_ok(r) {
                    return Err(PolicyError::new(msg::LEGACY, list.item_pointer(j)));
                }
            }
        }
    }

    // 4. Sid uniqueness.
    let mut sids = BTreeSet::new();
    for s in &statements {
        if let Some(sid) = s.sid.filter(|sid| !sid.is_empty())
            && !sids.insert(sid)
        {
            return Err(PolicyError::new(msg::SID_UNIQUE, child(&s.pointer, "Sid")));
        }
    }

    // 5. Actions present.
    for s in &statements {
        if s.action.as_ref().is_none_or(|a| a.items.is_empty()) {
            return Err(PolicyError::new(msg::ACTIONS, s.pointer.clone()));
        }
    }

    // 6. Principals and resources present or absent, per kind.
    for s in &statements {
        match (&s.principal, kind.has_principal()) {
            (Some(p), false) => {
                return Err(PolicyError::new(
                    msg::PRINCIPAL_FORBIDDEN,
                    p.pointer.clone(),
                ));
            }
            (None, true) => {
                return Err(PolicyError::new(msg::PRINCIPAL_MISSING, s.pointer.clone()));
            }
            _ => {}
        }
        match (&s.resource, kind) {
            (Some(r), PolicyKind::Trust) => {
                return Err(PolicyError::new(
                    format!("Has prohibited field {}.", r.field),
                    r.pointer.clone(),
                ));
            }
            (None, PolicyKind::Identity | PolicyKind::Session) => {
                return Err(PolicyError::new(msg::RESOURCES, s.pointer.clone()));
            }
            (Some(r), _) if r.items.is_empty() => {
                return Err(PolicyError::new(msg::RESOURCES, s.pointer.clone()));
            }
            _ => {}
        }
    }

    // 7. Resource formats.
    if let Some(e) = resource_error {
        return Err(e);
    }

    // 8. Action vendors; 9. trust-policy actions.
    for s in &statements {
        let Some(list) = &s.action else { continue };
        for (j, a) in list.items.iter().enumerate() {
            if let Some(message) = action_error(a) {
                return Err(PolicyError::new(message, list.item_pointer(j)));
            }
        }
    }
    if kind == PolicyKind::Trust {
        for s in &statements {
            let Some(list) = s.action.as_ref().filter(|l| !l.not()) else {
                continue;
            };
            for (j, a) in list.items.iter().enumerate() {
                let glob = Glob::new(&a.to_lowercase());
                if !TRUST_ACTIONS.iter().any(|t| glob.matches(t)) {
                    return Err(PolicyError::new(msg::TRUST_ACTIONS, list.item_pointer(j)));
                }
            }
        }
    }

    // 10. Principal values, then compile.
    let version = if version == Some("2012-10-17") {
        PolicyVersion::V2012_10_17
    } else {
        PolicyVersion::V2008_10_17
    };
    let statements = statements
        .into_iter()
        .map(|s| compile_statement(s, version))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        inner: Arc::new(PolicyInner {
            kind,
            version,
            id,
            statements,
        }),
    })
}

fn statement_syntax(pointer: String, value: &Json) -> Result<RawStatement<'_>, PolicyError> {
    let obj = value.as_object().ok_or_else(|| syntax(pointer.clone()))?;
    for (key, _) in obj {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            return Err(syntax(child(&pointer, key)));
        }
    }
    for (a, b) in [
        ("Resource", "NotResource"),
        ("Action", "NotAction"),
        ("Principal", "NotPrincipal"),
    ] {
        if member(obj, a).is_some() && member(obj, b).is_some() {
            return Err(syntax(pointer.clone()));
        }
    }
    let effect = match member(obj, "Effect") {
        Some(Json::String(e))
            if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") =>
        {
            e.as_str()
        }
        _ => return Err(syntax(child(&pointer, "Effect"))),
    };
    let action = either_list(obj, &pointer, "Action", "NotAction")?;
    let resource = either_list(obj, &pointer, "Resource", "NotResource")?;
    let principal = principal_syntax(obj, &pointer)?;
    let conditions = match member(obj, "Condition") {
        None => Vec::new(),
        Some(c) => conditions_syntax(c, child(&pointer, "Condition"))?,
    };
    let sid = match member(obj, "Sid") {
        None => None,
        Some(Json::String(s)) => Some(s.as_str()),
        Some(_) => return Err(syntax(child(&pointer, "Sid"))),
    };
    Ok(RawStatement {
        pointer,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn either_list<'a>(
    obj: &'a [(String, Json)],
    pointer: &str,
    field: &'static str,
    not_field: &'static str,
) -> Result<Option<StrList<'a>>, PolicyError> {
    for f in [field, not_field] {
        if let Some(v) = member(obj, f) {
            return string_list(v, f, child(pointer, f)).map(Some);
        }
    }
    Ok(None)
}

fn string_list<'a>(
    value: &'a Json,
    field: &'a str,
    pointer: String,
) -> Result<StrList<'a>, PolicyError> {
    match value {
        Json::String(s) => Ok(StrList {
            field,
            pointer,
            is_array: false,
            items: vec![s.as_str()],
        }),
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => out.push(s),
                    None => return Err(syntax(format!("{pointer}/{j}"))),
                }
            }
            Ok(StrList {
                field,
                pointer,
                is_array: true,
                items: out,
            })
        }
        _ => Err(syntax(pointer)),
    }
}

fn principal_syntax<'a>(
    obj: &'a [(String, Json)],
    pointer: &str,
) -> Result<Option<RawPrincipal<'a>>, PolicyError> {
    let Some((field, value)) = ["Principal", "NotPrincipal"]
        .into_iter()
        .find_map(|f| member(obj, f).map(|v| (f, v)))
    else {
        return Ok(None);
    };
    let pointer = child(pointer, field);
    match value {
        Json::String(s) if s == "*" => Ok(Some(RawPrincipal {
            field,
            pointer,
            star: true,
            entries: Vec::new(),
        })),
        Json::Object(members) if !members.is_empty() => {
            let mut entries = Vec::with_capacity(members.len());
            for (key, v) in members {
                let key = key.as_str();
                if !PRINCIPAL_KEYS.contains(&key) {
                    return Err(syntax(child(&pointer, key)));
                }
                entries.push((key, string_list(v, key, child(&pointer, key))?));
            }
            Ok(Some(RawPrincipal {
                field,
                pointer,
                star: false,
                entries,
            }))
        }
        _ => Err(syntax(pointer)),
    }
}

fn scalar_text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.clone()),
        _ => None,
    }
}

fn conditions_syntax(value: &Json, pointer: String) -> Result<Vec<RawCondition<'_>>, PolicyError> {
    let ops = value.as_object().ok_or_else(|| syntax(pointer.clone()))?;
    let mut out = Vec::with_capacity(ops.len());
    for (op_name, block) in ops {
        let op_pointer = child(&pointer, op_name);
        let keys = block
            .as_object()
            .ok_or_else(|| syntax(op_pointer.clone()))?;
        let mut entries = Vec::with_capacity(keys.len());
        for (key, v) in keys {
            let key_pointer = child(&op_pointer, key);
            let (values, is_array) = match v {
                Json::Array(items) => {
                    let mut texts = Vec::with_capacity(items.len());
                    for (j, item) in items.iter().enumerate() {
                        texts.push(
                            scalar_text(item)
                                .ok_or_else(|| syntax(format!("{key_pointer}/{j}")))?,
                        );
                    }
                    (texts, true)
                }
                other => (
                    vec![scalar_text(other).ok_or_else(|| syntax(key_pointer.clone()))?],
                    false,
                ),
            };
            entries.push(RawConditionEntry {
                key,
                pointer: key_pointer,
                is_array,
                values,
            });
        }
        match Operator::parse(op_name) {
            Some(operator) => out.push(RawCondition {
                name: op_name,
                operator,
                entries,
            }),
            // IAM tolerates an unknown operator with nothing under it.
            None if entries.is_empty() => {}
            None => return Err(syntax(op_pointer)),
        }
    }
    Ok(out)
}

/// IAM's resource format messages (§3.4), or `None` when the format is acceptable.
fn resource_format_error(r: &str) -> Option<String> {
    if r == "*" {
        return None;
    }
    let not_arn = || Some(format!("Resource {r} must be in ARN format or \"*\"."));
    let Some((prefix, rest)) = r.split_once(':') else {
        return not_arn();
    };
    if prefix != "arn" {
        return not_arn();
    }
    let (partition, after_partition) = match rest.split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (rest, None),
    };
    if partition != "aws" {
        let parts: Vec<&str> = after_partition.unwrap_or_default().split(':').collect();
        let part = |i: usize| {
            parts
                .get(i)
                .copied()
                .filter(|p| !p.is_empty() || parts.len() > 1)
        };
        let arn1 = part(0).unwrap_or("*");
        let arn2 = parts.get(1).copied().unwrap_or("*");
        let arn3 = parts.get(2).copied().unwrap_or("*");
        let arn4 = if parts.len() > 3 {
            parts.get(3..).unwrap_or_default().join(":")
        } else {
            "*".to_owned()
        };
        return Some(format!(
            "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{arn1}:{arn2}:{arn3}:{arn4}\"."
        ));
    }
    let Some(after_partition) = after_partition else {
        return Some(msg::VENDOR_REGEX.to_owned());
    };
    let (service, after_service) = match after_partition.split_once(':') {
        Some((s, a)) => (s, a),
        None => (after_partition, ""),
    };
    // After `service:` comes `region:`; an empty region means the text starts with `:`.
    let region_empty = after_partition.contains(':') && after_service.starts_with(':');
    match service {
        "iam" if !region_empty => {
            return Some(format!(
                "IAM resource {r} cannot contain region information."
            ));
        }
        "s3" if !region_empty => {
            return Some(format!("Resource {r} can not contain region information."));
        }
        _ => {}
    }
    if service == "iam" {
        let resource = after_service.splitn(3, ':').nth(2).unwrap_or_default();
        if resource != "*" && !IAM_RESOURCE_TYPES.iter().any(|t| resource.starts_with(t)) {
            return Some(format!(
                "IAM resource path must either be \"*\" or start with {}.",
                IAM_RESOURCE_TYPES.join(", ")
            ));
        }
    }
    None
}

/// IAM's legacy ARN check: `::` only in a full six-part ARN, and a non-empty service.
fn resource_legacy_ok(r: &str) -> bool {
    r == "*"
        || ((r.matches(':').count() >= 5 || !r.contains("::"))
            && r.split(':').nth(2).is_some_and(|s| !s.is_empty()))
}

fn action_error(a: &str) -> Option<String> {
    let parts: Vec<&str> = a.split(':').collect();
    if parts.len() == 1 && a != "*" {
        return Some(msg::VENDOR_MISSING.to_owned());
    }
    if parts.len() > 2 {
        return Some(msg::ONE_COLON.to_owned());
    }
    let vendor = parts.first().copied().unwrap_or_default();
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    (vendor != "*" && !vendor.chars().all(valid)).then(|| format!("Vendor {vendor} is not valid"))
}

fn compile_statement(
    s: RawStatement<'_>,
    version: PolicyVersion,
) -> Result<Statement, PolicyError> {
    let variables = version == PolicyVersion::V2012_10_17;
    let principal = s.principal.as_ref().map(compile_principal).transpose()?;
    let action = match &s.action {
        Some(a) => Listed {
            not: a.not(),
            items: a
                .items
                .iter()
                .map(|p| Glob::new(&p.to_lowercase()))
                .collect(),
        },
        None => Listed {
            not: false,
            items: Vec::new(),
        },
    };
    let resource = s.resource.as_ref().map(|r| Listed {
        not: r.not(),
        items: r
            .items
            .iter()
            .map(|p| Template::new(p, true, variables))
            .collect(),
    });
    let conditions = s
        .conditions
        .iter()
        .flat_map(|c| {
            c.entries
                .iter()
                .map(move |e| Condition::new(c.name, c.operator, e.key, &e.values, variables))
        })
        .collect();
    let owned = |items: Option<&StrList<'_>>| {
        items
            .map(|l| l.items.iter().map(|i| (*i).to_owned()).collect())
            .unwrap_or_default()
    };
    let source = StatementSource {
        principal: match &s.principal {
            None => Vec::new(),
            Some(p) if p.star => vec!["*".to_owned()],
            Some(p) => p
                .entries
                .iter()
                .flat_map(|(key, list)| list.items.iter().map(move |v| format!("{key} {v}")))
                .collect(),
        },
        action: owned(s.action.as_ref()),
        resource: owned(s.resource.as_ref()),
    };
    Ok(Statement {
        source,
        sid: s.sid.map(str::to_owned),
        effect: if s.effect == "Deny" {
            Effect::Deny
        } else {
            Effect::Allow
        },
        principal,
        action,
        resource,
        conditions,
    })
}

fn compile_principal(p: &RawPrincipal<'_>) -> Result<Listed<PrincipalEntry>, PolicyError> {
    let not = p.field == "NotPrincipal";
    if p.star {
        return Ok(Listed {
            not,
            items: vec![PrincipalEntry::Anyone],
        });
    }
    let mut items = Vec::new();
    for (key, list) in &p.entries {
        for (j, v) in list.items.iter().enumerate() {
            let invalid = || {
                PolicyError::new(
                    format!("Invalid principal in policy: \"{key}\":\"{v}\""),
                    list.item_pointer(j),
                )
            };
            let entry = match *key {
                "AWS" => aws_principal(v).ok_or_else(invalid)?,
                _ if v.is_empty() || v.chars().any(char::is_whitespace) => return Err(invalid()),
                "Federated" => PrincipalEntry::Federated((*v).to_owned()),
                "Service" => PrincipalEntry::Service((*v).to_owned()),
                _ => PrincipalEntry::CanonicalUser((*v).to_owned()),
            };
            items.push(entry);
        }
    }
    Ok(Listed { not, items })
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn aws_principal(v: &str) -> Option<PrincipalEntry> {
    if v == "*" {
        return Some(PrincipalEntry::AnyAws);
    }
    if is_account(v) {
        return Some(PrincipalEntry::Account(v.to_owned()));
    }
    // A unique id (`AROA...`, `AIDA...`): what IAM shows once the named entity is gone.
    if v.len() >= 16
        && ["AROA", "AIDA"].iter().any(|p| v.starts_with(p))
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Some(PrincipalEntry::UniqueId(v.to_owned()));
    }
    let mut parts = v.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if prefix != "arn" || partition.is_empty() || !region.is_empty() || !is_account(account) {
        return None;
    }
    let named = |r: &str, kind: &str, segments: usize| {
        r.strip_prefix(kind).is_some_and(|rest| {
            rest.split('/').count() >= segments && rest.split('/').all(|p| !p.is_empty())
        })
    };
    match service {
        "iam" if resource == "root" => Some(PrincipalEntry::Account(account.to_owned())),
        "iam" if named(resource, "user/", 1) || named(resource, "role/", 1) => {
            Some(PrincipalEntry::Arn(v.to_owned()))
        }
        "sts" if named(resource, "assumed-role/", 2) || named(resource, "federated-user/", 1) => {
            Some(PrincipalEntry::Arn(v.to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str, kind: PolicyKind) -> PolicyError {
        match Policy::parse(json, kind) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e,
        }
    }

    fn identity_err(statement: &str) -> (String, String) {
        let e = err(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#),
            PolicyKind::Identity,
        );
        (e.message, e.pointer)
    }

    const OK: &str = r#"{"Effect":"Allow","Action":"ecr:*","Resource":"*"}"#;

    #[test]
    fn accepts_valid_documents() {
        let p = Policy::parse(
            &format!(r#"{{"Version":"2012-10-17","Id":"x","Statement":[{OK},{{"Sid":"S","Effect":"Deny","NotAction":["iam:*"],"NotResource":"arn:aws:iam::123456789012:role/*"}}]}}"#),
            PolicyKind::Identity,
        )
        .unwrap();
        assert_eq!(p.statement_count(), 2);
        assert_eq!(p.kind(), PolicyKind::Identity);
        assert_eq!(p.version(), PolicyVersion::V2012_10_17);
        assert_eq!(p.id(), Some("x"));
        assert_eq!(p.sids().collect::<Vec<_>>(), vec![None, Some("S")]);
        // A single statement object.
        let p = Policy::parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":{OK}}}"#),
            PolicyKind::Identity,
        )
        .unwrap();
        assert_eq!(p.statement_count(), 1);
        // Session policies accept 2008-10-17 and no Version.
        let p = Policy::parse(
            &format!(r#"{{"Version":"2008-10-17","Statement":{OK}}}"#),
            PolicyKind::Session,
        )
        .unwrap();
        assert_eq!(p.version(), PolicyVersion::V2008_10_17);
        Policy::parse(&format!(r#"{{"Statement":{OK}}}"#), PolicyKind::Session).unwrap();
        // Condition values: string, bool, number, arrays of them; unknown empty operator.
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":[10, "20"]},"FooBar":{}}}}"#,
            PolicyKind::Identity,
        )
        .unwrap();
    }

    #[test]
    fn syntax_errors() {
        let s = msg::SYNTAX;
        let e = |json: &str| {
            let e = err(json, PolicyKind::Session);
            (e.message, e.pointer)
        };
        assert_eq!(e("not json"), (s.into(), "".into()));
        assert_eq!(e("[]"), (s.into(), "".into()));
        assert_eq!(
            e(r#"{"Statement":[], "Version":"2012-10-17"}"#),
            (s.into(), "/Statement".into())
        );
        assert_eq!(
            e(r#"{"Version":"2012-10-17"}"#),
            (s.into(), "/Statement".into())
        );
        assert_eq!(
            e(r#"{"Version":"2013-10-17","Statement":{}}"#),
            (s.into(), "/Version".into())
        );
        assert_eq!(
            e(&format!(r#"{{"Extra":1,"Statement":{OK}}}"#)),
            (s.into(), "/Extra".into())
        );
        assert_eq!(
            e(&format!(r#"{{"Id":1,"Statement":{OK}}}"#)),
            (s.into(), "/Id".into())
        );
        // Duplicate member names are rejected outright.
        assert_eq!(
            e(r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"a:b","Resource":"*"}}"#),
            (s.into(), "".into())
        );
        let st = |body: &str| {
            e(&format!(
                r#"{{"Version":"2012-10-17","Statement":[{OK},{body}]}}"#
            ))
        };
        assert_eq!(st(r#""x""#), (s.into(), "/Statement/1".into()));
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Foo":1}"#),
            (s.into(), "/Statement/1/Foo".into())
        );
        assert_eq!(
            st(r#"{"Action":"a:b","Resource":"*"}"#),
            (s.into(), "/Statement/1/Effect".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Maybe","Action":"a:b","Resource":"*"}"#),
            (s.into(), "/Statement/1/Effect".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":"a:b","NotAction":"c:d","Resource":"*"}"#),
            (s.into(), "/Statement/1".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","NotResource":"*"}"#),
            (s.into(), "/Statement/1".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":["a:b",1],"Resource":"*"}"#),
            (s.into(), "/Statement/1/Action/1".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":"a:b","Resource":{}}"#),
            (s.into(), "/Statement/1/Resource".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Sid":5}"#),
            (s.into(), "/Statement/1/Sid".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":[]}"#),
            (s.into(), "/Statement/1/Condition".into())
        );
        assert_eq!(
            st(
                r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":"x"}}"#
            ),
            (s.into(), "/Statement/1/Condition/StringEquals".into())
        );
        assert_eq!(
            st(
                r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/t":{}}}}"#
            ),
            (
                s.into(),
                "/Statement/1/Condition/StringEquals/aws:PrincipalTag~1t".into()
            )
        );
        assert_eq!(
            st(
                r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"k":["a",null]}}}"#
            ),
            (s.into(), "/Statement/1/Condition/StringEquals/k/1".into())
        );
        assert_eq!(
            st(
                r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}"#
            ),
            (s.into(), "/Statement/1/Condition/StringEqualz".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Principal":"me","Action":"a:b","Resource":"*"}"#),
            (s.into(), "/Statement/1/Principal".into())
        );
        assert_eq!(
            st(r#"{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"a:b","Resource":"*"}"#),
            (s.into(), "/Statement/1/Principal/Bogus".into())
        );
        // Syntax errors win over errors of later phases, whichever statement has them.
        assert_eq!(
            e(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"a:b","Resource":"*"},{"Effect":"Allow","Action":"a:b","Resource":"*","X":1}]}"#
            ),
            (s.into(), "/Statement/1/X".into())
        );
    }

    #[test]
    fn managed_version_rule() {
        for doc in [
            format!(r#"{{"Statement":{OK}}}"#),
            format!(r#"{{"Version":"2008-10-17","Statement":{OK}}}"#),
        ] {
            let e = err(&doc, PolicyKind::Identity);
            assert_eq!(e.message, msg::VERSION);
            assert_eq!(e.pointer, "/Version");
        }
        // Only for managed identity policies.
        Policy::parse(
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
        )
        .unwrap();
    }

    #[test]
    fn legacy_parsing() {
        let l = msg::LEGACY.to_owned();
        assert_eq!(
            identity_err(r#"{"Effect":"allow","Action":"a:b","Resource":"*"}"#),
            (l.clone(), "/Statement/0/Effect".into())
        );
        assert_eq!(
            identity_err(
                r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":["2020-01-01","not a date"]}}}"#
            ),
            (
                l.clone(),
                "/Statement/0/Condition/DateGreaterThan/aws:CurrentTime/1".into()
            )
        );
        assert_eq!(
            identity_err(
                r#"{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"ForAnyValue:DateLessThanIfExists":{"k":"2020-13-01"}}}"#
            ),
            (
                l.clone(),
                "/Statement/0/Condition/ForAnyValue:DateLessThanIfExists/k".into()
            )
        );
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Action":"a:b","Resource":"arn:aws:s3::b"}"#),
            (l.clone(), "/Statement/0/Resource".into())
        );
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Action":"a:b","Resource":["*","arn:aws::a:b:c"]}"#),
            (l, "/Statement/0/Resource/1".into())
        );
        // Legacy parsing comes before Sid uniqueness and actions.
        assert_eq!(
            identity_err(r#"{"Sid":"a","Effect":"Allow","Resource":"*"},{"Sid":"a","Effect":"deny","Resource":"*"}"#).0,
            msg::LEGACY
        );
    }

    #[test]
    fn structural_errors_in_order() {
        assert_eq!(
            identity_err(
                r#"{"Sid":"A","Effect":"Allow","Action":"a:b","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"a:b","Resource":"*"}"#
            ),
            (msg::SID_UNIQUE.into(), "/Statement/1/Sid".into())
        );
        // Empty Sids are not compared.
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"a:b","Resource":"*"},{"Sid":"","Effect":"Allow","Action":"a:b","Resource":"*"}]}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Resource":"*"}"#),
            (msg::ACTIONS.into(), "/Statement/0".into())
        );
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
            (msg::ACTIONS.into(), "/Statement/0".into())
        );
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Action":"a:b"}"#),
            (msg::RESOURCES.into(), "/Statement/0".into())
        );
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Action":"a:b","NotResource":[]}"#),
            (msg::RESOURCES.into(), "/Statement/0".into())
        );
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}"#),
            (
                msg::PRINCIPAL_FORBIDDEN.into(),
                "/Statement/0/Principal".into()
            )
        );
        // Missing actions are reported before missing resources.
        assert_eq!(identity_err(r#"{"Effect":"Allow"}"#).0, msg::ACTIONS);
    }

    #[test]
    fn resource_format_messages() {
        let r = |res: &str| {
            identity_err(&format!(
                r#"{{"Effect":"Allow","Action":"a:b","Resource":"{res}"}}"#
            ))
        };
        assert_eq!(
            r("bucket").0,
            "Resource bucket must be in ARN format or \"*\"."
        );
        assert_eq!(r("bucket").1, "/Statement/0/Resource");
        assert_eq!(
            r("foo:aws:s3:::b").0,
            "Resource foo:aws:s3:::b must be in ARN format or \"*\"."
        );
        assert_eq!(
            r("arn:aws-cn:s3:::b").0,
            "Partition \"aws-cn\" is not valid for resource \"arn:aws-cn:s3:::b\"."
        );
        assert_eq!(
            r("arn:x").0,
            "Partition \"x\" is not valid for resource \"arn:x:*:*:*:*\"."
        );
        assert_eq!(r("arn:aws").0, msg::VENDOR_REGEX);
        assert_eq!(
            r("arn:aws:iam:us-east-1:123456789012:role/R").0,
            "IAM resource arn:aws:iam:us-east-1:123456789012:role/R cannot contain region information."
        );
        assert_eq!(
            r("arn:aws:s3:us-east-1::b").0,
            "Resource arn:aws:s3:us-east-1::b can not contain region information."
        );
        assert!(r("arn:aws:iam::123456789012:thing/x").0.starts_with(
            "IAM resource path must either be \"*\" or start with user/, federated-user/, role/,"
        ));
        // Resource format errors come after the resource-presence checks.
        assert_eq!(
            identity_err(r#"{"Effect":"Allow","Action":"a:b","Resource":"bucket"},{"Effect":"Allow","Action":"a:b"}"#).0,
            msg::RESOURCES
        );
        // Fine: wildcards, variables, iam "*" resource.
        for ok in [
            "arn:aws:ecr:*:*:repository/*",
            "arn:aws:s3:::b/${aws:username}/*",
            "arn:aws:iam::123456789012:*",
        ] {
            Policy::parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"a:b","Resource":"{ok}"}}}}"#),
                PolicyKind::Identity,
            )
            .unwrap();
        }
    }

    #[test]
    fn action_messages() {
        let a = |action: &str| {
            identity_err(&format!(
                r#"{{"Effect":"Allow","Action":["s3:Get*","{action}"],"Resource":"*"}}"#
            ))
        };
        assert_eq!(
            a("GetObject"),
            (msg::VENDOR_MISSING.into(), "/Statement/0/Action/1".into())
        );
        assert_eq!(a("s3:Get:Object").0, msg::ONE_COLON);
        assert_eq!(a("s3!:GetObject").0, "Vendor s3! is not valid");
        assert_eq!(a("").0, msg::VENDOR_MISSING);
        for ok in ["*", "*:*", "ecr:*", "s3-outposts:Get?bject", "a.b:c"] {
            Policy::parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"{ok}","Resource":"*"}}}}"#),
                PolicyKind::Identity,
            )
            .unwrap();
        }
    }

    #[test]
    fn trust_policy_rules() {
        let t = |stmt: &str| {
            Policy::parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":[{stmt}]}}"#),
                PolicyKind::Trust,
            )
        };
        t(r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}"#).unwrap();
        t(r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole*"}"#)
            .unwrap();
        let e = t(r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole","Resource":"*"}"#).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.pointer.as_str()),
            ("Has prohibited field Resource.", "/Statement/0/Resource")
        );
        let e = t(r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole","NotResource":"*"}"#).unwrap_err();
        assert_eq!(e.message, "Has prohibited field NotResource.");
        let e = t(r#"{"Effect":"Allow","Action":"sts:AssumeRole"}"#).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.pointer.as_str()),
            (msg::PRINCIPAL_MISSING, "/Statement/0")
        );
        let e =
            t(r#"{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole","ecr:PutImage"]}"#)
                .unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.pointer.as_str()),
            (msg::TRUST_ACTIONS, "/Statement/0/Action/1")
        );
        let e = t(r#"{"Effect":"Allow","Principal":"*","Action":"sts:GetCallerIdentity"}"#)
            .unwrap_err();
        assert_eq!(e.message, msg::TRUST_ACTIONS);
    }

    #[test]
    fn principal_values() {
        let r = |principal: &str| {
            Policy::parse(
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"ecr:*"}}}}"#
                ),
                PolicyKind::Resource,
            )
        };
        for ok in [
            r#""*""#,
            r#"{"AWS":"*"}"#,
            r#"{"AWS":["123456789012","arn:aws:iam::123456789012:root"]}"#,
            r#"{"AWS":"arn:aws:iam::123456789012:role/path/R"}"#,
            r#"{"AWS":"arn:aws:iam::123456789012:user/u"}"#,
            r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/R/s"}"#,
            r#"{"AWS":"AROAEXAMPLEEXAMPLE12"}"#,
            r#"{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}"#,
            r#"{"Service":["ecs-tasks.amazonaws.com"]}"#,
            r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbaced"}"#,
        ] {
            r(ok).unwrap();
        }
        let e = r(r#"{"AWS":["123456789012","alice"]}"#).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.pointer.as_str()),
            (
                "Invalid principal in policy: \"AWS\":\"alice\"",
                "/Statement/Principal/AWS/1"
            )
        );
        for bad in [
            r#"{"AWS":"arn:aws:iam::12345:root"}"#,
            r#"{"AWS":"arn:aws:iam:us-east-1:123456789012:root"}"#,
            r#"{"AWS":"arn:aws:iam::123456789012:role/"}"#,
            r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/R"}"#,
            r#"{"AWS":"arn:aws:iam::123456789012:group/G"}"#,
            r#"{"Service":""}"#,
        ] {
            assert!(
                r(bad)
                    .unwrap_err()
                    .message
                    .starts_with("Invalid principal in policy: "),
                "{bad}"
            );
        }
    }

    #[test]
    fn policy_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Policy>();
        let p = Policy::parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":{OK}}}"#),
            PolicyKind::Identity,
        )
        .unwrap();
        let q = p.clone();
        assert!(Arc::ptr_eq(&p.inner, &q.inner));
    }
}
