//! A registry's `WWW-Authenticate` challenge, as a client of another registry reads it
//! (the pull-through cache asking an upstream for a token).

use std::collections::HashMap;

/// A registry's authentication challenge: `Bearer` with the token endpoint's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses a `WWW-Authenticate` value of the `Bearer` scheme (RFC 6750's
/// `auth-param`s: `key="quoted"` or `key=token`, comma separated). `None` for any other
/// scheme, or without a realm.
pub fn parse_bearer_challenge(value: &str) -> Option<BearerChallenge> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params: HashMap<String, String> = HashMap::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => value.push(chars.next()?.1),
                    Some((_, c)) => value.push(c),
                    None => return None,
                }
            };
            (value, &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        if params.len() >= 16 {
            return None;
        }
        params.insert(key, value);
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(BearerChallenge {
        realm: params.remove("realm").filter(|r| !r.is_empty())?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse_as_registries_send_them() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.docker.io/token");
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(c.scope.as_deref(), Some("repository:library/alpine:pull"));
        let c = parse_bearer_challenge(r#"bearer realm="https://ghcr.io/token", service=ghcr.io"#)
            .unwrap();
        assert_eq!(c.service.as_deref(), Some("ghcr.io"));
        let c = parse_bearer_challenge(r#"Bearer realm="https://x/t?a=\"b\"""#).unwrap();
        assert_eq!(c.realm, r#"https://x/t?a="b""#);
        for refused in [
            r#"Basic realm="registry""#,
            "Bearer",
            r#"Bearer service="x""#,
            r#"Bearer realm="unterminated"#,
            r#"Bearer realm="a" junk"#,
            "",
        ] {
            assert_eq!(parse_bearer_challenge(refused), None, "{refused}");
        }
    }
}
