//! `lint::lint` (`berth policy lint`): its lenient JSON reader accepts exactly what JSON
//! accepts (duplicate member names included, which become findings), findings point into
//! the document, and a document IAM accepts as a trust policy is never reported as one IAM
//! rejects. Nothing may panic.
#![no_main]

use berth_policy::lint::{Severity, lint};
use berth_policy::{Policy, PolicyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let linted = lint(&text);
    let is_json = serde_json::from_str::<serde_json::Value>(&text).is_ok();
    assert_eq!(
        linted.is_ok(),
        is_json,
        "lint and serde_json disagree on whether this is JSON: {linted:?}"
    );
    let Ok(findings) = linted else { return };
    for f in &findings {
        assert!(
            f.pointer.is_empty() || f.pointer.starts_with('/'),
            "not a JSON pointer: {f:?}"
        );
        assert!(
            !f.rule.is_empty() && !f.message.is_empty(),
            "empty finding: {f:?}"
        );
        assert!(serde_json::to_string(f).is_ok());
    }
    if Policy::parse(&text, PolicyKind::Trust).is_ok() {
        assert!(
            !findings
                .iter()
                .any(|f| f.rule == "invalid-policy" || f.rule == "duplicate-key"),
            "a trust policy IAM accepts is reported as rejected: {findings:?}"
        );
    }
    let _ = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
});
