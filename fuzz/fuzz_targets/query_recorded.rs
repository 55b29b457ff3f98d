//! What the audit trail records of a Query request's parameters (IAM, STS): any form body
//! becomes a JSON object, or nothing, without a panic, with no value that was not sent,
//! and with no more list slots than a request has parameters.
#![no_main]

// The two files alone, without berth-api's server around them (see their docs).
#[path = "../../crates/api/src/query/params.rs"]
mod params;
#[path = "../../crates/api/src/query/recorded.rs"]
mod recorded;

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>, slots: &mut usize) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => {
            *slots += items.len();
            items.iter().for_each(|v| strings(v, out, slots));
        }
        Value::Object(members) => members.values().for_each(|v| strings(v, out, slots)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let (parts, ()) = http::Request::post("/").body(()).unwrap_or_default().into_parts();
    let Ok(params) = params::Params::from_request(&parts, data) else {
        return;
    };
    let sent: HashSet<String> = form_urlencoded::parse(data).map(|(_, v)| v.into_owned()).collect();
    let Some(recorded) = recorded::query_parameters(&params) else {
        return;
    };
    assert!(recorded.is_object());
    let (mut found, mut slots) = (Vec::new(), 0);
    strings(&recorded, &mut found, &mut slots);
    for value in found {
        assert!(sent.contains(value), "{value:?} was not sent");
    }
    assert!(slots <= params::MAX_PARAMS);
});
