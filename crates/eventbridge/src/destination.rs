//! [`EventBridgeDestination`]: drains a segment's `eventbridge` outbox entries, puts one event
//! per entry, acknowledges each call's accepted entries as soon as the call returns, and
//! records the run in the ledger. Entries EventBridge refused stay pending for the next run.

use crate::api::{CallError, EntryOutcome, PutEventsApi};
use crate::plan::{event_for, pack, PlannedEvent, ENTERED};
use crate::settings::{EventBridgeConfig, EventBridgeSettings};
use crate::KIND;
use async_trait::async_trait;
use audience_core::rules::Segment;
use audience_retry::{retry_partial, Partial};
use audience_store::{LedgerEntry, LedgerStatus, OutboxEntry};
use audience_sync::spec::SegmentSettings;
use audience_sync::{Destination, SegmentReport, SyncContext, SyncError};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

/// Puts segment changes on EventBridge.
pub struct EventBridgeDestination {
    config: EventBridgeConfig,
    api: Option<Box<dyn PutEventsApi>>,
}

impl EventBridgeDestination {
    /// A destination sending through `api` (`None`: dry runs only).
    pub fn new(config: EventBridgeConfig, api: Option<Box<dyn PutEventsApi>>) -> Self {
        EventBridgeDestination { config, api }
    }

    /// A destination with the SDK client from the standard AWS configuration (region,
    /// credentials, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_EVENTBRIDGE`).
    pub async fn from_env(config: EventBridgeConfig) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(
            config,
            Some(Box::new(aws_sdk_eventbridge::Client::new(&sdk))),
        )
    }
}

/// What sending one call's events left.
#[derive(Default)]
pub(crate) struct Sent {
    /// Indices (into the run's entries) EventBridge accepted.
    pub(crate) accepted: Vec<usize>,
    /// Entries refused for good, with the reason.
    pub(crate) refused: Vec<(usize, String)>,
}

#[async_trait]
impl Destination for EventBridgeDestination {
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
        let Some(settings) = EventBridgeSettings::of(segment) else {
            return Ok(report);
        };
        let settings = settings.map_err(|m| SyncError::Config(format!("segment `{seg}`: {m}")))?;
        let bus = settings
            .bus
            .clone()
            .unwrap_or_else(|| self.config.default_bus.clone());
        let entries = ctx
            .store
            .pending(KIND, seg, self.config.max_pending)
            .await?;
        if entries.is_empty() {
            return Ok(report);
        }
        let linked = line_linked(ctx, &entries).await?;
        let events: Vec<PlannedEvent> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| event_for(e, i, &bus, linked.contains(&e.user)))
            .collect();
        if ctx.dry_run {
            return dry_run(ctx, seg, &bus, &events, report);
        }
        let Some(api) = &self.api else {
            return Err(SyncError::Config(
                "the EventBridge client is not configured".into(),
            ));
        };
        let started = Instant::now();
        let (calls, too_large) = pack(events);
        let mut sent = Sent {
            refused: too_large
                .iter()
                .map(|e| {
                    (
                        e.entry,
                        format!("event of {} bytes is over 256 KiB", e.size()),
                    )
                })
                .collect(),
            ..Sent::default()
        };
        let (mut attempts, mut last_error) = (0u32, None::<String>);
        for call in calls {
            if ctx.remaining().is_zero() {
                report.incomplete("deadline reached; the rest stays pending for the next run");
                break;
            }
            let (result, tries) = send_call(api.as_ref(), &self.config, call).await;
            attempts += tries;
            let acked: Vec<OutboxEntry> = result
                .accepted
                .iter()
                .map(|i| entries[*i].clone())
                .collect();
            report.acked += ctx.store.ack_pending(&acked).await?;
            report.sent += 1;
            sent.accepted.extend(result.accepted);
            if !result.refused.is_empty() {
                report.failed += 1;
                last_error = result.refused.last().map(|(_, why)| why.clone());
                sent.refused.extend(result.refused);
            }
        }
        let entered = sent
            .accepted
            .iter()
            .filter(|i| entries[**i].op == audience_core::ChangeKind::Entered)
            .count() as u64;
        let status = if sent.refused.is_empty() {
            LedgerStatus::Ok
        } else {
            LedgerStatus::Failed
        };
        if let Some(why) = &last_error {
            report.notes.push(format!(
                "{} events not accepted (they stay pending): {why}",
                sent.refused.len()
            ));
        }
        ctx.store
            .append_ledger(&LedgerEntry {
                at: ctx.now,
                destination: KIND.to_string(),
                segment: seg.to_string(),
                action: "put_events".to_string(),
                target: Some(bus),
                users: entered,
                exits: sent.accepted.len() as u64 - entered,
                status,
                attempts,
                duration_ms: started.elapsed().as_millis() as u64,
                message: last_error,
                detail: serde_json::json!({
                    "accepted": sent.accepted.len(),
                    "not_accepted": sent.refused.len(),
                }),
            })
            .await?;
        Ok(report)
    }
}

/// The users of `entries` who can be reached on LINE now (a LINE ID, not blocked).
async fn line_linked(
    ctx: &SyncContext<'_>,
    entries: &[OutboxEntry],
) -> Result<HashSet<String>, SyncError> {
    let mut users: Vec<String> = entries.iter().map(|e| e.user.clone()).collect();
    users.sort();
    users.dedup();
    let loaded = ctx.store.load_users(&users).await?;
    Ok(loaded
        .states
        .into_iter()
        .filter(|(_, s)| s.active_line_user_id().is_some())
        .map(|(user, _)| user)
        .collect())
}

/// Sends one call's events, re-sending only the entries that failed retryably.
pub(crate) async fn send_call(
    api: &dyn PutEventsApi,
    config: &EventBridgeConfig,
    call: Vec<PlannedEvent>,
) -> (Sent, u32) {
    let sent = Mutex::new(Sent::default());
    let record = |f: &dyn Fn(&mut Sent)| {
        if let Ok(mut s) = sent.lock() {
            f(&mut s);
        }
    };
    let (left, error, attempts) = retry_partial(&config.retry, call, |events| async {
        let outcomes = match api.put_events(&events).await {
            Ok(o) => o,
            Err(e) if e.retryable => return Ok(Partial::Retry(events, e)),
            Err(e) => return Err((events, e)),
        };
        let mut again = Vec::new();
        let mut last = None;
        for (event, outcome) in events.into_iter().zip(outcomes) {
            match outcome {
                EntryOutcome::Accepted(_) => record(&|s| s.accepted.push(event.entry)),
                ref failed @ EntryOutcome::Failed {
                    ref code,
                    ref message,
                } => {
                    let why = format!("{code}: {message}");
                    if failed.retryable() {
                        last = Some(why);
                        again.push(event);
                    } else {
                        record(&|s| s.refused.push((event.entry, why.clone())));
                    }
                }
            }
        }
        match last {
            None => Ok(Partial::Done),
            Some(why) => Ok(Partial::Retry(
                again,
                CallError {
                    code: None,
                    message: why,
                    retryable: true,
                },
            )),
        }
    })
    .await;
    let mut out = sent.into_inner().unwrap_or_default();
    let why = error.map_or_else(|| "not accepted".to_string(), |e| e.to_string());
    out.refused
        .extend(left.into_iter().map(|e| (e.entry, why.clone())));
    (out, attempts)
}

fn dry_run(
    ctx: &SyncContext<'_>,
    seg: &str,
    bus: &str,
    events: &[PlannedEvent],
    mut report: SegmentReport,
) -> Result<SegmentReport, SyncError> {
    let entered = events.iter().filter(|e| e.detail_type == ENTERED).count();
    report.planned.push(format!(
        "PutEvents to bus {bus}: {entered} Segment Entered, {} Segment Exited ({} calls)",
        events.len() - entered,
        events.len().div_ceil(crate::plan::MAX_ENTRIES)
    ));
    let file: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "EventBusName": e.bus, "Source": crate::plan::SOURCE,
                "DetailType": e.detail_type, "Detail": e.detail,
            })
        })
        .collect();
    if let Some(path) = ctx.write_planned(KIND, seg, &serde_json::Value::Array(file))? {
        report
            .notes
            .push(format!("planned events written to {}", path.display()));
    }
    Ok(report)
}
