/// Whether a repository's tags may move to another image (ECR's `imageTagMutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
}

impl TagMutability {
    /// ECR's value: `MUTABLE` or `IMMUTABLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mutable => "MUTABLE",
            Self::Immutable => "IMMUTABLE",
        }
    }

    /// `None` for anything but ECR's two values (exactly, as ECR compares them).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "MUTABLE" => Some(Self::Mutable),
            "IMMUTABLE" => Some(Self::Immutable),
            _ => None,
        }
    }
}

impl std::fmt::Display for TagMutability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_spellings() {
        for m in [TagMutability::Mutable, TagMutability::Immutable] {
            assert_eq!(TagMutability::parse(m.as_str()), Some(m));
        }
        assert_eq!(TagMutability::parse("immutable"), None);
        assert_eq!(TagMutability::parse(""), None);
    }
}
