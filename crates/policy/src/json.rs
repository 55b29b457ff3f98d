//! A strict JSON reader for policy documents: keeps object members in document order (so
//! errors are reported in the order IAM's validator walks the document) and rejects
//! duplicate member names, which would otherwise let two readers of one document disagree
//! about its meaning (`{"Effect": "Deny", "Effect": "Allow"}`).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number's text as IAM compares it (`1`, `1.5`).
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Like [`Json::parse`], but a duplicate member name is recorded (as the JSON pointer
    /// of the member) instead of rejected, and the later value replaces the earlier one,
    /// as lenient readers (IAM among them) do. For the linter.
    pub(crate) fn parse_lenient(text: &str) -> Result<(Json, Vec<String>), serde_json::Error> {
        let duplicates = RefCell::new(Vec::new());
        let mut de = serde_json::Deserializer::from_str(text);
        let json = Lenient {
            pointer: String::new(),
            duplicates: &duplicates,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok((json, duplicates.into_inner()))
    }

    /// The value as compact JSON text.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&quote(s)),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_text(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quote(k));
                    out.push(':');
                    v.write_text(out);
                }
                out.push('}');
            }
        }
    }

    pub(crate) fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Looks a member up by exact name.
pub(crate) fn member<'a>(object: &'a [(String, Json)], name: &str) -> Option<&'a Json> {
    object.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
            let value = map.next_value::<Json>()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// Reads one value at `pointer`, recording duplicate member names.
struct Lenient<'a> {
    pointer: String,
    duplicates: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Lenient<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lenient<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        JsonVisitor.visit_bool(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        JsonVisitor.visit_i64(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        JsonVisitor.visit_u64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        JsonVisitor.visit_f64(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        JsonVisitor.visit_str(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        JsonVisitor.visit_string(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        JsonVisitor.visit_unit()
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        JsonVisitor.visit_none()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        loop {
            let seed = Lenient {
                pointer: format!("{}/{}", self.pointer, items.len()),
                duplicates: self.duplicates,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let pointer = format!("{}/{}", self.pointer, escape_token(&key));
            let value = map.next_value_seed(Lenient {
                pointer: pointer.clone(),
                duplicates: self.duplicates,
            })?;
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(existing) => {
                    self.duplicates.borrow_mut().push(pointer);
                    existing.1 = value;
                }
                None => members.push((key, value)),
            }
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_rejects_duplicates() {
        let j = Json::parse(r#"{"b": 1, "a": [true, null, "x", 1.5]}"#).unwrap();
        let obj = j.as_object().unwrap();
        assert_eq!(obj[0].0, "b");
        assert_eq!(obj[0].1, Json::Number("1".into()));
        assert_eq!(
            obj[1].1,
            Json::Array(vec![
                Json::Bool(true),
                Json::Null,
                Json::String("x".into()),
                Json::Number("1.5".into())
            ])
        );
        assert!(Json::parse(r#"{"a": 1, "a": 2}"#).is_err());
        assert!(Json::parse(r#"{"a": 1} x"#).is_err());
    }

    #[test]
    fn lenient_reader_records_duplicates_and_keeps_the_last() {
        let (j, dups) =
            Json::parse_lenient(r#"{"S": [{"E": "Deny", "a/b": 1, "E": "Allow"}], "S": 2}"#)
                .unwrap();
        assert_eq!(dups, vec!["/S/0/E".to_owned(), "/S".to_owned()]);
        assert_eq!(j.to_text(), r#"{"S":2}"#);
        let (j, dups) =
            Json::parse_lenient(r#"[{"E": "Deny", "E": "Allow"}, "x\"", true, null, 1.5]"#)
                .unwrap();
        assert_eq!(dups, vec!["/0/E".to_owned()]);
        assert_eq!(j.to_text(), r#"[{"E":"Allow"},"x\"",true,null,1.5]"#);
        assert!(Json::parse_lenient("{} x").is_err());
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(
            escape_token("aws:PrincipalTag/a~b"),
            "aws:PrincipalTag~1a~0b"
        );
    }
}
