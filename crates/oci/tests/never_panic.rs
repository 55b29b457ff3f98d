//! Properties: the parsers are total on arbitrary input, and routing inverts rendering.

use berth_oci::{Endpoint, Manifest, parse_path, parse_range};
use berth_types::{Digest, Reference, RepositoryName, Tag};
use proptest::prelude::*;

/// Paths assembled from the words the router cares about, so the interesting branches are hit.
fn routeish_path() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("v2".to_owned()),
        Just("blobs".to_owned()),
        Just("uploads".to_owned()),
        Just("manifests".to_owned()),
        Just("tags".to_owned()),
        Just("list".to_owned()),
        Just("referrers".to_owned()),
        Just("_catalog".to_owned()),
        Just("..".to_owned()),
        Just(String::new()),
        Just(format!("sha256:{}", "a".repeat(64))),
        "[a-z0-9._:-]{1,12}",
        ".{0,8}",
    ];
    (prop::collection::vec(word, 0..10), any::<bool>()).prop_map(|(words, trailing)| {
        let mut p = format!("/v2/{}", words.join("/"));
        if trailing {
            p.push('/');
        }
        p
    })
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-+)[a-z0-9]{1,6}){0,2}"
}

fn repo_name() -> impl Strategy<Value = RepositoryName> {
    prop::collection::vec(
        prop_oneof![
            component(),
            Just("blobs".to_owned()),
            Just("uploads".to_owned()),
            Just("manifests".to_owned()),
            Just("tags".to_owned()),
            Just("list".to_owned()),
            Just("referrers".to_owned()),
        ],
        1..5,
    )
    .prop_filter_map("valid name", |parts| {
        RepositoryName::parse(&parts.join("/")).ok()
    })
}

fn digest() -> impl Strategy<Value = Digest> {
    prop_oneof![
        "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
        "[0-9a-f]{128}".prop_map(|h| format!("sha512:{h}")),
    ]
    .prop_filter_map("digest", |s| Digest::parse(&s).ok())
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        Just(Endpoint::Base),
        Just(Endpoint::Catalog),
        repo_name().prop_map(|name| Endpoint::TagsList { name }),
        (repo_name(), "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}").prop_filter_map("tag", |(name, t)| {
            Tag::parse(&t).ok().map(|t| Endpoint::Manifest {
                name,
                reference: Reference::Tag(t),
            })
        }),
        (repo_name(), digest()).prop_map(|(name, d)| Endpoint::Manifest {
            name,
            reference: Reference::Digest(d)
        }),
        (repo_name(), digest()).prop_map(|(name, digest)| Endpoint::Blob { name, digest }),
        repo_name().prop_map(|name| Endpoint::UploadStart { name }),
        (repo_name(), "[A-Za-z0-9_-]{1,128}").prop_map(|(name, id)| Endpoint::Upload { name, id }),
        (repo_name(), digest()).prop_map(|(name, digest)| Endpoint::Referrers { name, digest }),
    ]
}

const VALID: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7","size":7023},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0","size":32654}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270","size":7682},"manifests":[{"mediaType":"x/y","digest":"sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270","size":1,"platform":{"architecture":"a","os":"b"}}],"annotations":{"k":"v"}}"#;

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(
            "application/vnd.oci.image.manifest.v1+json".to_owned()
        )),
        Just(Some("application/vnd.oci.image.index.v1+json".to_owned())),
        Just(Some("application/json".to_owned())),
        ".{0,40}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse_path_total_on_any_string(s in ".{0,300}") {
        let _ = parse_path(&s);
    }

    #[test]
    fn parse_path_total_on_routeish_paths(p in routeish_path()) {
        if let Ok(e) = parse_path(&p) {
            // Whatever parses renders back to a path that parses the same way.
            prop_assert_eq!(parse_path(&e.path()), Ok(e));
        }
    }

    #[test]
    fn rendering_round_trips(e in endpoint()) {
        prop_assert_eq!(parse_path(&e.path()), Ok(e));
    }

    #[test]
    fn manifest_parse_total_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), ct in content_type()) {
        let _ = Manifest::parse(&bytes, ct.as_deref());
    }

    #[test]
    fn manifest_parse_total_on_mutated_json(
        cut in 0..VALID.len(),
        insert in prop_oneof![Just("null".to_owned()), Just("-1".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()), Just("\"".to_owned()), ".{0,6}"],
        ct in content_type(),
    ) {
        let mut body = VALID.as_bytes().to_vec();
        body.splice(cut..cut, insert.bytes());
        let _ = Manifest::parse(&body, ct.as_deref());
        let truncated = VALID.as_bytes().get(..cut).unwrap_or_default();
        let _ = Manifest::parse(truncated, ct.as_deref());
    }

    #[test]
    fn parse_range_total_and_ordered(s in ".{0,40}") {
        if let Some((start, end)) = parse_range(&s) {
            prop_assert!(start <= end);
        }
    }

    #[test]
    fn parse_range_reads_what_it_is_given(start in any::<u64>(), len in any::<u64>()) {
        let end = start.saturating_add(len);
        prop_assert_eq!(parse_range(&format!("{start}-{end}")), Some((start, end)));
        prop_assert_eq!(parse_range(&format!("bytes={start}-{end}")), Some((start, end)));
    }
}
