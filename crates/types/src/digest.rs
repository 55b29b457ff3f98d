use crate::InvalidIdentifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A content digest, `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
        const KIND: &str = "digest";
        let Some((alg, hex)) = s.split_once(':') else {
            return Err(InvalidIdentifier::new(KIND, s, "must be algorithm:hex"));
        };
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => {
                return Err(InvalidIdentifier::new(
                    KIND,
                    s,
                    "algorithm must be sha256 or sha512",
                ));
            }
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(InvalidIdentifier::new(
                KIND,
                s,
                "encoded part must be lowercase hex of the algorithm's length",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds a digest from raw hash bytes.
    pub fn from_bytes(algorithm: DigestAlgorithm, hash: &[u8]) -> Self {
        let mut s = String::with_capacity(algorithm.as_str().len() + 1 + hash.len() * 2);
        s.push_str(algorithm.as_str());
        s.push(':');
        for b in hash {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Self(s)
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        if self.0.starts_with("sha512:") {
            DigestAlgorithm::Sha512
        } else {
            DigestAlgorithm::Sha256
        }
    }

    /// The hex part after the colon.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = InvalidIdentifier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_build() {
        let hex = "a".repeat(64);
        let d = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(d.encoded(), hex);
        assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("md5:{hex}")).is_err());
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        let built = Digest::from_bytes(DigestAlgorithm::Sha256, &[0xab; 32]);
        assert_eq!(built.as_str(), format!("sha256:{}", "ab".repeat(32)));
    }
}
