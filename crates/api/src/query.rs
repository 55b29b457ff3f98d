//! The AWS Query protocol (IAM, STS): form-encoded parameters in, XML out.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::escape::escape;

mod params;
pub mod recorded;
pub use params::Params;

pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// Builds the body of a Query response.
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(1024),
        }
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.open(name);
        self.out.push_str(&escape(value));
        self.close(name)
    }

    pub fn opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.text(name, v);
        }
        self
    }

    /// `<Name><member>a</member>...</Name>`
    pub fn members(&mut self, name: &str, values: &[String]) -> &mut Self {
        self.open(name);
        for v in values {
            self.text("member", v);
        }
        self.close(name)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

impl Default for Xml {
    fn default() -> Self {
        Self::new()
    }
}

/// `<OpResponse xmlns=NS><OpResult>result</OpResult><ResponseMetadata>...`
pub fn success(action: &str, ns: &str, result: Option<&str>, request_id: &str) -> Response {
    let mut body = format!(r#"<{action}Response xmlns="{ns}">"#);
    if let Some(result) = result {
        body.push_str(&format!("<{action}Result>{result}</{action}Result>"));
    }
    body.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ));
    xml_response(StatusCode::OK, body, request_id)
}

pub fn error_response(
    status: StatusCode,
    fault: &str,
    code: &str,
    message: &str,
    ns: &str,
    request_id: &str,
) -> Response {
    let body = format!(
        r#"<ErrorResponse xmlns="{ns}"><Error><Type>{fault}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
        escape(message)
    );
    xml_response(status, body, request_id)
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// ISO-8601 UTC, as the Query protocol writes timestamps.
pub fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// IAM returns policy documents percent-encoded (RFC 3986); boto3 decodes them.
pub fn encode_policy(document: &str) -> String {
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(document, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_escaping() {
        let mut x = Xml::new();
        x.members("ClientIDList", &["a<b".into(), "c".into()]);
        assert_eq!(
            x.finish(),
            "<ClientIDList><member>a&lt;b</member><member>c</member></ClientIDList>"
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            encode_policy(r#"{"a": "b*"}"#),
            "%7B%22a%22%3A%20%22b%2A%22%7D"
        );
    }
}
