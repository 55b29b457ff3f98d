/// Whether a repository's tags may move to another image (ECR's `imageTagMutability`).
/// The `*_WITH_EXCLUSION` modes turn the rule around for tags matching the repository's
/// exclusion filters (ECR's `imageTagMutabilityExclusionFilters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
    /// Immutable, except tags matching an exclusion filter.
    ImmutableWithExclusion,
    /// Mutable, except tags matching an exclusion filter.
    MutableWithExclusion,
}

impl TagMutability {
    pub const ALL: [Self; 4] = [
        Self::Mutable,
        Self::Immutable,
        Self::ImmutableWithExclusion,
        Self::MutableWithExclusion,
    ];

    /// ECR's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mutable => "MUTABLE",
            Self::Immutable => "IMMUTABLE",
            Self::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            Self::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    /// `None` for anything but ECR's values (exactly, as ECR compares them).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// Whether the mode takes exclusion filters (and needs at least one).
    pub fn has_exclusions(self) -> bool {
        matches!(
            self,
            Self::ImmutableWithExclusion | Self::MutableWithExclusion
        )
    }

    /// Whether `tag`, once it names an image, may not move to another one, given the
    /// repository's exclusion filters (`*` matches any run of characters).
    pub fn tag_is_immutable(self, tag: &str, exclusions: &[String]) -> bool {
        let excluded = || exclusions.iter().any(|f| wildcard_matches(f, tag));
        match self {
            Self::Mutable => false,
            Self::Immutable => true,
            Self::ImmutableWithExclusion => !excluded(),
            Self::MutableWithExclusion => excluded(),
        }
    }
}

impl std::fmt::Display for TagMutability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ECR's wildcard filters (tag mutability exclusions, lifecycle tag patterns, scanning
/// filters): `*` matches any run of characters, none included; everything else matches
/// itself.
pub fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_spellings() {
        for m in TagMutability::ALL {
            assert_eq!(TagMutability::parse(m.as_str()), Some(m));
        }
        assert_eq!(TagMutability::parse("immutable"), None);
        assert_eq!(TagMutability::parse(""), None);
    }

    #[test]
    fn exclusions_turn_the_rule_around_for_matching_tags() {
        let filters = ["latest".to_owned(), "dev-*".to_owned()];
        use TagMutability::*;
        for (mode, tag, immutable) in [
            (Mutable, "v1", false),
            (Immutable, "latest", true),
            (ImmutableWithExclusion, "v1", true),
            (ImmutableWithExclusion, "latest", false),
            (ImmutableWithExclusion, "dev-42", false),
            (MutableWithExclusion, "v1", false),
            (MutableWithExclusion, "dev-42", true),
        ] {
            assert_eq!(
                mode.tag_is_immutable(tag, &filters),
                immutable,
                "{mode} {tag}"
            );
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_matches("prod*", "prod"));
        assert!(wildcard_matches("*", ""));
        assert!(wildcard_matches("a*b*c", "aXbYc"));
        assert!(wildcard_matches("*-rc", "1.0-rc"));
        assert!(!wildcard_matches("a*b", "ab-"));
        assert!(!wildcard_matches("prod", "prod1"));
        assert!(!wildcard_matches("*ab*ab", "ab"));
        assert!(!wildcard_matches("a*b*c", "aXcYb"));
        assert!(!wildcard_matches("ab*ba", "aba"));
        assert!(wildcard_matches("v1", "v1"));
        assert!(!wildcard_matches("v1", "v10"));
    }
}
