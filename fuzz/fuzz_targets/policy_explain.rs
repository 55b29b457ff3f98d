//! `corpus::explain_case` (`berth policy explain`): whatever the input, an explanation or
//! an error; an explanation renders as text and JSON, and its decision is the one
//! `berth policy eval` gives for the same case. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(explanation) = berth_policy::corpus::explain_case(&text) else {
        return;
    };
    let _ = explanation.to_string();
    let _ = explanation.summary();
    assert!(serde_json::to_string(&explanation).is_ok());
    let line = berth_policy::corpus::eval_line(&text);
    let evaluated: Value = match serde_json::from_str(&line) {
        Ok(v) => v,
        Err(e) => panic!("eval_line output is not JSON ({e}): {line:?}"),
    };
    let expected = format!("{:?}", explanation.decision);
    assert_eq!(
        evaluated.get("decision").and_then(Value::as_str),
        Some(expected.as_str()),
        "explain and eval disagree: {line}"
    );
});
