//! IAM and STS Query parameters as CloudTrail records them (`requestParameters`):
//! `RoleName` becomes `roleName`, `Tags.member.1.Key=k` becomes `"tags": [{"key": "k"}]`.
//!
//! Self-contained (std, serde_json and `params`) so the fuzz target can compile it alone
//! (fuzz/fuzz_targets/query_recorded.rs): it reads every parameter name a caller sends.

use serde_json::{Map, Value};

use super::params::Params;

/// The largest list index recorded: a request naming `member.100000` is not expanded.
const MAX_LIST_INDEX: usize = 1_000;
/// Names with more dotted segments are not recorded (no IAM or STS parameter nests
/// deeper than five); the bound keeps the nesting, and the recursion, shallow.
pub const MAX_SEGMENTS: usize = 8;

/// `RoleName` → `roleName`, `OpenIDConnectProviderArn` → `openIDConnectProviderArn`,
/// `ClientIDList` → `clientIDList`: CloudTrail lowers the leading capital (and a leading
/// acronym's letters but the last before a lowercase letter).
fn lower_camel(name: &str) -> String {
    let upper = name.chars().take_while(char::is_ascii_uppercase).count();
    let lowered = match upper {
        0 => 0,
        n if n == name.len() => n,
        1 => 1,
        n => n - 1,
    };
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < lowered {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

/// IAM and STS Query parameters as CloudTrail records them: `Tags.member.1.Key=k` becomes
/// `"tags": [{"key": "k"}]`; `Action` and `Version` are left out.
pub fn query_parameters(params: &Params) -> Option<Value> {
    let mut root = Value::Object(Map::new());
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| *k != "Action" && *k != "Version")
        .collect();
    sorted.sort_unstable();
    // Every list slot made, padding included, counts: no more than a request's
    // parameters, so a few names with large indexes cannot make millions of them.
    let mut slots = super::params::MAX_PARAMS;
    for (key, value) in sorted {
        let path: Vec<&str> = key.split('.').collect();
        // The first segment always names a member of the object, even `member`: the
        // parameters are an object whatever names are sent.
        if let ([name, rest @ ..], Value::Object(members)) = (path.as_slice(), &mut root)
            && path.len() <= MAX_SEGMENTS
        {
            let child = members.entry(lower_camel(name)).or_insert(Value::Null);
            insert(child, rest, value, &mut slots);
        }
    }
    match &root {
        Value::Object(m) if m.is_empty() => None,
        _ => Some(root),
    }
}

fn insert(node: &mut Value, path: &[&str], value: &str, slots: &mut usize) {
    match path {
        [] => *node = Value::String(value.to_owned()),
        ["member", index, rest @ ..] => {
            let Some(i) = index
                .parse::<usize>()
                .ok()
                .filter(|i| (1..=MAX_LIST_INDEX).contains(i))
            else {
                return;
            };
            if !node.is_array() {
                *node = Value::Array(Vec::new());
            }
            if let Value::Array(items) = node {
                if items.len() < i {
                    let more = i - items.len();
                    if more > *slots {
                        return;
                    }
                    *slots -= more;
                    items.resize(i, Value::Null);
                }
                insert(&mut items[i - 1], rest, value, slots);
            }
        }
        [name, rest @ ..] => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(members) = node {
                let child = members.entry(lower_camel(name)).or_insert(Value::Null);
                insert(child, rest, value, slots);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_lose_their_leading_capital_as_in_cloudtrail() {
        for (name, expected) in [
            ("RoleName", "roleName"),
            ("OpenIDConnectProviderArn", "openIDConnectProviderArn"),
            ("ClientIDList", "clientIDList"),
            ("URL", "url"),
            ("Url", "url"),
            ("already", "already"),
        ] {
            assert_eq!(lower_camel(name), expected, "{name}");
        }
    }

    #[test]
    fn query_lists_and_structures_nest() {
        let parts = http::Request::post("/").body(()).unwrap().into_parts().0;
        let body = b"Action=CreateRole&Version=2010-05-08&RoleName=r&Tags.member.2.Key=b\
                     &Tags.member.1.Key=a&Tags.member.1.Value=1&ClientIDList.member.1=x\
                     &Huge.member.100000=no&A.b.c.d.e.f.g.h.i=deep&member.2=top";
        let params = Params::from_request(&parts, body).unwrap();
        let value = query_parameters(&params).unwrap();
        assert_eq!(
            value,
            json!({
                "roleName": "r",
                "tags": [{"key": "a", "value": "1"}, {"key": "b"}],
                "clientIDList": ["x"],
                "huge": null,
                "member": {"2": "top"},
            })
        );
    }

    #[test]
    fn large_indexes_cannot_make_millions_of_slots() {
        let parts = http::Request::post("/").body(()).unwrap().into_parts().0;
        let body: String = (0..5_000).map(|n| format!("L{n}.member.1000=x&")).collect();
        let params = Params::from_request(&parts, body.as_bytes()).unwrap();
        let value = query_parameters(&params).unwrap();
        let slots: usize = value
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_array().map_or(0, Vec::len))
            .sum();
        assert!(slots <= crate::query::params::MAX_PARAMS, "{slots}");
    }
}
