//! Media types the registry recognises, as the OCI image spec and Docker spell them.

/// OCI image manifest (`application/vnd.oci.image.manifest.v1+json`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (`application/vnd.oci.image.index.v1+json`).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform), schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 manifest (legacy; rejected on push).
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Signed Docker schema 1 manifest (legacy; rejected on push).
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// OCI layer, uncompressed tar.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip-compressed tar.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd-compressed tar.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable layer, uncompressed (deprecated by the image spec, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer, gzip (deprecated by the image spec, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer, zstd (deprecated by the image spec, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// Docker layer, gzip-compressed tar.
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker foreign (non-distributable) layer.
pub const DOCKER_LAYER_FOREIGN_TAR_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Layers whose bytes a registry need not hold: clients fetch them from the descriptor's
/// `urls` (Windows base layers, licensed content).
pub const NON_DISTRIBUTABLE_LAYERS: &[&str] = &[
    OCI_LAYER_NONDISTRIBUTABLE_TAR,
    OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
    DOCKER_LAYER_FOREIGN_TAR_GZIP,
];

/// The OCI empty descriptor's media type (`{}`, used by artifacts without a config).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Digest of the two bytes `{}`, the content of the OCI empty descriptor.
pub const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// Size of the OCI empty descriptor's content.
pub const OCI_EMPTY_SIZE: u64 = 2;

/// Blob uploads and downloads.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// Plain JSON; for manifests it says nothing about the kind (distribution sniffs the body).
pub const JSON: &str = "application/json";

/// Manifest media types a push may use, in the order they are usually preferred.
pub const PUSHABLE_MANIFESTS: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
];

/// Whether `media_type` is one of the manifest kinds the registry stores.
pub fn is_manifest(media_type: &str) -> bool {
    PUSHABLE_MANIFESTS.contains(&media_type)
}

/// Whether `media_type` is an index kind (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The media type proper of a `Content-Type`/`Accept` value: parameters after `;` dropped,
/// whitespace trimmed, ASCII lowercased (media types compare case-insensitively, RFC 6838).
pub fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a manifest stored as `media_type` may answer a request with these `Accept`
/// header values (each possibly a comma-separated list with `;q=` parameters).
///
/// No `Accept` at all, `*/*` or `application/*` accept anything: old clients send none and
/// still expect the manifest. Otherwise the stored type must be listed, as distribution
/// does: it answers `MANIFEST_UNKNOWN` rather than serving a kind the client cannot read.
/// A range with `q=0` is a refusal and does not count.
pub fn accepts<'a>(accept_values: impl IntoIterator<Item = &'a str>, media_type: &str) -> bool {
    let wanted = essence(media_type);
    let mut listed = false;
    for range in accept_values.into_iter().flat_map(|v| v.split(',')) {
        let mut parts = range.split(';');
        let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if ty.is_empty() {
            continue;
        }
        listed = true;
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        if refused {
            continue;
        }
        if ty == "*/*" || ty == "application/*" || ty == wanted {
            return true;
        }
    }
    !listed
}

/// Whether `value` is a syntactically valid `type/subtype` (RFC 6838 restricted names,
/// no parameters), as the OCI image spec requires of descriptor media types.
pub fn is_well_formed(value: &str) -> bool {
    fn restricted_name(s: &str) -> bool {
        let b = s.as_bytes();
        match b.first() {
            Some(first) if first.is_ascii_alphanumeric() => {}
            _ => return false,
        }
        b.len() <= 127
            && b.iter().all(|&c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    }
    match value.split_once('/') {
        Some((ty, sub)) => restricted_name(ty) && restricted_name(sub),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essence_drops_parameters() {
        assert_eq!(
            essence(" Application/JSON ; charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence(""), "");
    }

    #[test]
    fn well_formed_media_types() {
        for ok in [
            OCI_MANIFEST,
            OCI_EMPTY,
            DOCKER_LAYER_TAR_GZIP,
            "application/vnd.cncf.helm.config.v1+json",
            "text/plain",
        ] {
            assert!(is_well_formed(ok), "{ok}");
        }
        for bad in [
            "",
            "application",
            "/json",
            "application/",
            "a/b/c",
            "application/json; charset=utf-8",
            "a b/c",
            "application/.x",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts([], OCI_MANIFEST));
        assert!(accepts([""], OCI_MANIFEST));
        assert!(accepts(["*/*"], OCI_INDEX));
        assert!(accepts(["application/*;q=0.5"], OCI_INDEX));
        assert!(accepts(
            [
                DOCKER_MANIFEST_V2,
                "application/vnd.oci.image.manifest.v1+json; q=0.9"
            ],
            OCI_MANIFEST
        ));
        assert!(accepts(
            [&format!("{DOCKER_MANIFEST_V2}, {OCI_MANIFEST}") as &str],
            OCI_MANIFEST
        ));
        assert!(accepts(
            ["Application/VND.OCI.Image.Manifest.v1+JSON"],
            OCI_MANIFEST
        ));
        assert!(!accepts([DOCKER_MANIFEST_V2], OCI_MANIFEST));
        assert!(!accepts([OCI_MANIFEST], OCI_INDEX));
        assert!(!accepts([&format!("{OCI_INDEX};q=0") as &str], OCI_INDEX));
    }

    #[test]
    fn kinds() {
        assert!(is_manifest(DOCKER_MANIFEST_LIST));
        assert!(!is_manifest(DOCKER_MANIFEST_V1));
        assert!(is_index(OCI_INDEX) && is_index(DOCKER_MANIFEST_LIST));
        assert!(!is_index(OCI_MANIFEST));
    }
}
