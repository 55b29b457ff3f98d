//! Manifest validation: what a pushed manifest must look like before it is stored, and the
//! facts about it the registry needs (referenced blobs, child manifests, subject).
//!
//! The registry stores the bytes exactly as pushed; this module only reads them.

use std::collections::BTreeMap;

use berth_types::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ErrorCode;
use crate::media_types;

/// Largest manifest accepted on push; the spec asks registries to take at least 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Longest echo of an input string inside an error message.
const ECHO_LIMIT: usize = 256;

/// An OCI content descriptor (also the shape of Docker schema 2 descriptors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Embedded content, base64 (OCI image spec 1.1). Carried, not decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl Descriptor {
    /// A descriptor with only the required fields.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            data: None,
        }
    }

    /// Whether the registry may lack the blob: a non-distributable (foreign) layer, or any
    /// descriptor with `urls` to fetch it from (image spec, "Descriptor": `urls`).
    pub fn is_external(&self) -> bool {
        !self.urls.is_empty()
            || crate::media_types::NON_DISTRIBUTABLE_LAYERS.contains(&self.media_type.as_str())
    }
}

/// The platform an index entry runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// Whether a manifest describes one image/artifact or a list of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// OCI image manifest or Docker schema 2 manifest: a config and layers.
    ImageManifest,
    /// OCI image index or Docker manifest list: child manifests.
    Index,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The effective media type (header, else body `mediaType`, else by shape); always one
    /// of [`media_types::PUSHABLE_MANIFESTS`].
    pub media_type: String,
    pub kind: ManifestKind,
    /// The config blob; always present for [`ManifestKind::ImageManifest`], `None` for an index.
    pub config: Option<Descriptor>,
    /// Layer blobs; empty for an index.
    pub layers: Vec<Descriptor>,
    /// Child manifests; empty for an image manifest.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// The manifest's own `artifactType`, if set and non-empty.
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

/// Why a pushed manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is {size} bytes, more than the {MAX_MANIFEST_BYTES} allowed")]
    TooLarge { size: usize },
    #[error("manifest is not valid JSON: {0}")]
    NotJson(String),
    #[error("manifest must be a JSON object")]
    NotObject,
    #[error("schema 1 manifests are not supported; push a schema 2 or OCI manifest")]
    Schema1,
    #[error("schemaVersion must be 2")]
    SchemaVersion,
    #[error("Content-Type `{header}` does not match the manifest's mediaType `{body}`")]
    MediaTypeMismatch { header: String, body: String },
    #[error("unsupported manifest media type `{0}`")]
    UnsupportedMediaType(String),
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
}

impl ManifestError {
    /// The spec error code: every refusal is `MANIFEST_INVALID` (as in distribution).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::ManifestInvalid
    }

    /// The HTTP status: 413 for an oversize manifest (spec), 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            _ => self.code().status(),
        }
    }

    fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

fn echo(s: &str) -> String {
    s.chars().take(ECHO_LIMIT).collect()
}

impl Manifest {
    /// Validates a pushed manifest.
    ///
    /// * at most [`MAX_MANIFEST_BYTES`], a JSON object, `schemaVersion` 2 (schema 1 refused);
    /// * media type from `content_type` (parameters ignored; empty or `application/json`
    ///   count as absent, as distribution does) or the body's `mediaType`; when both are
    ///   present they must agree; with neither, a body with `manifests` is an OCI index and
    ///   anything else an OCI image manifest;
    /// * image manifests need a `config` descriptor; `layers` may be empty or missing;
    ///   indexes take `manifests` (may be empty or missing);
    /// * every descriptor has a well-formed `mediaType`, a parseable `digest` and an integer
    ///   `size` in `0..=i64::MAX`; optional fields have the right types.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { size: bytes.len() });
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(ManifestError::NotObject);
        };

        let header = content_type
            .map(media_types::essence)
            .filter(|m| !m.is_empty() && m != media_types::JSON);
        let body = optional_string(&obj, "mediaType", "mediaType")?;
        let is_schema1 = |m: &str| {
            m == media_types::DOCKER_MANIFEST_V1 || m == media_types::DOCKER_MANIFEST_V1_SIGNED
        };
        if header.as_deref().is_some_and(is_schema1) || body.as_deref().is_some_and(is_schema1) {
            return Err(ManifestError::Schema1);
        }
        match obj.get("schemaVersion").and_then(Value::as_u64) {
            Some(2) => {}
            Some(1) => return Err(ManifestError::Schema1),
            _ => return Err(ManifestError::SchemaVersion),
        }

        let media_type = match (header, body) {
            (Some(h), Some(b)) if h != b => {
                return Err(ManifestError::MediaTypeMismatch {
                    header: echo(&h),
                    body: echo(&b),
                });
            }
            (Some(h), _) => h,
            (None, Some(b)) => b,
            (None, None) if obj.contains_key("manifests") => media_types::OCI_INDEX.to_owned(),
            (None, None) => media_types::OCI_MANIFEST.to_owned(),
        };
        let kind = match media_type.as_str() {
            media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST_V2 => {
                ManifestKind::ImageManifest
            }
            media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => ManifestKind::Index,
            other => return Err(ManifestError::UnsupportedMediaType(echo(other))),
        };

        let (config, layers, manifests) = match kind {
            ManifestKind::ImageManifest => {
                let config = match obj.get("config") {
                    Some(v) if !v.is_null() => parse_descriptor(v, "config")?,
                    _ => return Err(ManifestError::field("config", "is required")),
                };
                let layers = descriptor_list(&obj, "layers")?;
                (Some(config), layers, Vec::new())
            }
            ManifestKind::Index => (None, Vec::new(), descriptor_list(&obj, "manifests")?),
        };
        let subject = match obj.get("subject") {
            Some(v) if !v.is_null() => Some(parse_descriptor(v, "subject")?),
            _ => None,
        };
        let artifact_type = artifact_type(&obj, "artifactType")?;
        let annotations = annotations(&obj, "annotations")?;

        Ok(Manifest {
            media_type,
            kind,
            config,
            layers,
            manifests,
            subject,
            artifact_type,
            annotations,
        })
    }

    /// Every blob the manifest references: config, then layers in order. Child manifests
    /// and the subject are manifests, not blobs, and are not included.
    pub fn blob_references(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter())
    }

    /// The manifests an index lists (empty for an image manifest).
    pub fn child_manifests(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter()
    }

    pub fn is_index(&self) -> bool {
        self.kind == ManifestKind::Index
    }

    /// The artifact type the referrers API reports: the manifest's `artifactType`, else for
    /// an image manifest its config media type; an index without one has none.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().or(match self.kind {
            ManifestKind::ImageManifest => self.config.as_ref().map(|c| c.media_type.as_str()),
            ManifestKind::Index => None,
        })
    }

    /// The descriptor of this manifest as it appears in a referrers response: media type,
    /// digest and size of the stored bytes, effective artifact type and all annotations.
    pub fn referrer_descriptor(&self, digest: Digest, size: u64) -> Descriptor {
        let mut d = Descriptor::new(self.media_type.clone(), digest, size);
        d.artifact_type = self.effective_artifact_type().map(str::to_owned);
        d.annotations = self.annotations.clone();
        d
    }
}

/// Renders the referrers response: an OCI image index listing `descriptors` (possibly none).
pub fn referrers_index(descriptors: &[Descriptor]) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Index<'a> {
        schema_version: u8,
        media_type: &'static str,
        manifests: &'a [Descriptor],
    }
    serde_json::to_string(&Index {
        schema_version: 2,
        media_type: media_types::OCI_INDEX,
        manifests: descriptors,
    })
    // Plain strings and numbers always serialise; keep the function total anyway.
    .unwrap_or_else(|_| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
            media_types::OCI_INDEX
        )
    })
}

fn optional_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ManifestError::field(path, "must be a string")),
    }
}

fn string_list(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<String>, ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ManifestError::field(path, "must be an array of strings"))
            })
            .collect(),
        Some(_) => Err(ManifestError::field(path, "must be an array of strings")),
    }
}

fn artifact_type(obj: &Map<String, Value>, path: &str) -> Result<Option<String>, ManifestError> {
    match optional_string(obj, "artifactType", path)? {
        None => Ok(None),
        // The spec treats an empty artifactType like a missing one.
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if media_types::is_well_formed(&s) => Ok(Some(s)),
        Some(s) => Err(ManifestError::field(
            path,
            format!("`{}` is not a type/subtype media type", echo(&s)),
        )),
    }
}

fn annotations(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<BTreeMap<String, String>, ManifestError> {
    match obj.get("annotations") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ManifestError::field(
                    format!("{path}.{}", echo(k)),
                    "annotation values must be strings",
                )),
            })
            .collect(),
        Some(_) => Err(ManifestError::field(path, "must be an object of strings")),
    }
}

fn descriptor_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<Descriptor>, ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_descriptor(v, &format!("{key}[{i}]")))
            .collect(),
        Some(_) => Err(ManifestError::field(key, "must be an array of descriptors")),
    }
}

fn parse_descriptor(value: &Value, path: &str) -> Result<Descriptor, ManifestError> {
    let Value::Object(obj) = value else {
        return Err(ManifestError::field(path, "must be a descriptor object"));
    };
    let media_type = optional_string(obj, "mediaType", &format!("{path}.mediaType"))?
        .ok_or_else(|| ManifestError::field(format!("{path}.mediaType"), "is required"))?;
    if !media_types::is_well_formed(&media_type) {
        return Err(ManifestError::field(
            format!("{path}.mediaType"),
            format!("`{}` is not a type/subtype media type", echo(&media_type)),
        ));
    }
    let digest = optional_string(obj, "digest", &format!("{path}.digest"))?
        .ok_or_else(|| ManifestError::field(format!("{path}.digest"), "is required"))?;
    let digest = Digest::parse(&digest)
        .map_err(|e| ManifestError::field(format!("{path}.digest"), e.to_string()))?;
    let size = match obj.get("size") {
        None | Some(Value::Null) => {
            return Err(ManifestError::field(format!("{path}.size"), "is required"));
        }
        Some(v) => v
            .as_u64()
            .filter(|&s| i64::try_from(s).is_ok())
            .ok_or_else(|| {
                ManifestError::field(format!("{path}.size"), "must be a non-negative integer")
            })?,
    };
    let platform = match obj.get("platform") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_platform(v, &format!("{path}.platform"))?),
    };
    Ok(Descriptor {
        media_type,
        digest,
        size,
        artifact_type: artifact_type(obj, &format!("{path}.artifactType"))?,
        urls: string_list(obj, "urls", &format!("{path}.urls"))?,
        annotations: annotations(obj, &format!("{path}.annotations"))?,
        platform,
        data: optional_string(obj, "data", &format!("{path}.data"))?,
    })
}

fn parse_platform(value: &Value, path: &str) -> Result<Platform, ManifestError> {
    let Value::Object(obj) = value else {
        return Err(ManifestError::field(path, "must be an object"));
    };
    let required = |key: &str| {
        optional_string(obj, key, &format!("{path}.{key}"))?
            .ok_or_else(|| ManifestError::field(format!("{path}.{key}"), "is required"))
    };
    Ok(Platform {
        architecture: required("architecture")?,
        os: required("os")?,
        os_version: optional_string(obj, "os.version", &format!("{path}.os.version"))?,
        os_features: string_list(obj, "os.features", &format!("{path}.os.features"))?,
        variant: optional_string(obj, "variant", &format!("{path}.variant"))?,
        features: string_list(obj, "features", &format!("{path}.features"))?,
    })
}
