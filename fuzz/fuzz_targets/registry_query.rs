//! `parse_query` (the `/v2` query string): never panics, and what it returns, encoded
//! again pair by pair, parses back to the same parameters.
#![no_main]

use berth_oci::parse_query;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let params = parse_query(query);
    let encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect();
    let again = parse_query(&encoded.join("&"));
    assert_eq!(again, params, "{query:?}");
});
