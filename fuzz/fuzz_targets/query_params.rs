//! The Query-protocol parameter parser (IAM, STS): a form body, then the list helpers
//! `Name.member.N` and `Name.member.N.Field` for every list name the body mentions.
//! Nothing may panic; a list holds only values that were sent, in member order, and a
//! structure has one slot per field asked for.
#![no_main]

// The parser alone, without berth-api's server around it (see the module's doc).
#[path = "../../crates/api/src/query/params.rs"]
mod params;

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use params::Params;

fuzz_target!(|data: &[u8]| {
    let (parts, ()) = http::Request::post("/").body(()).unwrap_or_default().into_parts();
    let sent: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let Ok(params) = Params::from_request(&parts, data) else {
        assert!(sent.len() > params::MAX_PARAMS);
        return;
    };
    let values: HashSet<&str> = sent.iter().map(|(_, v)| v.as_str()).collect();
    let mut names: HashSet<&str> = ["Tags", "PolicyArns", "ClientIDList"].into();
    for (key, _) in &sent {
        if let Some((name, _)) = key.split_once(".member.") {
            names.insert(name);
        }
    }
    for name in names {
        let list = params.list(name);
        assert!(list.len() <= sent.len());
        for v in &list {
            assert!(values.contains(v.as_str()), "{name}: {v:?} was never sent");
        }
        let fields = ["Key", "Value", "arn"];
        let structures = params.structures(name, &fields);
        assert!(structures.len() <= sent.len());
        for member in &structures {
            assert_eq!(member.len(), fields.len());
            for v in member.iter().flatten() {
                assert!(values.contains(v.as_str()), "{name}: {v:?} was never sent");
            }
        }
    }
    for (key, _) in &sent {
        assert!(params.get(key).is_some(), "{key:?} was sent but is missing");
    }
});
