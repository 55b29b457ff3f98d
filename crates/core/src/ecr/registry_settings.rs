//! ECR's registry-wide settings and scanning configuration: the registry policy, the
//! registry scanning configuration, account settings, DescribeRegistry, and the
//! repository-level scan-on-push flag. Berth has no vulnerability database: the
//! configuration is stored and returned, and a scan is never started or invented.

use berth_policy::{Policy, PolicyKind};
use berth_store::{RepositoryRecord, StoreError};
use serde::{Deserialize, Serialize};

use crate::Ecr;
use crate::actions::*;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::ecr::ImageId;
use crate::error::{EcrError, InternalError};

/// The registry_settings rows this module keeps.
const REGISTRY_POLICY: &str = "ecr.registry-policy";
const SCANNING_CONFIGURATION: &str = "ecr.registry-scanning-configuration";
const ACCOUNT_SETTING_PREFIX: &str = "ecr.account-setting.";

/// ECR's cap on a registry policy's text.
const REGISTRY_POLICY_MAX: usize = 10_240;
/// BatchGetRepositoryScanningConfiguration takes 1 to 25 names.
const SCANNING_BATCH_MAX: usize = 25;
/// Repository filters per scanning rule.
const FILTERS_PER_RULE_MAX: usize = 100;

/// What Berth answers to a scan: there is no scanner behind it.
const NO_SCANNER: &str = "Berth has no vulnerability database, so it does not scan images";

/// The account settings ECR knows, each with the values it takes and its default.
/// `BLOB_MOUNTING` is the one Berth acts on: cross-repository mounts happen unless it is
/// `DISABLED`. Its default is `ENABLED`, what Berth has always done (ECR's is `DISABLED`).
type AccountSetting = (&'static str, &'static [&'static str], &'static str);
const ACCOUNT_SETTINGS: &[AccountSetting] = &[
    (
        "BASIC_SCAN_TYPE_VERSION",
        &["AWS_NATIVE", "CLAIR"],
        "AWS_NATIVE",
    ),
    ("REGISTRY_POLICY_SCOPE", &["V1", "V2"], "V2"),
    (BLOB_MOUNTING, &["ENABLED", "DISABLED"], "ENABLED"),
];
const BLOB_MOUNTING: &str = "BLOB_MOUNTING";

impl crate::Services {
    /// Whether the `BLOB_MOUNTING` account setting lets a push mount a blob from another
    /// repository instead of uploading it.
    pub(crate) async fn blob_mounting_enabled(&self) -> Result<bool, StoreError> {
        Ok(self
            .metadata
            .get_registry_setting(&format!("{ACCOUNT_SETTING_PREFIX}{BLOB_MOUNTING}"))
            .await?
            .is_none_or(|value| value != "DISABLED"))
    }
}

/// The registry's scanning configuration, as ECR's API spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryScanningConfiguration {
    pub scan_type: String,
    #[serde(default)]
    pub rules: Vec<RegistryScanningRule>,
}

impl Default for RegistryScanningConfiguration {
    fn default() -> Self {
        Self {
            scan_type: "BASIC".into(),
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryScanningRule {
    pub scan_frequency: String,
    pub repository_filters: Vec<ScanningRepositoryFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanningRepositoryFilter {
    pub filter: String,
    pub filter_type: String,
}

/// One repository's effective scanning configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryScanning {
    pub repository: RepositoryRecord,
    /// `SCAN_ON_PUSH`, `CONTINUOUS_SCAN` or `MANUAL`.
    pub scan_frequency: String,
    /// The registry rule's filters that matched the repository, if one did.
    pub applied_filters: Vec<ScanningRepositoryFilter>,
}

fn validation(member: &str, constraint: &str) -> EcrError {
    EcrError::Validation(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

/// ECR's `ScanningRepositoryFilterValue` pattern: `^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$`,
/// 1 to 255 characters.
fn valid_filter(filter: &str) -> bool {
    let bytes = filter.as_bytes();
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'*';
    let separator = |b: u8| matches!(b, b'.' | b'_' | b'-' | b'/');
    (1..=255).contains(&bytes.len())
        && word(bytes[0])
        && word(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| word(b) || separator(b))
        && !bytes
            .windows(2)
            .any(|pair| separator(pair[0]) && separator(pair[1]))
}

impl RegistryScanningConfiguration {
    fn validate(&self) -> Result<(), EcrError> {
        if !matches!(self.scan_type.as_str(), "BASIC" | "ENHANCED") {
            return Err(validation(
                "scanType",
                "Member must satisfy enum value set: [BASIC, ENHANCED]",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !matches!(
                rule.scan_frequency.as_str(),
                "SCAN_ON_PUSH" | "CONTINUOUS_SCAN" | "MANUAL"
            ) {
                return Err(validation(
                    &format!("rules.{}.member.scanFrequency", i + 1),
                    "Member must satisfy enum value set: [SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL]",
                ));
            }
            if self.scan_type == "BASIC" && rule.scan_frequency == "CONTINUOUS_SCAN" {
                return Err(EcrError::InvalidParameter(
                    "Invalid parameter: CONTINUOUS_SCAN is only available with the ENHANCED scan type".into(),
                ));
            }
            if rule.repository_filters.is_empty()
                || rule.repository_filters.len() > FILTERS_PER_RULE_MAX
            {
                return Err(validation(
                    &format!("rules.{}.member.repositoryFilters", i + 1),
                    "Member must have length between 1 and 100",
                ));
            }
            for filter in &rule.repository_filters {
                if filter.filter_type != "WILDCARD" {
                    return Err(validation(
                        "filterType",
                        "Member must satisfy enum value set: [WILDCARD]",
                    ));
                }
                if !valid_filter(&filter.filter) {
                    return Err(validation(
                        "filter",
                        "Member must satisfy regular expression pattern: ^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$",
                    ));
                }
            }
        }
        if self.rules.len() > 2 {
            return Err(validation(
                "rules",
                "Member must have length less than or equal to 2",
            ));
        }
        Ok(())
    }

    /// The rule that applies to `repository`, and the filters of it that matched.
    fn rule_for(&self, repository: &str) -> Option<(&str, Vec<ScanningRepositoryFilter>)> {
        self.rules.iter().find_map(|rule| {
            let matched: Vec<_> = rule
                .repository_filters
                .iter()
                .filter(|f| berth_types::wildcard_matches(&f.filter, repository))
                .cloned()
                .collect();
            (!matched.is_empty()).then_some((rule.scan_frequency.as_str(), matched))
        })
    }
}

impl Ecr<'_> {
    pub(crate) async fn authorize_registry(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
    ) -> Result<(), EcrError> {
        // Registry-wide actions (settings, templates) have no resource of their own in
        // ECR's authorization reference: they are decided on `*`.
        Ok(self
            .authorizer
            .authorize(caller, action, "*", None, facts)
            .await?)
    }

    // --- Scanning configuration ---------------------------------------------------

    /// PutImageScanningConfiguration: the repository's scan-on-push flag.
    pub async fn put_image_scanning_configuration(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        scan_on_push: bool,
    ) -> Result<RepositoryRecord, EcrError> {
        let repo = self
            .ecr_repository(caller, facts, ECR_PUT_IMAGE_SCANNING_CONFIGURATION, name)
            .await?;
        match self
            .metadata
            .set_scan_on_push(&repo.name, scan_on_push)
            .await
        {
            Err(StoreError::NotFound) => return Err(self.repo_not_found(name)),
            other => other?,
        }
        Ok(RepositoryRecord {
            scan_on_push,
            ..repo.into_inner()
        })
    }

    /// BatchGetRepositoryScanningConfiguration: each named repository's configuration,
    /// and the names that are not repositories (ECR lists those as failures).
    pub async fn batch_get_repository_scanning_configuration(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        names: &[String],
    ) -> Result<(Vec<RepositoryScanning>, Vec<String>), EcrError> {
        if names.is_empty() || names.len() > SCANNING_BATCH_MAX {
            return Err(validation(
                "repositoryNames",
                "Member must have length between 1 and 25",
            ));
        }
        let registry = self.registry_scanning().await?;
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for name in names {
            match self
                .ecr_repository(
                    caller,
                    facts,
                    ECR_BATCH_GET_REPOSITORY_SCANNING_CONFIGURATION,
                    name,
                )
                .await
            {
                Ok(repo) => {
                    let repo = repo.into_inner();
                    let (scan_frequency, applied_filters) =
                        match registry.rule_for(repo.name.as_str()) {
                            Some((frequency, filters)) => (frequency.to_owned(), filters),
                            None if repo.scan_on_push => ("SCAN_ON_PUSH".to_owned(), Vec::new()),
                            None => ("MANUAL".to_owned(), Vec::new()),
                        };
                    found.push(RepositoryScanning {
                        repository: repo,
                        scan_frequency,
                        applied_filters,
                    });
                }
                Err(EcrError::RepositoryNotFound(_)) => missing.push(name.clone()),
                Err(e) => return Err(e),
            }
        }
        Ok((found, missing))
    }

    async fn registry_scanning(&self) -> Result<RegistryScanningConfiguration, EcrError> {
        match self
            .metadata
            .get_registry_setting(SCANNING_CONFIGURATION)
            .await?
        {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                InternalError(format!("stored registry scanning configuration: {e}")).into()
            }),
            None => Ok(RegistryScanningConfiguration::default()),
        }
    }

    pub async fn put_registry_scanning_configuration(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        configuration: RegistryScanningConfiguration,
    ) -> Result<RegistryScanningConfiguration, EcrError> {
        configuration.validate()?;
        self.authorize_registry(caller, facts, ECR_PUT_REGISTRY_SCANNING_CONFIGURATION)
            .await?;
        let text = serde_json::to_string(&configuration)
            .map_err(|e| InternalError(format!("encoding a scanning configuration: {e}")))?;
        self.metadata
            .put_registry_setting(SCANNING_CONFIGURATION, &text)
            .await?;
        Ok(configuration)
    }

    pub async fn get_registry_scanning_configuration(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<RegistryScanningConfiguration, EcrError> {
        self.authorize_registry(caller, facts, ECR_GET_REGISTRY_SCANNING_CONFIGURATION)
            .await?;
        self.registry_scanning().await
    }

    /// The image an `imageId` names, once `action` on the repository is authorized.
    async fn scanned_image(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        name: &str,
        id: &ImageId,
    ) -> Result<(), EcrError> {
        let repo = self.ecr_repository(caller, facts, action, name).await?;
        let not_found = || {
            EcrError::ImageNotFound(format!(
                "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{name}' in the registry with id '{}'",
                id.digest.as_deref().unwrap_or("null"),
                id.tag.as_deref().unwrap_or("null"),
                self.config.account_id
            ))
        };
        let by_tag = match &id.tag {
            Some(tag) => {
                let tag = berth_types::Tag::parse(tag).map_err(|_| not_found())?;
                Some(
                    self.metadata
                        .resolve_tag(&repo.name, &tag)
                        .await?
                        .ok_or_else(not_found)?,
                )
            }
            None => None,
        };
        let digest = match (&id.digest, by_tag) {
            (Some(d), by_tag) => {
                let digest = berth_types::Digest::parse(d).map_err(|_| not_found())?;
                if by_tag.is_some_and(|t| t != digest) {
                    return Err(not_found());
                }
                digest
            }
            (None, Some(digest)) => digest,
            (None, None) => {
                return Err(EcrError::InvalidParameter(
                    "Invalid parameter: imageId must name an imageDigest or an imageTag".into(),
                ));
            }
        };
        match self.metadata.get_manifest(&repo.name, &digest).await? {
            Some(_) => Ok(()),
            None => Err(not_found()),
        }
    }

    /// StartImageScan: refused once the image is found, since nothing would scan it.
    pub async fn start_image_scan(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        id: &ImageId,
    ) -> Result<(), EcrError> {
        self.scanned_image(caller, facts, ECR_START_IMAGE_SCAN, name, id)
            .await?;
        Err(EcrError::Validation(format!(
            "Image scanning is not available: {NO_SCANNER}."
        )))
    }

    /// DescribeImageScanFindings: no findings exist, as for an image ECR never scanned.
    pub async fn describe_image_scan_findings(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        id: &ImageId,
    ) -> Result<(), EcrError> {
        self.scanned_image(caller, facts, ECR_DESCRIBE_IMAGE_SCAN_FINDINGS, name, id)
            .await?;
        Err(EcrError::ScanNotFound(format!(
            "Image scan does not exist for the image in the repository with name '{name}' in the registry with id '{}': {NO_SCANNER}",
            self.config.account_id
        )))
    }

    // --- Registry policy ----------------------------------------------------------

    /// PutRegistryPolicy. Stored and returned; it grants other accounts replication and
    /// pull-through caching in ECR, and Berth serves one account, so nothing reads it.
    pub async fn put_registry_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        text: &str,
    ) -> Result<(), EcrError> {
        if text.chars().count() > REGISTRY_POLICY_MAX {
            return Err(validation(
                "policyText",
                "Member must have length less than or equal to 10240",
            ));
        }
        self.authorize_registry(caller, facts, ECR_PUT_REGISTRY_POLICY)
            .await?;
        Policy::parse(text, PolicyKind::Resource).map_err(|e| {
            EcrError::InvalidParameter(format!(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided': {e}"
            ))
        })?;
        Ok(self
            .metadata
            .put_registry_setting(REGISTRY_POLICY, text)
            .await?)
    }

    fn registry_policy_not_found(&self) -> EcrError {
        EcrError::RegistryPolicyNotFound(format!(
            "Registry policy does not exist in the registry with id '{}'",
            self.config.account_id
        ))
    }

    pub async fn get_registry_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<String, EcrError> {
        self.authorize_registry(caller, facts, ECR_GET_REGISTRY_POLICY)
            .await?;
        self.metadata
            .get_registry_setting(REGISTRY_POLICY)
            .await?
            .ok_or_else(|| self.registry_policy_not_found())
    }

    /// DeleteRegistryPolicy: returns the policy it removed.
    pub async fn delete_registry_policy(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<String, EcrError> {
        self.authorize_registry(caller, facts, ECR_DELETE_REGISTRY_POLICY)
            .await?;
        let text = self
            .metadata
            .get_registry_setting(REGISTRY_POLICY)
            .await?
            .ok_or_else(|| self.registry_policy_not_found())?;
        match self.metadata.delete_registry_setting(REGISTRY_POLICY).await {
            Err(StoreError::NotFound) => Err(self.registry_policy_not_found()),
            other => {
                other?;
                Ok(text)
            }
        }
    }

    /// DescribeRegistry: Berth replicates nowhere, so the replication rules are empty.
    pub async fn describe_registry(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<(), EcrError> {
        self.authorize_registry(caller, facts, ECR_DESCRIBE_REGISTRY)
            .await
    }

    // --- Account settings ---------------------------------------------------------

    fn account_setting(name: &str) -> Result<&'static AccountSetting, EcrError> {
        ACCOUNT_SETTINGS
            .iter()
            .find(|(known, _, _)| *known == name)
            .ok_or_else(|| {
                EcrError::InvalidParameter(format!(
                    "Invalid parameter: the account setting name '{name}' is not one of: BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, BLOB_MOUNTING"
                ))
            })
    }

    /// GetAccountSetting: the setting's value, or its default.
    pub async fn get_account_setting(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
    ) -> Result<String, EcrError> {
        let (name, _, default) = Self::account_setting(name)?;
        self.authorize_registry(caller, facts, ECR_GET_ACCOUNT_SETTING)
            .await?;
        Ok(self
            .metadata
            .get_registry_setting(&format!("{ACCOUNT_SETTING_PREFIX}{name}"))
            .await?
            .unwrap_or_else(|| (*default).to_owned()))
    }

    pub async fn put_account_setting(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        name: &str,
        value: &str,
    ) -> Result<(), EcrError> {
        let (name, values, _) = Self::account_setting(name)?;
        if !values.contains(&value) {
            return Err(EcrError::InvalidParameter(format!(
                "Invalid parameter: the value '{value}' of account setting {name} is not one of: {}",
                values.join(", ")
            )));
        }
        self.authorize_registry(caller, facts, ECR_PUT_ACCOUNT_SETTING)
            .await?;
        Ok(self
            .metadata
            .put_registry_setting(&format!("{ACCOUNT_SETTING_PREFIX}{name}"), value)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_ecrs_pattern() {
        for good in ["prod", "prod*", "*", "team/app-*", "a.b_c"] {
            assert!(valid_filter(good), "{good}");
        }
        for bad in [
            "",
            "Prod",
            "-x",
            "x-",
            "a..b",
            "a/-b",
            "a b",
            &"a".repeat(256),
        ] {
            assert!(!valid_filter(bad), "{bad}");
        }
    }

    #[test]
    fn the_first_matching_rule_applies() {
        let filter = |f: &str| ScanningRepositoryFilter {
            filter: f.into(),
            filter_type: "WILDCARD".into(),
        };
        let config = RegistryScanningConfiguration {
            scan_type: "ENHANCED".into(),
            rules: vec![
                RegistryScanningRule {
                    scan_frequency: "CONTINUOUS_SCAN".into(),
                    repository_filters: vec![filter("prod/*"), filter("*-critical")],
                },
                RegistryScanningRule {
                    scan_frequency: "SCAN_ON_PUSH".into(),
                    repository_filters: vec![filter("*")],
                },
            ],
        };
        config.validate().unwrap();
        let (frequency, filters) = config.rule_for("prod/api").unwrap();
        assert_eq!(frequency, "CONTINUOUS_SCAN");
        assert_eq!(filters, vec![filter("prod/*")]);
        assert_eq!(config.rule_for("dev/api").unwrap().0, "SCAN_ON_PUSH");
        assert_eq!(RegistryScanningConfiguration::default().rule_for("x"), None);
    }

    #[test]
    fn continuous_scans_need_enhanced_scanning() {
        let config = RegistryScanningConfiguration {
            scan_type: "BASIC".into(),
            rules: vec![RegistryScanningRule {
                scan_frequency: "CONTINUOUS_SCAN".into(),
                repository_filters: vec![ScanningRepositoryFilter {
                    filter: "*".into(),
                    filter_type: "WILDCARD".into(),
                }],
            }],
        };
        assert!(matches!(
            config.validate(),
            Err(EcrError::InvalidParameter(_))
        ));
    }
}
