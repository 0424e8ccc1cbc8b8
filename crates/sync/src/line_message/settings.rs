//! A segment's message settings (`destinations.line_message` in the rules), read and checked
//! by this destination: the messages on entry and exit, the delivery options, quiet hours.
//! [`check_in_rules`] adds what needs the whole rules file: every placeholder's attribute is
//! kept in users' state, and one without a fallback is guaranteed by the segment's condition.

use crate::spec::SegmentSettings;
use audience_core::plan::message::{
    guarantees_attribute, parse_clock, read_messages, MessageSpec, QuietHours,
};
use audience_core::rules::Segment;
use audience_core::time::RuleDuration;
use audience_core::{ChangeKind, Rules};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `destinations.line_message`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineMessageSettings {
    /// Messages sent when a user enters the segment (1–5: text templates or message objects).
    #[serde(default)]
    pub on_enter: Option<Vec<Value>>,
    /// Messages sent when a user exits it.
    #[serde(default)]
    pub on_exit: Option<Vec<Value>>,
    /// `notificationDisabled`: deliver without a push notification.
    #[serde(default)]
    pub notification_disabled: bool,
    /// `customAggregationUnits` (one name, `[A-Za-z0-9_]{1,30}`), so LINE's statistics show
    /// the campaign.
    #[serde(default)]
    pub aggregation_unit: Option<String>,
    /// At most one message per user per segment within this window (e.g. `7d`).
    #[serde(default)]
    pub cap: Option<RuleDuration>,
    /// No messages in these local hours (the rules' `settings.timezone`).
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursSettings>,
}

/// `quiet_hours: {from: "22:00", to: "08:00", expire: 24h}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursSettings {
    /// Start, `HH:MM` local time.
    pub from: String,
    /// End, `HH:MM` local time.
    pub to: String,
    /// Changes held longer than this are dropped (recorded, not sent); default 24h.
    #[serde(default)]
    pub expire: Option<RuleDuration>,
}

impl SegmentSettings for LineMessageSettings {
    const KIND: &'static str = super::KIND;

    fn check(&self) -> Result<(), String> {
        if self.on_enter.is_none() && self.on_exit.is_none() {
            return Err("give on_enter or on_exit (or both): the messages to send".into());
        }
        self.messages(ChangeKind::Entered)
            .map_err(|m| format!("on_enter: {m}"))?;
        self.messages(ChangeKind::Exited)
            .map_err(|m| format!("on_exit: {m}"))?;
        if let Some(unit) = &self.aggregation_unit {
            let ok = !unit.is_empty()
                && unit.len() <= 30
                && unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(format!(
                    "aggregation_unit `{unit}` must be 1–30 of A-Z a-z 0-9 _ (LINE's customAggregationUnits)"
                ));
            }
        }
        self.quiet_hours().map(|_| ())
    }
}

impl LineMessageSettings {
    /// The checked messages for a change kind (empty: none declared).
    pub fn messages(&self, op: ChangeKind) -> Result<Vec<MessageSpec>, String> {
        let list = match op {
            ChangeKind::Entered => &self.on_enter,
            ChangeKind::Exited => &self.on_exit,
        };
        match list {
            None => Ok(Vec::new()),
            Some(list) => read_messages(list),
        }
    }

    /// The quiet hours, checked.
    pub fn quiet_hours(&self) -> Result<Option<QuietHours>, String> {
        let Some(q) = &self.quiet_hours else {
            return Ok(None);
        };
        let from = parse_clock(&q.from).map_err(|m| format!("quiet_hours.from: {m}"))?;
        let to = parse_clock(&q.to).map_err(|m| format!("quiet_hours.to: {m}"))?;
        if from == to {
            return Err("quiet_hours: from and to are the same time".into());
        }
        let expire = q.expire.unwrap_or(RuleDuration::days(1));
        Ok(Some(QuietHours {
            from_minute: from,
            to_minute: to,
            expire_ms: expire.millis(),
        }))
    }
}

/// Checks every segment's placeholders against the rules: the attribute is kept in users'
/// state, and a placeholder without a fallback is on entry only and its attribute is required
/// by the segment's condition (so the value exists for everyone who enters). Anything else
/// could render a hole: refused at load.
pub fn check_in_rules(rules: &Rules) -> Result<(), String> {
    for segment in &rules.segments {
        let Some(settings) = LineMessageSettings::of(segment) else {
            continue;
        };
        let settings = settings.map_err(|m| format!("segment `{}`: {m}", segment.def.id))?;
        check_segment(rules, segment, &settings).map_err(|m| {
            format!(
                "segment `{}`: destinations.line_message: {m}",
                segment.def.id
            )
        })?;
    }
    Ok(())
}

fn check_segment(
    rules: &Rules,
    segment: &Segment,
    settings: &LineMessageSettings,
) -> Result<(), String> {
    for (op, name) in [
        (ChangeKind::Entered, "on_enter"),
        (ChangeKind::Exited, "on_exit"),
    ] {
        for (i, spec) in settings.messages(op)?.iter().enumerate() {
            let MessageSpec::Text(template) = spec else {
                continue;
            };
            for (attr, has_fallback) in template.fields() {
                let at = || format!("{name}: message {}: `{{{{{attr}}}}}`", i + 1);
                if !rules.keeps_attribute(&format!("u:{attr}")) {
                    return Err(format!(
                        "{}: user attribute `{attr}` is not kept in users' state; add it to settings.keep_attributes",
                        at()
                    ));
                }
                if has_fallback {
                    continue;
                }
                let guaranteed =
                    op == ChangeKind::Entered && guarantees_attribute(&segment.cond, attr);
                if !guaranteed {
                    return Err(format!(
                        "{}: a user may have no `{attr}` ({}); give a fallback: {{{{{attr}|…}}}}",
                        at(),
                        if op == ChangeKind::Entered {
                            "the segment's condition does not require it"
                        } else {
                            "users may exit because it changed"
                        }
                    ));
                }
            }
        }
    }
    Ok(())
}
