//! Rewriting a stored policy document when what it names changes, as IAM does: a policy
//! that names a role by ARN is bound to that role, so once the role is deleted the
//! policy names the role's unique id instead, and a new role of the same name is a
//! stranger to it (IAM User Guide, "Specifying a principal": "If you delete the role, then
//! you break the relationship ... the principal ARN is transformed to the unique ID").

use crate::json::Json;

/// `text` with every `{"AWS": from}` value of a `Principal` or `NotPrincipal` replaced
/// by `to`, as compact JSON; `None` when `text` names no such principal (or is not
/// JSON: stored documents were validated when written, and a document this cannot read
/// is left as it is). Conditions and resources are left alone: `aws:PrincipalArn`
/// compares names, in AWS too.
pub fn replace_aws_principal(text: &str, from: &str, to: &str) -> Option<String> {
    let mut json = Json::parse(text).ok()?;
    let Json::Object(members) = &mut json else {
        return None;
    };
    let mut changed = false;
    for (name, statements) in members.iter_mut() {
        if name != "Statement" {
            continue;
        }
        for statement in one_or_many(statements) {
            let Json::Object(elements) = statement else {
                continue;
            };
            for (element, principal) in elements.iter_mut() {
                if element != "Principal" && element != "NotPrincipal" {
                    continue;
                }
                let Json::Object(types) = principal else {
                    continue;
                };
                for (kind, values) in types.iter_mut() {
                    if kind != "AWS" {
                        continue;
                    }
                    for value in one_or_many(values) {
                        if matches!(value, Json::String(v) if v == from) {
                            *value = Json::String(to.to_owned());
                            changed = true;
                        }
                    }
                }
            }
        }
    }
    changed.then(|| json.to_text())
}

/// The items of an array, or the value itself: IAM's "one or a list" elements.
fn one_or_many(value: &mut Json) -> Vec<&mut Json> {
    match value {
        Json::Array(items) => items.iter_mut().collect(),
        single => vec![single],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/ChainA";
    const ID: &str = "AROAEXAMPLEID12345678";

    #[test]
    fn replaces_principals_only() {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[
                {{"Effect":"Allow","Principal":{{"AWS":["{ROLE}","123456789012"]}},"Action":"sts:AssumeRole",
                  "Condition":{{"StringEquals":{{"aws:PrincipalArn":"{ROLE}"}}}}}},
                {{"Effect":"Deny","NotPrincipal":{{"AWS":"{ROLE}"}},"Action":"sts:AssumeRole"}}]}}"#
        );
        let out = replace_aws_principal(&text, ROLE, ID).unwrap();
        assert_eq!(
            out,
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["{ID}","123456789012"]}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:PrincipalArn":"{ROLE}"}}}}}},{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ID}"}},"Action":"sts:AssumeRole"}}]}}"#
            )
        );
        // The result is still a valid policy.
        crate::Policy::parse(&out, crate::PolicyKind::Trust).unwrap();
    }

    #[test]
    fn leaves_other_documents_alone() {
        let single = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*"}}"#;
        assert_eq!(replace_aws_principal(single, ROLE, ID), None);
        let other = format!(
            r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}x"}},"Action":"ecr:*"}}}}"#
        );
        assert_eq!(replace_aws_principal(&other, ROLE, ID), None);
        assert_eq!(replace_aws_principal("not json", ROLE, ID), None);
        let single_statement = format!(
            r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"ecr:*"}}}}"#
        );
        assert!(
            replace_aws_principal(&single_statement, ROLE, ID)
                .unwrap()
                .contains(ID)
        );
    }
}
