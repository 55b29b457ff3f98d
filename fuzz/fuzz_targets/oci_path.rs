//! `parse_path`: never panics, and a parsed endpoint renders (`Endpoint::path`) to a path
//! that parses back to the same endpoint.
#![no_main]

use berth_oci::{Endpoint, parse_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    match parse_path(path) {
        Ok(endpoint) => {
            let _ = (endpoint.name(), endpoint.route_name());
            let rendered = endpoint.path();
            let again: Result<Endpoint, _> = parse_path(&rendered);
            assert_eq!(
                again.as_ref(),
                Ok(&endpoint),
                "{path:?} parsed to {endpoint:?}, rendered as {rendered:?}"
            );
        }
        Err(e) => {
            let _ = (e.to_string(), e.code(), e.status());
        }
    }
});
