//! `Manifest::parse` with a `Content-Type` picked by the first byte of the input (the rest
//! is the body), and `parse_range` and `media_types::accepts` on the body as text. Nothing may panic; a manifest that
//! parses keeps the documented invariants and renders a referrers index that is JSON.
#![no_main]

use berth_oci::media_types::{self, PUSHABLE_MANIFESTS};
use berth_oci::{Manifest, ManifestKind, parse_range, referrers_index};
use berth_types::Digest;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some(""),
    Some(media_types::JSON),
    Some(media_types::OCI_MANIFEST),
    Some(media_types::OCI_INDEX),
    Some(media_types::DOCKER_MANIFEST_V2),
    Some(media_types::DOCKER_MANIFEST_LIST),
    Some(media_types::DOCKER_MANIFEST_V1),
    Some(media_types::DOCKER_MANIFEST_V1_SIGNED),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
    Some(" Application/VND.OCI.Image.Index.v1+JSON ;x=y"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(first) % CONTENT_TYPES.len()];
    if let Ok(text) = std::str::from_utf8(body) {
        if let Some((start, end)) = parse_range(text) {
            assert!(start <= end);
        }
        // The body as an `Accept` header, against every media type a manifest may have.
        for stored in PUSHABLE_MANIFESTS {
            let _ = media_types::accepts(text.lines(), stored);
        }
    }
    match Manifest::parse(body, content_type) {
        Ok(m) => {
            assert!(
                PUSHABLE_MANIFESTS.contains(&m.media_type.as_str()),
                "media type {:?}",
                m.media_type
            );
            match m.kind {
                ManifestKind::ImageManifest => {
                    assert!(m.config.is_some() && m.manifests.is_empty() && !m.is_index())
                }
                ManifestKind::Index => {
                    assert!(m.config.is_none() && m.layers.is_empty() && m.is_index())
                }
            }
            let _ = m.blob_references().count() + m.child_manifests().count();
            let _ = m.effective_artifact_type();
            let digest = Digest::parse(media_types::OCI_EMPTY_DIGEST).expect("valid digest");
            let descriptor = m.referrer_descriptor(digest, body.len() as u64);
            let index = referrers_index(&[descriptor]);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&index) {
                panic!("referrers index is not JSON ({e}): {index}");
            }
        }
        Err(e) => {
            let _ = (e.to_string(), e.code(), e.status());
        }
    }
});
