//! Manifest validation against real-world manifest shapes.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

use berth_oci::{
    Descriptor, MAX_MANIFEST_BYTES, Manifest, ManifestError, ManifestKind, media_types,
    referrers_index,
};
use berth_types::Digest;

const OCI_MANIFEST: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
      "size": 32654
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
      "size": 16724
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
      "size": 73109
    }
  ],
  "annotations": {
    "com.example.key1": "value1",
    "com.example.key2": "value2"
  }
}"#;

const OCI_INDEX: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7143,
      "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
      "platform": {
        "architecture": "ppc64le",
        "os": "linux"
      }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7682,
      "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
      "platform": {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
        "os.features": ["sse4"]
      }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 566,
      "digest": "sha256:a1f9c5c0b0e7d4a62d7e5f1f5bca1b0e2a3f4d5c6b7a8e9f0a1b2c3d4e5f6a7b",
      "annotations": {
        "vnd.docker.reference.digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
        "vnd.docker.reference.type": "attestation-manifest"
      },
      "platform": {"architecture": "unknown", "os": "unknown"}
    }
  ],
  "annotations": {
    "com.example.key1": "value1"
  }
}"#;

const DOCKER_MANIFEST: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1469,
      "digest": "sha256:feb5d9fea6a5e9606aa995e879d862b825965ba48de054caab5ef356dc6b3412"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2479,
         "digest": "sha256:2db29710123e3e53a794f2694094b9b4338aa9ee5c40b930cb8063a1be392c54"
      }
   ]
}"#;

const DOCKER_LIST: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 525,
      "digest": "sha256:f54a58bc1aac5ea1a25d796ae155dc228b3f0e11d046ae276b39c4bf2f13d8c4",
      "platform": {"architecture": "amd64", "os": "linux"}
    },
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 525,
      "digest": "sha256:7b8b7289d0536a08eabdf71c20246e23f7116641db7e1d278592236ea4dcb30c",
      "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.2686"}
    }
  ]
}"#;

/// An OCI 1.1 artifact (an SBOM attached to an image), as oras/notation push them.
const ARTIFACT: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "artifactType": "application/vnd.example.sbom.v1",
  "config": {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
    "data": "e30="
  },
  "layers": [
    {
      "mediaType": "application/spdx+json",
      "digest": "sha256:4a47f5a0c4a84ffab5b2c4b7e8c1e1f1a6d0b8c2e3f4a5b6c7d8e9f0a1b2c3d4",
      "size": 3411,
      "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"}
    }
  ],
  "subject": {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
    "size": 7682
  },
  "annotations": {"org.opencontainers.image.created": "2024-01-01T14:42:55Z"}
}"#;

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn field_err(r: Result<Manifest, ManifestError>) -> String {
    match r {
        Err(ManifestError::Field { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn oci_manifest() {
    for ct in [
        Some(media_types::OCI_MANIFEST),
        Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
        Some("Application/VND.OCI.Image.Manifest.v1+JSON"),
        Some("application/json"),
        Some(""),
        None,
    ] {
        let m = Manifest::parse(OCI_MANIFEST.as_bytes(), ct).unwrap();
        assert_eq!(m.media_type, media_types::OCI_MANIFEST, "{ct:?}");
        assert_eq!(m.kind, ManifestKind::ImageManifest);
        assert!(!m.is_index());
        assert_eq!(m.layers.len(), 3);
        assert_eq!(
            m.annotations.get("com.example.key2").map(String::as_str),
            Some("value2")
        );
        let blobs: Vec<&str> = m.blob_references().map(|d| d.digest.as_str()).collect();
        assert_eq!(
            blobs,
            [
                "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
                "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
                "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
                "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
            ]
        );
        assert_eq!(m.config.as_ref().unwrap().size, 7023);
        assert_eq!(m.subject, None);
        assert_eq!(m.effective_artifact_type(), Some(media_types::OCI_CONFIG));
    }
}

#[test]
fn oci_index() {
    let m = Manifest::parse(OCI_INDEX.as_bytes(), Some(media_types::OCI_INDEX)).unwrap();
    assert_eq!(m.kind, ManifestKind::Index);
    assert!(m.is_index());
    assert_eq!(m.config, None);
    assert_eq!(m.blob_references().count(), 0);
    assert_eq!(m.child_manifests().count(), 3);
    let arm = &m.manifests[1];
    let p = arm.platform.as_ref().unwrap();
    assert_eq!((p.architecture.as_str(), p.os.as_str()), ("arm64", "linux"));
    assert_eq!(p.variant.as_deref(), Some("v8"));
    assert_eq!(p.os_features, ["sse4"]);
    assert_eq!(m.effective_artifact_type(), None);
}

#[test]
fn docker_manifest_and_list() {
    let m = Manifest::parse(
        DOCKER_MANIFEST.as_bytes(),
        Some(media_types::DOCKER_MANIFEST_V2),
    )
    .unwrap();
    assert_eq!(m.media_type, media_types::DOCKER_MANIFEST_V2);
    assert_eq!(m.kind, ManifestKind::ImageManifest);
    assert_eq!(m.blob_references().count(), 2);
    assert_eq!(
        m.config.as_ref().unwrap().media_type,
        media_types::DOCKER_CONFIG
    );
    assert_eq!(m.layers[0].media_type, media_types::DOCKER_LAYER_TAR_GZIP);

    // Body alone decides when the header is absent.
    let m = Manifest::parse(DOCKER_LIST.as_bytes(), None).unwrap();
    assert_eq!(m.media_type, media_types::DOCKER_MANIFEST_LIST);
    assert_eq!(m.kind, ManifestKind::Index);
    assert_eq!(m.manifests.len(), 2);
    assert_eq!(
        m.manifests[1]
            .platform
            .as_ref()
            .unwrap()
            .os_version
            .as_deref(),
        Some("10.0.17763.2686")
    );
}

#[test]
fn artifact_with_subject() {
    let m = Manifest::parse(ARTIFACT.as_bytes(), Some(media_types::OCI_MANIFEST)).unwrap();
    assert_eq!(
        m.artifact_type.as_deref(),
        Some("application/vnd.example.sbom.v1")
    );
    assert_eq!(
        m.effective_artifact_type(),
        Some("application/vnd.example.sbom.v1")
    );
    let subject = m.subject.as_ref().unwrap();
    assert_eq!(
        subject.digest.as_str(),
        "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
    );
    // The subject is a manifest, not a blob.
    assert!(m.blob_references().all(|d| d.digest != subject.digest));
    assert_eq!(
        m.config.as_ref().unwrap().media_type,
        media_types::OCI_EMPTY
    );
    assert_eq!(
        m.config.as_ref().unwrap().digest.as_str(),
        media_types::OCI_EMPTY_DIGEST
    );
    assert_eq!(m.config.as_ref().unwrap().data.as_deref(), Some("e30="));

    let d = m.referrer_descriptor(
        digest("sha256:1111111111111111111111111111111111111111111111111111111111111111"),
        1234,
    );
    assert_eq!(
        referrers_index(&[d]),
        concat!(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["#,
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","#,
            r#""size":1234,"artifactType":"application/vnd.example.sbom.v1","#,
            r#""annotations":{"org.opencontainers.image.created":"2024-01-01T14:42:55Z"}}]}"#
        )
    );
    assert_eq!(
        referrers_index(&[]),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
    );
}

#[test]
fn descriptor_serde_round_trip() {
    let m = Manifest::parse(OCI_INDEX.as_bytes(), None).unwrap();
    for d in &m.manifests {
        let json = serde_json::to_string(d).unwrap();
        let back: Descriptor = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, d);
    }
}

#[test]
fn media_type_resolution() {
    // By shape when neither header nor body says.
    let bare_index = r#"{"schemaVersion":2,"manifests":[]}"#;
    let m = Manifest::parse(bare_index.as_bytes(), None).unwrap();
    assert_eq!(
        (m.media_type.as_str(), m.kind),
        (media_types::OCI_INDEX, ManifestKind::Index)
    );
    let bare_manifest = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}"#;
    let m = Manifest::parse(bare_manifest.as_bytes(), Some("application/json")).unwrap();
    assert_eq!(m.media_type, media_types::OCI_MANIFEST);
    assert!(m.layers.is_empty());
    // Header alone decides when the body is silent, even a Docker type.
    let m = Manifest::parse(
        bare_manifest.as_bytes(),
        Some(media_types::DOCKER_MANIFEST_V2),
    )
    .unwrap();
    assert_eq!(m.media_type, media_types::DOCKER_MANIFEST_V2);
    // Header says index, body has no manifests: an empty index.
    let m = Manifest::parse(bare_manifest.as_bytes(), Some(media_types::OCI_INDEX)).unwrap();
    assert_eq!(
        (m.kind, m.manifests.len(), m.blob_references().count()),
        (ManifestKind::Index, 0, 0)
    );
}

#[test]
fn media_type_disagreement() {
    for (body, ct) in [
        (OCI_MANIFEST, media_types::DOCKER_MANIFEST_V2),
        (OCI_MANIFEST, media_types::OCI_INDEX),
        (DOCKER_LIST, media_types::OCI_INDEX),
        (OCI_INDEX, media_types::OCI_MANIFEST),
    ] {
        let e = Manifest::parse(body.as_bytes(), Some(ct)).unwrap_err();
        assert!(
            matches!(e, ManifestError::MediaTypeMismatch { .. }),
            "{ct}: {e:?}"
        );
        assert_eq!(e.status(), 400);
        assert_eq!(e.code().code(), "MANIFEST_INVALID");
    }
}

#[test]
fn unsupported_and_schema1() {
    let schema1 = r#"{"schemaVersion":1,"name":"library/hello","tag":"latest","architecture":"amd64","fsLayers":[],"history":[]}"#;
    assert_eq!(
        Manifest::parse(schema1.as_bytes(), None),
        Err(ManifestError::Schema1)
    );
    assert_eq!(
        Manifest::parse(
            schema1.as_bytes(),
            Some(media_types::DOCKER_MANIFEST_V1_SIGNED)
        ),
        Err(ManifestError::Schema1)
    );
    assert_eq!(
        Manifest::parse(
            OCI_MANIFEST.as_bytes(),
            Some(media_types::DOCKER_MANIFEST_V1)
        ),
        Err(ManifestError::Schema1)
    );
    for sv in ["3", "\"2\"", "2.0", "null", "-2"] {
        let body =
            OCI_MANIFEST.replace("\"schemaVersion\": 2", &format!("\"schemaVersion\": {sv}"));
        assert_eq!(
            Manifest::parse(body.as_bytes(), None),
            Err(ManifestError::SchemaVersion),
            "{sv}"
        );
    }
    let no_sv = OCI_MANIFEST.replace("\"schemaVersion\": 2,", "");
    assert_eq!(
        Manifest::parse(no_sv.as_bytes(), None),
        Err(ManifestError::SchemaVersion)
    );
    assert!(matches!(
        Manifest::parse(
            OCI_MANIFEST.as_bytes(),
            Some("application/vnd.oci.artifact.manifest.v1+json")
        ),
        Err(ManifestError::MediaTypeMismatch { .. })
    ));
    let other = OCI_MANIFEST.replace(
        media_types::OCI_MANIFEST,
        "application/vnd.oci.artifact.manifest.v1+json",
    );
    assert_eq!(
        Manifest::parse(other.as_bytes(), None),
        Err(ManifestError::UnsupportedMediaType(
            "application/vnd.oci.artifact.manifest.v1+json".into()
        ))
    );
    assert!(matches!(
        Manifest::parse(
            DOCKER_MANIFEST
                .replace(
                    "\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",",
                    ""
                )
                .as_bytes(),
            Some("text/plain")
        ),
        Err(ManifestError::UnsupportedMediaType(_))
    ));
}

#[test]
fn not_json_and_not_object() {
    for body in ["", "not json", "{", "{\"schemaVersion\":2,}", "\u{feff}{}"] {
        assert!(
            matches!(
                Manifest::parse(body.as_bytes(), None),
                Err(ManifestError::NotJson(_))
            ),
            "{body:?}"
        );
    }
    assert!(matches!(
        Manifest::parse(&[0xff, 0xfe, 0x00], None),
        Err(ManifestError::NotJson(_))
    ));
    for body in ["[]", "2", "\"x\"", "null", "true"] {
        assert_eq!(
            Manifest::parse(body.as_bytes(), None),
            Err(ManifestError::NotObject),
            "{body}"
        );
    }
    // Deep nesting is refused by the JSON parser's recursion limit, not by a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        Manifest::parse(deep.as_bytes(), None),
        Err(ManifestError::NotJson(_))
    ));
}

#[test]
fn oversize() {
    // Exactly the limit is accepted when otherwise valid: pad with whitespace.
    let mut at_limit = OCI_MANIFEST.as_bytes().to_vec();
    at_limit.resize(MAX_MANIFEST_BYTES, b' ');
    assert!(Manifest::parse(&at_limit, None).is_ok());
    at_limit.push(b' ');
    let e = Manifest::parse(&at_limit, None).unwrap_err();
    assert_eq!(
        e,
        ManifestError::TooLarge {
            size: MAX_MANIFEST_BYTES + 1
        }
    );
    assert_eq!(e.status(), 413);
    assert_eq!(MAX_MANIFEST_BYTES, 4 * 1024 * 1024);
}

#[test]
fn malformed_descriptors() {
    let cases: &[(&str, &str, &str)] = &[
        // (text to replace in OCI_MANIFEST, replacement, offending field)
        ("\"size\": 7023", "\"size\": -1", "config.size"),
        ("\"size\": 7023", "\"size\": 1.5", "config.size"),
        ("\"size\": 7023", "\"size\": \"7023\"", "config.size"),
        (
            "\"size\": 7023",
            "\"size\": 9223372036854775808",
            "config.size",
        ),
        ("\"size\": 7023", "\"sighs\": 7023", "config.size"),
        (
            "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
            "sha256:B5B2",
            "config.digest",
        ),
        (
            "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
            "md5:0000",
            "layers[0].digest",
        ),
        (
            "\"digest\": \"sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b\"",
            "\"digest\": 5",
            "layers[1].digest",
        ),
        (
            "\"digest\": \"sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736\",",
            "",
            "layers[2].digest",
        ),
        (
            "\"mediaType\": \"application/vnd.oci.image.config.v1+json\",",
            "",
            "config.mediaType",
        ),
        (
            "application/vnd.oci.image.config.v1+json",
            "not a media type",
            "config.mediaType",
        ),
        ("\"value1\"", "1", "annotations.com.example.key1"),
        (
            "\"annotations\": {",
            "\"annotations\": [], \"x\": {",
            "annotations",
        ),
        ("\"layers\": [", "\"layers\": 5, \"x\": [", "layers"),
        ("\"layers\": [", "\"layers\": [5, ", "layers[0]"),
        (
            "\"config\": {",
            "\"artifactType\": 5, \"config\": {",
            "artifactType",
        ),
        (
            "\"config\": {",
            "\"artifactType\": \"nope\", \"config\": {",
            "artifactType",
        ),
        (
            "\"config\": {",
            "\"subject\": {}, \"config\": {",
            "subject.mediaType",
        ),
        ("\"config\": {", "\"subject\": [], \"config\": {", "subject"),
        ("\"config\": {", "\"config\": null, \"x\": {", "config"),
        ("\"config\": {", "\"config\": [], \"x\": {", "config"),
        (
            "\"size\": 7023",
            "\"size\": 7023, \"urls\": [1]",
            "config.urls",
        ),
        (
            "\"size\": 7023",
            "\"size\": 7023, \"platform\": {\"os\": \"linux\"}",
            "config.platform.architecture",
        ),
        (
            "\"size\": 7023",
            "\"size\": 7023, \"platform\": \"linux\"",
            "config.platform",
        ),
        (
            "\"size\": 7023",
            "\"size\": 7023, \"data\": true",
            "config.data",
        ),
    ];
    for (from, to, field) in cases {
        assert!(OCI_MANIFEST.contains(from), "fixture lacks {from}");
        let body = OCI_MANIFEST.replacen(from, to, 1);
        assert_eq!(
            field_err(Manifest::parse(body.as_bytes(), None)),
            *field,
            "{from} -> {to}"
        );
    }
    // Missing config on an image manifest.
    let no_config = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
    assert_eq!(
        field_err(Manifest::parse(no_config.as_bytes(), None)),
        "config"
    );
    // A bad child descriptor in an index.
    let bad_child = OCI_INDEX.replacen("\"size\": 7143", "\"size\": -7143", 1);
    assert_eq!(
        field_err(Manifest::parse(bad_child.as_bytes(), None)),
        "manifests[0].size"
    );
    // The body's mediaType must be a string.
    let bad_mt = r#"{"schemaVersion":2,"mediaType":7,"manifests":[]}"#;
    assert_eq!(
        field_err(Manifest::parse(bad_mt.as_bytes(), None)),
        "mediaType"
    );
}

#[test]
fn lenient_where_clients_differ() {
    // Nulls for optional fields, empty artifactType, sha512 digests, zero sizes, unknown fields.
    let body = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "artifactType": "",
      "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha512:00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "size": 0, "urls": null},
      "layers": null,
      "subject": null,
      "annotations": null,
      "x-vendor": {"anything": [1, 2, 3]}
    }"#;
    let m = Manifest::parse(body.as_bytes(), None).unwrap();
    assert_eq!(m.artifact_type, None);
    assert_eq!(m.subject, None);
    assert!(m.layers.is_empty() && m.annotations.is_empty());
    assert_eq!(m.config.as_ref().unwrap().size, 0);
}

#[test]
fn errors_map_to_manifest_invalid() {
    let errors = [
        ManifestError::NotObject,
        ManifestError::Schema1,
        ManifestError::SchemaVersion,
        ManifestError::UnsupportedMediaType("x/y".into()),
        ManifestError::NotJson("eof".into()),
    ];
    for e in errors {
        assert_eq!(
            (e.code().code(), e.status()),
            ("MANIFEST_INVALID", 400),
            "{e}"
        );
    }
    assert_eq!(
        ManifestError::MediaTypeMismatch {
            header: "a/b".into(),
            body: "c/d".into()
        }
        .to_string(),
        "Content-Type `a/b` does not match the manifest's mediaType `c/d`"
    );
}
