//! The LINE destination: keeps each segment's upload audience in sync with its members.
//!
//! Per segment and run: reconcile a create a crash interrupted; check a replacement under
//! construction (switch when READY, retire it if it failed); delete retired audiences whose
//! grace period is over;
//! read the pending outbox entries; acknowledge those that need no request (users without a
//! LINE ID, exits of users never sent, exits of audiences this system did not create); plan
//! with `audience_core::plan::line`; send; acknowledge what LINE accepted. A permanent refusal
//! parks the segment (its entries stay pending) until `--retry-parked`. See docs/line.md.

mod call;
mod dry_run;
mod exec;
pub mod history;
mod lifecycle;
mod prepare;
pub mod settings;
pub mod state;

use crate::config::LineSyncConfig;
use crate::error::SyncError;
use crate::report::{SegmentOutcome, SegmentReport};
use crate::runner::SyncContext;
use crate::spec::SegmentSettings;
use crate::Destination;
use async_trait::async_trait;
use audience_core::rules::Segment;
use audience_line::LineClient;
use audience_store::LedgerStatus;
use call::{CallError, Caller, Limiter};
use state::{save, Parked, StoredLineState, KIND};

pub use call::endpoint;

/// Syncs segments with a `line` destination.
pub struct LineDestination {
    client: Option<LineClient>,
    config: LineSyncConfig,
    limiter: Limiter,
}

impl LineDestination {
    /// A destination sending through `client` (`None`: dry runs only).
    pub fn new(config: LineSyncConfig, client: Option<LineClient>) -> Self {
        let limiter = call::limiter(config.requests_per_minute, config.burst);
        LineDestination {
            client,
            config,
            limiter,
        }
    }

    /// The policy knobs in force.
    pub fn config(&self) -> &LineSyncConfig {
        &self.config
    }
}

#[async_trait]
impl Destination for LineDestination {
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
        let Some(rule) = settings::LineAudienceSettings::of(segment) else {
            return Ok(report);
        };
        let rule = &rule.map_err(|m| SyncError::Config(format!("segment `{seg}`: {m}")))?;
        let mut state = state::load(ctx.store, seg).await?;
        if ctx.dry_run {
            dry_run::plan(ctx, &self.config, segment, rule, &state, &mut report).await?;
            return Ok(report);
        }
        let Some(client) = &self.client else {
            return Err(SyncError::Config(
                "LINE credentials are not configured: set LINE_CHANNEL_ACCESS_TOKEN (or _FILE), or LINE_CHANNEL_ID and LINE_CHANNEL_SECRET (or _FILE)".into(),
            ));
        };
        if let Some(p) = &state.parked {
            if !ctx.retry_parked {
                report.outcome = SegmentOutcome::Parked;
                report.notes.push(format!(
                    "parked since {} after LINE refused `{}`: {}; fix the cause, then run `audience-stream sync --retry-parked`",
                    audience_core::time::format_rfc3339(p.at),
                    p.action,
                    p.reason
                ));
                return Ok(report);
            }
            state.parked = None;
            save(ctx.store, seg, &state).await?;
        }
        if let Some(bound) = rule.audience_id {
            if state.audience.audience_id != Some(bound) {
                state.audience.audience_id = Some(bound);
                state.audience.created_by_us = false;
                save(ctx.store, seg, &state).await?;
            }
        }
        let caller = Caller {
            ctx,
            segment: seg,
            limiter: &self.limiter,
            retry: &self.config.retry,
        };
        let result = self
            .run_segment(&caller, client, rule, &mut state, &mut report)
            .await;
        match result {
            Ok(()) => {}
            Err(CallError::Store(e)) => return Err(e),
            Err(e @ CallError::Refused(_)) => {
                let reason = e
                    .line_error()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                state.parked = Some(Parked {
                    at: ctx.now,
                    action: e.line_error().map_or("request", op_name).to_string(),
                    audience_id: state.audience.audience_id,
                    reason: reason.clone(),
                });
                save(ctx.store, seg, &state).await?;
                report.failed += 1;
                report.outcome = SegmentOutcome::Parked;
                report
                    .notes
                    .push(format!("parked (entries stay pending): {reason}"));
            }
            Err(e) => {
                report.failed += 1;
                report.incomplete(format!(
                    "stopped; the rest stays pending for the next run: {e}"
                ));
            }
        }
        Ok(report)
    }
}

fn op_name(e: &audience_line::LineError) -> &'static str {
    match e {
        audience_line::LineError::Api { op, .. }
        | audience_line::LineError::Timeout { op, .. }
        | audience_line::LineError::Transport { op, .. }
        | audience_line::LineError::Invalid { op, .. }
        | audience_line::LineError::Decode { op, .. } => op,
        audience_line::LineError::Token { .. } => "issue_token",
    }
}

impl LineDestination {
    async fn run_segment(
        &self,
        caller: &Caller<'_>,
        client: &LineClient,
        rule: &settings::LineAudienceSettings,
        state: &mut StoredLineState,
        report: &mut SegmentReport,
    ) -> Result<(), CallError> {
        let ctx = caller.ctx;
        let seg = caller.segment;
        let store_err = |e: SyncError| CallError::Store(e);
        lifecycle::reconcile_intent(caller, client, state, report).await?;
        lifecycle::check_replacement(
            caller,
            client,
            state,
            self.config.rotation.delete_grace_ms,
            report,
        )
        .await?;
        lifecycle::delete_retired(caller, client, state, report).await?;

        let mut pending = prepare::read_pending(ctx, seg, self.config.max_pending)
            .await
            .map_err(store_err)?;
        if pending.read >= self.config.max_pending {
            report.notes.push(format!(
                "read the first {} pending entries; the rest follow in later runs",
                pending.read
            ));
        }
        // Entries that need no request.
        let no_id = std::mem::take(&mut pending.no_line_id);
        let never_sent = std::mem::take(&mut pending.exits_never_sent);
        if !no_id.is_empty() || !never_sent.is_empty() {
            caller
                .note(
                    "skip",
                    state.audience.audience_id,
                    no_id.len() as u64,
                    never_sent.len() as u64,
                    LedgerStatus::Ok,
                    format!(
                        "{} entered users have no LINE user ID (or blocked the account) and {} exited users never had one: nothing to send; members who link LINE later are included at the next rotation",
                        no_id.len(),
                        never_sent.len()
                    ),
                )
                .await
                .map_err(store_err)?;
            exec::ack(
                caller,
                no_id.into_iter().chain(never_sent).collect(),
                report,
            )
            .await?;
        }
        if !pending.exits.is_empty() && !prepare::rotatable(rule, state) {
            let exits = std::mem::take(&mut pending.exits);
            let audience = state.audience.audience_id;
            caller
                .note(
                    "ignore_exits",
                    audience,
                    0,
                    exits.len() as u64,
                    LedgerStatus::Ok,
                    format!(
                        "{} exits cannot be applied: audience {} was not created by audience-stream (bound in the rules file), so it is never rotated and LINE cannot remove users from it",
                        exits.len(),
                        audience.map_or("-".into(), |a| a.to_string())
                    ),
                )
                .await
                .map_err(store_err)?;
            exec::ack(caller, exits, report).await?;
        }
        let Some(prepared) = prepare::prepare(ctx, &self.config, seg, rule, state, &pending)
            .await
            .map_err(store_err)?
        else {
            // No audience yet and no member with a LINE ID: exits concern users never sent.
            let exits = std::mem::take(&mut pending.exits);
            exec::ack(caller, exits, report).await?;
            report.notes.push(
                "no member has a LINE user ID yet; the audience is created once one does".into(),
            );
            return Ok(());
        };
        report.planned = prepared
            .plan
            .requests
            .iter()
            .map(|r| prepare::describe(r, prepared.full.as_ref()))
            .collect();
        report.notes.extend(prepared.plan.notes.iter().cloned());
        exec::execute(caller, client, state, &prepared, &mut pending, report).await
    }
}
