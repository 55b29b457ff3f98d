//! The `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header.

use crate::SigV4Error;

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The fixed last element of a credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// A parsed SigV4 `Authorization` header (or the same fields from a presigned query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// The access key id (`AKIA...`/`ASIA...`).
    pub access_key_id: String,
    /// Credential-scope date, `yyyymmdd`.
    pub date: String,
    /// Credential-scope region.
    pub region: String,
    /// Credential-scope service (`sts`, `iam`, `ecr`).
    pub service: String,
    /// Lowercase header names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// The signature, 64 lowercase hex digits.
    pub signature: String,
}

impl AuthorizationHeader {
    /// `yyyymmdd/region/service/aws4_request`.
    #[must_use]
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// The credential part: `AKID/yyyymmdd/region/service/aws4_request`.
pub(crate) struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

pub(crate) fn parse_credential(value: &str) -> Result<Credential, SigV4Error> {
    let parts: Vec<&str> = value.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::Incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term".into(),
        ));
    };
    if akid.is_empty() || akid.len() > 128 || !akid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SigV4Error::Incomplete(
            "Credential access key id is malformed".into(),
        ));
    }
    if !crate::date::is_scope_date(date) {
        return Err(SigV4Error::Incomplete(
            "Credential date must be in the form YYYYMMDD".into(),
        ));
    }
    if !is_scope_part(region) {
        return Err(SigV4Error::Incomplete(
            "Credential should be scoped to a valid region.".into(),
        ));
    }
    if !is_scope_part(service) {
        return Err(SigV4Error::Incomplete(
            "Credential should be scoped to a valid service.".into(),
        ));
    }
    if *terminator != TERMINATOR {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            printable(terminator)
        )));
    }
    Ok(Credential {
        access_key_id: (*akid).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

fn is_scope_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Echoes user input in a message only when it is short and plainly a token.
pub(crate) fn printable(s: &str) -> String {
    if s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        s.to_owned()
    } else {
        "<redacted>".to_owned()
    }
}

pub(crate) fn parse_signed_headers(value: &str) -> Result<Vec<String>, SigV4Error> {
    let mut out = Vec::new();
    for name in value.split(';') {
        let valid = !name.is_empty()
            && name.len() <= 256
            && http::HeaderName::from_bytes(name.as_bytes()).is_ok();
        if !valid {
            return Err(SigV4Error::Incomplete(
                "SignedHeaders must be a ';'-separated list of header names".into(),
            ));
        }
        out.push(name.to_ascii_lowercase());
    }
    Ok(out)
}

pub(crate) fn parse_signature(value: &str) -> Result<String, SigV4Error> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SigV4Error::Incomplete(
            "Signature must be 64 hexadecimal characters".into(),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20260820/us-east-1/sts/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=<64 hex>`.
///
/// An empty value is [`SigV4Error::MissingAuthentication`]; anything malformed is
/// [`SigV4Error::Incomplete`] with a message in the style of AWS's `IncompleteSignature`.
pub fn parse_authorization_header(value: &str) -> Result<AuthorizationHeader, SigV4Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(SigV4Error::MissingAuthentication);
    }
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{}'",
            printable(algorithm)
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for pair in rest.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((key, val)) = pair.split_once('=') else {
            return Err(SigV4Error::Incomplete(
                "A key=value pair in the Authorization header is missing its equal sign".into(),
            ));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(SigV4Error::Incomplete(format!(
                    "Unexpected parameter '{}' in the Authorization header",
                    printable(other)
                )));
            }
        };
        if slot.replace(val.trim()).is_some() {
            return Err(SigV4Error::Incomplete(format!(
                "Authorization header has a duplicate '{}' parameter",
                key.trim()
            )));
        }
    }
    let mut missing = String::new();
    for (name, slot) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if slot.is_none() {
            if !missing.is_empty() {
                missing.push(' ');
            }
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter."
            ));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(SigV4Error::Incomplete(missing));
    };
    let credential = parse_credential(credential)?;
    Ok(AuthorizationHeader {
        access_key_id: credential.access_key_id,
        date: credential.date,
        region: credential.region,
        service: credential.service,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: parse_signature(signature)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn header(credential: &str, signed: &str, sig: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={sig}")
    }

    #[test]
    fn parses_sdk_header() {
        let h = parse_authorization_header(&header(
            "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
            "content-type;host;x-amz-date",
            SIG,
        ))
        .unwrap();
        assert_eq!(h.access_key_id, "AKIDEXAMPLE");
        assert_eq!(h.date, "20150830");
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.service, "iam");
        assert_eq!(h.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert_eq!(h.signature, SIG);
        assert_eq!(h.credential_scope(), "20150830/us-east-1/iam/aws4_request");
    }

    #[test]
    fn tolerates_order_spacing_and_case() {
        let v = format!(
            "AWS4-HMAC-SHA256 Signature={},SignedHeaders=Host;X-Amz-Date,Credential=AKID/20150830/us-east-1/sts/aws4_request",
            SIG.to_uppercase()
        );
        let h = parse_authorization_header(&v).unwrap();
        assert_eq!(h.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(h.signature, SIG);
    }

    fn incomplete(v: &str) -> String {
        match parse_authorization_header(v) {
            Err(SigV4Error::Incomplete(m)) => m,
            other => panic!("expected Incomplete for {v:?}, got {other:?}"),
        }
    }

    #[test]
    fn malformed_headers_are_incomplete() {
        assert_eq!(
            parse_authorization_header("  "),
            Err(SigV4Error::MissingAuthentication)
        );
        assert!(incomplete("Bearer abc.def").contains("Unsupported AWS 'algorithm': 'Bearer'"));
        assert!(incomplete("Basic dXNlcjpwYXNzd29yZA==").contains("'Basic'"));
        assert!(incomplete("AWS4-HMAC-SHA1 Credential=x").contains("algorithm"));
        assert_eq!(
            incomplete("AWS4-HMAC-SHA256"),
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
        );
        assert_eq!(
            incomplete(
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=host"
            ),
            "Authorization header requires 'Signature' parameter."
        );
        let cred = "AKID/20150830/us-east-1/sts/aws4_request";
        incomplete(&header("AKID/20150830/us-east-1/aws4_request", "host", SIG));
        incomplete(&header(
            "AKID/2015083/us-east-1/sts/aws4_request",
            "host",
            SIG,
        ));
        incomplete(&header("AKID/20150830//sts/aws4_request", "host", SIG));
        incomplete(&header("/20150830/us-east-1/sts/aws4_request", "host", SIG));
        assert!(
            incomplete(&header(
                "AKID/20150830/us-east-1/sts/aws5_request",
                "host",
                SIG
            ))
            .contains("valid terminator: 'aws4_request', not 'aws5_request'")
        );
        incomplete(&header(cred, "", SIG));
        incomplete(&header(cred, "host;;x-amz-date", SIG));
        incomplete(&header(cred, "host;x amz", SIG));
        incomplete(&header(cred, "host", "abc"));
        incomplete(&header(cred, "host", &SIG.replace('5', "g")));
        incomplete(&format!("{}, Signature={SIG}", header(cred, "host", SIG)));
        incomplete(&format!("{}, Foo=bar", header(cred, "host", SIG)));
        incomplete(&format!("{}, Foo", header(cred, "host", SIG)));
    }
}
