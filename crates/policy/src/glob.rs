//! Wildcard patterns (`*` any run of characters, `?` exactly one) and templates with
//! policy variables (`${aws:username}`, `${key, 'default'}`, `${*}`, `${?}`, `${$}`).

use std::borrow::Cow;

use crate::context::Context;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    /// `*`: any run of characters, including none, including `/` and `:`.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob(pub(crate) Vec<Tok>);

impl Glob {
    /// Compiles `pattern`, where `*` and `?` are wildcards and everything else is literal.
    pub(crate) fn new(pattern: &str) -> Glob {
        let mut toks = Vec::new();
        push_glob_text(&mut toks, pattern);
        Glob(toks)
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        glob_match(&self.0, text)
    }

    /// Like [`Glob::matches`], ASCII letters of `text` compared case-insensitively against
    /// a pattern compiled from lower-case text. Lets an ASCII action name be matched
    /// without lower-casing it into a new string.
    pub(crate) fn matches_ascii_folded(&self, text: &str) -> bool {
        matches(&self.0, text, true)
    }
}

fn push_lit(toks: &mut Vec<Tok>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Tok::Lit(last)) = toks.last_mut() {
        last.push_str(text);
    } else {
        toks.push(Tok::Lit(text.to_owned()));
    }
}

fn push_glob_text(toks: &mut Vec<Tok>, text: &str) {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '*' || c == '?' {
            push_lit(toks, text.get(start..i).unwrap_or_default());
            // Consecutive stars mean the same as one.
            if !(c == '*' && toks.last() == Some(&Tok::Star)) {
                toks.push(if c == '*' { Tok::Star } else { Tok::One });
            }
            start = i + c.len_utf8();
        }
    }
    push_lit(toks, text.get(start..).unwrap_or_default());
}

/// Matches `text` against `toks`: linear scan with backtracking to the last `*` only,
/// which is exact for patterns made of literals, `*` and `?`.
pub(crate) fn glob_match(toks: &[Tok], text: &str) -> bool {
    matches(toks, text, false)
}

/// `fold`: compare literals ASCII-case-insensitively (`text` must then be ASCII, so that
/// advancing by a literal's length stays on a character boundary).
fn matches(toks: &[Tok], text: &str, fold: bool) -> bool {
    let fold = fold && text.is_ascii();
    let mut ti = 0;
    let mut si = 0;
    // (token index after the last star, text position that star currently stops at)
    let mut star: Option<(usize, usize)> = None;
    loop {
        let rest = text.get(si..).unwrap_or_default();
        let advanced = match toks.get(ti) {
            Some(Tok::Star) => {
                star = Some((ti + 1, si));
                ti += 1;
                continue;
            }
            Some(Tok::One) => rest.chars().next().map(char::len_utf8),
            Some(Tok::Lit(lit)) if fold => rest
                .as_bytes()
                .get(..lit.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(lit.as_bytes()))
                .then_some(lit.len()),
            Some(Tok::Lit(lit)) => rest.starts_with(lit.as_str()).then_some(lit.len()),
            None if rest.is_empty() => return true,
            None => None,
        };
        if let Some(n) = advanced {
            si += n;
            ti += 1;
            continue;
        }
        // Mismatch: let the last star swallow one more character and retry after it.
        let Some((after_star, stop)) = star else {
            return false;
        };
        let Some(c) = text.get(stop..).and_then(|s| s.chars().next()) else {
            return false;
        };
        let stop = stop + c.len_utf8();
        star = Some((after_star, stop));
        ti = after_star;
        si = stop;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Tok(Tok),
    /// `${key}` or `${key, 'default'}`; `key` is lower case.
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A policy value that may contain policy variables, compiled once. Wildcards are only
/// recognised when compiled with `glob = true`; escapes `${*}`, `${?}`, `${$}` always give
/// the literal character. Values substituted for variables are literal text: a user named
/// `*` does not become a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The compiled pattern when there are no variables (the common case).
    fixed: Option<Vec<Tok>>,
}

impl Template {
    pub(crate) fn new(text: &str, glob: bool, variables: bool) -> Template {
        let mut toks: Vec<Tok> = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        let mut rest = text;
        let push_text = |toks: &mut Vec<Tok>, s: &str| {
            if glob {
                push_glob_text(toks, s);
            } else {
                push_lit(toks, s);
            }
        };
        while !rest.is_empty() {
            let found = if variables { rest.find("${") } else { None };
            let Some(open) = found else {
                push_text(&mut toks, rest);
                break;
            };
            let before = rest.get(..open).unwrap_or_default();
            let after = rest.get(open + 2..).unwrap_or_default();
            let Some(close) = after.find('}') else {
                push_text(&mut toks, rest);
                break;
            };
            push_text(&mut toks, before);
            let inner = after.get(..close).unwrap_or_default();
            match parse_variable(inner) {
                Some(VarSyntax::Escape(c)) => push_lit(&mut toks, c),
                Some(VarSyntax::Var { key, default }) => {
                    parts.extend(toks.drain(..).map(Part::Tok));
                    parts.push(Part::Var { key, default });
                }
                // Not a variable: keep the text as written.
                None => {
                    push_text(&mut toks, "${");
                    push_text(&mut toks, inner);
                    push_text(&mut toks, "}");
                }
            }
            rest = after.get(close + 1..).unwrap_or_default();
        }
        if parts.is_empty() {
            Template {
                parts: Vec::new(),
                fixed: Some(toks),
            }
        } else {
            parts.extend(toks.into_iter().map(Part::Tok));
            Template { parts, fixed: None }
        }
    }

    /// The pattern with variables substituted; `None` when a variable has no value and no
    /// default (the policy element then matches nothing).
    pub(crate) fn resolve(&self, context: &Context) -> Option<Cow<'_, [Tok]>> {
        if let Some(fixed) = &self.fixed {
            return Some(Cow::Borrowed(fixed));
        }
        let mut toks = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            match part {
                Part::Tok(Tok::Lit(s)) => push_lit(&mut toks, s),
                Part::Tok(t) => toks.push(t.clone()),
                Part::Var { key, default } => {
                    let value = context.single_lower(key).or(default.as_deref())?;
                    push_lit(&mut toks, value);
                }
            }
        }
        Some(Cow::Owned(toks))
    }

    /// For templates compiled with `glob = false`: the literal string after substitution.
    pub(crate) fn resolve_string(&self, context: &Context) -> Option<Cow<'_, str>> {
        let toks = self.resolve(context)?;
        match toks.as_ref() {
            [] => Some(Cow::Borrowed("")),
            [Tok::Lit(s)] => Some(match toks {
                Cow::Borrowed(_) => Cow::Borrowed(fixed_str(&self.fixed)),
                Cow::Owned(_) => Cow::Owned(s.clone()),
            }),
            many => Some(Cow::Owned(
                many.iter()
                    .map(|t| match t {
                        Tok::Lit(s) => s.as_str(),
                        Tok::Star => "*",
                        Tok::One => "?",
                    })
                    .collect(),
            )),
        }
    }

    pub(crate) fn matches(&self, text: &str, context: &Context) -> bool {
        self.resolve(context)
            .is_some_and(|toks| glob_match(&toks, text))
    }
}

fn fixed_str(fixed: &Option<Vec<Tok>>) -> &str {
    match fixed.as_deref() {
        Some([Tok::Lit(s)]) => s,
        _ => "",
    }
}

enum VarSyntax<'a> {
    Escape(&'a str),
    Var {
        key: String,
        default: Option<String>,
    },
}

/// Parses what is between `${` and `}`.
fn parse_variable(inner: &str) -> Option<VarSyntax<'_>> {
    if matches!(inner, "*" | "?" | "$") {
        return Some(VarSyntax::Escape(inner));
    }
    let (key, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            let quoted = default
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))?;
            (key.trim(), Some(quoted.to_owned()))
        }
    };
    let valid_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=".contains(c));
    valid_key.then(|| VarSyntax::Var {
        key: key.to_lowercase(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.insert(k, *v);
        }
        c
    }

    #[test]
    fn ascii_folding_matches_like_lower_casing() {
        let g = Glob::new("ecr:batch*image");
        assert!(g.matches_ascii_folded("ECR:BatchGetImage"));
        assert!(g.matches_ascii_folded("ecr:batchgetimage"));
        assert!(!g.matches_ascii_folded("ecr:PutImage"));
        assert!(!g.matches_ascii_folded("ecr:batch"));
        // Non-ASCII text is compared exactly (callers lower-case it first).
        assert!(Glob::new("é*").matches_ascii_folded("é1"));
        assert!(!Glob::new("é*").matches_ascii_folded("É1"));
    }

    #[test]
    fn glob_basics() {
        let m = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(m("*", ""));
        assert!(m("*", "anything:at/all"));
        assert!(m("ecr:Batch*", "ecr:BatchGetImage"));
        assert!(!m("ecr:Batch*", "ecr:PutImage"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "aéc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*a", "aaaa"));
        assert!(!m("abc", "ABC"));
        assert!(m(
            "repo:octo/*:ref:refs/heads/main",
            "repo:octo/app:ref:refs/heads/main"
        ));
        assert!(!m(
            "repo:octo/*:ref:refs/heads/main",
            "repo:octo/app:ref:refs/heads/dev"
        ));
        assert!(m("**x", "yx"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn template_variables() {
        let c = ctx(&[("aws:username", "alice"), ("x", "*")]);
        let t = Template::new("arn:aws:s3:::b/${aws:username}/*", true, true);
        assert!(t.matches("arn:aws:s3:::b/alice/f", &c));
        assert!(!t.matches("arn:aws:s3:::b/bob/f", &c));
        assert!(!t.matches("arn:aws:s3:::b/alice/f", &Context::new()));

        let d = Template::new("p/${aws:PrincipalTag/team, 'none'}", true, true);
        assert!(d.matches("p/none", &Context::new()));
        assert!(d.matches("p/t1", &ctx(&[("aws:principaltag/team", "t1")])));

        // Escapes are literal even in glob mode.
        let e = Template::new("a${*}b${?}${$}", true, true);
        assert!(e.matches("a*b?$", &c));
        assert!(!e.matches("axb?$", &c));

        // Substituted values are literal.
        let s = Template::new("${x}", true, true);
        assert!(s.matches("*", &c));
        assert!(!s.matches("abc", &c));

        // Version 2008-10-17: no variables.
        let l = Template::new("${aws:username}", false, false);
        assert_eq!(l.resolve_string(&c).as_deref(), Some("${aws:username}"));
        let v = Template::new("u-${aws:username}-*", false, true);
        assert_eq!(v.resolve_string(&c).as_deref(), Some("u-alice-*"));

        // Malformed variable syntax stays literal.
        let bad = Template::new("${a b}${", false, true);
        assert_eq!(bad.resolve_string(&c).as_deref(), Some("${a b}${"));
    }

    #[test]
    fn multi_valued_keys_are_not_variables() {
        let mut c = Context::new();
        c.insert_multi("k", vec!["a".into(), "b".into()]);
        let t = Template::new("${k}", false, true);
        assert_eq!(t.resolve_string(&c), None);
    }
}
