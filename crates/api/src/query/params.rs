//! Query-protocol request parameters: the form body (or a GET's query string) as a map,
//! and AWS's list encodings (`Name.member.N`, `Name.member.N.Field`) read from it.
//!
//! Self-contained (std, `http`, `form_urlencoded`) so the fuzz target can compile this file
//! alone, without the server around it (fuzz/fuzz_targets/query_params.rs).

use std::collections::HashMap;

use http::request::Parts;

/// Request parameters from the form body, or from the query string of a GET.
pub struct Params {
    map: HashMap<String, String>,
}

/// More parameters than any IAM or STS operation takes (SimulateCustomPolicy's lists
/// included): the body is not read further.
pub const MAX_PARAMS: usize = 10_000;

/// A request with more than [`MAX_PARAMS`] parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyParams;

impl std::fmt::Display for TooManyParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "The request has more than {MAX_PARAMS} parameters.")
    }
}

impl Params {
    pub fn from_request(parts: &Parts, body: &[u8]) -> Result<Self, TooManyParams> {
        let source: &[u8] = if parts.method == http::Method::GET {
            parts.uri.query().unwrap_or_default().as_bytes()
        } else {
            body
        };
        let mut map = HashMap::new();
        for (i, (name, value)) in form_urlencoded::parse(source).enumerate() {
            if i >= MAX_PARAMS {
                return Err(TooManyParams);
            }
            map.insert(name.into_owned(), value.into_owned());
        }
        Ok(Self { map })
    }

    /// Parameters from name-value pairs already read.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self {
            map: pairs.into_iter().collect(),
        }
    }

    /// Every parameter, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// `Name.member.1`, `Name.member.2`, ... in order.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, &String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&prefix)
                    .and_then(|n| n.parse::<u32>().ok())
                    .map(|n| (n, v))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// `Name.member.N.Field` for each structure member N, in order: one entry per
    /// member, each field's value if sent.
    pub fn structures(&self, name: &str, fields: &[&str]) -> Vec<Vec<Option<String>>> {
        let prefix = format!("{name}.member.");
        let mut indexes: Vec<u32> = self
            .map
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.split_once('.')?.0.parse().ok())
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
            .into_iter()
            .map(|n| {
                fields
                    .iter()
                    .map(|f| self.map.get(&format!("{prefix}{n}.{f}")).cloned())
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_count_is_bounded() {
        let req = http::Request::post("/").body(()).unwrap();
        let (parts, ()) = req.into_parts();
        let at_most = "a=1&".repeat(MAX_PARAMS);
        assert!(Params::from_request(&parts, at_most.as_bytes()).is_ok());
        let over = format!("{at_most}b=2");
        assert_eq!(
            Params::from_request(&parts, over.as_bytes()).err(),
            Some(TooManyParams)
        );
    }

    #[test]
    fn list_params_in_order() {
        let req = http::Request::post("/").body(()).unwrap();
        let (parts, ()) = req.into_parts();
        let p = Params::from_request(
            &parts,
            b"X.member.2=b&X.member.1=a&X.member.10=c&Version=2010-05-08",
        )
        .unwrap();
        assert_eq!(p.list("X"), vec!["a", "b", "c"]);
        assert_eq!(p.get("Version"), Some("2010-05-08"));
    }

    #[test]
    fn structures_in_member_order() {
        let req = http::Request::post("/").body(()).unwrap();
        let (parts, ()) = req.into_parts();
        let p = Params::from_request(
            &parts,
            b"T.member.2.Key=b&T.member.1.Key=a&T.member.1.Value=x&T.member.2.Other=y",
        )
        .unwrap();
        assert_eq!(
            p.structures("T", &["Key", "Value"]),
            vec![
                vec![Some("a".to_owned()), Some("x".to_owned())],
                vec![Some("b".to_owned()), None],
            ]
        );
        assert!(p.structures("U", &["Key"]).is_empty());
    }
}
