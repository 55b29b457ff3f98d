//! ECR's repository creation templates, and create-on-push: a push to a repository that
//! does not exist creates it from the template whose prefix matches its name best (the
//! longest; `ROOT` matches every name), with the template's tag mutability, repository
//! policy, lifecycle policy and resource tags, when the template applies to
//! `CREATE_ON_PUSH` and the pusher may `ecr:CreateRepository` (and `ecr:TagResource` for
//! the tags), as in ECR.

use berth_policy::{Policy, PolicyKind};
use berth_store::{PrefixDocument, PrefixDocumentKind, RepositoryRecord, StoreError};
use berth_types::RepositoryName;
use serde::{Deserialize, Serialize};

use super::{ExclusionFilter, check_tag_mutability};
use crate::Ecr;
use crate::actions::*;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::error::{EcrError, InternalError};

/// The prefix that matches every repository name.
pub const ROOT: &str = "ROOT";
/// Templates per registry.
const TEMPLATES_MAX: usize = 100;
const DESCRIPTION_MAX: usize = 256;
const REPOSITORY_POLICY_MAX: usize = 10_240;
const LIFECYCLE_POLICY_MAX: usize = 30_720;
const APPLIED_FOR: [&str; 3] = ["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"];
const CREATE_ON_PUSH: &str = "CREATE_ON_PUSH";
const PULL_THROUGH_CACHE: &str = "PULL_THROUGH_CACHE";

/// ECR's `Tag` shape (capitalised members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateTag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateEncryption {
    pub encryption_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// A template's settings: what is stored, and (with the prefix and dates) what ECR shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub encryption_configuration: TemplateEncryption,
    #[serde(default)]
    pub resource_tags: Vec<TemplateTag>,
    pub image_tag_mutability: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<String>,
    pub applied_for: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_arn: Option<String>,
}

/// Create/UpdateRepositoryCreationTemplate's members: what is given (an update keeps what
/// is not).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInput {
    pub prefix: String,
    pub description: Option<String>,
    pub encryption_configuration: Option<TemplateEncryption>,
    pub resource_tags: Option<Vec<TemplateTag>>,
    pub image_tag_mutability: Option<String>,
    pub image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
    pub repository_policy: Option<String>,
    pub lifecycle_policy: Option<String>,
    pub applied_for: Option<Vec<String>>,
    pub custom_role_arn: Option<String>,
}

/// A stored template, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationTemplate {
    pub prefix: String,
    pub settings: TemplateSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CreationTemplate {
    fn from_record(record: PrefixDocument) -> Result<Self, EcrError> {
        let settings = serde_json::from_str(&record.document)
            .map_err(|e| InternalError(format!("stored template `{}`: {e}", record.prefix)))?;
        Ok(Self {
            prefix: record.prefix,
            settings,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// Whether the template applies to a new repository `name`, and how specifically:
    /// the length of the matching prefix (`ROOT` is 0).
    fn matches(&self, name: &str) -> Option<usize> {
        if self.prefix == ROOT {
            return Some(0);
        }
        let prefix = self.prefix.trim_end_matches('/');
        name.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
            .then_some(prefix.len())
    }
}

fn invalid(message: impl Into<String>) -> EcrError {
    EcrError::InvalidParameter(format!("Invalid parameter: {}", message.into()))
}

/// A template prefix: a repository namespace (`prod`, `prod/team`, optionally ending with
/// `/`) or `ROOT`.
fn check_prefix(prefix: &str) -> Result<(), EcrError> {
    let namespace = prefix.strip_suffix('/').unwrap_or(prefix);
    // A one-character namespace is too short for a repository name, not for a prefix.
    let single = namespace.len() == 1
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if prefix == ROOT
        || (prefix.len() <= 256 && (single || RepositoryName::parse(namespace).is_ok()))
    {
        Ok(())
    } else {
        Err(EcrError::Validation(format!(
            "1 validation error detected: Value '{}' at 'prefix' failed to satisfy constraint: Member must be a repository namespace or ROOT",
            prefix.chars().take(300).collect::<String>()
        )))
    }
}

impl Default for TemplateSettings {
    /// A new template's settings before its members are applied: ECR's defaults.
    fn default() -> Self {
        Self {
            description: None,
            encryption_configuration: TemplateEncryption {
                encryption_type: "AES256".into(),
                kms_key: None,
            },
            resource_tags: Vec::new(),
            image_tag_mutability: "MUTABLE".into(),
            image_tag_mutability_exclusion_filters: Vec::new(),
            repository_policy: None,
            lifecycle_policy: None,
            applied_for: Vec::new(),
            custom_role_arn: None,
        }
    }
}

impl TemplateSettings {
    /// The settings with `input`'s members applied over them (all of them on create).
    fn apply(mut self, input: TemplateInput) -> Self {
        if let Some(d) = input.description {
            self.description = Some(d);
        }
        if let Some(e) = input.encryption_configuration {
            self.encryption_configuration = e;
        }
        if let Some(t) = input.resource_tags {
            self.resource_tags = t;
        }
        if let Some(m) = input.image_tag_mutability {
            self.image_tag_mutability = m;
            // A new mode comes with its own filters (or none).
            self.image_tag_mutability_exclusion_filters = Vec::new();
        }
        if let Some(f) = input.image_tag_mutability_exclusion_filters {
            self.image_tag_mutability_exclusion_filters = f;
        }
        if let Some(p) = input.repository_policy {
            self.repository_policy = Some(p).filter(|p| !p.is_empty());
        }
        if let Some(p) = input.lifecycle_policy {
            self.lifecycle_policy = Some(p).filter(|p| !p.is_empty());
        }
        if let Some(a) = input.applied_for {
            self.applied_for = a;
        }
        if let Some(r) = input.custom_role_arn {
            self.custom_role_arn = Some(r).filter(|r| !r.is_empty());
        }
        self
    }

    /// ECR's checks, and Berth's one refusal: KMS, which it does not have.
    fn validate(&mut self) -> Result<(), EcrError> {
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX)
        {
            return Err(invalid(format!(
                "description is longer than {DESCRIPTION_MAX} characters"
            )));
        }
        match self.encryption_configuration.encryption_type.as_str() {
            "AES256" if self.encryption_configuration.kms_key.is_none() => {}
            "AES256" => {
                return Err(invalid(
                    "a kmsKey can only be given with the KMS or KMS_DSSE encryption type",
                ));
            }
            "KMS" | "KMS_DSSE" => {
                return Err(EcrError::Kms(
                    "Berth has no KMS: repositories are encrypted with AES256 only.".into(),
                ));
            }
            other => {
                return Err(invalid(format!(
                    "encryptionType '{other}' is not one of AES256, KMS, KMS_DSSE"
                )));
            }
        }
        let tags: Vec<(String, String)> = self
            .resource_tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        crate::ecr_tags::validate_tags(&tags)?;
        check_tag_mutability(
            Some(&self.image_tag_mutability),
            &self.image_tag_mutability_exclusion_filters,
        )?;
        if let Some(text) = &self.repository_policy {
            if text.chars().count() > REPOSITORY_POLICY_MAX {
                return Err(invalid(format!(
                    "repositoryPolicy is longer than {REPOSITORY_POLICY_MAX} characters"
                )));
            }
            Policy::parse(text, PolicyKind::Resource)
                .map_err(|e| invalid(format!("repositoryPolicy is not a valid policy: {e}")))?;
        }
        if let Some(text) = &self.lifecycle_policy {
            if text.chars().count() > LIFECYCLE_POLICY_MAX {
                return Err(invalid(format!(
                    "lifecyclePolicy is longer than {LIFECYCLE_POLICY_MAX} characters"
                )));
            }
            super::lifecycle_policy::validate(text)?;
        }
        if self.applied_for.is_empty() {
            return Err(invalid(
                "appliedFor must name at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH",
            ));
        }
        if let Some(other) = self
            .applied_for
            .iter()
            .find(|a| !APPLIED_FOR.contains(&a.as_str()))
        {
            return Err(invalid(format!(
                "appliedFor '{other}' is not one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH"
            )));
        }
        self.applied_for.sort();
        self.applied_for.dedup();
        if let Some(arn) = &self.custom_role_arn
            && (arn.len() > 2048
                || !berth_types::Arn::parse(arn)
                    .is_ok_and(|a| a.service() == "iam" && a.resource().starts_with("role/")))
        {
            return Err(invalid(format!(
                "customRoleArn '{arn}' is not an IAM role ARN"
            )));
        }
        Ok(())
    }
}

impl Ecr<'_> {
    fn template_not_found(&self, prefix: &str) -> EcrError {
        EcrError::TemplateNotFound(format!(
            "The repository creation template with prefix '{prefix}' does not exist in the registry with id '{}'",
            self.config.account_id
        ))
    }

    /// What a template's settings will do to the repositories it creates, the caller must
    /// be allowed to do itself, as AWS requires of a template's author: create them (on the
    /// repositories under its prefix), set their repository and lifecycle policies, tag
    /// them, and pass the custom role (`iam:PassRole`). A repository policy must name only
    /// principals that exist, as SetRepositoryPolicy requires. Otherwise a template would
    /// let its author grant access it could not grant directly.
    async fn authorize_template_settings(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        prefix: &str,
        settings: &TemplateSettings,
    ) -> Result<(), EcrError> {
        let repositories = if prefix == ROOT {
            self.config.repository_arn("*")
        } else {
            self.config
                .repository_arn(&format!("{}/*", prefix.trim_end_matches('/')))
        };
        let mut actions = vec![ECR_CREATE_REPOSITORY];
        if settings.repository_policy.is_some() {
            actions.push(ECR_SET_REPOSITORY_POLICY);
        }
        if settings.lifecycle_policy.is_some() {
            actions.push(super::lifecycle_policy::ECR_PUT_LIFECYCLE_POLICY);
        }
        if !settings.resource_tags.is_empty() {
            actions.push(ECR_TAG_RESOURCE);
        }
        self.authorizer
            .authorize_all(caller, &actions, &repositories, None, facts)
            .await?;
        if let Some(role) = &settings.custom_role_arn {
            self.authorizer
                .authorize(caller, "iam:PassRole", role, None, facts)
                .await?;
        }
        if let Some(text) = &settings.repository_policy {
            let policy = Policy::parse(text, PolicyKind::Resource)
                .map_err(|e| invalid(format!("repositoryPolicy is not a valid policy: {e}")))?;
            if let Some(arn) = self.iam().missing_role_principal(&policy).await? {
                return Err(invalid(format!(
                    "repositoryPolicy names {arn}, which does not exist"
                )));
            }
        }
        Ok(())
    }

    pub async fn create_repository_creation_template(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: TemplateInput,
    ) -> Result<CreationTemplate, EcrError> {
        check_prefix(&input.prefix)?;
        let prefix = input.prefix.clone();
        let mut settings = TemplateSettings::default().apply(input);
        settings.validate()?;
        self.authorize_registry(caller, facts, ECR_CREATE_REPOSITORY_CREATION_TEMPLATE)
            .await?;
        self.authorize_template_settings(caller, facts, &prefix, &settings)
            .await?;
        if self
            .metadata
            .list_prefix_documents(PrefixDocumentKind::CreationTemplate)
            .await?
            .len()
            >= TEMPLATES_MAX
        {
            return Err(EcrError::LimitExceeded(format!(
                "A registry can have at most {TEMPLATES_MAX} repository creation templates"
            )));
        }
        let now = crate::now_unix();
        let record = PrefixDocument {
            prefix: prefix.clone(),
            document: to_document(&settings)?,
            created_at: now,
            updated_at: now,
        };
        match self
            .metadata
            .create_prefix_document(PrefixDocumentKind::CreationTemplate, &record)
            .await
        {
            Err(StoreError::AlreadyExists) => Err(EcrError::TemplateAlreadyExists(format!(
                "The repository creation template with prefix '{prefix}' already exists in the registry with id '{}'",
                self.config.account_id
            ))),
            other => {
                other?;
                Ok(CreationTemplate {
                    prefix,
                    settings,
                    created_at: now,
                    updated_at: now,
                })
            }
        }
    }

    pub async fn update_repository_creation_template(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: TemplateInput,
    ) -> Result<CreationTemplate, EcrError> {
        check_prefix(&input.prefix)?;
        self.authorize_registry(caller, facts, ECR_UPDATE_REPOSITORY_CREATION_TEMPLATE)
            .await?;
        let prefix = input.prefix.clone();
        let current = self
            .metadata
            .get_prefix_document(PrefixDocumentKind::CreationTemplate, &prefix)
            .await?
            .ok_or_else(|| self.template_not_found(&prefix))?;
        let current = CreationTemplate::from_record(current)?;
        let mut settings = current.settings.apply(input);
        settings.validate()?;
        self.authorize_template_settings(caller, facts, &prefix, &settings)
            .await?;
        let now = crate::now_unix();
        match self
            .metadata
            .update_prefix_document(
                PrefixDocumentKind::CreationTemplate,
                &prefix,
                &to_document(&settings)?,
                now,
            )
            .await
        {
            Err(StoreError::NotFound) => Err(self.template_not_found(&prefix)),
            other => {
                other?;
                Ok(CreationTemplate {
                    prefix,
                    settings,
                    created_at: current.created_at,
                    updated_at: now,
                })
            }
        }
    }

    /// DeleteRepositoryCreationTemplate: returns the template it removed.
    pub async fn delete_repository_creation_template(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        prefix: &str,
    ) -> Result<CreationTemplate, EcrError> {
        check_prefix(prefix)?;
        self.authorize_registry(caller, facts, ECR_DELETE_REPOSITORY_CREATION_TEMPLATE)
            .await?;
        let current = self
            .metadata
            .get_prefix_document(PrefixDocumentKind::CreationTemplate, prefix)
            .await?
            .ok_or_else(|| self.template_not_found(prefix))?;
        match self
            .metadata
            .delete_prefix_document(PrefixDocumentKind::CreationTemplate, prefix)
            .await
        {
            Err(StoreError::NotFound) => Err(self.template_not_found(prefix)),
            other => {
                other?;
                CreationTemplate::from_record(current)
            }
        }
    }

    /// DescribeRepositoryCreationTemplates: the named templates (those that exist), or all.
    pub async fn describe_repository_creation_templates(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        prefixes: &[String],
    ) -> Result<Vec<CreationTemplate>, EcrError> {
        for prefix in prefixes {
            check_prefix(prefix)?;
        }
        self.authorize_registry(caller, facts, ECR_DESCRIBE_REPOSITORY_CREATION_TEMPLATES)
            .await?;
        self.metadata
            .list_prefix_documents(PrefixDocumentKind::CreationTemplate)
            .await?
            .into_iter()
            .filter(|t| prefixes.is_empty() || prefixes.contains(&t.prefix))
            .map(CreationTemplate::from_record)
            .collect()
    }

    /// Create-on-push: creates repository `name` from the best matching `CREATE_ON_PUSH`
    /// template, once the caller may create it. `false` when no template applies (the
    /// push then fails as it would have). A repository created meanwhile by another push
    /// counts as created.
    pub(crate) async fn create_on_push(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &RepositoryName,
    ) -> Result<bool, EcrError> {
        self.create_from_template(caller, facts, name, CREATE_ON_PUSH, &[], false)
            .await
    }

    /// A pull-through cache repository's creation on its first pull: from the best
    /// matching `PULL_THROUGH_CACHE` template, or with ECR's defaults when none matches,
    /// once the caller may `ecr:CreateRepository` and `ecr:BatchImportUpstreamImage`.
    pub(crate) async fn create_for_pull_through(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &RepositoryName,
    ) -> Result<bool, EcrError> {
        self.create_from_template(
            caller,
            facts,
            name,
            PULL_THROUGH_CACHE,
            &[ECR_BATCH_IMPORT_UPSTREAM_IMAGE],
            true,
        )
        .await
    }

    /// Creates repository `name` from the best template applied for `applied_for`, once
    /// the caller may create it (and perform `extra_actions`). Without a template: with
    /// the defaults when `or_defaults`, else not at all (`false`).
    async fn create_from_template(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &RepositoryName,
        applied_for: &str,
        extra_actions: &[&'static str],
        or_defaults: bool,
    ) -> Result<bool, EcrError> {
        let mut best: Option<(usize, CreationTemplate)> = None;
        for record in self
            .metadata
            .list_prefix_documents(PrefixDocumentKind::CreationTemplate)
            .await?
        {
            let template = CreationTemplate::from_record(record)?;
            if !template
                .settings
                .applied_for
                .iter()
                .any(|a| a == applied_for)
            {
                continue;
            }
            if let Some(specificity) = template.matches(name.as_str())
                && best.as_ref().is_none_or(|(b, _)| specificity > *b)
            {
                best = Some((specificity, template));
            }
        }
        let (template_prefix, settings) = match best {
            Some((_, template)) => (Some(template.prefix), template.settings),
            None if or_defaults => (None, TemplateSettings::default()),
            None => return Ok(false),
        };
        let arn = self.config.repository_arn(name.as_str());
        let mut actions = vec![ECR_CREATE_REPOSITORY];
        actions.extend_from_slice(extra_actions);
        if !settings.resource_tags.is_empty() {
            actions.push(ECR_TAG_RESOURCE);
        }
        self.authorizer
            .authorize_all(caller, &actions, &arn, None, facts)
            .await?;
        let (mutability, exclusions) = check_tag_mutability(
            Some(&settings.image_tag_mutability),
            &settings.image_tag_mutability_exclusion_filters,
        )?;
        let record = RepositoryRecord {
            name: name.clone(),
            created_at: crate::now_unix(),
            image_tag_mutability: mutability,
            tag_mutability_exclusions: exclusions,
            scan_on_push: false,
            encryption_type: settings.encryption_configuration.encryption_type.clone(),
            policy: settings.repository_policy.clone(),
        };
        match self.metadata.create_repository(&record).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(repository = %name, template = ?template_prefix, applied_for, caller = %caller.arn(), "repository created from a creation template");
        if let Some(text) = &settings.lifecycle_policy {
            self.metadata.put_lifecycle_policy(name, text).await?;
        }
        if !settings.resource_tags.is_empty() {
            let tags: Vec<(String, String)> = settings
                .resource_tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            self.metadata
                .tag_repository(name, &tags, crate::ecr_tags::MAX_TAGS)
                .await?;
        }
        Ok(true)
    }
}

impl crate::Services {
    /// Rewrites the repository policy of every creation template that names the principal
    /// `from` to name `to` (see `Iam::rewrite_principal`), so a template never grants a
    /// deleted or renamed principal's successor by name.
    pub(crate) async fn rewrite_template_principals(
        &self,
        from: &str,
        to: &str,
    ) -> Result<(), berth_store::StoreError> {
        for record in self
            .metadata
            .list_prefix_documents(PrefixDocumentKind::CreationTemplate)
            .await?
        {
            let Ok(mut template) = CreationTemplate::from_record(record) else {
                continue;
            };
            let Some(rewritten) = template
                .settings
                .repository_policy
                .as_deref()
                .and_then(|text| berth_policy::replace_aws_principal(text, from, to))
            else {
                continue;
            };
            template.settings.repository_policy = Some(rewritten);
            let Ok(document) = to_document(&template.settings) else {
                continue;
            };
            match self
                .metadata
                .update_prefix_document(
                    PrefixDocumentKind::CreationTemplate,
                    &template.prefix,
                    &document,
                    template.updated_at,
                )
                .await
            {
                Err(berth_store::StoreError::NotFound) => {}
                other => other?,
            }
        }
        Ok(())
    }
}

fn to_document(settings: &TemplateSettings) -> Result<String, EcrError> {
    serde_json::to_string(settings)
        .map_err(|e| InternalError(format!("encoding a creation template: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(prefix: &str) -> CreationTemplate {
        CreationTemplate {
            prefix: prefix.into(),
            settings: TemplateSettings {
                applied_for: vec![CREATE_ON_PUSH.into()],
                ..TemplateSettings::default()
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_prefix_matches_its_namespace_and_root_matches_all() {
        assert_eq!(template("prod").matches("prod/api"), Some(4));
        assert_eq!(template("prod/").matches("prod/api"), Some(4));
        assert_eq!(template("prod/team").matches("prod/team/api"), Some(9));
        assert_eq!(template("prod").matches("prod"), None);
        assert_eq!(template("prod").matches("production/api"), None);
        assert_eq!(template(ROOT).matches("anything"), Some(0));
    }

    #[test]
    fn prefixes_are_namespaces_or_root() {
        for good in ["prod", "prod/", "prod/team-a", "a", "root", ROOT] {
            assert!(check_prefix(good).is_ok(), "{good}");
        }
        for bad in ["", "/", "Prod", "A", "prod//x", "-x"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_refuses_kms_and_unknown_uses() {
        let mut kms = template("p").settings;
        kms.encryption_configuration.encryption_type = "KMS".into();
        assert!(matches!(kms.validate(), Err(EcrError::Kms(_))));
        let mut unknown = template("p").settings;
        unknown.applied_for = vec!["SOMETIMES".into()];
        assert!(matches!(
            unknown.validate(),
            Err(EcrError::InvalidParameter(_))
        ));
        let mut none = template("p").settings;
        none.applied_for.clear();
        assert!(none.validate().is_err());
        let mut fine = template("p").settings;
        fine.applied_for = vec![
            CREATE_ON_PUSH.into(),
            "REPLICATION".into(),
            CREATE_ON_PUSH.into(),
        ];
        fine.validate().unwrap();
        assert_eq!(fine.applied_for, [CREATE_ON_PUSH, "REPLICATION"]);
    }
}
