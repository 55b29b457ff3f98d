//! ECR lifecycle policy operations (Put/Get/DeleteLifecyclePolicy, Start/
//! GetLifecyclePolicyPreview) and applying every stored policy, which `berth serve` does
//! on a schedule. Which images a policy expires is decided in [`crate::lifecycle`].

use std::collections::HashMap;

use berth_store::{LifecyclePolicyRecord, RepositoryRecord, StoreError};
use berth_types::RepositoryName;

use crate::Ecr;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::error::EcrError;
use crate::lifecycle::{self, Image};

pub const ECR_PUT_LIFECYCLE_POLICY: &str = "ecr:PutLifecyclePolicy";
pub const ECR_GET_LIFECYCLE_POLICY: &str = "ecr:GetLifecyclePolicy";
pub const ECR_DELETE_LIFECYCLE_POLICY: &str = "ecr:DeleteLifecyclePolicy";
pub const ECR_START_LIFECYCLE_POLICY_PREVIEW: &str = "ecr:StartLifecyclePolicyPreview";
pub const ECR_GET_LIFECYCLE_POLICY_PREVIEW: &str = "ecr:GetLifecyclePolicyPreview";

/// One image a preview would expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewResult {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: i64,
    pub rule_priority: u32,
}

/// What applying the stored policies did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleRun {
    pub repositories: usize,
    pub expired_images: usize,
}

pub(crate) fn validate(text: &str) -> Result<lifecycle::LifecyclePolicy, EcrError> {
    lifecycle::parse(text).map_err(|m| {
        EcrError::InvalidParameter(format!(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '{m}'"
        ))
    })
}

impl Ecr<'_> {
    fn lifecycle_policy_not_found(&self, name: &str) -> EcrError {
        EcrError::LifecyclePolicyNotFound(format!(
            "Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{}'",
            self.config.account_id
        ))
    }

    pub async fn put_lifecycle_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        text: &str,
    ) -> Result<RepositoryRecord, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_PUT_LIFECYCLE_POLICY, name)
            .await?;
        validate(text)?;
        match self.metadata.put_lifecycle_policy(&repo.name, text).await {
            Err(StoreError::NotFound) => Err(self.repo_not_found(name)),
            other => Ok(other.map(|()| repo.into_inner())?),
        }
    }

    pub async fn get_lifecycle_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<LifecyclePolicyRecord, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_GET_LIFECYCLE_POLICY, name)
            .await?;
        self.metadata
            .get_lifecycle_policy(&repo.name)
            .await?
            .ok_or_else(|| self.lifecycle_policy_not_found(name))
    }

    /// Removes the policy; returns what it was.
    pub async fn delete_lifecycle_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<LifecyclePolicyRecord, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_DELETE_LIFECYCLE_POLICY, name)
            .await?;
        let record = self
            .metadata
            .get_lifecycle_policy(&repo.name)
            .await?
            .ok_or_else(|| self.lifecycle_policy_not_found(name))?;
        match self.metadata.delete_lifecycle_policy(&repo.name).await {
            Err(StoreError::NotFound) => Err(self.lifecycle_policy_not_found(name)),
            other => Ok(other.map(|()| record)?),
        }
    }

    /// Starts a preview of `text` (or of the stored policy). Previews are computed when
    /// read, so one is complete as soon as it starts. Returns the repository and the text.
    pub async fn start_lifecycle_policy_preview(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        text: Option<&str>,
    ) -> Result<(RepositoryRecord, String), EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_START_LIFECYCLE_POLICY_PREVIEW, name)
            .await?;
        let text = match text {
            Some(t) => t.to_owned(),
            None => {
                self.metadata
                    .get_lifecycle_policy(&repo.name)
                    .await?
                    .ok_or_else(|| self.lifecycle_policy_not_found(name))?
                    .text
            }
        };
        validate(&text)?;
        match self
            .metadata
            .put_lifecycle_policy_preview(&repo.name, &text)
            .await
        {
            Err(StoreError::NotFound) => Err(self.repo_not_found(name)),
            other => Ok(other.map(|()| (repo.into_inner(), text))?),
        }
    }

    /// The latest preview's text and the images it expires now, oldest first.
    pub async fn get_lifecycle_policy_preview(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<(RepositoryRecord, String, Vec<PreviewResult>), EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_GET_LIFECYCLE_POLICY_PREVIEW, name)
            .await?;
        let text = self
            .metadata
            .get_lifecycle_policy_preview(&repo.name)
            .await?
            .ok_or_else(|| {
                EcrError::LifecyclePolicyPreviewNotFound(format!(
                    "There is no dry run for the repository with name '{name}' in the registry with id '{}'",
                    self.config.account_id
                ))
            })?;
        let policy = validate(&text)?;
        let results = self.lifecycle_expiries(&repo.name, &policy).await?;
        Ok((repo.into_inner(), text, results))
    }

    /// The images of `repository` that `policy` expires now.
    async fn lifecycle_expiries(
        &self,
        repository: &RepositoryName,
        policy: &lifecycle::LifecyclePolicy,
    ) -> Result<Vec<PreviewResult>, EcrError> {
        // Images an index references are not expired while the index exists (ECR): the
        // store leaves them out of the candidates.
        let images: Vec<Image> = self
            .metadata
            .lifecycle_candidates(repository)
            .await?
            .into_iter()
            .map(|c| Image {
                digest: c.digest.to_string(),
                tags: c.tags,
                pushed_at: c.pushed_at,
                last_pulled_at: c.last_pulled_at,
            })
            .collect();
        // By digest: looking each expiry up in the list would make a repository of many
        // expired images quadratic.
        let by_digest: HashMap<&str, &Image> =
            images.iter().map(|i| (i.digest.as_str(), i)).collect();
        Ok(lifecycle::evaluate(policy, &images, crate::now_unix())
            .into_iter()
            .filter_map(|e| {
                let image = by_digest.get(e.digest.as_str())?;
                Some(PreviewResult {
                    digest: e.digest,
                    tags: image.tags.clone(),
                    pushed_at: image.pushed_at,
                    rule_priority: e.rule_priority,
                })
            })
            .collect())
    }

    /// Applies every stored lifecycle policy: deletes the images each expires (their tags
    /// with them; blobs are left to garbage collection) and records the evaluation time.
    /// A policy that no longer validates is skipped and logged, never half-applied.
    pub async fn apply_lifecycle_policies(&self) -> Result<LifecycleRun, EcrError> {
        let mut run = LifecycleRun::default();
        for record in self.metadata.list_lifecycle_policies().await? {
            let policy = match lifecycle::parse(&record.text) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(repository = %record.repository, error = %e, "stored lifecycle policy skipped");
                    continue;
                }
            };
            for expiry in self.lifecycle_expiries(&record.repository, &policy).await? {
                let Ok(digest) = berth_types::Digest::parse(&expiry.digest) else {
                    continue;
                };
                match self
                    .metadata
                    .delete_manifest(&record.repository, &digest)
                    .await
                {
                    // Deleted concurrently: gone either way.
                    Ok(()) | Err(StoreError::NotFound) => {
                        run.expired_images += 1;
                        tracing::info!(
                            repository = %record.repository,
                            digest = %expiry.digest,
                            rule = expiry.rule_priority,
                            "image expired by lifecycle policy"
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            match self
                .metadata
                .set_lifecycle_policy_evaluated(&record.repository, crate::now_unix())
                .await
            {
                // The policy was deleted meanwhile.
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            run.repositories += 1;
        }
        Ok(run)
    }
}
