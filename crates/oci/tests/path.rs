//! The `/v2` route table, as a table.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use berth_oci::{Endpoint, ErrorCode, PathError, parse_path};
use berth_types::{Digest, Reference, RepositoryName, Tag};

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn n(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}
fn d() -> Digest {
    Digest::parse(D).unwrap()
}
fn tag(s: &str) -> Reference {
    Reference::Tag(Tag::parse(s).unwrap())
}

#[derive(Debug, PartialEq)]
enum Want {
    Ok(Endpoint),
    /// An error with this code (None = bare 404/414) and status.
    Err(Option<ErrorCode>, u16),
}

fn err(code: ErrorCode) -> Want {
    Want::Err(Some(code), code.status())
}
const NOT_FOUND: Want = Want::Err(None, 404);

#[test]
fn parse_path_table() {
    let long_name = "a".repeat(257);
    let long_path = format!("/v2/{}/manifests/latest", "a/".repeat(1100));
    let max_name = format!("{}/{}", "a".repeat(127), "b".repeat(128));
    let long_tag = format!("/v2/ab/manifests/{}", "t".repeat(129));
    let upload_128 = format!("/v2/ab/blobs/uploads/{}", "U".repeat(128));
    let upload_129 = format!("/v2/ab/blobs/uploads/{}", "U".repeat(129));
    let cases: Vec<(String, Want)> = vec![
        // Base and catalog.
        ("/v2".into(), Want::Ok(Endpoint::Base)),
        ("/v2/".into(), Want::Ok(Endpoint::Base)),
        ("/v2/_catalog".into(), Want::Ok(Endpoint::Catalog)),
        ("/v2/_catalog/".into(), NOT_FOUND),
        // Every endpoint with a simple name.
        (
            "/v2/ab/tags/list".into(),
            Want::Ok(Endpoint::TagsList { name: n("ab") }),
        ),
        (
            "/v2/ab/manifests/latest".into(),
            Want::Ok(Endpoint::Manifest {
                name: n("ab"),
                reference: tag("latest"),
            }),
        ),
        (
            format!("/v2/ab/manifests/{D}"),
            Want::Ok(Endpoint::Manifest {
                name: n("ab"),
                reference: Reference::Digest(d()),
            }),
        ),
        (
            format!("/v2/ab/blobs/{D}"),
            Want::Ok(Endpoint::Blob {
                name: n("ab"),
                digest: d(),
            }),
        ),
        (
            "/v2/ab/blobs/uploads/".into(),
            Want::Ok(Endpoint::UploadStart { name: n("ab") }),
        ),
        (
            "/v2/ab/blobs/uploads".into(),
            Want::Ok(Endpoint::UploadStart { name: n("ab") }),
        ),
        (
            "/v2/ab/blobs/uploads/6f1c2a4e-7d3b-4c8e-9a10-2b3c4d5e6f70".into(),
            Want::Ok(Endpoint::Upload {
                name: n("ab"),
                id: "6f1c2a4e-7d3b-4c8e-9a10-2b3c4d5e6f70".into(),
            }),
        ),
        (
            format!("/v2/ab/referrers/{D}"),
            Want::Ok(Endpoint::Referrers {
                name: n("ab"),
                digest: d(),
            }),
        ),
        // Multi-component names.
        (
            "/v2/a/b/c/manifests/latest".into(),
            Want::Ok(Endpoint::Manifest {
                name: n("a/b/c"),
                reference: tag("latest"),
            }),
        ),
        (
            "/v2/team/app/tags/list".into(),
            Want::Ok(Endpoint::TagsList {
                name: n("team/app"),
            }),
        ),
        (
            format!("/v2/org/team/app/blobs/{D}"),
            Want::Ok(Endpoint::Blob {
                name: n("org/team/app"),
                digest: d(),
            }),
        ),
        (
            "/v2/org/team/app/blobs/uploads/".into(),
            Want::Ok(Endpoint::UploadStart {
                name: n("org/team/app"),
            }),
        ),
        // Names made of route words.
        (
            "/v2/blobs/manifests/manifests/x".into(),
            Want::Ok(Endpoint::Manifest {
                name: n("blobs/manifests"),
                reference: tag("x"),
            }),
        ),
        (
            "/v2/manifests/manifests/manifests".into(),
            Want::Ok(Endpoint::Manifest {
                name: n("manifests"),
                reference: tag("manifests"),
            }),
        ),
        (
            "/v2/blobs/uploads/manifests/v1".into(),
            Want::Ok(Endpoint::Manifest {
                name: n("blobs/uploads"),
                reference: tag("v1"),
            }),
        ),
        (
            format!("/v2/uploads/blobs/{D}"),
            Want::Ok(Endpoint::Blob {
                name: n("uploads"),
                digest: d(),
            }),
        ),
        (
            format!("/v2/a/blobs/uploads/blobs/{D}"),
            Want::Ok(Endpoint::Blob {
                name: n("a/blobs/uploads"),
                digest: d(),
            }),
        ),
        (
            "/v2/blobs/blobs/uploads/".into(),
            Want::Ok(Endpoint::UploadStart { name: n("blobs") }),
        ),
        (
            "/v2/a/blobs/blobs/uploads".into(),
            Want::Ok(Endpoint::UploadStart { name: n("a/blobs") }),
        ),
        (
            "/v2/uploads/blobs/uploads/uploads".into(),
            Want::Ok(Endpoint::Upload {
                name: n("uploads"),
                id: "uploads".into(),
            }),
        ),
        (
            "/v2/tags/tags/list".into(),
            Want::Ok(Endpoint::TagsList { name: n("tags") }),
        ),
        (
            "/v2/x/manifests/tags/list".into(),
            Want::Ok(Endpoint::TagsList {
                name: n("x/manifests"),
            }),
        ),
        (
            format!("/v2/referrers/referrers/{D}"),
            Want::Ok(Endpoint::Referrers {
                name: n("referrers"),
                digest: d(),
            }),
        ),
        (
            "/v2/v2/manifests/latest".into(),
            Want::Ok(Endpoint::Manifest {
                name: n("v2"),
                reference: tag("latest"),
            }),
        ),
        // Longest valid name.
        (
            format!("/v2/{max_name}/tags/list"),
            Want::Ok(Endpoint::TagsList { name: n(&max_name) }),
        ),
        (
            upload_128.clone(),
            Want::Ok(Endpoint::Upload {
                name: n("ab"),
                id: "U".repeat(128),
            }),
        ),
        // Bad names.
        (
            "/v2/AB/manifests/latest".into(),
            err(ErrorCode::NameInvalid),
        ),
        ("/v2/a/manifests/latest".into(), err(ErrorCode::NameInvalid)),
        ("/v2/-ab/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2/a_/tags/list".into(), err(ErrorCode::NameInvalid)),
        (
            format!("/v2/{long_name}/tags/list"),
            err(ErrorCode::NameInvalid),
        ),
        ("/v2/manifests/latest".into(), err(ErrorCode::NameInvalid)),
        ("/v2/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2/blobs/uploads/".into(), err(ErrorCode::NameInvalid)),
        ("/v2/blobs/uploads/abc".into(), err(ErrorCode::NameInvalid)),
        ("/v2/_catalog/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2/a b/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2/ab%2Fcd/tags/list".into(), err(ErrorCode::NameInvalid)),
        // Traversal and empty components.
        (
            "/v2/../manifests/latest".into(),
            err(ErrorCode::NameInvalid),
        ),
        (
            "/v2/ab/../cd/manifests/latest".into(),
            err(ErrorCode::NameInvalid),
        ),
        ("/v2/ab/./cd/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2//ab/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2/ab//cd/tags/list".into(), err(ErrorCode::NameInvalid)),
        ("/v2/ab/cd//tags/list".into(), err(ErrorCode::NameInvalid)),
        (
            "/v2/ab/manifests/..".into(),
            err(ErrorCode::ManifestInvalid),
        ),
        ("/v2/ab/blobs/..".into(), err(ErrorCode::DigestInvalid)),
        (
            "/v2/ab/blobs/uploads/..".into(),
            err(ErrorCode::BlobUploadUnknown),
        ),
        ("/v2/ab/manifests/".into(), NOT_FOUND),
        ("/v2/ab/manifests//".into(), NOT_FOUND),
        ("/v2/ab/tags/list/".into(), NOT_FOUND),
        (format!("/v2/ab/blobs/{D}/"), NOT_FOUND),
        ("/v2/ab/blobs/uploads/abc/".into(), NOT_FOUND),
        ("/v2/ab/blobs/uploads//".into(), NOT_FOUND),
        // Bad references and digests.
        (
            "/v2/ab/manifests/.hidden".into(),
            err(ErrorCode::ManifestInvalid),
        ),
        (
            "/v2/ab/manifests/a+b".into(),
            err(ErrorCode::ManifestInvalid),
        ),
        (long_tag, err(ErrorCode::ManifestInvalid)),
        (
            "/v2/ab/manifests/sha256:abc".into(),
            err(ErrorCode::DigestInvalid),
        ),
        (
            format!("/v2/ab/manifests/md5:{}", "0".repeat(32)),
            err(ErrorCode::DigestInvalid),
        ),
        (
            format!("/v2/ab/manifests/{}", D.to_uppercase()),
            err(ErrorCode::DigestInvalid),
        ),
        ("/v2/ab/blobs/latest".into(), err(ErrorCode::DigestInvalid)),
        ("/v2/ab/blobs/sha256:".into(), err(ErrorCode::DigestInvalid)),
        (
            "/v2/ab/referrers/latest".into(),
            err(ErrorCode::DigestInvalid),
        ),
        (
            format!("/v2/ab/referrers/{D}x"),
            err(ErrorCode::DigestInvalid),
        ),
        // Bad upload ids.
        (
            "/v2/ab/blobs/uploads/a.b".into(),
            err(ErrorCode::BlobUploadUnknown),
        ),
        (
            "/v2/ab/blobs/uploads/a b".into(),
            err(ErrorCode::BlobUploadUnknown),
        ),
        (upload_129, err(ErrorCode::BlobUploadUnknown)),
        // Not routes.
        ("".into(), NOT_FOUND),
        ("/".into(), NOT_FOUND),
        ("/v1/".into(), NOT_FOUND),
        ("/v2x".into(), NOT_FOUND),
        ("/v22/ab/tags/list".into(), NOT_FOUND),
        ("v2/ab/tags/list".into(), NOT_FOUND),
        ("/V2/ab/tags/list".into(), NOT_FOUND),
        ("/v2/ab".into(), NOT_FOUND),
        ("/v2/ab/".into(), NOT_FOUND),
        ("/v2/ab/tags".into(), NOT_FOUND),
        ("/v2/ab/tags/lists".into(), NOT_FOUND),
        ("/v2/ab/manifest/latest".into(), NOT_FOUND),
        ("/v2/ab/blob/x".into(), NOT_FOUND),
        ("/v2/ab/uploads/x".into(), NOT_FOUND),
        ("/v2/_catalogue".into(), NOT_FOUND),
        ("/v2/ab/cd".into(), NOT_FOUND),
        // Too long.
        (long_path, Want::Err(None, 414)),
    ];

    for (path, want) in cases {
        let got = match parse_path(&path) {
            Ok(e) => Want::Ok(e),
            Err(e) => Want::Err(e.code(), e.status()),
        };
        assert_eq!(got, want, "path {path:?}");
    }
}

#[test]
fn path_errors_carry_reasons() {
    assert_eq!(parse_path("/v2/x"), Err(PathError::NotFound));
    let Err(PathError::NameInvalid(e)) = parse_path("/v2/AB/tags/list") else {
        panic!("expected NameInvalid");
    };
    assert_eq!(e.value, "AB");
    assert!(matches!(
        parse_path("/v2/ab/manifests/sha256:0"),
        Err(PathError::DigestInvalid(_))
    ));
    assert!(matches!(
        parse_path("/v2/ab/manifests/-x"),
        Err(PathError::TagInvalid(_))
    ));
    assert_eq!(parse_path(&"/".repeat(3000)), Err(PathError::TooLong));
}

#[test]
fn rendered_paths_round_trip() {
    let endpoints = [
        Endpoint::Base,
        Endpoint::Catalog,
        Endpoint::TagsList { name: n("a/b") },
        Endpoint::Manifest {
            name: n("a/manifests"),
            reference: tag("v1.0"),
        },
        Endpoint::Manifest {
            name: n("ab"),
            reference: Reference::Digest(d()),
        },
        Endpoint::Blob {
            name: n("blobs/uploads"),
            digest: d(),
        },
        Endpoint::UploadStart { name: n("x/blobs") },
        Endpoint::Upload {
            name: n("ab"),
            id: "abc_DEF-123".into(),
        },
        Endpoint::Referrers {
            name: n("ab"),
            digest: d(),
        },
    ];
    for e in endpoints {
        assert_eq!(parse_path(&e.path()), Ok(e.clone()), "{}", e.path());
    }
    assert_eq!(
        Endpoint::UploadStart { name: n("ab") }.path(),
        "/v2/ab/blobs/uploads/"
    );
    assert_eq!(
        Endpoint::Upload {
            name: n("ab"),
            id: "u".into()
        }
        .route_name(),
        "blob-upload-chunk"
    );
    assert_eq!(Endpoint::Catalog.name(), None);
    assert_eq!(Endpoint::TagsList { name: n("ab") }.name(), Some(&n("ab")));
}
