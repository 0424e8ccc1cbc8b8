//! The LINE message destination (`line_message`): a push or multicast when a user enters (or
//! exits) a segment, exactly once per change. See docs/messages.md.
//!
//! Per segment and run: stop if parked; re-send the requests a previous run planned and did
//! not see answered (same recipients, messages and retry key: LINE answers 409 to what it
//! already accepted, which counts as sent); read the pending entries, drop those held past
//! the quiet hours' expiry and hold the rest during quiet hours, set aside users without a
//! LINE ID, users whose messages cannot be rendered and users messaged within the frequency
//! cap (acknowledged and counted in the ledger), plan with `audience_core::plan::message`; read the quota and park instead of
//! sending when the plan needs more than is left; then, one batch at a time, store the
//! planned requests *before* sending them, send each (paced below LINE's rate limits,
//! retried with the same key), and acknowledge its entries after the ledger row is written.
//!
//! It lives beside the LINE audience destination because it shares its client, its error
//! classification and its parking.

pub mod cap;
pub mod explain;
mod prepare;
pub mod settings;
pub mod state;

use crate::config::LineMessageSyncConfig;
use crate::error::SyncError;
use crate::line::state::Parked;
use crate::report::{SegmentOutcome, SegmentReport};
use crate::runner::SyncContext;
use crate::spec::{DestinationSpec, SegmentSettings};
use crate::Destination;
use async_trait::async_trait;
use audience_core::plan::message::SendKind;
use audience_core::rules::Segment;
use audience_core::{ChangeKind, Zone};
use audience_line::{LineClient, LineError, MessageRequest};
use audience_retry::{retry, Retryable};
use audience_store::{LedgerEntry, LedgerStatus, OutboxEntry};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prepare::Prepared;
use settings::LineMessageSettings;
use state::{save, PlannedRequest, StoredMessageState, MAX_PLANNED_BYTES};
use std::num::NonZeroU32;
use std::time::Instant;

/// The destination kind in rules, the outbox, the ledger and destination state.
pub const KIND: &str = "line_message";

/// How the rules refer to this destination.
pub const SPEC: DestinationSpec = DestinationSpec {
    kind: KIND,
    check: <LineMessageSettings as SegmentSettings>::check_value,
};

/// Sends messages for segments with a `line_message` destination.
pub struct LineMessageDestination {
    client: Option<LineClient>,
    config: LineMessageSyncConfig,
    zone: Zone,
    multicasts: DefaultDirectRateLimiter,
    pushes: DefaultDirectRateLimiter,
}

fn per_second(n: u32) -> DefaultDirectRateLimiter {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(n))
}

impl LineMessageDestination {
    /// A destination sending through `client` (`None`: dry runs only); `zone` is the rules'
    /// time zone (quiet hours are local times).
    pub fn new(config: LineMessageSyncConfig, client: Option<LineClient>, zone: Zone) -> Self {
        LineMessageDestination {
            multicasts: per_second(config.multicasts_per_second),
            pushes: per_second(config.pushes_per_second),
            client,
            config,
            zone,
        }
    }
}

/// A LINE error as the shared retry sees it.
struct Failure(LineError);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Retryable for Failure {
    fn is_retryable(&self) -> bool {
        self.0.is_retryable()
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        self.0.retry_after()
    }
}

/// How sending one planned request ended.
enum Sent {
    /// LINE accepted it now (`already: false`) or earlier (409 on its retry key).
    Done { attempts: u32, already: bool },
    /// Not known to be sent (retries exhausted, deadline): it stays planned.
    Unknown(String),
    /// LINE refused it (not sent): the segment parks.
    Refused(LineError),
}

#[async_trait]
impl Destination for LineMessageDestination {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn sync_segment(
        &self,
        ctx: &SyncContext<'_>,
        segment: &Segment,
    ) -> Result<SegmentReport, SyncError> {
        let seg = segment.def.id.as_str();
        let mut report = SegmentReport::new(KIND, seg);
        let Some(settings) = LineMessageSettings::of(segment) else {
            return Ok(report);
        };
        let settings = settings.map_err(|m| SyncError::Config(format!("segment `{seg}`: {m}")))?;
        let mut st = state::load(ctx.store, seg).await?;
        if ctx.dry_run {
            return self.dry_run(ctx, seg, &settings, &st, report).await;
        }
        let Some(client) = &self.client else {
            return Err(SyncError::Config(
                "LINE credentials are not configured: set LINE_CHANNEL_ACCESS_TOKEN (or _FILE), or LINE_CHANNEL_ID and LINE_CHANNEL_SECRET (or _FILE)".into(),
            ));
        };
        if let Some(p) = &st.parked {
            if !ctx.retry_parked {
                report.outcome = SegmentOutcome::Parked;
                report.notes.push(format!(
                    "parked since {}: {}; fix the cause, then run `audience-stream sync --retry-parked`",
                    audience_core::time::format_rfc3339(p.at),
                    p.reason
                ));
                return Ok(report);
            }
            st.parked = None;
            save(ctx.store, seg, &st).await?;
        }
        // Requests a previous run stored and did not see answered: the same again.
        if !st.planned.is_empty() {
            report.notes.push(format!(
                "re-sending {} requests planned by an earlier run (same retry keys)",
                st.planned.len()
            ));
            if !self
                .send_planned(
                    ctx,
                    client,
                    seg,
                    settings.cap.is_some(),
                    &mut st,
                    &mut report,
                )
                .await?
            {
                return Ok(report);
            }
        }
        let entries = ctx
            .store
            .pending(KIND, seg, self.config.max_pending)
            .await?;
        if entries.is_empty() {
            return Ok(report);
        }
        let prepared = prepare::prepare(
            ctx,
            &settings,
            &self.zone,
            seg,
            entries,
            self.config.max_recipients_per_run,
        )
        .await?;
        self.settle_unsent(ctx, seg, &prepared, &mut report).await?;
        if let Some((held, until)) = prepared.held {
            report.notes.push(format!(
                "quiet hours: {held} changes held until about {}",
                audience_core::time::format_rfc3339(until)
            ));
            return Ok(report);
        }
        if prepared.requests.is_empty() {
            return Ok(report);
        }
        if prepared.over_cap > 0 {
            report.incomplete(format!(
                "{} recipients over the per-run cap of {} wait for the next run",
                prepared.over_cap, self.config.max_recipients_per_run
            ));
        }
        // The quota: never start a send that cannot finish.
        let needed = prepared.recipients();
        match quota_left(client).await {
            Ok(Some(left)) if needed > left => {
                let reason = format!(
                    "the run would send {needed} messages and {left} are left of this month's quota"
                );
                self.park(ctx, seg, &mut st, "quota", reason, &mut report)
                    .await?;
                return Ok(report);
            }
            Ok(_) => {}
            Err(e) => {
                report.failed += 1;
                report.incomplete(format!(
                    "cannot read the message quota ({e}); nothing sent, entries stay pending"
                ));
                return Ok(report);
            }
        }
        report.planned = prepared.requests.iter().map(describe).collect();
        let mut requests = prepared.requests.into_iter().peekable();
        while requests.peek().is_some() {
            // One batch: stored before the first of it is sent.
            let mut bytes = 0;
            while let Some(next) = requests.peek() {
                let size = next.stored_bytes();
                if !st.planned.is_empty() && bytes + size > MAX_PLANNED_BYTES {
                    break;
                }
                bytes += size;
                st.planned.extend(requests.next());
            }
            save(ctx.store, seg, &st).await?;
            if !self
                .send_planned(
                    ctx,
                    client,
                    seg,
                    settings.cap.is_some(),
                    &mut st,
                    &mut report,
                )
                .await?
            {
                return Ok(report);
            }
        }
        Ok(report)
    }
}

/// What is left of the month's quota (`None`: no limit).
async fn quota_left(client: &LineClient) -> Result<Option<u64>, LineError> {
    let quota = client.quota().await?;
    let Some(limit) = quota.limit() else {
        return Ok(None);
    };
    let used = client.quota_consumption().await?.total_usage;
    Ok(Some(u64::try_from(limit.saturating_sub(used)).unwrap_or(0)))
}

fn describe(r: &PlannedRequest) -> String {
    format!(
        "{} {} recipients, {} messages (retry key {})",
        r.kind.as_str(),
        r.to.len(),
        r.messages.len(),
        r.retry_key
    )
}

fn counts(entries: &[OutboxEntry]) -> (u64, u64) {
    let exits = entries
        .iter()
        .filter(|e| e.op == ChangeKind::Exited)
        .count() as u64;
    (entries.len() as u64 - exits, exits)
}

impl LineMessageDestination {
    /// Sends the stored planned requests in order, removing each once sent (and its entries
    /// acknowledged). `false` when the run should stop for this segment (a request not known
    /// to be sent stays planned; a refusal parks).
    async fn send_planned(
        &self,
        ctx: &SyncContext<'_>,
        client: &LineClient,
        seg: &str,
        capped: bool,
        st: &mut StoredMessageState,
        report: &mut SegmentReport,
    ) -> Result<bool, SyncError> {
        while let Some(req) = st.planned.first().cloned() {
            if ctx.expired() {
                report.incomplete("deadline reached; planned requests are re-sent next run");
                return Ok(false);
            }
            let users: Vec<&str> = req.entries.iter().map(|e| e.user.as_str()).collect();
            if capped {
                // Before sending: a message is never out without its cap record.
                cap::mark(ctx.store, seg, &users, ctx.now, &req.retry_key).await?;
            }
            let started = Instant::now();
            let sent = self.send_one(ctx, client, &req).await;
            let duration_ms = started.elapsed().as_millis() as u64;
            match sent {
                Sent::Done { attempts, already } => {
                    let (users, exits) = counts(&req.entries);
                    ctx.store
                        .append_ledger(&LedgerEntry {
                            at: ctx.now,
                            destination: KIND.to_string(),
                            segment: seg.to_string(),
                            action: req.kind.as_str().to_string(),
                            target: Some(req.retry_key.clone()),
                            users,
                            exits,
                            status: LedgerStatus::Ok,
                            attempts,
                            duration_ms,
                            message: already.then(|| {
                                "LINE had already accepted this retry key (409): sent once, not again".to_string()
                            }),
                            detail: serde_json::json!({
                                "retry_key": req.retry_key,
                                "recipients": req.to.len(),
                                "messages": req.messages.len(),
                                "already_sent": already,
                            }),
                        })
                        .await?;
                    report.acked += ctx.store.ack_pending(&req.entries).await?;
                    report.sent += 1;
                    st.planned.remove(0);
                    save(ctx.store, seg, st).await?;
                }
                Sent::Unknown(why) => {
                    self.ledger_failure(ctx, seg, &req, LedgerStatus::Failed, &why, duration_ms)
                        .await?;
                    report.failed += 1;
                    report.incomplete(format!(
                        "{why}; the request stays planned and is re-sent with the same retry key next run"
                    ));
                    return Ok(false);
                }
                Sent::Refused(e) => {
                    let why = e.to_string();
                    self.ledger_failure(ctx, seg, &req, LedgerStatus::Parked, &why, duration_ms)
                        .await?;
                    if capped {
                        cap::unmark(ctx.store, seg, &users).await?;
                    }
                    report.failed += 1;
                    // Refused means not sent: drop the batch's unsent requests (their entries
                    // stay pending and are planned again, with the rules in force, once
                    // un-parked).
                    st.planned.clear();
                    let action = if e.is_monthly_limit_reached() {
                        "quota"
                    } else {
                        req.kind.as_str()
                    };
                    self.park(ctx, seg, st, action, why, report).await?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    async fn send_one(
        &self,
        ctx: &SyncContext<'_>,
        client: &LineClient,
        req: &PlannedRequest,
    ) -> Sent {
        let request = MessageRequest {
            messages: &req.messages,
            notification_disabled: req.notification_disabled,
            aggregation_unit: req.aggregation_unit.as_deref(),
            retry_key: &req.retry_key,
        };
        let limiter = match req.kind {
            SendKind::Push => &self.pushes,
            SendKind::Multicast => &self.multicasts,
        };
        let attempted = tokio::time::timeout(
            ctx.remaining(),
            retry(&self.config.retry, || {
                let request = &request;
                async move {
                    limiter.until_ready().await;
                    let result = match req.kind {
                        SendKind::Push => match req.to.first() {
                            Some(to) => client.push(to, request).await,
                            None => Ok(()),
                        },
                        SendKind::Multicast => client.multicast(&req.to, request).await,
                    };
                    result.map_err(Failure)
                }
            }),
        )
        .await;
        match attempted {
            Err(_) => Sent::Unknown("the run's deadline passed before LINE answered".into()),
            Ok(a) => match a.result {
                Ok(()) => Sent::Done {
                    attempts: a.attempts,
                    already: false,
                },
                Err(Failure(e)) if e.is_retry_key_accepted() => Sent::Done {
                    attempts: a.attempts,
                    already: true,
                },
                Err(Failure(e)) if e.is_retryable() => {
                    Sent::Unknown(format!("gave up after {} attempts: {e}", a.attempts))
                }
                Err(Failure(e)) => Sent::Refused(e),
            },
        }
    }

    async fn ledger_failure(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        req: &PlannedRequest,
        status: LedgerStatus,
        why: &str,
        duration_ms: u64,
    ) -> Result<(), SyncError> {
        let (users, exits) = counts(&req.entries);
        ctx.store
            .append_ledger(&LedgerEntry {
                at: ctx.now,
                destination: KIND.to_string(),
                segment: seg.to_string(),
                action: req.kind.as_str().to_string(),
                target: Some(req.retry_key.clone()),
                users,
                exits,
                status,
                attempts: 0,
                duration_ms,
                message: Some(why.to_string()),
                detail: serde_json::json!({
                    "retry_key": req.retry_key,
                    "recipients": req.to.len(),
                }),
            })
            .await?;
        Ok(())
    }

    async fn park(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        st: &mut StoredMessageState,
        action: &str,
        reason: String,
        report: &mut SegmentReport,
    ) -> Result<(), SyncError> {
        st.parked = Some(Parked {
            at: ctx.now,
            action: action.to_string(),
            audience_id: None,
            reason: reason.clone(),
        });
        save(ctx.store, seg, st).await?;
        ctx.store
            .append_ledger(&LedgerEntry {
                at: ctx.now,
                destination: KIND.to_string(),
                segment: seg.to_string(),
                action: action.to_string(),
                target: None,
                users: 0,
                exits: 0,
                status: LedgerStatus::Parked,
                attempts: 0,
                duration_ms: 0,
                message: Some(reason.clone()),
                detail: serde_json::Value::Null,
            })
            .await?;
        report.outcome = SegmentOutcome::Parked;
        report.notes.push(format!(
            "parked (nothing sent, entries stay pending): {reason}"
        ));
        Ok(())
    }

    /// Records and acknowledges the entries that are not sent: no LINE ID, not rendered,
    /// no messages for their change kind, within the frequency cap, expired in quiet hours.
    async fn settle_unsent(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        prepared: &Prepared,
        report: &mut SegmentReport,
    ) -> Result<(), SyncError> {
        let not_rendered: Vec<OutboxEntry> = prepared
            .not_rendered
            .iter()
            .map(|(e, _)| e.clone())
            .collect();
        let first_reason = prepared
            .not_rendered
            .first()
            .map(|(e, why)| format!("e.g. user {}: {why}", e.user));
        let groups: [(&str, &[OutboxEntry], LedgerStatus, String); 5] = [
            (
                "skip",
                &prepared.no_line_id,
                LedgerStatus::Ok,
                "users without a LINE user ID (or who blocked the account): nothing sent".into(),
            ),
            (
                "not_rendered",
                &not_rendered,
                LedgerStatus::Failed,
                format!(
                    "messages could not be rendered: not sent ({})",
                    first_reason.unwrap_or_default()
                ),
            ),
            (
                "no_messages",
                &prepared.no_messages,
                LedgerStatus::Ok,
                "no messages declared for this change (on_enter / on_exit)".into(),
            ),
            (
                "capped",
                &prepared.capped,
                LedgerStatus::Ok,
                "messaged for this segment within the cap window: not sent again".into(),
            ),
            (
                "expired",
                &prepared.expired,
                LedgerStatus::Ok,
                "held by quiet hours past their expiry: dropped, not sent".into(),
            ),
        ];
        for (action, entries, status, message) in groups {
            if entries.is_empty() {
                continue;
            }
            let (users, exits) = counts(entries);
            ctx.store
                .append_ledger(&LedgerEntry {
                    at: ctx.now,
                    destination: KIND.to_string(),
                    segment: seg.to_string(),
                    action: action.to_string(),
                    target: None,
                    users,
                    exits,
                    status,
                    attempts: 0,
                    duration_ms: 0,
                    message: Some(message.clone()),
                    detail: serde_json::Value::Null,
                })
                .await?;
            report.acked += ctx.store.ack_pending(entries).await?;
            report
                .notes
                .push(format!("{} changes: {message}", entries.len()));
        }
        Ok(())
    }

    async fn dry_run(
        &self,
        ctx: &SyncContext<'_>,
        seg: &str,
        settings: &LineMessageSettings,
        st: &StoredMessageState,
        mut report: SegmentReport,
    ) -> Result<SegmentReport, SyncError> {
        report.outcome = SegmentOutcome::Planned;
        if let Some(p) = &st.parked {
            report.notes.push(format!(
                "parked: {} (a real run sends nothing until --retry-parked)",
                p.reason
            ));
        }
        let entries = ctx
            .store
            .pending(KIND, seg, self.config.max_pending)
            .await?;
        let prepared = prepare::prepare(
            ctx,
            settings,
            &self.zone,
            seg,
            entries,
            self.config.max_recipients_per_run,
        )
        .await?;
        let resend = st
            .planned
            .iter()
            .map(|r| format!("re-send {}", describe(r)));
        report.planned = resend
            .chain(prepared.requests.iter().map(describe))
            .collect();
        if let Some((held, until)) = prepared.held {
            report.notes.push(format!(
                "quiet hours: {held} changes would be held until about {}",
                audience_core::time::format_rfc3339(until)
            ));
        }
        let request_json = |r: &PlannedRequest| {
            let to = if r.kind == SendKind::Push {
                serde_json::json!(r.to.first())
            } else {
                serde_json::json!(r.to)
            };
            serde_json::json!({
                "request": r.kind.as_str(),
                "X-Line-Retry-Key": r.retry_key,
                "body": {
                    "to": to,
                    "messages": r.messages,
                    "notificationDisabled": r.notification_disabled,
                    "customAggregationUnits": r.aggregation_unit.as_ref().map(|u| vec![u]),
                },
                "users": r.entries.iter().map(|e| e.user.as_str()).collect::<Vec<_>>(),
            })
        };
        let file = serde_json::json!({
            "resend": st.planned.iter().map(request_json).collect::<Vec<_>>(),
            "requests": prepared.requests.iter().map(request_json).collect::<Vec<_>>(),
            "recipients": prepared.recipients(),
            "skipped_no_line_id": prepared.no_line_id.len(),
            "not_rendered": prepared.not_rendered.iter().map(|(e, why)| serde_json::json!({"user": e.user, "why": why})).collect::<Vec<_>>(),
            "capped": prepared.capped.len(),
            "expired": prepared.expired.len(),
            "held_by_quiet_hours": prepared.held.map_or(0, |(n, _)| n),
            "over_run_cap": prepared.over_cap,
        });
        if let Some(path) = ctx.write_planned(KIND, seg, &file)? {
            report
                .notes
                .push(format!("planned messages written to {}", path.display()));
        }
        Ok(report)
    }
}
