//! `FakeLine`: a stateful, contract-true fake of LINE's audience and token endpoints
//! (feature `fake`), for tests of this crate and of the sync runner.
//!
//! It listens on two 127.0.0.1 ports: `api_base()` (api.line.me: tokens, JSON uploads, get,
//! list, rename, delete) and `data_base()` (api-data.line.me: by-file uploads only), so a
//! client that sends a request to the wrong base gets a 404. It enforces what LINE enforces
//! (LINE Messaging API reference, https://developers.line.biz/en/reference/messaging-api/, and docs/line.md): bearer tokens (configured long-lived ones and
//! ones it issued, until they expire; ≤ 30 live short-lived tokens), 400 on
//! `X-Line-Retry-Key`, required name ≤ 120 characters, ≤ 10,000 IDs per JSON request and
//! ≤ 1,500,000 per file, `text/plain` file parts (415 otherwise), well-formed user IDs
//! (`U` + 32 hex; switch off with [`FakeConfig::strict_user_ids`]), audience existence (400
//! `AUDIENCE_GROUP_NOT_FOUND`), ≤ 10 running jobs per audience (429), 202 for create/add.
//!
//! Audiences keep every ID ever uploaded. With `auto_settle` (default on) each upload
//! finishes at once: READY at any size (upload audiences have no minimum and may be empty);
//! with it off they stay IN_PROGRESS until
//! [`FakeLine::settle`] or [`FakeLine::make_ready`]. Faults are injected per operation with
//! [`FakeLine::fail_next`] / [`FakeLine::inject`], and every request is logged.

mod messages;
mod routes;
mod state;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{Credentials, LineConfig};
use crate::model::AudienceStatus;
use crate::secret::Secret;

pub use messages::DeliveredMessage;
pub use state::{is_user_id, FakeAudience, FakeJob};

use routes::{lock, Shared};
use state::State;

/// The long-lived token a default [`FakeLine`] accepts.
pub const FAKE_LONG_LIVED_TOKEN: &str = "fake-long-lived-token";
/// The channel ID a default [`FakeLine`] issues tokens for.
pub const FAKE_CHANNEL_ID: &str = "1234567890";
/// The channel secret a default [`FakeLine`] issues tokens for.
pub const FAKE_CHANNEL_SECRET: &str = "fake0channel0secret0000000000000";

/// A well-formed LINE user ID (`U` + 32 hex digits) numbered `n`, for test data.
pub fn user_id(n: u64) -> String {
    format!("U{n:032x}")
}

/// `count` distinct well-formed user IDs starting at number `from`.
pub fn user_ids(from: u64, count: usize) -> Vec<String> {
    (from..).take(count).map(user_id).collect()
}

/// An operation of the fake, for fault injection and the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeOp {
    /// `POST /v2/oauth/accessToken`.
    IssueToken,
    /// `POST /oauth2/v3/token`.
    IssueStatelessToken,
    /// `POST /v2/bot/audienceGroup/upload`.
    Create,
    /// `PUT /v2/bot/audienceGroup/upload`.
    Add,
    /// `POST /v2/bot/audienceGroup/upload/byFile` (data base).
    CreateByFile,
    /// `PUT /v2/bot/audienceGroup/upload/byFile` (data base).
    AddByFile,
    /// `GET /v2/bot/audienceGroup/{id}`.
    Get,
    /// `GET /v2/bot/audienceGroup/list`.
    List,
    /// `PUT /v2/bot/audienceGroup/{id}/updateDescription`.
    Rename,
    /// `DELETE /v2/bot/audienceGroup/{id}`.
    Delete,
    /// `POST /v2/bot/message/push`.
    Push,
    /// `POST /v2/bot/message/multicast`.
    Multicast,
    /// `GET /v2/bot/message/quota`.
    Quota,
    /// `GET /v2/bot/message/quota/consumption`.
    QuotaConsumption,
}

impl FakeOp {
    /// Whether LINE takes `X-Line-Retry-Key` on this operation (messages only; 400 elsewhere).
    pub fn takes_retry_key(self) -> bool {
        matches!(self, FakeOp::Push | FakeOp::Multicast)
    }
}

/// An injected fault for the next `times` requests of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Status to answer (`None`: answer normally, e.g. only delay).
    pub status: Option<u16>,
    /// How many requests it applies to.
    pub times: u32,
    /// `Retry-After` seconds to send with it.
    pub retry_after: Option<u64>,
    /// Carry out the request first, then answer with `status` (a lost success).
    pub after_apply: bool,
    /// Wait this long before answering (after carrying out the request), to cause timeouts.
    pub delay: Option<Duration>,
}

impl Fault {
    /// Answer `status` instead of carrying out the request, `times` times.
    pub fn status(status: u16, times: u32) -> Self {
        Fault {
            status: Some(status),
            times,
            retry_after: None,
            after_apply: false,
            delay: None,
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Recognised operation (`None` for unknown routes, answered 404).
    pub op: Option<FakeOp>,
    /// Number of IDs in an upload.
    pub ids: Option<usize>,
    /// Audience the request named, if any.
    pub audience_group_id: Option<i64>,
    /// Multipart field names in the order sent (by-file uploads).
    pub form_fields: Option<Vec<String>>,
    /// Status answered.
    pub status: u16,
    /// `X-Line-Request-Id` answered.
    pub request_id: String,
}

/// Settings of a [`FakeLine`].
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Accepted long-lived tokens.
    pub long_lived_tokens: Vec<String>,
    /// Channel ID accepted by the token endpoints.
    pub channel_id: String,
    /// Channel secret accepted by the token endpoints.
    pub channel_secret: String,
    /// `expires_in` of short-lived tokens (LINE: 2,592,000 s).
    pub token_expires_in: u64,
    /// `expires_in` of stateless tokens (LINE: 900 s).
    pub stateless_expires_in: u64,
    /// Finish upload jobs at once (READY at any size).
    pub auto_settle: bool,
    /// Reject non-IFA IDs that are not `U` + 32 hex digits.
    pub strict_user_ids: bool,
    /// Max audiences per channel (LINE: 1,000).
    pub max_audiences: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            long_lived_tokens: vec![FAKE_LONG_LIVED_TOKEN.to_owned()],
            channel_id: FAKE_CHANNEL_ID.to_owned(),
            channel_secret: FAKE_CHANNEL_SECRET.to_owned(),
            token_expires_in: 2_592_000,
            stateless_expires_in: 900,
            auto_settle: true,
            strict_user_ids: true,
            max_audiences: 1_000,
        }
    }
}

/// A running fake LINE. Stops when dropped.
pub struct FakeLine {
    api_base: Url,
    data_base: Url,
    state: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeLine")
            .field("api_base", &self.api_base.as_str())
            .field("data_base", &self.data_base.as_str())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeLine {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeLine {
    /// Starts a fake with [`FakeConfig::default`]. Panics if it cannot bind 127.0.0.1.
    pub async fn start() -> FakeLine {
        Self::start_with(FakeConfig::default()).await
    }

    /// Starts a fake with `config`. Panics if it cannot bind 127.0.0.1.
    pub async fn start_with(config: FakeConfig) -> FakeLine {
        match Self::try_start_with(config).await {
            Ok(fake) => fake,
            Err(e) => panic!("FakeLine: cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts a fake with `config`.
    pub async fn try_start_with(config: FakeConfig) -> std::io::Result<FakeLine> {
        let state: Shared = Arc::new(Mutex::new(State::new(config)));
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let data = TcpListener::bind("127.0.0.1:0").await?;
        let api_base = base_url(&api)?;
        let data_base = base_url(&data)?;
        let api_router = routes::api_router(state.clone());
        let data_router = routes::data_router(state.clone());
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = axum::serve(api, api_router).await {
                    tracing::error!(error = %e, "FakeLine api server stopped");
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = axum::serve(data, data_router).await {
                    tracing::error!(error = %e, "FakeLine data server stopped");
                }
            }),
        ];
        Ok(FakeLine {
            api_base,
            data_base,
            state,
            tasks,
        })
    }

    /// Base URL standing in for `https://api.line.me`.
    pub fn api_base(&self) -> Url {
        self.api_base.clone()
    }

    /// Base URL standing in for `https://api-data.line.me`.
    pub fn data_base(&self) -> Url {
        self.data_base.clone()
    }

    /// A client config for this fake with `credentials` (short timeout suited to tests).
    pub fn config(&self, credentials: Credentials) -> LineConfig {
        let mut config = LineConfig::new(credentials).with_bases(self.api_base(), self.data_base());
        config.timeout = Duration::from_secs(30);
        config
    }

    /// Config using the default long-lived token.
    pub fn config_long_lived(&self) -> LineConfig {
        self.config(Credentials::LongLived(Secret::new(FAKE_LONG_LIVED_TOKEN)))
    }

    /// Config issuing short-lived tokens with the fake's channel ID and secret.
    pub fn config_client_credentials(&self) -> LineConfig {
        let st = lock(&self.state);
        let credentials = Credentials::ClientCredentials {
            channel_id: st.config.channel_id.clone(),
            channel_secret: Secret::new(st.config.channel_secret.clone()),
        };
        drop(st);
        self.config(credentials)
    }

    /// Config issuing stateless tokens with the fake's channel ID and secret.
    pub fn config_stateless(&self) -> LineConfig {
        let st = lock(&self.state);
        let credentials = Credentials::Stateless {
            channel_id: st.config.channel_id.clone(),
            channel_secret: Secret::new(st.config.channel_secret.clone()),
        };
        drop(st);
        self.config(credentials)
    }

    /// The next `times` requests of `op` answer `status` (e.g. 429, 500, 400) without effect.
    pub fn fail_next(&self, op: FakeOp, status: u16, times: u32) {
        self.inject(op, Fault::status(status, times));
    }

    /// Queues a fault for `op` (faults for one op apply in the order queued).
    pub fn inject(&self, op: FakeOp, fault: Fault) {
        if fault.times > 0 {
            lock(&self.state).faults.push_back((op, fault));
        }
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }

    /// Requests of one operation.
    pub fn requests_for(&self, op: FakeOp) -> Vec<LoggedRequest> {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.op == Some(op))
            .cloned()
            .collect()
    }

    /// Clears the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).log.clear();
    }

    /// Tokens issued so far (short-lived and stateless).
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state).issued_total
    }

    /// Revokes every token the fake issued (requests with them answer 401).
    pub fn revoke_issued_tokens(&self) {
        lock(&self.state).issued.clear();
    }

    /// Accepts another long-lived token.
    pub fn add_long_lived_token(&self, token: &str) {
        lock(&self.state)
            .config
            .long_lived_tokens
            .push(token.to_owned());
    }

    /// Switches immediate job completion on or off.
    pub fn set_auto_settle(&self, on: bool) {
        lock(&self.state).config.auto_settle = on;
    }

    /// The member set of an audience (`None` if it does not exist or was deleted).
    pub fn members(&self, audience_group_id: i64) -> Option<BTreeSet<String>> {
        lock(&self.state)
            .audiences
            .get(&audience_group_id)
            .map(|a| a.members.clone())
    }

    /// A snapshot of one audience.
    pub fn audience(&self, audience_group_id: i64) -> Option<FakeAudience> {
        lock(&self.state).audiences.get(&audience_group_id).cloned()
    }

    /// Snapshots of all audiences, by ID.
    pub fn audiences(&self) -> Vec<FakeAudience> {
        lock(&self.state).audiences.values().cloned().collect()
    }

    /// Finishes the audience's running jobs (READY at any size). False if it does not exist.
    pub fn settle(&self, audience_group_id: i64) -> bool {
        lock(&self.state).settle(audience_group_id)
    }

    /// Settles every audience.
    pub fn settle_all(&self) {
        let mut st = lock(&self.state);
        let ids: Vec<i64> = st.audiences.keys().copied().collect();
        for id in ids {
            st.settle(id);
        }
    }

    /// Forces an audience READY (jobs finished, no failure) whatever its size.
    pub fn make_ready(&self, audience_group_id: i64) -> bool {
        let mut st = lock(&self.state);
        let Some(a) = st.audiences.get_mut(&audience_group_id) else {
            return false;
        };
        for job in &mut a.jobs {
            job.status = crate::model::JobStatus::Finished;
            job.failed_type = None;
            job.audience_count = job.new_ids;
        }
        a.status = AudienceStatus::Ready;
        a.failed_type = None;
        true
    }

    /// Sets an audience's status (e.g. EXPIRED, which refuses further uploads).
    pub fn set_status(&self, audience_group_id: i64, status: AudienceStatus) -> bool {
        match lock(&self.state).audiences.get_mut(&audience_group_id) {
            Some(a) => {
                a.status = status;
                true
            }
            None => false,
        }
    }
}

fn base_url(listener: &TcpListener) -> std::io::Result<Url> {
    let addr = listener.local_addr()?;
    Url::parse(&format!("http://{addr}"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
