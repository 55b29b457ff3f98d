//! Condition operators: compiled form and evaluation against a request context.

use std::cmp::Ordering;
use std::net::IpAddr;

use base64::Engine as _;

use crate::context::Context;
use crate::glob::{Template, Tok, glob_match};

/// How an operator treats the set of request values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    /// No qualifier: the key is (expected to be) single-valued.
    Single,
    /// `ForAllValues:`: every request value must match; true when the key is absent.
    ForAll,
    /// `ForAnyValue:`: some request value must match; false when the key is absent.
    ForAny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Cmp::Eq => ord == Ordering::Equal,
            Cmp::Lt => ord == Ordering::Less,
            Cmp::Le => ord != Ordering::Greater,
            Cmp::Gt => ord == Ordering::Greater,
            Cmp::Ge => ord != Ordering::Less,
        }
    }
}

/// The operator family with the policy's values, compiled for that family.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    StringEquals(Vec<Template>),
    StringEqualsIgnoreCase(Vec<Template>),
    StringLike(Vec<Template>),
    Numeric(Cmp, Vec<Option<Decimal>>),
    Date(Cmp, Vec<Option<i128>>),
    Bool(Vec<Option<bool>>),
    Binary(Vec<Option<Vec<u8>>>),
    Ip(Vec<Option<Cidr>>),
    Arn(Vec<Template>),
    Null(Vec<Option<bool>>),
}

/// The operator family a base operator name (without `ForAllValues:`/`IfExists`) belongs
/// to, and whether it is negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// A parsed operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) family: Family,
    pub(crate) negated: bool,
    pub(crate) if_exists: bool,
    pub(crate) set: SetOp,
}

impl Operator {
    pub(crate) fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetOp::ForAll, r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetOp::ForAny, r)
        } else {
            (SetOp::Single, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        use Family as F;
        let (family, negated) = match base {
            "StringEquals" => (F::StringEquals, false),
            "StringNotEquals" => (F::StringEquals, true),
            "StringEqualsIgnoreCase" => (F::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (F::StringEqualsIgnoreCase, true),
            "StringLike" => (F::StringLike, false),
            "StringNotLike" => (F::StringLike, true),
            "NumericEquals" => (F::Numeric(Cmp::Eq), false),
            "NumericNotEquals" => (F::Numeric(Cmp::Eq), true),
            "NumericLessThan" => (F::Numeric(Cmp::Lt), false),
            "NumericLessThanEquals" => (F::Numeric(Cmp::Le), false),
            "NumericGreaterThan" => (F::Numeric(Cmp::Gt), false),
            "NumericGreaterThanEquals" => (F::Numeric(Cmp::Ge), false),
            "DateEquals" => (F::Date(Cmp::Eq), false),
            "DateNotEquals" => (F::Date(Cmp::Eq), true),
            "DateLessThan" => (F::Date(Cmp::Lt), false),
            "DateLessThanEquals" => (F::Date(Cmp::Le), false),
            "DateGreaterThan" => (F::Date(Cmp::Gt), false),
            "DateGreaterThanEquals" => (F::Date(Cmp::Ge), false),
            "Bool" => (F::Bool, false),
            "BinaryEquals" => (F::Binary, false),
            "IpAddress" => (F::Ip, false),
            "NotIpAddress" => (F::Ip, true),
            "ArnEquals" | "ArnLike" => (F::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (F::Arn, true),
            "Null" if !if_exists => (F::Null, false),
            _ => return None,
        };
        Some(Operator {
            family,
            negated,
            if_exists,
            set,
        })
    }
}

/// One `"<Operator>": {"<key>": <values>}` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) negated: bool,
    pub(crate) if_exists: bool,
    pub(crate) set: SetOp,
    /// Lower case: condition key names are case-insensitive.
    pub(crate) key: String,
    pub(crate) values: Values,
    /// The operator, key and values as the policy writes them, for explanations.
    pub(crate) source: ConditionSource,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConditionSource {
    pub(crate) operator: String,
    pub(crate) key: String,
    pub(crate) values: Vec<String>,
}

impl Condition {
    /// Compiles the policy's values (already as text) for `op`.
    pub(crate) fn new(
        operator: &str,
        op: Operator,
        key: &str,
        texts: &[String],
        variables: bool,
    ) -> Condition {
        let templates = |glob: bool| -> Vec<Template> {
            texts
                .iter()
                .map(|t| Template::new(t, glob, variables))
                .collect()
        };
        let values = match op.family {
            Family::StringEquals => Values::StringEquals(templates(false)),
            Family::StringEqualsIgnoreCase => Values::StringEqualsIgnoreCase(templates(false)),
            Family::StringLike => Values::StringLike(templates(true)),
            Family::Arn => Values::Arn(templates(true)),
            Family::Numeric(c) => {
                Values::Numeric(c, texts.iter().map(|t| Decimal::parse(t)).collect())
            }
            Family::Date(c) => Values::Date(c, texts.iter().map(|t| parse_date(t)).collect()),
            Family::Bool => Values::Bool(texts.iter().map(|t| parse_bool(t)).collect()),
            Family::Binary => Values::Binary(texts.iter().map(|t| decode_base64(t)).collect()),
            Family::Ip => Values::Ip(texts.iter().map(|t| Cidr::parse(t)).collect()),
            Family::Null => Values::Null(texts.iter().map(|t| parse_bool(t)).collect()),
        };
        Condition {
            negated: op.negated,
            if_exists: op.if_exists,
            set: op.set,
            key: key.to_lowercase(),
            values,
            source: ConditionSource {
                operator: operator.to_owned(),
                key: key.to_owned(),
                values: texts.to_vec(),
            },
        }
    }

    pub(crate) fn evaluate(&self, context: &Context) -> bool {
        let request = context.get_lower(&self.key);
        if let Values::Null(expect) = &self.values {
            // `"true"`: the key must be absent; `"false"`: it must be present.
            let absent = request.is_none();
            return expect.contains(&Some(absent));
        }
        // Negated operators are the negation of their positive form, element by element:
        // `StringNotLike` holds for a value that matches none of the policy's values.
        let element = |v: &String| self.matches_any(v, context) != self.negated;
        match (self.set, request) {
            (SetOp::Single, None) => self.negated || self.if_exists,
            (SetOp::Single, Some(values)) => {
                // A multi-valued key under a plain operator: the positive form holds if any
                // value matches; the negated form if none does.
                values.iter().any(|v| self.matches_any(v, context)) != self.negated
            }
            (SetOp::ForAll, None) => true,
            (SetOp::ForAll, Some(values)) => values.iter().all(element),
            (SetOp::ForAny, None) => false,
            (SetOp::ForAny, Some(values)) => values.iter().any(element),
        }
    }

    /// Whether the request value `v` matches at least one of the policy's values under the
    /// positive form of the operator.
    fn matches_any(&self, v: &str, context: &Context) -> bool {
        match &self.values {
            Values::StringEquals(ts) => ts
                .iter()
                .any(|t| t.resolve_string(context).is_some_and(|p| p == v)),
            Values::StringEqualsIgnoreCase(ts) => {
                let v = v.to_lowercase();
                ts.iter().any(|t| {
                    t.resolve_string(context)
                        .is_some_and(|p| p.to_lowercase() == v)
                })
            }
            Values::StringLike(ts) => ts.iter().any(|t| t.matches(v, context)),
            Values::Numeric(cmp, ps) => Decimal::parse(v)
                .is_some_and(|v| ps.iter().flatten().any(|p| cmp.holds(v.cmp_decimal(p)))),
            Values::Date(cmp, ps) => {
                parse_date(v).is_some_and(|v| ps.iter().flatten().any(|p| cmp.holds(v.cmp(p))))
            }
            Values::Bool(ps) => parse_bool(v).is_some_and(|v| ps.contains(&Some(v))),
            Values::Binary(ps) => {
                let bytes = decode_base64(v).unwrap_or_else(|| v.as_bytes().to_vec());
                ps.iter().flatten().any(|p| *p == bytes)
            }
            Values::Ip(ps) => v
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| ps.iter().flatten().any(|c| c.contains(ip))),
            Values::Arn(ts) => ts
                .iter()
                .any(|t| t.resolve(context).is_some_and(|toks| arn_like(&toks, v))),
            Values::Null(_) => false,
        }
    }
}

/// `ArnLike`: both sides split into their six `:`-separated parts (the resource part keeps
/// any further `:`), compared part by part.
fn arn_like(pattern: &[Tok], arn: &str) -> bool {
    let Some(arn_parts) = split_arn(arn) else {
        return false;
    };
    let pattern_parts = split_pattern(pattern);
    pattern_parts.len() == 6
        && pattern_parts
            .iter()
            .zip(arn_parts.iter())
            .all(|(p, a)| glob_match(p, a))
}

fn split_arn(arn: &str) -> Option<[&str; 6]> {
    let mut it = arn.splitn(6, ':');
    let parts = [
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ];
    Some(parts)
}

fn split_pattern(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut parts: Vec<Vec<Tok>> = vec![Vec::new()];
    for tok in toks {
        match tok {
            Tok::Lit(s) => {
                let mut rest = s.as_str();
                while parts.len() < 6 {
                    let Some((head, tail)) = rest.split_once(':') else {
                        break;
                    };
                    push_lit(&mut parts, head);
                    parts.push(Vec::new());
                    rest = tail;
                }
                push_lit(&mut parts, rest);
            }
            other => {
                if let Some(last) = parts.last_mut() {
                    last.push(other.clone());
                }
            }
        }
    }
    parts
}

fn push_lit(parts: &mut [Vec<Tok>], s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(last) = parts.last_mut() {
        if let Some(Tok::Lit(l)) = last.last_mut() {
            l.push_str(s);
        } else {
            last.push(Tok::Lit(s.to_owned()));
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()
}

/// An exact decimal number: IAM compares `NumericEquals` values as written, so no float
/// rounding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    negative: bool,
    /// Without leading zeros.
    int: String,
    /// Without trailing zeros.
    frac: String,
}

impl Decimal {
    pub(crate) fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let int = int.trim_start_matches('0').to_owned();
        let frac = frac.trim_end_matches('0').to_owned();
        let zero = int.is_empty() && frac.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            int,
            frac,
        })
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac))
    }

    fn cmp_decimal(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

/// A CIDR block; a bare address is a /32 (IPv4) or /128 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Cidr { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses a date condition value: epoch seconds (digits only) or ISO 8601
/// (`2026-01-01`, `2026-01-01T10:00Z`, `2026-01-01T10:00:00.5+09:00`, no zone = UTC).
/// Returns nanoseconds since the Unix epoch.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    const NANOS: i128 = 1_000_000_000;
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().ok()?;
        return Some(i128::from(secs) * NANOS);
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let year: i64 = fixed_digits(d.next()?, 4)?;
    let month: i64 = d.next().map_or(Some(1), |m| fixed_digits(m, 2))?;
    let day: i64 = d.next().map_or(Some(1), |m| fixed_digits(m, 2))?;
    if d.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
    {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut nanos: i128 = 0;
    if let Some(time) = time {
        let (clock, offset) = split_zone(time)?;
        let mut c = clock.split(':');
        let hour: i64 = fixed_digits(c.next()?, 2)?;
        let minute: i64 = c.next().map_or(Some(0), |m| fixed_digits(m, 2))?;
        let (second, fraction) = match c.next() {
            Some(sec) => {
                let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
                let second: i64 = fixed_digits(whole, 2)?;
                if frac.len() > 9
                    || !frac.bytes().all(|b| b.is_ascii_digit())
                    || (sec.contains('.') && frac.is_empty())
                {
                    return None;
                }
                let padded = format!("{frac:0<9}");
                (second, padded.parse::<i128>().ok()?)
            }
            None => (0, 0),
        };
        if c.next().is_some() || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        seconds += hour * 3600 + minute * 60 + second - offset;
        nanos = fraction;
    }
    Some(i128::from(seconds) * NANOS + nanos)
}

/// Splits `10:00:00+09:00` into the clock and the zone offset in seconds.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(i) = time.find(['+', '-']) else {
        return Some((time, 0));
    };
    let clock = time.get(..i)?;
    let sign = if time.get(i..i + 1)? == "-" { -1 } else { 1 };
    let zone = time.get(i + 1..)?;
    let (h, m) = match zone.split_once(':') {
        Some((h, m)) => (h, m),
        None if zone.len() == 4 => (zone.get(..2)?, zone.get(2..)?),
        None => (zone, "00"),
    };
    let h: i64 = fixed_digits(h, 2)?;
    let m: i64 = fixed_digits(m, 2)?;
    if h > 23 || m > 59 {
        return None;
    }
    Some((clock, sign * (h * 3600 + m * 60)))
}

fn fixed_digits(s: &str, len: usize) -> Option<i64> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let texts: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
        Condition::new(op, Operator::parse(op).unwrap(), key, &texts, true)
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::new();
        for (k, vs) in pairs {
            c.insert_multi(k, vs.iter().map(|s| (*s).to_owned()).collect());
        }
        c
    }

    fn check(op: &str, values: &[&str], request: Option<&[&str]>) -> bool {
        let c = match request {
            Some(r) => ctx(&[("k", r)]),
            None => Context::new(),
        };
        cond(op, "K", values).evaluate(&c)
    }

    #[test]
    fn operator_names() {
        assert!(Operator::parse("ForAnyValue:StringNotLikeIfExists").is_some());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("stringequals").is_none());
        assert!(Operator::parse("StringEqualsFoo").is_none());
        let op = Operator::parse("ForAllValues:NumericLessThanIfExists").unwrap();
        assert_eq!(op.set, SetOp::ForAll);
        assert!(op.if_exists);
        assert_eq!(op.family, Family::Numeric(Cmp::Lt));
    }

    #[test]
    fn string_operators() {
        assert!(check("StringEquals", &["a", "b"], Some(&["b"])));
        assert!(!check("StringEquals", &["a"], Some(&["A"])));
        assert!(!check("StringEquals", &["a"], None));
        assert!(check("StringEqualsIfExists", &["a"], None));
        assert!(!check("StringEqualsIfExists", &["a"], Some(&["b"])));
        assert!(check("StringNotEquals", &["a"], Some(&["b"])));
        assert!(!check("StringNotEquals", &["a", "b"], Some(&["b"])));
        assert!(check("StringNotEquals", &["a"], None));
        assert!(check("StringEqualsIgnoreCase", &["AbC"], Some(&["aBc"])));
        assert!(!check(
            "StringNotEqualsIgnoreCase",
            &["AbC"],
            Some(&["aBc"])
        ));
        assert!(check("StringNotEqualsIgnoreCase", &["AbC"], Some(&["x"])));
        assert!(check(
            "StringLike",
            &["repo:o/*"],
            Some(&["repo:o/app:ref:x"])
        ));
        assert!(!check("StringLike", &["repo:o/*"], Some(&["repo:p/app"])));
        assert!(!check("StringLike", &["a*"], Some(&["A"])));
        assert!(check("StringNotLike", &["a*"], Some(&["b"])));
        assert!(!check("StringNotLike", &["a*"], Some(&["ab"])));
        assert!(check("StringNotLike", &["a*"], None));
        // StringEquals does not treat * as a wildcard.
        assert!(!check("StringEquals", &["a*"], Some(&["ab"])));
        assert!(check("StringEquals", &["a*"], Some(&["a*"])));
    }

    #[test]
    fn string_values_with_variables() {
        let c = ctx(&[("aws:username", &["alice"]), ("k", &["home/alice"])]);
        assert!(cond("StringEquals", "k", &["home/${aws:username}"]).evaluate(&c));
        assert!(cond("StringLike", "k", &["*/${aws:username}"]).evaluate(&c));
        assert!(!cond("StringLike", "k", &["*/${aws:missing}"]).evaluate(&c));
        assert!(cond("StringLike", "k", &["*/${aws:missing, 'alice'}"]).evaluate(&c));
        // Version 2008-10-17 keeps `${...}` literal.
        let lit = Condition::new(
            "StringEquals",
            Operator::parse("StringEquals").unwrap(),
            "k",
            &["home/${aws:username}".to_owned()],
            false,
        );
        assert!(!lit.evaluate(&c));
    }

    #[test]
    fn numeric_operators() {
        assert!(check("NumericEquals", &["10"], Some(&["10.0"])));
        assert!(check("NumericEquals", &["-0"], Some(&["0"])));
        assert!(!check("NumericEquals", &["10"], Some(&["11"])));
        assert!(check("NumericNotEquals", &["10"], Some(&["11"])));
        assert!(check("NumericLessThan", &["10"], Some(&["9.99"])));
        assert!(!check("NumericLessThan", &["10"], Some(&["10"])));
        assert!(check("NumericLessThanEquals", &["10"], Some(&["10"])));
        assert!(check("NumericGreaterThan", &["-1"], Some(&["0"])));
        assert!(!check("NumericGreaterThan", &["1.5"], Some(&["1.25"])));
        assert!(check("NumericGreaterThanEquals", &["1.5"], Some(&["1.50"])));
        assert!(check("NumericLessThan", &["-1.5"], Some(&["-2"])));
        assert!(check(
            "NumericLessThan",
            &["100000000000000000000000"],
            Some(&["99999999999999999999999"])
        ));
        // Non-numeric request value: no match.
        assert!(!check("NumericEquals", &["1"], Some(&["one"])));
        assert!(!check("NumericLessThan", &["1"], None));
        assert!(check("NumericLessThanIfExists", &["1"], None));
        assert!(!check("NumericLessThanIfExists", &["1"], Some(&["2"])));
    }

    #[test]
    fn date_operators() {
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(
            parse_date("2026-01-01T09:00:00+09:00"),
            parse_date("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_date("2026-01-01T00:00:00.5Z"),
            parse_date("2026-01-01T00:00:00Z").map(|n| n + 500_000_000)
        );
        assert_eq!(parse_date("2026-01-01T00:00:00Z"), parse_date("1767225600"));
        assert_eq!(parse_date("2024-02-29"), parse_date("1709164800"));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("2026-01-01T24:00:00Z"), None);
        assert_eq!(parse_date("yesterday"), None);
        let now = ["2026-06-01T12:00:00Z"];
        assert!(check("DateLessThan", &["2027-01-01T00:00:00Z"], Some(&now)));
        assert!(!check(
            "DateGreaterThan",
            &["2027-01-01T00:00:00Z"],
            Some(&now)
        ));
        assert!(check("DateGreaterThanEquals", &["1780315200"], Some(&now)));
        assert!(check(
            "DateLessThanEquals",
            &["2026-06-01T12:00:00Z"],
            Some(&now)
        ));
        assert!(check(
            "DateEquals",
            &["2026-06-01T14:00:00+02:00"],
            Some(&now)
        ));
        assert!(check("DateNotEquals", &["2026-06-01"], Some(&now)));
        assert!(!check("DateLessThan", &["2027-01-01"], None));
        assert!(!check("DateLessThan", &["2027-01-01"], Some(&["garbage"])));
    }

    #[test]
    fn bool_binary_null() {
        assert!(check("Bool", &["true"], Some(&["TRUE"])));
        assert!(!check("Bool", &["true"], Some(&["false"])));
        assert!(!check("Bool", &["true"], Some(&["yes"])));
        assert!(!check("Bool", &["false"], None));
        assert!(check("BoolIfExists", &["false"], None));
        assert!(check(
            "BinaryEquals",
            &["QmluYXJ5VmFsdWU="],
            Some(&["QmluYXJ5VmFsdWU="])
        ));
        assert!(!check(
            "BinaryEquals",
            &["QmluYXJ5VmFsdWU="],
            Some(&["QmluYXJ5"])
        ));
        assert!(check("Null", &["true"], None));
        assert!(!check("Null", &["true"], Some(&["x"])));
        assert!(check("Null", &["false"], Some(&["x"])));
        assert!(!check("Null", &["false"], None));
        assert!(check("Null", &["false"], Some(&["x", "y"])));
    }

    #[test]
    fn ip_operators() {
        assert!(check(
            "IpAddress",
            &["203.0.113.0/24"],
            Some(&["203.0.113.9"])
        ));
        assert!(!check(
            "IpAddress",
            &["203.0.113.0/24"],
            Some(&["203.0.114.9"])
        ));
        assert!(check("IpAddress", &["203.0.113.9"], Some(&["203.0.113.9"])));
        assert!(check("IpAddress", &["0.0.0.0/0"], Some(&["8.8.8.8"])));
        assert!(check(
            "IpAddress",
            &["2001:db8::/32"],
            Some(&["2001:db8::1"])
        ));
        assert!(!check(
            "IpAddress",
            &["2001:db8::/32"],
            Some(&["2001:db9::1"])
        ));
        assert!(check(
            "IpAddress",
            &["10.0.0.0/8"],
            Some(&["::ffff:10.1.2.3"])
        ));
        assert!(!check("IpAddress", &["10.0.0.0/8"], Some(&["not-an-ip"])));
        assert!(!check("IpAddress", &["10.0.0.0/33"], Some(&["10.0.0.1"])));
        assert!(check(
            "NotIpAddress",
            &["10.0.0.0/8"],
            Some(&["192.168.0.1"])
        ));
        assert!(!check("NotIpAddress", &["10.0.0.0/8"], Some(&["10.0.0.1"])));
        assert!(check("NotIpAddress", &["10.0.0.0/8"], None));
    }

    #[test]
    fn arn_operators() {
        let role = ["arn:aws:iam::123456789012:role/path/R"];
        assert!(check(
            "ArnEquals",
            &["arn:aws:iam::123456789012:role/path/R"],
            Some(&role)
        ));
        assert!(check("ArnLike", &["arn:aws:iam::*:role/*"], Some(&role)));
        assert!(check(
            "ArnLike",
            &["arn:aws:iam::123456789012:*"],
            Some(&role)
        ));
        assert!(!check("ArnLike", &["arn:aws:iam::*:user/*"], Some(&role)));
        // `*` stays within its part: it cannot stand in for the account and the region.
        assert!(!check(
            "ArnLike",
            &["arn:aws:iam:*:role/path/R"],
            Some(&role)
        ));
        assert!(!check(
            "ArnLike",
            &["arn:aws:iam::123456789012:role/path/r"],
            Some(&role)
        ));
        assert!(check("ArnNotLike", &["arn:aws:iam::*:user/*"], Some(&role)));
        assert!(!check(
            "ArnNotEquals",
            &["arn:aws:iam::*:role/*"],
            Some(&role)
        ));
        assert!(check("ArnNotEquals", &["arn:aws:iam::*:role/*"], None));
        assert!(!check(
            "ArnLike",
            &["arn:aws:iam::*:role/*"],
            Some(&["not-an-arn"])
        ));
        // The resource part keeps further colons.
        assert!(check(
            "ArnLike",
            &["arn:aws:logs:*:*:log-group:g:*"],
            Some(&["arn:aws:logs:us-east-1:1:log-group:g:stream"])
        ));
        let c = ctx(&[("k", &role), ("aws:principalaccount", &["123456789012"])]);
        assert!(
            cond(
                "ArnLike",
                "k",
                &["arn:aws:iam::${aws:PrincipalAccount}:role/*"]
            )
            .evaluate(&c)
        );
    }

    #[test]
    fn set_operators() {
        let two: &[&str] = &["a", "b"];
        // ForAllValues: every request value in the policy set; vacuous when absent.
        assert!(check(
            "ForAllValues:StringEquals",
            &["a", "b", "c"],
            Some(two)
        ));
        assert!(!check("ForAllValues:StringEquals", &["a"], Some(two)));
        assert!(check("ForAllValues:StringEquals", &["a"], None));
        assert!(check("ForAllValues:StringEquals", &["a"], Some(&[])));
        // ForAnyValue: at least one; false when absent.
        assert!(check("ForAnyValue:StringEquals", &["b", "z"], Some(two)));
        assert!(!check("ForAnyValue:StringEquals", &["z"], Some(two)));
        assert!(!check("ForAnyValue:StringEquals", &["a"], None));
        assert!(!check("ForAnyValue:StringEquals", &["a"], Some(&[])));
        // Negated forms.
        assert!(check("ForAllValues:StringNotLike", &["x*"], Some(two)));
        assert!(!check("ForAllValues:StringNotLike", &["a*"], Some(two)));
        assert!(check("ForAllValues:StringNotLike", &["a*"], None));
        assert!(check("ForAnyValue:StringNotLike", &["a*"], Some(two)));
        assert!(!check(
            "ForAnyValue:StringNotLike",
            &["a*", "b*"],
            Some(two)
        ));
        assert!(!check("ForAnyValue:StringNotLike", &["a*"], None));
        // IfExists does not change the absent case of set operators.
        assert!(!check("ForAnyValue:StringEqualsIfExists", &["a"], None));
        assert!(check("ForAllValues:StringEqualsIfExists", &["a"], None));
        // A multi-valued key under a plain operator: any value for the positive form,
        // none for the negated one.
        assert!(check("StringEquals", &["b"], Some(two)));
        assert!(!check("StringNotEquals", &["b"], Some(two)));
        assert!(check("StringNotEquals", &["z"], Some(two)));
        // Set operators with other families.
        assert!(check(
            "ForAllValues:NumericLessThan",
            &["10"],
            Some(&["1", "2"])
        ));
        assert!(!check(
            "ForAllValues:NumericLessThan",
            &["10"],
            Some(&["1", "20"])
        ));
        assert!(check(
            "ForAnyValue:NumericLessThan",
            &["10"],
            Some(&["1", "20"])
        ));
    }

    #[test]
    fn decimal_ordering() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(d("0.5").cmp_decimal(&d("0.45")), Ordering::Greater);
        assert_eq!(d("0.4").cmp_decimal(&d("0.45")), Ordering::Less);
        assert_eq!(d("007").cmp_decimal(&d("7.000")), Ordering::Equal);
        assert_eq!(d("-3").cmp_decimal(&d("-20")), Ordering::Greater);
        assert_eq!(d(".5").cmp_decimal(&d("0.5")), Ordering::Equal);
        assert!(Decimal::parse("").is_none());
        assert!(Decimal::parse(".").is_none());
        assert!(Decimal::parse("1e5").is_none());
        assert!(Decimal::parse("--1").is_none());
    }
}
