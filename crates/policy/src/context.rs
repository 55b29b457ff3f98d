//! The request context: condition keys and their values.

use std::collections::BTreeMap;

/// Condition keys of one request. Key names are case-insensitive; each key has one or more
/// string values (a multi-valued key such as `aws:TagKeys` has several). A key inserted
/// with no values counts as absent.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Context {
    keys: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single value `value`, replacing any earlier values.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.keys.insert(key.to_lowercase(), vec![value.into()]);
    }

    /// Sets `key` to `values`, replacing any earlier values.
    pub fn insert_multi(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert(key.to_lowercase(), values);
    }

    /// The values of `key` (any case), or `None` when the request does not carry it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.get_lower(&key.to_lowercase())
    }

    /// Like [`Context::get`] for a key name already in lower case (compiled policies keep
    /// their keys that way, so evaluation does not allocate).
    pub(crate) fn get_lower(&self, key: &str) -> Option<&[String]> {
        self.keys
            .get(key)
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }

    /// The value of a single-valued key: what a policy variable `${key}` stands for.
    pub(crate) fn single_lower(&self, key: &str) -> Option<&str> {
        match self.get_lower(key) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Every key (lower case) with its values, in key order; keys without values skipped.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.keys
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_empty_is_absent() {
        let mut c = Context::new();
        c.insert("Token.Actions.GithubUserContent.com:sub", "repo:a/b");
        assert_eq!(
            c.get("token.actions.githubusercontent.com:SUB"),
            Some(&["repo:a/b".to_owned()][..])
        );
        c.insert_multi("aws:TagKeys", vec![]);
        assert_eq!(c.get("aws:tagkeys"), None);
        c.insert_multi("aws:TagKeys", vec!["a".into(), "b".into()]);
        assert_eq!(c.get("aws:tagkeys").map(<[String]>::len), Some(2));
        assert_eq!(c.single_lower("aws:tagkeys"), None);
    }
}
