//! `parse_bearer_challenge` on an upstream registry's `WWW-Authenticate` value (the
//! pull-through cache reads it from whatever registry a rule names). Nothing may panic; a
//! challenge that parses has a realm, and parsing is deterministic.
#![no_main]

use berth_oci::parse_bearer_challenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(challenge) = parse_bearer_challenge(value) {
        assert!(!challenge.realm.is_empty());
        assert_eq!(parse_bearer_challenge(value), Some(challenge));
    }
});
