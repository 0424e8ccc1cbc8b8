//! Channel access tokens: a long-lived token as configured, or an issued one cached until
//! shortly before it expires.
//!
//! Issuing a token per request would revoke older tokens (≤ 30 live short-lived tokens per
//! channel) and waste the rate limit, so [`TokenProvider`] holds one token behind a tokio
//! mutex and issues a new one only when the cached one is within the refresh margin of its
//! expiry (margin capped at half the token's lifetime, so 15-minute stateless tokens are
//! reused for ~7.5 minutes). The clock is injectable so tests can jump to near-expiry.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime};

use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{Credentials, LineConfig};
use crate::error::LineError;
use crate::secret::Secret;

/// Path of the short-lived token endpoint.
pub const SHORT_LIVED_TOKEN_PATH: &str = "/v2/oauth/accessToken";
/// Path of the stateless token endpoint.
pub const STATELESS_TOKEN_PATH: &str = "/oauth2/v3/token";

/// A source of "now" (wall clock in production, a manual clock in tests).
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        audience_clock::now()
    }
}

/// A clock that moves only when told to (for tests). Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<StdMutex<SystemTime>>);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: SystemTime) -> Self {
        ManualClock(Arc::new(StdMutex::new(start)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct CachedToken {
    token: Secret,
    refresh_at: SystemTime,
}

/// Hands out the bearer token for each request; thread-safe, shareable.
pub struct TokenProvider {
    http: reqwest::Client,
    api_base: Url,
    credentials: Credentials,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<CachedToken>>,
    issued: AtomicU64,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("kind", &self.credentials.kind())
            .field("api_base", &self.api_base.as_str())
            .field("refresh_margin", &self.refresh_margin)
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct IssuedToken {
    access_token: String,
    expires_in: i64,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl TokenProvider {
    /// A provider for `config`'s credentials, issuing through `http` at `config.api_base`.
    pub fn new(http: reqwest::Client, config: &LineConfig, clock: Arc<dyn Clock>) -> Self {
        TokenProvider {
            http,
            api_base: config.api_base.clone(),
            credentials: config.credentials.clone(),
            refresh_margin: config.refresh_margin,
            clock,
            cache: Mutex::new(None),
            issued: AtomicU64::new(0),
        }
    }

    /// The token to send now: the long-lived one, or the cached issued one, issuing a new
    /// one first if none is cached or the cached one is within the refresh margin of expiry.
    pub async fn token(&self) -> Result<Secret, LineError> {
        let (channel_id, channel_secret, kind, path) = match &self.credentials {
            Credentials::LongLived(token) => return Ok(token.clone()),
            Credentials::ClientCredentials {
                channel_id,
                channel_secret,
            } => (
                channel_id,
                channel_secret,
                "short-lived",
                SHORT_LIVED_TOKEN_PATH,
            ),
            Credentials::Stateless {
                channel_id,
                channel_secret,
            } => (
                channel_id,
                channel_secret,
                "stateless",
                STATELESS_TOKEN_PATH,
            ),
        };
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some(cached) = cache.as_ref() {
            if now < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        let (token, expires_in) = self.issue(kind, path, channel_id, channel_secret).await?;
        let margin = self.refresh_margin.min(expires_in / 2);
        let refresh_at = now + expires_in.saturating_sub(margin);
        self.issued.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            kind,
            expires_in_secs = expires_in.as_secs(),
            "issued LINE channel access token"
        );
        *cache = Some(CachedToken {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Drops the cached issued token (e.g. after LINE answered 401), so the next call issues.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// How many tokens this provider has issued.
    pub fn issued_count(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Whether tokens are issued (and so can be refreshed) rather than fixed.
    pub fn issues_tokens(&self) -> bool {
        !matches!(self.credentials, Credentials::LongLived(_))
    }

    async fn issue(
        &self,
        kind: &'static str,
        path: &str,
        channel_id: &str,
        channel_secret: &Secret,
    ) -> Result<(Secret, Duration), LineError> {
        const OP: &str = "issue_token";
        let url = crate::client::endpoint(&self.api_base, path);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", channel_id),
            ("client_secret", channel_secret.expose()),
        ];
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| crate::client::transport_error(OP, e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| crate::client::transport_error(OP, e))?;
        if !status.is_success() {
            let parsed: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
            let message = match (parsed.error, parsed.error_description, parsed.message) {
                (Some(e), Some(d), _) => format!("{e}: {d}"),
                (Some(e), None, _) => e,
                (None, _, Some(m)) => m,
                _ => crate::client::snippet(&body),
            };
            return Err(LineError::Token {
                kind,
                status: Some(status.as_u16()),
                message,
            });
        }
        let issued: IssuedToken = serde_json::from_slice(&body).map_err(|e| LineError::Token {
            kind,
            status: Some(status.as_u16()),
            message: format!("unreadable token response: {e}"),
        })?;
        if issued.access_token.is_empty() || issued.expires_in <= 0 {
            return Err(LineError::Token {
                kind,
                status: Some(status.as_u16()),
                message: format!(
                    "token response has an empty token or expires_in {}",
                    issued.expires_in
                ),
            });
        }
        if let Some(t) = issued.token_type.as_deref() {
            if !t.eq_ignore_ascii_case("bearer") {
                tracing::warn!(kind, token_type = t, "unexpected LINE token_type");
            }
        }
        let expires_in = Duration::from_secs(u64::try_from(issued.expires_in).unwrap_or(0));
        Ok((Secret::new(issued.access_token), expires_in))
    }
}
