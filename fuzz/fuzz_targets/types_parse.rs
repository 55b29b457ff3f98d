//! Every identifier parser on the input; whatever parses must display to a string that
//! parses back to the same value.
#![no_main]

use berth_types::{
    AccessKeyId, AccountId, Arn, Digest, PolicyName, Reference, RepositoryName, RoleName,
    RoleSessionName, Tag,
};
use libfuzzer_sys::fuzz_target;

macro_rules! round_trip {
    ($ty:ty, $s:expr) => {
        match <$ty>::parse($s) {
            Ok(v) => {
                let shown = v.to_string();
                assert_eq!(
                    <$ty>::parse(&shown).as_ref(),
                    Ok(&v),
                    "{} {:?} displays as {shown:?}",
                    stringify!($ty),
                    $s
                );
                Some(v)
            }
            Err(e) => {
                let _ = e.to_string();
                None
            }
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(arn) = round_trip!(Arn, s) {
        let parts = [
            arn.partition(),
            arn.service(),
            arn.region(),
            arn.account(),
            arn.resource(),
        ];
        assert_eq!(format!("arn:{}", parts.join(":")), arn.as_str());
    }
    if let Some(d) = round_trip!(Digest, s) {
        assert_eq!(d.encoded().len(), d.algorithm().hex_len());
    }
    round_trip!(Reference, s);
    round_trip!(Tag, s);
    round_trip!(RepositoryName, s);
    round_trip!(RoleName, s);
    round_trip!(RoleSessionName, s);
    round_trip!(PolicyName, s);
    if let Some(k) = round_trip!(AccessKeyId, s) {
        let _ = k.is_temporary();
    }
    round_trip!(AccountId, s);
});
