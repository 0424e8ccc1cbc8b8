//! Write keys, one or more per source (pure, no I/O): the configuration
//! (`{"sources": {"ios-app": "<key>", ...}}`, from a Secrets Manager secret or an environment
//! variable) and the check of a request's `Authorization` header — HTTP Basic with the key as
//! the user name (Segment's convention; the password is ignored) or `Bearer <key>`.
//!
//! Only SHA-256 digests of the keys are kept. A presented key is hashed and compared with
//! every configured digest in constant time (`subtle`), with no early exit, so neither timing
//! nor length tells which key or how much of one matched. Keys never appear in errors or
//! `Debug` output: sources are named by their source name.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// The configured write keys.
#[derive(Clone)]
pub struct WriteKeys {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    source: String,
    digest: [u8; 32],
}

impl fmt::Debug for WriteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteKeys")
            .field("sources", &self.sources().collect::<Vec<_>>())
            .finish()
    }
}

/// The source a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(pub String);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a key configuration is refused. Never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteKeysError {
    /// Not `{"sources": {"name": "key", ...}}` (the parser's message is left out: it may
    /// quote a key).
    #[error("the write keys are not JSON of the form {{\"sources\": {{\"NAME\": \"KEY\", ...}}}} (line {line}, column {column})")]
    Shape {
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
    },
    /// A source name is empty.
    #[error("a source name is empty")]
    EmptySource,
    /// A source's key is empty.
    #[error("source {0} has an empty write key")]
    EmptyKey(String),
    /// Two sources share a key (a request could not be attributed).
    #[error("sources {0} and {1} have the same write key")]
    SharedKey(String, String),
}

/// Why a request is not authenticated (answered 401). Never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error(
        "no Authorization header: send the write key as the Basic user name or as a Bearer token"
    )]
    Missing,
    /// A scheme other than Basic or Bearer, or Basic credentials that are not Base64 UTF-8.
    #[error("unreadable Authorization header: {0}")]
    Malformed(&'static str),
    /// An empty key.
    #[error("the write key is empty")]
    Empty,
    /// A key no source has.
    #[error("unknown write key")]
    Unknown,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysDocument {
    sources: BTreeMap<String, String>,
}

impl WriteKeys {
    /// Reads `{"sources": {"ios-app": "<key>", ...}}`.
    pub fn from_json(text: &str) -> Result<WriteKeys, WriteKeysError> {
        let doc: KeysDocument = serde_json::from_str(text).map_err(|e| WriteKeysError::Shape {
            line: e.line(),
            column: e.column(),
        })?;
        let mut entries: Vec<Entry> = Vec::with_capacity(doc.sources.len());
        for (source, key) in doc.sources {
            if source.is_empty() {
                return Err(WriteKeysError::EmptySource);
            }
            if key.is_empty() {
                return Err(WriteKeysError::EmptyKey(source));
            }
            let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            if let Some(other) = entries.iter().find(|e| e.digest == digest) {
                return Err(WriteKeysError::SharedKey(other.source.clone(), source));
            }
            entries.push(Entry { source, digest });
        }
        Ok(WriteKeys { entries })
    }

    /// The source names, sorted.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.source.as_str())
    }

    /// True when no source is configured (every request is refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The source whose key is `key`: compared with every key in constant time.
    pub fn source_of(&self, key: &str) -> Option<Source> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = Choice::from(0);
        let mut index = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let same = entry.digest.ct_eq(&digest);
            index.conditional_assign(&u32::try_from(i).unwrap_or(u32::MAX), same);
            found |= same;
        }
        if bool::from(found) {
            self.entries
                .get(index as usize)
                .map(|e| Source(e.source.clone()))
        } else {
            None
        }
    }

    /// The source of the key in an `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Source, AuthError> {
        let key = presented_key(authorization.ok_or(AuthError::Missing)?)?;
        if key.is_empty() {
            return Err(AuthError::Empty);
        }
        self.source_of(&key).ok_or(AuthError::Unknown)
    }
}

/// The key in `Basic base64(key:password)` (password ignored) or `Bearer key`.
fn presented_key(header: &str) -> Result<String, AuthError> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(rest.to_string());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Malformed(
            "the scheme is neither Basic nor Bearer",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .map_err(|_| AuthError::Malformed("Basic credentials are not Base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| AuthError::Malformed("Basic credentials are not UTF-8"))?;
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = r#"{"sources": {"ios-app": "wk_ios_0123456789", "backend": "wk_backend_abcdef", "web": "w"}}"#;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn every_configured_key_is_accepted_as_basic_or_bearer() {
        let keys = WriteKeys::from_json(KEYS).unwrap();
        for (source, key) in [
            ("ios-app", "wk_ios_0123456789"),
            ("backend", "wk_backend_abcdef"),
            ("web", "w"),
        ] {
            let want = Ok(Source(source.to_string()));
            assert_eq!(keys.authenticate(Some(&basic(key, ""))), want);
            assert_eq!(keys.authenticate(Some(&basic(key, "ignored"))), want);
            assert_eq!(keys.authenticate(Some(&format!("Bearer {key}"))), want);
            assert_eq!(keys.authenticate(Some(&format!("bearer  {key} "))), want);
            // Basic without the colon: the whole text is the user name.
            let no_colon = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            assert_eq!(keys.authenticate(Some(&no_colon)), want);
        }
        assert_eq!(
            keys.sources().collect::<Vec<_>>(),
            ["backend", "ios-app", "web"]
        );
    }

    #[test]
    fn wrong_empty_and_missing_keys_are_refused() {
        let keys = WriteKeys::from_json(KEYS).unwrap();
        assert_eq!(keys.authenticate(None), Err(AuthError::Missing));
        assert_eq!(
            keys.authenticate(Some(&basic("", ""))),
            Err(AuthError::Empty)
        );
        assert_eq!(keys.authenticate(Some("Bearer ")), Err(AuthError::Empty));
        assert_eq!(keys.authenticate(Some("Bearer")), Err(AuthError::Empty));
        for wrong in [
            "wk_ios_012345678",
            "wk_ios_0123456789x",
            "WK_IOS_0123456789",
            "ww",
        ] {
            assert_eq!(
                keys.authenticate(Some(&basic(wrong, ""))),
                Err(AuthError::Unknown),
                "{wrong}"
            );
            assert_eq!(
                keys.authenticate(Some(&format!("Bearer {wrong}"))),
                Err(AuthError::Unknown)
            );
        }
        // The key as the password is not the convention.
        assert_eq!(
            keys.authenticate(Some(&basic("someone", "wk_ios_0123456789"))),
            Err(AuthError::Unknown)
        );
        assert!(matches!(
            keys.authenticate(Some("Digest wk_ios_0123456789")),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            keys.authenticate(Some("Basic !!!")),
            Err(AuthError::Malformed(_))
        ));
        let none = WriteKeys::from_json(r#"{"sources": {}}"#).unwrap();
        assert!(none.is_empty());
        assert_eq!(
            none.authenticate(Some("Bearer wk_ios_0123456789")),
            Err(AuthError::Unknown)
        );
    }

    #[test]
    fn bad_configurations_are_refused_without_quoting_keys() {
        for (text, want) in [
            (
                r#"{"sources": {"a": ""}}"#,
                WriteKeysError::EmptyKey("a".into()),
            ),
            (r#"{"sources": {"": "k"}}"#, WriteKeysError::EmptySource),
            (
                r#"{"sources": {"a": "same-key", "b": "same-key"}}"#,
                WriteKeysError::SharedKey("a".into(), "b".into()),
            ),
        ] {
            assert_eq!(WriteKeys::from_json(text).unwrap_err(), want);
        }
        for text in [
            r#"{"sources": {"a": 12345}}"#,
            r#"{"ios-app": "secret-key-value"}"#,
            r#"{"sources": ["secret-key-value"]}"#,
            "not json secret-key-value",
        ] {
            let err = WriteKeys::from_json(text).unwrap_err();
            assert!(matches!(err, WriteKeysError::Shape { .. }), "{err:?}");
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains("secret-key-value") && !shown.contains("12345"),
                "{shown}"
            );
        }
        let keys = WriteKeys::from_json(KEYS).unwrap();
        let debug = format!("{keys:?}");
        assert!(
            !debug.contains("wk_ios") && debug.contains("ios-app"),
            "{debug}"
        );
    }
}
