//! What `explain USER` shows of one user's messages for one segment: the pending entries with
//! their rendered messages and the guard that holds each (judged in the order a sync run
//! applies them, see [`super::prepare`]), the requests a run stored and has not yet seen
//! answered, and what is known to be sent — the frequency cap's record, when a cap is
//! declared. The ledger holds no user IDs, so without a cap no per-user send record exists.

use super::settings::LineMessageSettings;
use super::{cap, state, KIND};
use crate::error::SyncError;
use audience_core::plan::message::{attribute_value, render, QuietDecision};
use audience_core::{ChangeKind, Millis, UserState, Zone};
use audience_store::{OutboxEntry, StateStore};
use serde::Serialize;
use serde_json::Value;

/// Most pending entries of a segment read to find the user's (the outbox has no per-user
/// index; a sync drains it every interval, so a larger backlog is rare and is reported).
pub const PENDING_SCAN_LIMIT: usize = 10_000;

/// A user's messages for one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserMessages {
    /// Pending outbox entries of the user (at most one per segment).
    pub pending: Vec<PendingMessage>,
    /// Whether the segment had more pending entries than were read: the user's entry may be
    /// among those not read.
    pub pending_scan_truncated: bool,
    /// Requests a run planned for this user and has not yet seen answered (re-sent first by
    /// the next run, with the same retry key).
    pub planned: Vec<PlannedForUser>,
    /// Why the segment is parked (nothing is sent until `--retry-parked`).
    pub parked: Option<String>,
    /// What is known to be sent.
    pub sent: SentRecord,
}

/// One pending entry and what holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingMessage {
    /// `on_enter` or `on_exit`.
    pub on: &'static str,
    /// When the change happened.
    pub changed_at: Millis,
    /// The change ID the message is tied to.
    pub change_id: String,
    /// The messages rendered from the user's attributes (empty when none are declared or
    /// they cannot be rendered).
    pub messages: Vec<Value>,
    /// What the next sync run does with it (`guard` and its times, flattened into the entry).
    #[serde(flatten)]
    pub guard: Guard,
}

/// What the next sync run does with a pending entry, in the order it decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum Guard {
    /// No messages are declared for this change kind: acknowledged, nothing sent.
    NoMessages,
    /// Held longer than the quiet hours' `expire`: dropped, not sent.
    Expired {
        /// When it expired.
        expired_at: Millis,
    },
    /// Quiet hours now: held.
    QuietHours {
        /// About when it will be sent.
        send_after: Millis,
        /// When it is dropped if still held.
        expires_at: Millis,
    },
    /// The user has no LINE user ID in the store.
    NoLineId,
    /// The user blocked the account.
    Blocked,
    /// The messages cannot be rendered (a value went missing).
    NotRendered {
        /// Why.
        why: String,
    },
    /// Messaged for this segment within the cap: acknowledged as capped, not sent.
    Capped {
        /// The last message per the cap record.
        last_sent: Millis,
        /// When the cap ends.
        cap_ends: Millis,
    },
    /// Sent by the next run (unless the segment is parked or over the per-run cap).
    WouldSend,
}

/// A stored, not yet confirmed request that includes the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedForUser {
    /// `push` or `multicast`.
    pub kind: &'static str,
    /// `X-Line-Retry-Key`.
    pub retry_key: String,
    /// When it was planned.
    pub planned_at: Millis,
    /// The rendered messages.
    pub messages: Vec<Value>,
}

/// What is known of messages sent to the user for the segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum SentRecord {
    /// No cap is declared, so no per-user record is kept (the ledger counts sends per
    /// request and holds no user IDs).
    NoCapNoRecord,
    /// A cap is declared and the user has no record: never messaged for this segment since.
    NeverSent,
    /// The cap record's last send.
    LastSent {
        /// When.
        at: Millis,
        /// When the cap ends.
        cap_ends: Millis,
    },
}

/// Judges one pending entry as a sync run at `now` would (pure). `user` is the stored state
/// (`None`: not in the store); `last_sent` the cap record.
pub fn judge(
    settings: &LineMessageSettings,
    zone: &Zone,
    entry: &OutboxEntry,
    user: Option<&UserState>,
    last_sent: Option<Millis>,
    now: Millis,
) -> Result<PendingMessage, String> {
    let specs = settings.messages(entry.op)?;
    let quiet = settings.quiet_hours()?;
    let rendered = match user {
        Some(u) if !specs.is_empty() => render(&specs, &|name| attribute_value(u, name)),
        _ => Ok(Vec::new()),
    };
    let guard = if specs.is_empty() {
        Guard::NoMessages
    } else if let Some(q) = quiet.filter(|q| q.expired(entry.at, now)) {
        Guard::Expired {
            expired_at: entry.at.saturating_add(q.expire_ms),
        }
    } else if let Some((q, QuietDecision::HoldUntil(until))) =
        quiet.map(|q| (q, q.decide(now, zone)))
    {
        Guard::QuietHours {
            send_after: until,
            expires_at: entry.at.saturating_add(q.expire_ms),
        }
    } else if user.and_then(|u| u.line_user_id.as_ref()).is_none() {
        Guard::NoLineId
    } else if user.and_then(UserState::active_line_user_id).is_none() {
        Guard::Blocked
    } else if let Err(why) = &rendered {
        Guard::NotRendered { why: why.clone() }
    } else {
        match (settings.cap, last_sent) {
            (Some(cap), Some(at)) if now.saturating_sub(at) < cap.millis() => Guard::Capped {
                last_sent: at,
                cap_ends: at.saturating_add(cap.millis()),
            },
            _ => Guard::WouldSend,
        }
    };
    Ok(PendingMessage {
        on: on_name(entry.op),
        changed_at: entry.at,
        change_id: entry.change_id.clone(),
        messages: rendered.unwrap_or_default(),
        guard,
    })
}

fn on_name(op: ChangeKind) -> &'static str {
    match op {
        ChangeKind::Entered => "on_enter",
        ChangeKind::Exited => "on_exit",
    }
}

/// Reads what the store knows of `user`'s messages for `segment` and judges its pending
/// entries at `now`.
pub async fn user_messages(
    store: &dyn StateStore,
    settings: &LineMessageSettings,
    zone: &Zone,
    segment: &str,
    user: &str,
    user_state: Option<&UserState>,
    now: Millis,
) -> Result<UserMessages, SyncError> {
    let entries = store.pending(KIND, segment, PENDING_SCAN_LIMIT).await?;
    let pending_scan_truncated = entries.len() >= PENDING_SCAN_LIMIT;
    let last = match settings.cap {
        Some(_) => cap::last_sent(store, segment, &[user.to_string()])
            .await?
            .get(user)
            .copied(),
        None => None,
    };
    let pending = entries
        .iter()
        .filter(|e| e.user == user)
        .map(|e| judge(settings, zone, e, user_state, last, now).map_err(SyncError::Config))
        .collect::<Result<Vec<_>, _>>()?;
    let stored = state::load(store, segment).await?;
    let planned = stored
        .planned
        .iter()
        .filter(|r| r.entries.iter().any(|e| e.user == user))
        .map(|r| PlannedForUser {
            kind: r.kind.as_str(),
            retry_key: r.retry_key.clone(),
            planned_at: r.planned_at,
            messages: r.messages.clone(),
        })
        .collect();
    let sent = match (settings.cap, last) {
        (None, _) => SentRecord::NoCapNoRecord,
        (Some(_), None) => SentRecord::NeverSent,
        (Some(cap), Some(at)) => SentRecord::LastSent {
            at,
            cap_ends: at.saturating_add(cap.millis()),
        },
    };
    Ok(UserMessages {
        pending,
        pending_scan_truncated,
        planned,
        parked: stored
            .parked
            .map(|p| format!("{} refused: {}", p.action, p.reason)),
        sent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SegmentSettings;
    use audience_core::state::Stamped;
    use serde_json::json;

    const DAY: Millis = 86_400_000;
    const HOUR: Millis = 3_600_000;
    /// 2026-01-01T00:00:00Z.
    const T0: Millis = 1_767_225_600_000;

    fn settings(v: Value) -> LineMessageSettings {
        LineMessageSettings::read(&v).unwrap()
    }

    fn entry(op: ChangeKind, at: Millis) -> OutboxEntry {
        OutboxEntry {
            destination: KIND.into(),
            segment: "s".into(),
            user: "u1".into(),
            op,
            at,
            change_id: "c1".into(),
        }
    }

    fn linked(plan: Option<&str>) -> UserState {
        let mut u = UserState::new("u1");
        u.line_user_id = Some(Stamped {
            v: format!("U{}", "a".repeat(32)),
            t: T0,
        });
        if let Some(p) = plan {
            u.attrs.insert(
                "u:plan".into(),
                Stamped {
                    v: vec![p.into()],
                    t: T0,
                },
            );
        }
        u
    }

    fn guard(
        s: &LineMessageSettings,
        e: &OutboxEntry,
        u: Option<&UserState>,
        last: Option<Millis>,
        now: Millis,
    ) -> Guard {
        judge(s, &Zone::utc(), e, u, last, now).unwrap().guard
    }

    #[test]
    fn renders_from_the_user_and_would_send() {
        let s = settings(json!({"on_enter": ["Hi {{plan|friend}}"]}));
        let u = linked(Some("gold"));
        let p = judge(
            &s,
            &Zone::utc(),
            &entry(ChangeKind::Entered, T0),
            Some(&u),
            None,
            T0,
        )
        .unwrap();
        assert_eq!(p.guard, Guard::WouldSend);
        assert_eq!(p.on, "on_enter");
        assert_eq!(p.messages, vec![json!({"type": "text", "text": "Hi gold"})]);
    }

    #[test]
    fn each_guard_in_the_order_a_run_applies_them() {
        let s = settings(json!({
            "on_enter": ["Hi"],
            "cap": "7d",
            "quiet_hours": {"from": "22:00", "to": "08:00", "expire": "24h"}
        }));
        let e = entry(ChangeKind::Entered, T0 + 12 * HOUR);
        let noon = T0 + 12 * HOUR;
        let u = linked(None);
        assert_eq!(
            guard(&s, &entry(ChangeKind::Exited, noon), Some(&u), None, noon),
            Guard::NoMessages
        );
        assert_eq!(
            guard(&s, &e, Some(&u), None, noon + 2 * DAY),
            Guard::Expired {
                expired_at: noon + DAY
            }
        );
        // 23:00 UTC is quiet: held until 08:00, dropped a day after the change.
        assert_eq!(
            guard(&s, &e, Some(&u), None, T0 + 23 * HOUR),
            Guard::QuietHours {
                send_after: T0 + DAY + 8 * HOUR,
                expires_at: noon + DAY
            }
        );
        assert_eq!(guard(&s, &e, None, None, noon), Guard::NoLineId);
        let mut blocked = linked(None);
        blocked.line_blocked = Some(Stamped { v: true, t: T0 });
        assert_eq!(guard(&s, &e, Some(&blocked), None, noon), Guard::Blocked);
        assert_eq!(
            guard(&s, &e, Some(&u), Some(noon - DAY), noon),
            Guard::Capped {
                last_sent: noon - DAY,
                cap_ends: noon + 6 * DAY
            }
        );
        assert_eq!(
            guard(&s, &e, Some(&u), Some(noon - 8 * DAY), noon),
            Guard::WouldSend
        );
    }

    #[test]
    fn a_missing_value_without_fallback_is_not_rendered() {
        let s = settings(json!({"on_enter": ["Hi {{plan}}"]}));
        let g = guard(
            &s,
            &entry(ChangeKind::Entered, T0),
            Some(&linked(None)),
            None,
            T0,
        );
        assert!(
            matches!(g, Guard::NotRendered { ref why } if why.contains("plan")),
            "{g:?}"
        );
    }
}
