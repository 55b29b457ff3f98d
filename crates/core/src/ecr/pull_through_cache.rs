//! ECR's pull-through cache rules: repositories under a rule's prefix are filled from an
//! upstream registry on pull (`crate::pull_through` does the pulling).
//!
//! Upstreams are ECR's list of public registries, over HTTPS; with
//! `--allow-any-upstream`, any registry URL, plain HTTP included. Berth pulls anonymously:
//! it has no Secrets Manager, so a `credentialArn` is refused, and ECR-to-ECR rules
//! (which sign with an IAM role) are not supported.

use berth_store::{PrefixDocument, PrefixDocumentKind, StoreError};
use berth_types::RepositoryName;
use serde::{Deserialize, Serialize};

use crate::Ecr;
use crate::actions::*;
use crate::authorizer::RequestFacts;
use crate::caller::Caller;
use crate::error::{EcrError, InternalError};
use crate::upstream::UpstreamBase;

/// Rules per registry (ECR's quota).
const RULES_MAX: usize = 50;

/// ECR's upstream registries Berth can pull from anonymously: the `upstreamRegistry`
/// value and how its URL's host is recognised.
const KNOWN_UPSTREAMS: &[(&str, &str)] = &[
    ("ecr-public", "public.ecr.aws"),
    ("docker-hub", "registry-1.docker.io"),
    ("quay", "quay.io"),
    ("k8s", "registry.k8s.io"),
    ("github-container-registry", "ghcr.io"),
    ("gitlab-container-registry", "registry.gitlab.com"),
    ("azure-container-registry", ".azurecr.io"),
    ("chainguard", "cgr.dev"),
];

/// A rule as stored (the prefix and dates are the record's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSettings {
    pub upstream_registry_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_registry: Option<String>,
    /// The upstream namespace repositories map into; `ROOT` (none) by default.
    pub upstream_repository_prefix: String,
}

/// A rule, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullThroughRule {
    pub prefix: String,
    pub settings: RuleSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PullThroughRule {
    fn from_record(record: PrefixDocument) -> Result<Self, EcrError> {
        let settings = serde_json::from_str(&record.document)
            .map_err(|e| InternalError(format!("stored rule `{}`: {e}", record.prefix)))?;
        Ok(Self {
            prefix: record.prefix,
            settings,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// The upstream's base URL, checked again against what the server allows now: a
    /// rule made under `--allow-any-upstream` does nothing once the flag is off.
    pub fn upstream(&self, allow_any: bool) -> Result<UpstreamBase, EcrError> {
        parse_upstream_url(&self.settings.upstream_registry_url, allow_any).map(|(base, _)| base)
    }

    /// For a repository under the rule's prefix, the upstream repository it mirrors.
    pub fn upstream_repository(&self, name: &str) -> Option<String> {
        let rest = name
            .strip_prefix(self.prefix.trim_end_matches('/'))?
            .strip_prefix('/')?;
        Some(match self.settings.upstream_repository_prefix.as_str() {
            "ROOT" => rest.to_owned(),
            prefix => format!("{}/{rest}", prefix.trim_end_matches('/')),
        })
    }
}

/// CreatePullThroughCacheRule's members.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleInput {
    pub ecr_repository_prefix: String,
    #[serde(default)]
    pub upstream_registry_url: String,
    pub upstream_registry: Option<String>,
    pub credential_arn: Option<String>,
    pub custom_role_arn: Option<String>,
    pub upstream_role_arn: Option<String>,
    pub upstream_repository_prefix: Option<String>,
}

fn validation(member: &str, value: &str, constraint: &str) -> EcrError {
    EcrError::Validation(format!(
        "1 validation error detected: Value '{}' at '{member}' failed to satisfy constraint: {constraint}",
        value.chars().take(300).collect::<String>()
    ))
}

/// ECR's `PullThroughCacheRuleRepositoryPrefix`: a namespace of 2 to 30 characters
/// (optionally ending in `/`), or `ROOT`.
fn check_rule_prefix(member: &str, prefix: &str) -> Result<(), EcrError> {
    let namespace = prefix.strip_suffix('/').unwrap_or(prefix);
    if prefix == "ROOT"
        || ((2..=30).contains(&prefix.len()) && RepositoryName::parse(namespace).is_ok())
    {
        Ok(())
    } else {
        Err(validation(
            member,
            prefix,
            "Member must have length between 2 and 30 and be a repository namespace or ROOT",
        ))
    }
}

/// An upstream URL as a rule gives it: `host[:port]` or `https://host[:port]`, and with
/// `allow_any` also `http://`. Returns the base and, for one of ECR's registries, its
/// `upstreamRegistry` name.
fn parse_upstream_url(
    url: &str,
    allow_any: bool,
) -> Result<(UpstreamBase, Option<&'static str>), EcrError> {
    let unsupported = |why: &str| {
        EcrError::UnsupportedUpstreamRegistry(format!(
            "The upstream registry URL '{}' is not supported: {why}",
            url.chars().take(300).collect::<String>()
        ))
    };
    let (scheme, authority) = if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_any {
            return Err(unsupported(
                "plain HTTP upstreams need the server's --allow-any-upstream",
            ));
        }
        ("http", rest)
    } else {
        ("https", url)
    };
    let authority = authority.trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with(['.', '-']);
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(unsupported(
            "it must be a registry host, with a port at most",
        ));
    }
    let host_lower = host.to_ascii_lowercase();
    let known = KNOWN_UPSTREAMS
        .iter()
        .find(|(_, h)| {
            if let Some(suffix) = h.strip_prefix('.') {
                host_lower.ends_with(h) && host_lower.len() > suffix.len() + 1
            } else {
                host_lower == *h
            }
        })
        .map(|(name, _)| *name);
    if known.is_none() && !allow_any {
        return Err(unsupported(
            "Berth pulls through from ECR Public, Docker Hub, Quay, the Kubernetes registry, GitHub, GitLab, Azure and Chainguard registries; the server's --allow-any-upstream allows any other",
        ));
    }
    Ok((
        UpstreamBase {
            scheme,
            authority: authority.to_ascii_lowercase(),
        },
        known,
    ))
}

/// Credentials (a Secrets Manager secret) and roles (ECR-to-ECR), which Berth has not.
fn refuse_what_berth_lacks(input: &RuleInput) -> Result<(), EcrError> {
    if input.credential_arn.is_some() {
        return Err(EcrError::UnableToAccessSecret(
            "Berth has no Secrets Manager: pull-through cache rules pull anonymously; give no credentialArn".into(),
        ));
    }
    if input.custom_role_arn.is_some() || input.upstream_role_arn.is_some() {
        return Err(EcrError::InvalidParameter(
            "Invalid parameter: customRoleArn and upstreamRoleArn apply to ECR-to-ECR pull-through cache, which Berth does not support".into(),
        ));
    }
    Ok(())
}

impl Ecr<'_> {
    pub async fn create_pull_through_cache_rule(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: RuleInput,
    ) -> Result<PullThroughRule, EcrError> {
        check_rule_prefix("ecrRepositoryPrefix", &input.ecr_repository_prefix)?;
        if let Some(p) = &input.upstream_repository_prefix {
            check_rule_prefix("upstreamRepositoryPrefix", p)?;
        }
        self.authorize_registry(caller, facts, ECR_CREATE_PULL_THROUGH_CACHE_RULE)
            .await?;
        let prefix = input.ecr_repository_prefix.trim_end_matches('/').to_owned();
        if prefix == "ROOT" {
            return Err(EcrError::InvalidParameter(
                "Invalid parameter: the ROOT prefix is for ECR-to-ECR pull-through cache, which Berth does not support".into(),
            ));
        }
        let (_, known) =
            parse_upstream_url(&input.upstream_registry_url, self.upstreams.allow_any)?;
        match (input.upstream_registry.as_deref(), known) {
            (Some("ecr" | "ecr-public-premium"), _) => {
                return Err(EcrError::UnsupportedUpstreamRegistry(
                    "Upstreams that sign with AWS credentials (private ECR) are not supported: Berth pulls anonymously".into(),
                ));
            }
            (Some(given), Some(known)) if given != known => {
                return Err(EcrError::InvalidParameter(format!(
                    "Invalid parameter: the upstream registry URL is {known}'s, not {given}'s"
                )));
            }
            (Some(given), None) if !KNOWN_UPSTREAMS.iter().any(|(n, _)| *n == given) => {
                return Err(validation(
                    "upstreamRegistry",
                    given,
                    "Member must satisfy enum value set: [ecr, ecr-public, ecr-public-premium, quay, k8s, docker-hub, github-container-registry, azure-container-registry, gitlab-container-registry, chainguard]",
                ));
            }
            _ => {}
        }
        refuse_what_berth_lacks(&input)?;
        let settings = RuleSettings {
            upstream_registry_url: input.upstream_registry_url.trim_end_matches('/').to_owned(),
            upstream_registry: known.map(str::to_owned),
            upstream_repository_prefix: input
                .upstream_repository_prefix
                .map_or_else(|| "ROOT".to_owned(), |p| p.trim_end_matches('/').to_owned()),
        };
        let kind = PrefixDocumentKind::PullThroughCacheRule;
        let existing = self.metadata.list_prefix_documents(kind).await?;
        // Nested prefixes would let a later rule take over an earlier rule's cache.
        let nested = |a: &str, b: &str| a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'));
        if let Some(other) = existing
            .iter()
            .find(|r| nested(&prefix, &r.prefix) || nested(&r.prefix, &prefix))
        {
            return Err(EcrError::InvalidParameter(format!(
                "Invalid parameter: the prefix '{prefix}' overlaps the pull through cache rule '{}'",
                other.prefix
            )));
        }
        if existing.len() >= RULES_MAX {
            return Err(EcrError::LimitExceeded(format!(
                "The maximum number of pull through cache rules ({RULES_MAX}) has been reached for this registry"
            )));
        }
        let now = crate::now_unix();
        let record = PrefixDocument {
            prefix: prefix.clone(),
            document: serde_json::to_string(&settings)
                .map_err(|e| InternalError(format!("rule to JSON: {e}")))?,
            created_at: now,
            updated_at: now,
        };
        match self.metadata.create_prefix_document(kind, &record).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(EcrError::PullThroughCacheRuleAlreadyExists(format!(
                    "A pull through cache rule with the prefix '{prefix}' already exists in the registry with id '{}'",
                    self.config.account_id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(prefix = %prefix, upstream = %settings.upstream_registry_url, caller = %caller.arn(), "pull-through cache rule created");
        PullThroughRule::from_record(record)
    }

    pub async fn describe_pull_through_cache_rules(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        prefixes: &[String],
    ) -> Result<Vec<PullThroughRule>, EcrError> {
        for prefix in prefixes {
            check_rule_prefix("ecrRepositoryPrefixes", prefix)?;
        }
        self.authorize_registry(caller, facts, ECR_DESCRIBE_PULL_THROUGH_CACHE_RULES)
            .await?;
        let rules = self
            .metadata
            .list_prefix_documents(PrefixDocumentKind::PullThroughCacheRule)
            .await?
            .into_iter()
            .map(PullThroughRule::from_record)
            .collect::<Result<Vec<_>, _>>()?;
        let wanted: Vec<&str> = prefixes.iter().map(|p| p.trim_end_matches('/')).collect();
        if let Some(missing) = wanted
            .iter()
            .find(|w| !rules.iter().any(|r| r.prefix == **w))
        {
            return Err(self.rule_not_found(missing));
        }
        Ok(rules
            .into_iter()
            .filter(|r| wanted.is_empty() || wanted.contains(&r.prefix.as_str()))
            .collect())
    }

    /// UpdatePullThroughCacheRule: what it changes (credentials, a role) Berth does not
    /// have, so the only update it accepts changes nothing but `updatedAt`.
    pub async fn update_pull_through_cache_rule(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        input: RuleInput,
    ) -> Result<PullThroughRule, EcrError> {
        check_rule_prefix("ecrRepositoryPrefix", &input.ecr_repository_prefix)?;
        self.authorize_registry(caller, facts, ECR_UPDATE_PULL_THROUGH_CACHE_RULE)
            .await?;
        let mut rule = self.rule(&input.ecr_repository_prefix).await?;
        refuse_what_berth_lacks(&input)?;
        let now = crate::now_unix();
        let document = serde_json::to_string(&rule.settings)
            .map_err(|e| InternalError(format!("rule to JSON: {e}")))?;
        self.metadata
            .update_prefix_document(
                PrefixDocumentKind::PullThroughCacheRule,
                &rule.prefix,
                &document,
                now,
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => self.rule_not_found(&rule.prefix),
                e => e.into(),
            })?;
        rule.updated_at = now;
        Ok(rule)
    }

    pub async fn delete_pull_through_cache_rule(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        prefix: &str,
    ) -> Result<PullThroughRule, EcrError> {
        check_rule_prefix("ecrRepositoryPrefix", prefix)?;
        self.authorize_registry(caller, facts, ECR_DELETE_PULL_THROUGH_CACHE_RULE)
            .await?;
        let rule = self.rule(prefix).await?;
        match self
            .metadata
            .delete_prefix_document(PrefixDocumentKind::PullThroughCacheRule, &rule.prefix)
            .await
        {
            Ok(()) => Ok(rule),
            Err(StoreError::NotFound) => Err(self.rule_not_found(prefix)),
            Err(e) => Err(e.into()),
        }
    }

    /// ValidatePullThroughCacheRule: whether the upstream answers now. `Some(failure)`
    /// says why not.
    pub async fn validate_pull_through_cache_rule(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        prefix: &str,
    ) -> Result<(PullThroughRule, Option<String>), EcrError> {
        check_rule_prefix("ecrRepositoryPrefix", prefix)?;
        self.authorize_registry(caller, facts, ECR_VALIDATE_PULL_THROUGH_CACHE_RULE)
            .await?;
        let rule = self.rule(prefix).await?;
        let failure = match rule.upstream(self.upstreams.allow_any) {
            Ok(base) => self
                .upstreams
                .ping(&base)
                .await
                .err()
                .map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        Ok((rule, failure))
    }

    /// The rule whose prefix holds repository `name` (the longest, should several), and
    /// the upstream repository it mirrors.
    pub(crate) async fn pull_through_rule_for(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<(PullThroughRule, String)>, EcrError> {
        let mut best: Option<(PullThroughRule, String)> = None;
        for record in self
            .metadata
            .list_prefix_documents(PrefixDocumentKind::PullThroughCacheRule)
            .await?
        {
            let rule = PullThroughRule::from_record(record)?;
            if let Some(upstream) = rule.upstream_repository(name.as_str())
                && best
                    .as_ref()
                    .is_none_or(|(b, _)| rule.prefix.len() > b.prefix.len())
            {
                best = Some((rule, upstream));
            }
        }
        Ok(best)
    }

    async fn rule(&self, prefix: &str) -> Result<PullThroughRule, EcrError> {
        let prefix = prefix.trim_end_matches('/');
        self.metadata
            .get_prefix_document(PrefixDocumentKind::PullThroughCacheRule, prefix)
            .await?
            .map(PullThroughRule::from_record)
            .transpose()?
            .ok_or_else(|| self.rule_not_found(prefix))
    }

    fn rule_not_found(&self, prefix: &str) -> EcrError {
        EcrError::PullThroughCacheRuleNotFound(format!(
            "The pull through cache rule with prefix '{prefix}' does not exist in the registry with id '{}'",
            self.config.account_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_are_ecrs_registries_unless_any_is_allowed() {
        let (base, known) = parse_upstream_url("public.ecr.aws", false).unwrap();
        assert_eq!(
            (base.scheme, base.authority.as_str()),
            ("https", "public.ecr.aws")
        );
        assert_eq!(known, Some("ecr-public"));
        let (_, known) = parse_upstream_url("https://myreg.azurecr.io/", false).unwrap();
        assert_eq!(known, Some("azure-container-registry"));
        assert!(parse_upstream_url("azurecr.io", false).is_err());
        assert!(parse_upstream_url(".azurecr.io", false).is_err());
        assert!(parse_upstream_url("registry.example.com", false).is_err());
        assert!(
            parse_upstream_url("http://ghcr.io", false).is_err(),
            "HTTPS only"
        );
        let (base, known) = parse_upstream_url("http://127.0.0.1:5001", true).unwrap();
        assert!(parse_upstream_url("http://127.0.0.1:5001", false).is_err());
        assert_eq!(
            (base.scheme, base.authority.as_str(), known),
            ("http", "127.0.0.1:5001", None)
        );
        for bad in [
            "",
            "https://",
            "ghcr.io/path",
            "ghcr.io:0",
            "ghcr.io:99999",
            "user@ghcr.io",
            "ghcr.io?x",
            "ftp://ghcr.io",
        ] {
            assert!(parse_upstream_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rule_maps_its_repositories_to_the_upstreams() {
        let rule = |prefix: &str, upstream_prefix: &str| PullThroughRule {
            prefix: prefix.into(),
            settings: RuleSettings {
                upstream_registry_url: "public.ecr.aws".into(),
                upstream_registry: Some("ecr-public".into()),
                upstream_repository_prefix: upstream_prefix.into(),
            },
            created_at: 0,
            updated_at: 0,
        };
        let mirror = rule("mirror", "ROOT");
        assert_eq!(
            mirror
                .upstream_repository("mirror/library/alpine")
                .as_deref(),
            Some("library/alpine")
        );
        assert_eq!(mirror.upstream_repository("mirror"), None);
        assert_eq!(mirror.upstream_repository("mirrors/x"), None);
        assert_eq!(
            rule("hub", "library")
                .upstream_repository("hub/alpine")
                .as_deref(),
            Some("library/alpine")
        );
    }
}
