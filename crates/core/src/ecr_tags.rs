//! ECR resource tags: TagResource, UntagResource, ListTagsForResource, and the tags of
//! CreateRepository. The only taggable resource is a repository, named by its ARN.

use crate::Caller;
use crate::Ecr;
use crate::actions::{ECR_LIST_TAGS_FOR_RESOURCE, ECR_TAG_RESOURCE, ECR_UNTAG_RESOURCE};
use crate::authorizer::RequestFacts;
use crate::error::EcrError;
use berth_store::{Conflict, StoreError};

/// ECR's limit of tags per resource.
pub const MAX_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Checks keys and values against ECR's length rules.
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), EcrError> {
    for (key, value) in tags {
        validate_key(key)?;
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(EcrError::InvalidTagParameter(format!(
                "Tag value for key '{key}' is longer than {MAX_VALUE_CHARS} characters"
            )));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(EcrError::TooManyTags(format!(
            "A resource can have at most {MAX_TAGS} tags"
        )));
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<(), EcrError> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_KEY_CHARS {
        return Err(EcrError::InvalidTagParameter(format!(
            "Tag keys must be 1 to {MAX_KEY_CHARS} characters long"
        )));
    }
    if key.starts_with("aws:") {
        return Err(EcrError::InvalidTagParameter(
            "Tag keys starting with 'aws:' are reserved".into(),
        ));
    }
    Ok(())
}

impl Ecr<'_> {
    /// The repository name in `arn` when it is a repository of this registry.
    fn tagged_repository_name<'a>(&self, arn: &'a str) -> Result<&'a str, EcrError> {
        let prefix = format!(
            "arn:aws:ecr:{}:{}:repository/",
            self.config.region, self.config.account_id
        );
        arn.strip_prefix(&prefix)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                EcrError::InvalidParameter(format!(
                    "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN': {arn} is not a repository of registry {} in {}",
                    self.config.account_id, self.config.region
                ))
            })
    }

    pub async fn tag_resource(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), EcrError> {
        let name = self.tagged_repository_name(arn)?;
        validate_tags(tags)?;
        let repo = self
            .ecr_repository(caller, facts, ECR_TAG_RESOURCE, name)
            .await?;
        self.store_tags(&repo.name, tags).await
    }

    /// Tags a repository just created by CreateRepository. AWS asks for
    /// `ecr:TagResource` as well when tags are given at creation.
    pub async fn tag_new_repository(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<(), EcrError> {
        if tags.is_empty() {
            return Ok(());
        }
        let repo = self
            .ecr_repository(caller, facts, ECR_TAG_RESOURCE, name)
            .await?;
        self.store_tags(&repo.name, tags).await
    }

    async fn store_tags(
        &self,
        name: &berth_types::RepositoryName,
        tags: &[(String, String)],
    ) -> Result<(), EcrError> {
        match self.metadata.tag_repository(name, tags, MAX_TAGS).await {
            Err(StoreError::NotFound) => Err(self.repository_not_found_error(name.as_str())),
            Err(StoreError::Conflict(Conflict::RepositoryTagLimit { max })) => Err(
                EcrError::TooManyTags(format!("A resource can have at most {max} tags")),
            ),
            other => Ok(other?),
        }
    }

    pub async fn untag_resource(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
        keys: &[String],
    ) -> Result<(), EcrError> {
        let name = self.tagged_repository_name(arn)?;
        for key in keys {
            validate_key(key)?;
        }
        let repo = self
            .ecr_repository(caller, facts, ECR_UNTAG_RESOURCE, name)
            .await?;
        match self.metadata.untag_repository(&repo.name, keys).await {
            Err(StoreError::NotFound) => Err(self.repository_not_found_error(name)),
            other => Ok(other?),
        }
    }

    pub async fn list_tags_for_resource(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        arn: &str,
    ) -> Result<Vec<(String, String)>, EcrError> {
        let name = self.tagged_repository_name(arn)?;
        let repo = self
            .ecr_repository(caller, facts, ECR_LIST_TAGS_FOR_RESOURCE, name)
            .await?;
        Ok(self.metadata.list_repository_tags(&repo.name).await?)
    }

    fn repository_not_found_error(&self, name: &str) -> EcrError {
        EcrError::RepositoryNotFound(format!(
            "The repository with name '{name}' does not exist in the registry with id '{}'",
            self.config.account_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules() {
        let t = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert!(validate_tags(&[t("team", ""), t(&"k".repeat(128), &"v".repeat(256))]).is_ok());
        for bad in [
            vec![t("", "x")],
            vec![t(&"k".repeat(129), "x")],
            vec![t("k", &"v".repeat(257))],
            vec![t("aws:owner", "x")],
        ] {
            assert!(
                matches!(validate_tags(&bad), Err(EcrError::InvalidTagParameter(_))),
                "{bad:?}"
            );
        }
        let many: Vec<_> = (0..51).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(matches!(
            validate_tags(&many),
            Err(EcrError::TooManyTags(_))
        ));
    }
}
