//! `parse_byte_range` (a GET's `Range` header) and `parse_range` (an upload chunk's
//! `Content-Range`): never panic, and a range they accept lies inside the representation.
#![no_main]

use berth_oci::{ByteRange, parse_byte_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (size, text) = match data.split_first_chunk::<8>() {
        Some((size, rest)) => (u64::from_le_bytes(*size), rest),
        None => (0, data),
    };
    let Ok(value) = std::str::from_utf8(text) else {
        return;
    };
    if let ByteRange::Partial { start, end } = parse_byte_range(value, size) {
        assert!(start <= end && end < size, "{value:?} of {size}: {start}-{end}");
    }
    if let Some((start, end)) = parse_range(value) {
        assert!(start <= end, "{value:?}: {start}-{end}");
    }
});
