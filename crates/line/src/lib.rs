//! LINE Messaging API adapter: audiences, messages (push, multicast, quota), channel access
//! tokens and webhook signatures.
//!
//! Design decisions:
//! - **One call, one request.** [`LineClient`] validates LINE's limits client-side (≤ 10,000
//!   IDs per JSON request, ≤ 1,500,000 per file, names ≤ 120 characters), sends once, treats
//!   any 2xx as success and classifies failures ([`LineError::is_retryable`]). Retrying,
//!   backoff and parking belong to the shared sync runner, not here.
//! - **No idempotency key.** Audience endpoints reject `X-Line-Retry-Key` (400), so it is never
//!   sent; [`LineError::outcome_unknown`] tells the caller when a create must be reconciled
//!   by description before it is tried again.
//! - **Tokens are cached.** [`TokenProvider`] issues a short-lived or stateless token once and
//!   reuses it until shortly before expiry, on an injectable [`Clock`].
//! - **Secrets never print.** Tokens and channel secrets are [`Secret`]s (`***` in Debug and
//!   Display); errors name variables and request IDs, never values.
//! - **Contract-true fake.** With the `fake` feature, [`fake::FakeLine`] is a stateful local
//!   LINE (axum) enforcing the same contract, for this and other crates' tests; the client's
//!   requests are also validated against LINE's official OpenAPI files with Prism.

pub mod client;
pub mod config;
pub mod error;
pub mod limits;
pub mod messages;
pub mod model;
pub mod secret;
pub mod token;
pub mod webhook;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::LineClient;
pub use config::{ConfigError, Credentials, LineConfig};
pub use error::{ErrorBody, ErrorDetail, LineError};
pub use messages::{MessageQuota, MessageRequest, QuotaConsumption};
pub use model::{
    AudienceGroup, AudienceGroupDetail, AudienceGroupPage, AudienceStatus, CreatedAudience,
    FailedType, Job, JobStatus, ListAudiences,
};
pub use secret::Secret;
pub use token::{Clock, ManualClock, SystemClock, TokenProvider};
pub use webhook::{parse_follow_events, verify_signature, FollowEvent, FollowKind};
