//! The `/v2` registry's operations: which request is which operation, and which ECR
//! action(s) each needs, as ECR's registry authorises them.
//!
//! This is the router's table. The api parses a request's path (`berth_oci::parse_path`),
//! asks [`RegistryOperation::of`] which operation it is, has [`Registry::authorize_registry`]
//! decide the operation's actions (and get the proof, [`Authorized`]), and only then
//! dispatches. The walk-every-route test sends [`RegistryOperation::sample`] of every
//! operation in [`RegistryOperation::ALL`] as a caller without permissions, and a unit test
//! checks that `of` maps each sample back to its operation: the table, the router and the
//! test cannot drift apart.

use berth_oci::{Endpoint, ErrorCode};
use berth_store::RepositoryRecord;
use berth_types::RepositoryName;
use http::Method;

use crate::Registry;
use crate::actions::*;
use crate::authorized::Authorized;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::error::RegistryError;

/// The list of every repository, which the catalog shows.
#[derive(Debug)]
pub struct Catalog;

/// One `/v2` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryOperation {
    /// `GET /v2/`: needs a signed-in caller, no action.
    VersionCheck,
    Catalog,
    ListTags,
    GetManifest,
    HeadManifest,
    PutManifest,
    DeleteManifest,
    ListReferrers,
    HeadBlob,
    GetBlob,
    DeleteBlob,
    /// `POST .../blobs/uploads/`: a chunked upload begins.
    StartUpload,
    /// `POST .../blobs/uploads/?digest=`: the body is the whole blob.
    UploadWhole,
    /// `POST .../blobs/uploads/?mount=&from=`: link a blob another repository holds, or
    /// (when the caller may not read it there) begin an upload.
    MountBlob,
    UploadChunk,
    CompleteUpload,
    UploadStatus,
    CancelUpload,
}

/// A monolithic upload is the three actions of an upload at once.
const UPLOAD_WHOLE: &[&str] = &[
    ECR_INITIATE_LAYER_UPLOAD,
    ECR_UPLOAD_LAYER_PART,
    ECR_COMPLETE_LAYER_UPLOAD,
];

impl RegistryOperation {
    pub const ALL: &[Self] = &[
        Self::VersionCheck,
        Self::Catalog,
        Self::ListTags,
        Self::GetManifest,
        Self::HeadManifest,
        Self::PutManifest,
        Self::DeleteManifest,
        Self::ListReferrers,
        Self::HeadBlob,
        Self::GetBlob,
        Self::DeleteBlob,
        Self::StartUpload,
        Self::UploadWhole,
        Self::MountBlob,
        Self::UploadChunk,
        Self::CompleteUpload,
        Self::UploadStatus,
        Self::CancelUpload,
    ];

    /// Which operation a request is; `None` for a method the endpoint does not support.
    /// `has_query` tells whether the request's query has a parameter.
    pub fn of(
        endpoint: &Endpoint,
        method: &Method,
        has_query: impl Fn(&str) -> bool,
    ) -> Option<Self> {
        let head = method == Method::HEAD;
        Some(match (endpoint, method.clone()) {
            (Endpoint::Base, Method::GET | Method::HEAD) => Self::VersionCheck,
            (Endpoint::Catalog, Method::GET) => Self::Catalog,
            (Endpoint::TagsList { .. }, Method::GET) => Self::ListTags,
            (Endpoint::Manifest { .. }, Method::GET | Method::HEAD) if head => Self::HeadManifest,
            (Endpoint::Manifest { .. }, Method::GET) => Self::GetManifest,
            (Endpoint::Manifest { .. }, Method::PUT) => Self::PutManifest,
            (Endpoint::Manifest { .. }, Method::DELETE) => Self::DeleteManifest,
            (Endpoint::Referrers { .. }, Method::GET) => Self::ListReferrers,
            (Endpoint::Blob { .. }, Method::HEAD) => Self::HeadBlob,
            (Endpoint::Blob { .. }, Method::GET) => Self::GetBlob,
            (Endpoint::Blob { .. }, Method::DELETE) => Self::DeleteBlob,
            (Endpoint::UploadStart { .. }, Method::POST) => {
                if has_query("mount") && has_query("from") {
                    Self::MountBlob
                } else if has_query("digest") {
                    Self::UploadWhole
                } else {
                    Self::StartUpload
                }
            }
            (Endpoint::Upload { .. }, Method::PATCH) => Self::UploadChunk,
            (Endpoint::Upload { .. }, Method::PUT) => Self::CompleteUpload,
            (Endpoint::Upload { .. }, Method::GET) => Self::UploadStatus,
            (Endpoint::Upload { .. }, Method::DELETE) => Self::CancelUpload,
            _ => return None,
        })
    }

    /// The operation's name, for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::VersionCheck => "VersionCheck",
            Self::Catalog => "Catalog",
            Self::ListTags => "ListTags",
            Self::GetManifest => "GetManifest",
            Self::HeadManifest => "HeadManifest",
            Self::PutManifest => "PutManifest",
            Self::DeleteManifest => "DeleteManifest",
            Self::ListReferrers => "ListReferrers",
            Self::HeadBlob => "HeadBlob",
            Self::GetBlob => "GetBlob",
            Self::DeleteBlob => "DeleteBlob",
            Self::StartUpload => "StartUpload",
            Self::UploadWhole => "UploadWhole",
            Self::MountBlob => "MountBlob",
            Self::UploadChunk => "UploadChunk",
            Self::CompleteUpload => "CompleteUpload",
            Self::UploadStatus => "UploadStatus",
            Self::CancelUpload => "CancelUpload",
        }
    }

    /// The ECR API operation CloudTrail records a registry request as (ECR's own registry
    /// logs a `docker push` as InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload
    /// and PutImage, a pull as BatchGetImage and GetDownloadUrlForLayer). The version
    /// check is no operation.
    pub fn event_name(self) -> Option<&'static str> {
        Some(match self {
            Self::VersionCheck => return None,
            Self::Catalog => "DescribeRepositories",
            Self::ListTags => "ListImages",
            Self::GetManifest | Self::HeadManifest | Self::ListReferrers => "BatchGetImage",
            Self::PutManifest => "PutImage",
            Self::DeleteManifest | Self::DeleteBlob => "BatchDeleteImage",
            Self::HeadBlob => "BatchCheckLayerAvailability",
            Self::GetBlob => "GetDownloadUrlForLayer",
            Self::StartUpload | Self::MountBlob => "InitiateLayerUpload",
            Self::UploadChunk | Self::UploadStatus | Self::CancelUpload => "UploadLayerPart",
            Self::UploadWhole | Self::CompleteUpload => "CompleteLayerUpload",
        })
    }

    /// The ECR actions the operation needs, decided together in one pass over the
    /// caller's policies: on its repository, or (the catalog) on every repository.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Self::VersionCheck => &[],
            Self::Catalog => &[ECR_DESCRIBE_REPOSITORIES],
            Self::ListTags => &[ECR_LIST_IMAGES],
            Self::GetManifest | Self::HeadManifest | Self::ListReferrers => &[ECR_BATCH_GET_IMAGE],
            Self::PutManifest => &[ECR_PUT_IMAGE],
            // ECR has no blob-level delete; removing content is BatchDeleteImage.
            Self::DeleteManifest | Self::DeleteBlob => &[ECR_BATCH_DELETE_IMAGE],
            Self::HeadBlob => &[ECR_BATCH_CHECK_LAYER_AVAILABILITY],
            Self::GetBlob => &[ECR_GET_DOWNLOAD_URL_FOR_LAYER],
            // A mount that cannot happen becomes the start of an upload; the mount itself
            // also needs the reads in the source and CompleteLayerUpload here (see
            // `Registry::mount_source`).
            Self::StartUpload | Self::MountBlob => &UPLOAD_WHOLE[..1],
            Self::UploadWhole => UPLOAD_WHOLE,
            Self::UploadChunk | Self::UploadStatus | Self::CancelUpload => &[ECR_UPLOAD_LAYER_PART],
            Self::CompleteUpload => &[ECR_COMPLETE_LAYER_UPLOAD],
        }
    }

    /// A request of this operation in repository `name`: its method and its path with
    /// query. The upload id and digests are well formed and refer to nothing.
    pub fn sample(self, name: &RepositoryName) -> (Method, String) {
        const DIGEST: &str =
            "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        const UPLOAD_ID: &str = "00000000-0000-4000-8000-000000000000";
        let (method, path) = match self {
            Self::VersionCheck => (Method::GET, "/v2/".to_owned()),
            Self::Catalog => (Method::GET, "/v2/_catalog".to_owned()),
            Self::ListTags => (Method::GET, format!("/v2/{name}/tags/list")),
            Self::GetManifest => (Method::GET, format!("/v2/{name}/manifests/latest")),
            Self::HeadManifest => (Method::HEAD, format!("/v2/{name}/manifests/latest")),
            Self::PutManifest => (Method::PUT, format!("/v2/{name}/manifests/latest")),
            Self::DeleteManifest => (Method::DELETE, format!("/v2/{name}/manifests/{DIGEST}")),
            Self::ListReferrers => (Method::GET, format!("/v2/{name}/referrers/{DIGEST}")),
            Self::HeadBlob => (Method::HEAD, format!("/v2/{name}/blobs/{DIGEST}")),
            Self::GetBlob => (Method::GET, format!("/v2/{name}/blobs/{DIGEST}")),
            Self::DeleteBlob => (Method::DELETE, format!("/v2/{name}/blobs/{DIGEST}")),
            Self::StartUpload => (Method::POST, format!("/v2/{name}/blobs/uploads/")),
            Self::UploadWhole => (
                Method::POST,
                format!("/v2/{name}/blobs/uploads/?digest={DIGEST}"),
            ),
            Self::MountBlob => (
                Method::POST,
                format!("/v2/{name}/blobs/uploads/?mount={DIGEST}&from={name}"),
            ),
            Self::UploadChunk => (
                Method::PATCH,
                format!("/v2/{name}/blobs/uploads/{UPLOAD_ID}"),
            ),
            Self::CompleteUpload => (
                Method::PUT,
                format!("/v2/{name}/blobs/uploads/{UPLOAD_ID}?digest={DIGEST}"),
            ),
            Self::UploadStatus => (Method::GET, format!("/v2/{name}/blobs/uploads/{UPLOAD_ID}")),
            Self::CancelUpload => (
                Method::DELETE,
                format!("/v2/{name}/blobs/uploads/{UPLOAD_ID}"),
            ),
        };
        (method, path)
    }
}

impl Registry<'_> {
    /// Decides a registry operation on repository `name` and loads the repository: the
    /// operation's actions in one pass over the caller's policies and the repository's
    /// policy. The proof is what every content-touching registry function takes.
    pub async fn authorize_registry(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        operation: RegistryOperation,
        name: &RepositoryName,
    ) -> Result<Authorized<RepositoryRecord>, RegistryError> {
        let decided = self
            .authorize_actions(caller, facts, operation.actions(), name)
            .await;
        let pushes = matches!(
            operation,
            RegistryOperation::StartUpload
                | RegistryOperation::UploadWhole
                | RegistryOperation::MountBlob
                | RegistryOperation::PutManifest
        );
        match decided {
            // Create-on-push: the caller may push here; a creation template may make the
            // repository (deciding ecr:CreateRepository itself).
            Err(RegistryError::Oci {
                code: ErrorCode::NameUnknown,
                ..
            }) if pushes => {
                let created = self
                    .ecr()
                    .create_on_push(caller, facts, name)
                    .await
                    .map_err(|e| RegistryError::of_ecr(e, "creating a repository on push"))?;
                if created {
                    self.authorize_actions(caller, facts, operation.actions(), name)
                        .await
                } else {
                    decided
                }
            }
            // A pull-through cache repository's first pull creates it.
            Err(RegistryError::Oci {
                code: ErrorCode::NameUnknown,
                ..
            }) if matches!(
                operation,
                RegistryOperation::GetManifest | RegistryOperation::HeadManifest
            ) =>
            {
                let ecr = self.ecr();
                let to_registry =
                    |e| RegistryError::of_ecr(e, "creating a pull-through cache repository");
                if ecr
                    .pull_through_rule_for(name)
                    .await
                    .map_err(to_registry)?
                    .is_none()
                {
                    return decided;
                }
                ecr.create_for_pull_through(caller, facts, name)
                    .await
                    .map_err(to_registry)?;
                self.authorize_actions(caller, facts, operation.actions(), name)
                    .await
            }
            other => other,
        }
    }

    /// A mount that did not happen and whose body is the whole blob: the rest of a whole
    /// upload's actions, on top of the mount's own.
    pub async fn authorize_whole_upload_rest(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &RepositoryName,
    ) -> Result<Authorized<RepositoryRecord>, RegistryError> {
        self.authorize_actions(caller, facts, &UPLOAD_WHOLE[1..], name)
            .await
    }

    /// Decides `actions` on repository `name` in one pass over the caller's policies, and
    /// loads the repository.
    pub(crate) async fn authorize_actions(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        actions: &[&str],
        name: &RepositoryName,
    ) -> Result<Authorized<RepositoryRecord>, RegistryError> {
        let arn = self.config.repository_arn(name.as_str());
        let repo = self.metadata.get_repository(name).await?;
        let policy = self.ecr().repository_policy(repo.as_ref())?;
        self.authorizer
            .authorize_all(caller, actions, &arn, policy.as_ref(), facts)
            .await?;
        repo.map(Authorized::granted).ok_or_else(|| {
            RegistryError::oci(
                ErrorCode::NameUnknown,
                format!("repository '{name}' does not exist"),
            )
        })
    }

    /// The source of a cross-repository mount into `target`, when the caller may read the
    /// blob there (ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, as a pull of it would
    /// need) and complete an upload in `target`. `None` otherwise, whatever the reason: a
    /// refusal must not reveal whether the source exists. `None` too while the account
    /// setting `BLOB_MOUNTING` is `DISABLED`.
    pub async fn mount_source(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        target: &Authorized<RepositoryRecord>,
        from: &RepositoryName,
    ) -> Result<Option<Authorized<RepositoryRecord>>, RegistryError> {
        if !self.blob_mounting_enabled().await? {
            return Ok(None);
        }
        let decisions = [
            (
                from,
                &[ECR_BATCH_GET_IMAGE, ECR_GET_DOWNLOAD_URL_FOR_LAYER][..],
            ),
            (&target.name, &[ECR_COMPLETE_LAYER_UPLOAD][..]),
        ];
        let mut source = None;
        for (name, actions) in decisions {
            match self.authorize_actions(caller, facts, actions, name).await {
                Ok(repo) if &repo.name == from => source = Some(repo),
                Ok(_) => {}
                Err(RegistryError::AccessDenied(_) | RegistryError::Oci { .. }) => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(source)
    }

    /// Decides a catalog request (`/v2/_catalog`): the caller may describe every
    /// repository. First, before the request's parameters are read, as for every route.
    pub async fn authorize_catalog(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<Authorized<Catalog>, RegistryError> {
        let every_repository = self.config.repository_arn("*");
        self.authorizer
            .authorize_all(
                caller,
                RegistryOperation::Catalog.actions(),
                &every_repository,
                None,
                facts,
            )
            .await?;
        Ok(Authorized::granted(Catalog))
    }

    /// A page of the catalog: up to `limit` repository names after `after`.
    pub async fn catalog_page(
        &self,
        _catalog: &Authorized<Catalog>,
        after: Option<&RepositoryName>,
        limit: usize,
    ) -> Result<Vec<RepositoryName>, RegistryError> {
        let repositories = self.metadata.list_repositories(after, limit).await?;
        Ok(repositories.into_iter().map(|r| r.name).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_routed_from_its_sample() {
        let name = RepositoryName::parse("team/app").unwrap();
        for &operation in RegistryOperation::ALL {
            let (method, path_and_query) = operation.sample(&name);
            let (path, query) = path_and_query
                .split_once('?')
                .unwrap_or((&path_and_query, ""));
            let endpoint = berth_oci::parse_path(path).unwrap();
            let has = |key: &str| {
                query
                    .split('&')
                    .any(|pair| pair.split('=').next() == Some(key))
            };
            assert_eq!(
                RegistryOperation::of(&endpoint, &method, has),
                Some(operation),
                "{method} {path_and_query}"
            );
        }
    }

    #[test]
    fn every_operation_but_the_version_check_needs_an_action() {
        for &operation in RegistryOperation::ALL {
            assert_eq!(
                operation.actions().is_empty(),
                operation == RegistryOperation::VersionCheck,
                "{operation:?}"
            );
        }
    }
}
