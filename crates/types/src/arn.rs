use crate::{InvalidIdentifier, string_newtype};

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);
string_newtype!(AccountId);
impl AccountId {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidIdentifier::new("account id", s, "must be 12 digits"))
        }
    }
}

/// An Amazon Resource Name, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`. The resource
/// part keeps any further `:` characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    text: String,
    // Byte offsets of the five separating colons.
    colons: [usize; 5],
}

impl Arn {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        const KIND: &str = "ARN";
        if s.len() > 2048 {
            return Err(InvalidIdentifier::new(
                KIND,
                s,
                "longer than 2048 characters",
            ));
        }
        let mut colons = [0usize; 5];
        let mut found = 0;
        for (i, b) in s.bytes().enumerate() {
            if b == b':' {
                colons[found] = i;
                found += 1;
                if found == 5 {
                    break;
                }
            }
        }
        if found < 5 {
            return Err(InvalidIdentifier::new(
                KIND,
                s,
                "must have the form arn:partition:service:region:account:resource",
            ));
        }
        let arn = Self {
            text: s.to_owned(),
            colons,
        };
        if &s[..colons[0]] != "arn" || arn.partition().is_empty() || arn.service().is_empty() {
            return Err(InvalidIdentifier::new(
                KIND,
                s,
                "must start with arn: and name a partition and a service",
            ));
        }
        Ok(arn)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn partition(&self) -> &str {
        &self.text[self.colons[0] + 1..self.colons[1]]
    }
    pub fn service(&self) -> &str {
        &self.text[self.colons[1] + 1..self.colons[2]]
    }
    pub fn region(&self) -> &str {
        &self.text[self.colons[2] + 1..self.colons[3]]
    }
    pub fn account(&self) -> &str {
        &self.text[self.colons[3] + 1..self.colons[4]]
    }
    pub fn resource(&self) -> &str {
        &self.text[self.colons[4] + 1..]
    }
}

/// An ARN reads as its text wherever a `&str` is wanted (store keys, messages), and
/// compares with text; it is only ever made by `parse`.
impl std::ops::Deref for Arn {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for Arn {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Arn {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for Arn {
    fn eq(&self, other: &String) -> bool {
        &self.text == other
    }
}

impl PartialOrd for Arn {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arn {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl serde::Serialize for Arn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl std::fmt::Display for Arn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Arn {
    type Err = InvalidIdentifier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let a = Arn::parse("arn:aws:ecr:us-east-1:123456789012:repository/team/app").unwrap();
        assert_eq!(a.partition(), "aws");
        assert_eq!(a.service(), "ecr");
        assert_eq!(a.region(), "us-east-1");
        assert_eq!(a.account(), "123456789012");
        assert_eq!(a.resource(), "repository/team/app");
        let b = Arn::parse("arn:aws:iam::123456789012:oidc-provider/x:y").unwrap();
        assert_eq!(b.region(), "");
        assert_eq!(b.resource(), "oidc-provider/x:y");
        assert!(Arn::parse("arn:aws:iam").is_err());
        assert!(Arn::parse("nra:aws:iam::1:x").is_err());
        assert!(Arn::parse("arn::iam::1:x").is_err());
    }

    #[test]
    fn accounts() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("12345678901").is_err());
        assert!(AccountId::parse("12345678901a").is_err());
    }
}
