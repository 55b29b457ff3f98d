//! The account's alias (IAM allows one): what `aws iam list-account-aliases` shows, and
//! what account modules of infrastructure-as-code tools read and set.

use berth_store::StoreError;

use super::{Iam, IamError, validation};
use crate::authorizer::RequestFacts;
use crate::caller::Caller;

/// IAM's rule: 3 to 63 lowercase letters, digits and dashes, starting and ending with a
/// letter or digit, never two dashes in a row.
fn check_alias(alias: &str) -> Result<(), IamError> {
    let bytes = alias.as_bytes();
    let ok = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && !alias.contains("--");
    if ok {
        Ok(())
    } else {
        Err(validation(
            alias,
            "accountAlias",
            "Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$",
        ))
    }
}

impl Iam<'_> {
    /// The account, once `alias` is well formed and `caller` may do `action` (IAM's alias
    /// actions have no resource of their own).
    async fn authorized_alias(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        action: &str,
        alias: &str,
    ) -> Result<String, IamError> {
        check_alias(alias)?;
        self.iam_authorize(caller, facts, action, "*").await?;
        Ok(self.config.account_id.to_string())
    }

    pub async fn list_account_aliases(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
    ) -> Result<Vec<String>, IamError> {
        self.iam_authorize(caller, facts, "iam:ListAccountAliases", "*")
            .await?;
        let account = self.config.account_id.to_string();
        Ok(self
            .metadata
            .get_account_alias(&account)
            .await?
            .into_iter()
            .collect())
    }

    /// CreateAccountAlias: the alias replaces the account's previous one, if any.
    pub async fn create_account_alias(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        alias: &str,
    ) -> Result<(), IamError> {
        let account = self
            .authorized_alias(caller, facts, "iam:CreateAccountAlias", alias)
            .await?;
        Ok(self.metadata.set_account_alias(&account, alias).await?)
    }

    pub async fn delete_account_alias(
        &self,
        caller: &Caller,
        facts: &RequestFacts,
        alias: &str,
    ) -> Result<(), IamError> {
        let account = self
            .authorized_alias(caller, facts, "iam:DeleteAccountAlias", alias)
            .await?;
        match self.metadata.delete_account_alias(&account, alias).await {
            Err(StoreError::NotFound) => Err(IamError::NoSuchEntity(format!(
                "The account alias {alias} cannot be found."
            ))),
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_iams_pattern() {
        for good in ["abc", "acme-prod", "a1-b2-c3", &"a".repeat(63)] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "-acme",
            "acme-",
            "ac--me",
            "Acme",
            "acme_prod",
            &"a".repeat(64),
        ] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }
}
