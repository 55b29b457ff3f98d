use crate::{InvalidIdentifier, string_newtype};

fn is_iam_name_char(c: char) -> bool {
    // IAM's `[\w+=,.@-]`.
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

fn iam_name(kind: &'static str, s: &str, min: usize, max: usize) -> Result<(), InvalidIdentifier> {
    if s.len() < min || s.len() > max {
        return Err(InvalidIdentifier::new(kind, s, "length out of range"));
    }
    if !s.chars().all(is_iam_name_char) {
        return Err(InvalidIdentifier::new(
            kind,
            s,
            "only letters, digits and `_+=,.@-` are allowed",
        ));
    }
    Ok(())
}

/// An IAM role name: 1–64 characters of `[\w+=,.@-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);
string_newtype!(RoleName);
impl RoleName {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        iam_name("role name", s, 1, 64)?;
        Ok(Self(s.to_owned()))
    }
}

/// An IAM policy name (managed or inline): 1–128 characters of `[\w+=,.@-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyName(String);
string_newtype!(PolicyName);
impl PolicyName {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        iam_name("policy name", s, 1, 128)?;
        Ok(Self(s.to_owned()))
    }
}

/// An STS role session name: 2–64 characters of `[\w+=,.@-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleSessionName(String);
string_newtype!(RoleSessionName);
impl RoleSessionName {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        iam_name("role session name", s, 2, 64)?;
        Ok(Self(s.to_owned()))
    }
}

/// An AWS access key id: `AKIA…` (long-term) or `ASIA…` (temporary), 16–128 word characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessKeyId(String);
string_newtype!(AccessKeyId);
impl AccessKeyId {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        if s.len() < 16 || s.len() > 128 {
            return Err(InvalidIdentifier::new(
                "access key id",
                s,
                "length out of range",
            ));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InvalidIdentifier::new(
                "access key id",
                s,
                "only letters and digits are allowed",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Temporary credentials from STS start with `ASIA`.
    pub fn is_temporary(&self) -> bool {
        self.0.starts_with("ASIA")
    }
}

/// An ECR repository name, which is also an OCI repository name:
/// 2–256 characters of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);
string_newtype!(RepositoryName);
impl RepositoryName {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        const KIND: &str = "repository name";
        if s.len() < 2 || s.len() > 256 {
            return Err(InvalidIdentifier::new(KIND, s, "length must be 2 to 256"));
        }
        for component in s.split('/') {
            if !valid_component(component) {
                return Err(InvalidIdentifier::new(
                    KIND,
                    s,
                    "each `/`-separated component must be lowercase letters and digits, separated by `.`, `_`, `__` or runs of `-`",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if alnum(x) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__`, or any number of `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["ab", "my-app", "team/app", "a.b_c__d---e/f", "0x"] {
            assert!(RepositoryName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a", "App", "-a", "a-", "a//b", "a/", "/a", "a..b", "a___b", "a_.b", "",
        ] {
            assert!(RepositoryName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_names() {
        assert!(RoleName::parse("GitHubActionsECRRole").is_ok());
        assert!(RoleName::parse("").is_err());
        assert!(RoleName::parse("has space").is_err());
        assert!(RoleName::parse(&"x".repeat(65)).is_err());
        assert!(RoleSessionName::parse("a").is_err());
        assert!(RoleSessionName::parse("GitHubActions").is_ok());
    }

    #[test]
    fn access_keys() {
        assert!(
            AccessKeyId::parse("ASIAABCDEFGHIJKLMNOP")
                .unwrap()
                .is_temporary()
        );
        assert!(
            !AccessKeyId::parse("AKIAABCDEFGHIJKLMNOP")
                .unwrap()
                .is_temporary()
        );
        assert!(AccessKeyId::parse("AKIA/").is_err());
    }
}
