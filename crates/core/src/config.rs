use berth_types::AccountId;

/// What the server knows about itself.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub account_id: AccountId,
    pub region: String,
    /// The URL clients reach the server at, without a trailing slash
    /// (`http://127.0.0.1:5000`). Used for `proxyEndpoint`, `repositoryUri`, `Location`
    /// headers and the registry's auth challenge.
    pub public_url: String,
    /// Development mode: the dev OIDC issuer runs and its keys are trusted for
    /// `https://token.actions.githubusercontent.com`.
    pub dev: bool,
    /// Accept trust policies that let GitHub's OIDC provider assume a role with no
    /// condition on the workflow's repository (`--allow-unscoped-github-trust`).
    pub allow_unscoped_github_trust: bool,
}

impl ServerConfig {
    /// The registry host as clients name it in image references (`127.0.0.1:5000`).
    pub fn registry_host(&self) -> &str {
        self.public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
    }

    pub fn repository_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{}",
            self.region, self.account_id, name
        )
    }
}
