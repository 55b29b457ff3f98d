//! `corpus::eval_line`: whatever the line, the answer is one line of JSON, an object with
//! `id` and exactly one of `decision` or `error`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let out = berth_policy::corpus::eval_line(&line);
    assert!(
        !out.contains(['\n', '\r']),
        "output is not a single line: {out:?}"
    );
    let value: Value = match serde_json::from_str(&out) {
        Ok(v) => v,
        Err(e) => panic!("output is not JSON ({e}): {out:?}"),
    };
    let Value::Object(obj) = value else {
        panic!("output is not a JSON object: {out:?}");
    };
    assert!(obj.contains_key("id"), "output has no id: {out:?}");
    match (obj.get("decision"), obj.get("error")) {
        (Some(Value::String(d)), None) => assert!(
            matches!(d.as_str(), "Allow" | "ExplicitDeny" | "ImplicitDeny"),
            "unknown decision: {out:?}"
        ),
        (None, Some(Value::String(_))) => {}
        _ => panic!("output needs exactly one of decision/error: {out:?}"),
    }
});
