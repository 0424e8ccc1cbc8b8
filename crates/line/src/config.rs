//! LINE client configuration: endpoints, credentials and timeouts, loaded and validated once.
//!
//! Secrets come from environment variables or from files named by `<VAR>_FILE` (for secret
//! managers that mount files). Every problem is reported at load time with the variable's
//! name, never its value.

use std::path::Path;
use std::time::Duration;

use reqwest::Url;

use crate::secret::Secret;

/// Production base URL of the Messaging API.
pub const DEFAULT_API_BASE: &str = "https://api.line.me";
/// Production base URL of the by-file (blob) audience endpoints.
pub const DEFAULT_DATA_BASE: &str = "https://api-data.line.me";
/// Default request timeout (by-file uploads of 1.5M IDs are large).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default: refresh an issued token this long before it expires.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(24 * 60 * 60);

/// Environment variable names read by [`LineConfig::from_env`].
pub mod vars {
    /// Messaging API base URL (default `https://api.line.me`).
    pub const API_BASE: &str = "LINE_API_BASE";
    /// By-file endpoints base URL (default `https://api-data.line.me`).
    pub const DATA_BASE: &str = "LINE_DATA_BASE";
    /// Request timeout in seconds (default 300).
    pub const TIMEOUT_SECS: &str = "LINE_TIMEOUT_SECS";
    /// Refresh margin for issued tokens in seconds (default 86400).
    pub const REFRESH_MARGIN_SECS: &str = "LINE_TOKEN_REFRESH_MARGIN_SECS";
    /// `long-lived`, `short-lived` or `stateless`; inferred when unset.
    pub const TOKEN_KIND: &str = "LINE_TOKEN_KIND";
    /// Long-lived channel access token (or `LINE_CHANNEL_ACCESS_TOKEN_FILE`).
    pub const ACCESS_TOKEN: &str = "LINE_CHANNEL_ACCESS_TOKEN";
    /// Channel ID, for issuing tokens.
    pub const CHANNEL_ID: &str = "LINE_CHANNEL_ID";
    /// Channel secret (or `LINE_CHANNEL_SECRET_FILE`).
    pub const CHANNEL_SECRET: &str = "LINE_CHANNEL_SECRET";
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A long-lived channel access token issued in the LINE Developers console.
    LongLived(Secret),
    /// Short-lived tokens (30 days) issued with `POST /v2/oauth/accessToken`.
    ClientCredentials {
        /// Channel ID.
        channel_id: String,
        /// Channel secret.
        channel_secret: Secret,
    },
    /// Stateless tokens (15 minutes) issued with `POST /oauth2/v3/token`.
    Stateless {
        /// Channel ID.
        channel_id: String,
        /// Channel secret.
        channel_secret: Secret,
    },
}

impl Credentials {
    /// Short name of the credential kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::LongLived(_) => "long-lived",
            Credentials::ClientCredentials { .. } => "short-lived",
            Credentials::Stateless { .. } => "stateless",
        }
    }
}

/// A configuration problem found at load time. Names variables, never values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither a token nor a channel ID + secret was configured.
    #[error(
        "no LINE credentials: set {} (or {}_FILE), or {} and {} (or {}_FILE)",
        vars::ACCESS_TOKEN,
        vars::ACCESS_TOKEN,
        vars::CHANNEL_ID,
        vars::CHANNEL_SECRET,
        vars::CHANNEL_SECRET
    )]
    MissingCredentials,
    /// A variable required by the chosen credential kind is missing.
    #[error("{var} is required for {kind} LINE credentials")]
    Missing {
        /// Variable name.
        var: &'static str,
        /// Credential kind.
        kind: &'static str,
    },
    /// Both `VAR` and `VAR_FILE` are set.
    #[error("both {var} and {var}_FILE are set; set only one")]
    Ambiguous {
        /// Variable name.
        var: String,
    },
    /// A value is present but unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// Variable or field name.
        var: String,
        /// What is wrong (never the value of a secret).
        reason: String,
    },
    /// A `_FILE` variable names a file that cannot be read.
    #[error("cannot read {var} from file {path}: {source}")]
    File {
        /// Variable name.
        var: String,
        /// The file path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Validated configuration of a [`crate::LineClient`].
#[derive(Debug, Clone)]
pub struct LineConfig {
    /// Messaging API base URL.
    pub api_base: Url,
    /// Base URL of the by-file audience endpoints.
    pub data_base: Url,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Refresh an issued token this long before it expires (capped at half its lifetime).
    pub refresh_margin: Duration,
}

impl LineConfig {
    /// Production endpoints and default timeouts with the given credentials.
    pub fn new(credentials: Credentials) -> Self {
        LineConfig {
            api_base: parse_const(DEFAULT_API_BASE),
            data_base: parse_const(DEFAULT_DATA_BASE),
            credentials,
            timeout: DEFAULT_TIMEOUT,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }

    /// Same configuration pointed at other endpoints (a fake, a mock, a proxy).
    pub fn with_bases(mut self, api_base: Url, data_base: Url) -> Self {
        self.api_base = api_base;
        self.data_base = data_base;
        self
    }

    /// Loads from the process environment (see [`vars`]) and validates.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Loads from any variable lookup (tests pass a map) and validates.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let api_base = match non_empty(&lookup, vars::API_BASE) {
            Some(v) => parse_base(vars::API_BASE, &v)?,
            None => parse_const(DEFAULT_API_BASE),
        };
        let data_base = match non_empty(&lookup, vars::DATA_BASE) {
            Some(v) => parse_base(vars::DATA_BASE, &v)?,
            None => parse_const(DEFAULT_DATA_BASE),
        };
        let timeout = seconds(&lookup, vars::TIMEOUT_SECS)?.unwrap_or(DEFAULT_TIMEOUT);
        let refresh_margin =
            seconds(&lookup, vars::REFRESH_MARGIN_SECS)?.unwrap_or(DEFAULT_REFRESH_MARGIN);
        let token = read_secret(&lookup, vars::ACCESS_TOKEN)?;
        let channel_id = non_empty(&lookup, vars::CHANNEL_ID);
        let kind = non_empty(&lookup, vars::TOKEN_KIND);
        let credentials = match kind.as_deref() {
            Some("long-lived") => Credentials::LongLived(token.ok_or(ConfigError::Missing {
                var: vars::ACCESS_TOKEN,
                kind: "long-lived",
            })?),
            Some(k @ ("short-lived" | "stateless")) => {
                let kind = if k == "stateless" {
                    "stateless"
                } else {
                    "short-lived"
                };
                let channel_id = channel_id.ok_or(ConfigError::Missing {
                    var: vars::CHANNEL_ID,
                    kind,
                })?;
                let channel_secret =
                    read_secret(&lookup, vars::CHANNEL_SECRET)?.ok_or(ConfigError::Missing {
                        var: vars::CHANNEL_SECRET,
                        kind,
                    })?;
                if kind == "stateless" {
                    Credentials::Stateless {
                        channel_id,
                        channel_secret,
                    }
                } else {
                    Credentials::ClientCredentials {
                        channel_id,
                        channel_secret,
                    }
                }
            }
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: vars::TOKEN_KIND.into(),
                    reason: format!("{other:?} is not one of long-lived, short-lived, stateless"),
                })
            }
            None => match (token, channel_id) {
                (Some(token), _) => Credentials::LongLived(token),
                (None, Some(channel_id)) => Credentials::ClientCredentials {
                    channel_id,
                    channel_secret: read_secret(&lookup, vars::CHANNEL_SECRET)?.ok_or(
                        ConfigError::Missing {
                            var: vars::CHANNEL_SECRET,
                            kind: "short-lived",
                        },
                    )?,
                },
                (None, None) => return Err(ConfigError::MissingCredentials),
            },
        };
        let config = LineConfig {
            api_base,
            data_base,
            credentials,
            timeout,
            refresh_margin,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks values that [`LineConfig::new`] or direct field edits could get wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base("api_base", &self.api_base)?;
        check_base("data_base", &self.data_base)?;
        if self.timeout.is_zero() {
            return Err(ConfigError::Invalid {
                var: "timeout".into(),
                reason: "must be greater than zero".into(),
            });
        }
        match &self.credentials {
            Credentials::LongLived(token) => check_secret(vars::ACCESS_TOKEN, token),
            Credentials::ClientCredentials {
                channel_id,
                channel_secret,
            }
            | Credentials::Stateless {
                channel_id,
                channel_secret,
            } => {
                if channel_id.is_empty() || !channel_id.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(ConfigError::Invalid {
                        var: vars::CHANNEL_ID.into(),
                        reason: "must be a non-empty string without spaces".into(),
                    });
                }
                check_secret(vars::CHANNEL_SECRET, channel_secret)
            }
        }
    }
}

/// Reads secret `var` from the variable itself or from the file named by `<var>_FILE`
/// (surrounding whitespace, e.g. a trailing newline, is trimmed). `Ok(None)` when neither is set.
pub fn read_secret(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &str,
) -> Result<Option<Secret>, ConfigError> {
    let file_var = format!("{var}_FILE");
    let direct = non_empty(lookup, var);
    let file = non_empty(lookup, &file_var);
    let value = match (direct, file) {
        (Some(_), Some(_)) => return Err(ConfigError::Ambiguous { var: var.into() }),
        (Some(v), None) => v.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(Path::new(&path))
            .map_err(|source| ConfigError::File {
                var: file_var.clone(),
                path: path.clone(),
                source,
            })?
            .trim()
            .to_owned(),
        (None, None) => return Ok(None),
    };
    let secret = Secret::new(value);
    check_secret(var, &secret)?;
    Ok(Some(secret))
}

fn check_secret(var: &str, secret: &Secret) -> Result<(), ConfigError> {
    if secret.is_empty() {
        return Err(ConfigError::Invalid {
            var: var.into(),
            reason: "is empty".into(),
        });
    }
    if !secret.expose().chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConfigError::Invalid {
            var: var.into(),
            reason: "contains whitespace, control or non-ASCII characters".into(),
        });
    }
    Ok(())
}

fn non_empty(lookup: &impl Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    lookup(var).filter(|v| !v.trim().is_empty())
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &str,
) -> Result<Option<Duration>, ConfigError> {
    match non_empty(lookup, var) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(|s| Some(Duration::from_secs(s)))
            .map_err(|e| ConfigError::Invalid {
                var: var.into(),
                reason: format!("{v:?} is not a whole number of seconds: {e}"),
            }),
    }
}

fn parse_base(var: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| ConfigError::Invalid {
        var: var.into(),
        reason: format!("{value:?} is not a URL: {e}"),
    })?;
    check_base(var, &url)?;
    Ok(url)
}

fn check_base(var: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            var: var.into(),
            reason: format!("{url} must be an http(s) URL with a host"),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Invalid {
            var: var.into(),
            reason: format!("{url} must not have a query or fragment"),
        });
    }
    Ok(())
}

fn parse_const(url: &str) -> Url {
    // The constants above are valid URLs; a failure here is a programming error caught by tests.
    Url::parse(url).unwrap_or_else(|e| panic!("built-in URL {url} does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn long_lived_token_with_defaults() {
        let c =
            LineConfig::from_lookup(lookup(&[("LINE_CHANNEL_ACCESS_TOKEN", "tok-123")])).unwrap();
        assert_eq!(c.api_base.as_str(), "https://api.line.me/");
        assert_eq!(c.data_base.as_str(), "https://api-data.line.me/");
        assert_eq!(c.timeout, Duration::from_secs(300));
        assert_eq!(
            c.credentials,
            Credentials::LongLived(Secret::new("tok-123"))
        );
    }

    #[test]
    fn channel_id_and_secret_file_give_short_lived() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let p = path.to_str().unwrap();
        let c = LineConfig::from_lookup(lookup(&[
            ("LINE_CHANNEL_ID", "1234"),
            ("LINE_CHANNEL_SECRET_FILE", p),
            ("LINE_API_BASE", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        assert_eq!(
            c.credentials,
            Credentials::ClientCredentials {
                channel_id: "1234".into(),
                channel_secret: Secret::new("s3cr3t")
            }
        );
        assert_eq!(c.api_base.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn stateless_kind_is_honoured() {
        let c = LineConfig::from_lookup(lookup(&[
            ("LINE_TOKEN_KIND", "stateless"),
            ("LINE_CHANNEL_ID", "1234"),
            ("LINE_CHANNEL_SECRET", "abc"),
        ]))
        .unwrap();
        assert_eq!(c.credentials.kind(), "stateless");
    }

    #[test]
    fn load_time_errors_name_the_variable_not_the_value() {
        let e = LineConfig::from_lookup(lookup(&[])).unwrap_err();
        assert!(matches!(e, ConfigError::MissingCredentials));
        let e = LineConfig::from_lookup(lookup(&[("LINE_CHANNEL_ID", "1")])).unwrap_err();
        assert!(e.to_string().contains("LINE_CHANNEL_SECRET"), "{e}");
        let e = LineConfig::from_lookup(lookup(&[
            ("LINE_CHANNEL_ACCESS_TOKEN", "tok-abc"),
            ("LINE_CHANNEL_ACCESS_TOKEN_FILE", "/x"),
        ]))
        .unwrap_err();
        assert!(matches!(e, ConfigError::Ambiguous { .. }));
        let e = LineConfig::from_lookup(lookup(&[("LINE_CHANNEL_ACCESS_TOKEN", "tok with space")]))
            .unwrap_err();
        assert!(!e.to_string().contains("tok with space"), "{e}");
        let e = LineConfig::from_lookup(lookup(&[
            ("LINE_CHANNEL_ACCESS_TOKEN", "tok"),
            ("LINE_API_BASE", "ftp://x"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("LINE_API_BASE"), "{e}");
        let e = LineConfig::from_lookup(lookup(&[(
            "LINE_CHANNEL_ACCESS_TOKEN_FILE",
            "/nonexistent/token",
        )]))
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/token"), "{e}");
        let e = LineConfig::from_lookup(lookup(&[
            ("LINE_CHANNEL_ACCESS_TOKEN", "tok"),
            ("LINE_TIMEOUT_SECS", "soon"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("LINE_TIMEOUT_SECS"), "{e}");
    }
}
