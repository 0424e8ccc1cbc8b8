//! Renders a [`Dashboard`] as one self-contained HTML page with askama (`templates/page.html`):
//! inline CSS, numbers in tables, charts as inline SVG, no JavaScript, no external URL. The
//! day / week / month switch of the segment charts is pure CSS (radio buttons).

use crate::error::DashboardError;
use crate::format::{count, duration, instant, int, pct, signed};
use crate::model::{Dashboard, SegmentRow, Summary};
use crate::series::{buckets, Change, Granularity};
use crate::svg;
use askama::Template;

/// Choices for one rendering.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// The segment the charts show (default: the largest).
    pub segment: Option<String>,
    /// `<meta http-equiv=refresh>` every this many seconds (serve mode).
    pub refresh_secs: Option<u64>,
    /// Link segment names to `?segment=ID` (serve mode) instead of plain text.
    pub links: bool,
    /// Ledger rows shown (default 50 when 0).
    pub ledger_rows: usize,
}

struct Card {
    label: &'static str,
    value: String,
    note: String,
    class: &'static str,
}

struct DestCard {
    name: String,
    pending: String,
    oldest: String,
    failed: String,
    parked: String,
    class: &'static str,
}

struct ChangeView {
    abs: String,
    pct: String,
    class: &'static str,
}

struct DestView {
    name: String,
    target: String,
    status: String,
    class: &'static str,
}

struct SegView {
    id: String,
    href: String,
    description: String,
    members: String,
    entered_today: String,
    exited_today: String,
    changes: Vec<ChangeView>,
    spark: String,
    dests: Vec<DestView>,
    /// The reason of a sudden size change, when flagged.
    sudden: Option<String>,
}

struct MoverView {
    id: String,
    change: String,
    pct: String,
    members: String,
}

struct NumRow {
    label: String,
    size: String,
    entered: String,
    exited: String,
}

struct Tab {
    key: &'static str,
    label: &'static str,
    checked: bool,
    size_svg: String,
    flow_svg: String,
    rows: Vec<NumRow>,
}

struct Detail {
    id: String,
    description: String,
    members: String,
    tabs: Vec<Tab>,
}

struct LedgerView {
    at: String,
    destination: String,
    segment: String,
    action: String,
    rotation: bool,
    target: String,
    added: String,
    exits: String,
    status: String,
    class: &'static str,
    attempts: String,
    duration: String,
    message: String,
}

struct ReconView {
    segment: String,
    destination: String,
    members: String,
    acknowledged: String,
    difference: String,
    pending: String,
    verdict: String,
    class: &'static str,
}

struct MessagesView {
    day: String,
    segment: String,
    requests: String,
    sent: String,
}

#[derive(Template)]
#[template(path = "page.html")]
struct Page {
    refresh: Option<u64>,
    as_of: String,
    timezone: String,
    cards: Vec<Card>,
    dest_cards: Vec<DestCard>,
    empty: Option<String>,
    warnings: Vec<String>,
    segments: Vec<SegView>,
    growers: Vec<MoverView>,
    decliners: Vec<MoverView>,
    detail: Option<Detail>,
    links: bool,
    ledger: Vec<LedgerView>,
    ledger_note: String,
    recon: Vec<ReconView>,
    messages: Vec<MessagesView>,
    messages_note: String,
    footer: String,
}

fn status_class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "running" => "run",
        "failed" => "bad",
        "parked" => "warn",
        _ => "mute",
    }
}

fn change_view(c: &Change) -> ChangeView {
    ChangeView {
        abs: signed(c.absolute),
        pct: pct(c.percent),
        class: match c.absolute {
            a if a > 0 => "up",
            a if a < 0 => "down",
            _ => "",
        },
    }
}

fn seg_href(id: &str) -> String {
    let mut out = String::from("?segment=");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Renders the page.
pub fn render_page(d: &Dashboard, opts: &PageOptions) -> Result<String, DashboardError> {
    let s = &d.summary;
    let cards = summary_cards(s);
    let dest_cards = destination_cards(s);

    let segments: Vec<SegView> = d.segments.iter().map(|r| seg_view(d, r)).collect();
    let mover = |m: &crate::series::Mover| MoverView {
        id: m.segment.clone(),
        change: signed(m.change.absolute),
        pct: pct(m.change.percent),
        members: int(m.members),
    };
    let detail = pick_segment(d, opts.segment.as_deref()).map(|r| detail_view(d, r));

    let ledger = ledger_views(d, opts);
    let ledger_note = ledger_note(d, ledger.len());
    let recon = reconciliation_views(d);
    let empty = empty_note(d);
    let page = Page {
        refresh: opts.refresh_secs,
        as_of: instant(s.as_of_ms),
        timezone: s.timezone.clone(),
        cards,
        dest_cards,
        empty,
        warnings: d.warnings.clone(),
        segments,
        growers: d.growers.iter().map(mover).collect(),
        decliners: d.decliners.iter().map(mover).collect(),
        detail,
        links: opts.links,
        ledger,
        ledger_note,
        recon,
        messages: d
            .messages
            .iter()
            .map(|m| MessagesView {
                day: m.day.clone(),
                segment: m.segment.clone(),
                requests: count(m.requests),
                sent: count(m.sent),
            })
            .collect(),
        messages_note: messages_note(d),
        footer: format!(
            "{} store reads (budget: {} segments + 3{} = {}); aggregates only, no user IDs. As of {}.",
            d.store_reads,
            d.segments.len(),
            match d
                .store_reads_budget
                .saturating_sub(d.segments.len() as u64 + 3)
            {
                0 => String::new(),
                1 => " + 1 alert window".to_string(),
                n => format!(" + {n} alert windows"),
            },
            d.store_reads_budget,
            s.as_of
        ),
    };
    Ok(page.render()?)
}

/// The summary cards at the top: segments, members, today's flow, stream lag, set-aside records.
fn summary_cards(s: &Summary) -> Vec<Card> {
    let lag = s.stream_lag_ms.map_or("—".to_string(), duration);
    vec![
        Card {
            label: "Segments",
            value: count(s.segments as u64),
            note: "in the rules file".into(),
            class: "",
        },
        Card {
            label: "Members",
            value: int(s.total_members),
            note: "sum over segments".into(),
            class: "",
        },
        Card {
            label: "Entered today",
            value: count(s.entered_today),
            note: "UTC day".into(),
            class: "up",
        },
        Card {
            label: "Exited today",
            value: count(s.exited_today),
            note: "UTC day".into(),
            class: "down",
        },
        Card {
            label: "Stream lag",
            value: lag,
            note: s
                .newest_arrival_ms
                .map_or("no batch today or yesterday".to_string(), |a| {
                    format!("newest event {}", instant(a))
                }),
            class: match s.stream_lag_ms {
                Some(l) if l > 15 * 60_000 => "bad",
                Some(_) => "",
                None => "mute",
            },
        },
        Card {
            label: "Set aside today",
            value: count(s.set_aside_today),
            note: format!(
                "of {} records in {} batch{}",
                count(s.records_today),
                count(s.batches_today),
                if s.batches_today == 1 { "" } else { "es" }
            ),
            class: if s.set_aside_today > 0 { "warn" } else { "" },
        },
    ]
}

/// One health card per destination: pending work, oldest unsynced change, failures.
fn destination_cards(s: &Summary) -> Vec<DestCard> {
    s.destinations
        .iter()
        .map(|h| DestCard {
            name: h.destination.clone(),
            pending: format!(
                "{} to add, {} exits",
                count(h.pending_additions),
                count(h.pending_exits)
            ),
            oldest: h
                .oldest_unsynced_age_ms
                .map_or("nothing pending".to_string(), duration),
            failed: count(h.failed_24h),
            parked: count(h.parked),
            class: if h.failed_24h + h.parked > 0 {
                "bad"
            } else {
                "ok"
            },
        })
        .collect()
}

/// The newest ledger rows shown (`opts.ledger_rows`, 50 when 0).
fn ledger_views(d: &Dashboard, opts: &PageOptions) -> Vec<LedgerView> {
    let shown = if opts.ledger_rows == 0 {
        50
    } else {
        opts.ledger_rows
    };
    d.ledger
        .iter()
        .take(shown)
        .map(|e| {
            let status = serde_json::to_value(e.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            LedgerView {
                at: instant(e.at_ms),
                destination: e.destination.clone(),
                segment: e.segment.clone(),
                action: e.action.clone(),
                rotation: e.rotation,
                target: e.target.clone().unwrap_or_default(),
                added: count(e.added),
                exits: count(e.exits),
                class: status_class(&status),
                status,
                attempts: e.attempts.to_string(),
                duration: duration(e.duration_ms as i64),
                message: e.message.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// The line under the ledger: how many rows are shown of how many read.
fn ledger_note(d: &Dashboard, shown: usize) -> String {
    if d.ledger.is_empty() {
        "No sync requests recorded yet: `audience-stream sync` writes one row per LINE request and Pinpoint import job.".to_string()
    } else {
        format!(
            "Newest {} of {} rows read{}.",
            shown,
            d.ledger.len(),
            if d.ledger_truncated {
                " (older rows exist)"
            } else {
                ""
            }
        )
    }
}

/// Where the message counts come from.
fn messages_note(d: &Dashboard) -> String {
    format!(
        "Recipients of the push and multicast requests LINE accepted, per day ({}), from the {} ledger rows read{}.",
        d.summary.timezone,
        d.ledger.len(),
        if d.ledger_truncated {
            "; older rows exist, so the oldest day shown may be partial"
        } else {
            ""
        }
    )
}

/// Per segment and destination: members here against members acknowledged there.
fn reconciliation_views(d: &Dashboard) -> Vec<ReconView> {
    d.reconciliation
        .iter()
        .map(|r| {
            let (verdict, class) = match r.difference {
                None => ("not synced yet".to_string(), "mute"),
                Some(0) => ("in sync".to_string(), "ok"),
                Some(x) if x > 0 => (
                    format!("{} stale (exits not yet removed)", count(x as u64)),
                    "warn",
                ),
                Some(x) => (format!("{} behind", count(x.unsigned_abs())), "warn"),
            };
            ReconView {
                segment: r.segment.clone(),
                destination: r.destination.clone(),
                members: int(r.members),
                acknowledged: match r.acknowledged {
                    Some(a) if r.partial => format!("≥ {}", int(a)),
                    Some(a) => int(a),
                    None => "—".into(),
                },
                difference: r.difference.map_or("—".into(), signed),
                pending: format!(
                    "+{} / −{}",
                    count(r.pending_additions),
                    count(r.pending_exits)
                ),
                verdict,
                class,
            }
        })
        .collect()
}

/// What to do when there is nothing to show yet, if so.
fn empty_note(d: &Dashboard) -> Option<String> {
    if d.segments.is_empty() {
        Some(
            "The rules file defines no segments. Add some (see docs/rules.md) and reload."
                .to_string(),
        )
    } else if d.segments.iter().all(|r| r.entered_total == 0) && d.ledger.is_empty() {
        Some(
            "No data yet: no segment has had a member. Replay the fixtures with \
             `audience-stream replay fixtures/events.jsonl` (or let the consumer Lambda run), \
             then render this page again."
                .to_string(),
        )
    } else {
        None
    }
}

fn seg_view(d: &Dashboard, r: &SegmentRow) -> SegView {
    let sizes: Vec<i64> = d
        .histories
        .get(&r.id)
        .map(|h| h.iter().map(|p| p.size).collect())
        .unwrap_or_default();
    SegView {
        id: r.id.clone(),
        href: seg_href(&r.id),
        description: r.description.clone(),
        members: int(r.members),
        entered_today: count(r.entered_today),
        exited_today: count(r.exited_today),
        changes: [&r.change_1d, &r.change_7d, &r.change_30d]
            .into_iter()
            .map(change_view)
            .collect(),
        spark: svg::sparkline(&sizes, 96, 22),
        dests: r
            .destinations
            .iter()
            .map(|c| DestView {
                name: c.destination.clone(),
                target: c.target.clone().unwrap_or_default(),
                status: c.status.replace('_', " "),
                class: status_class(&c.status),
            })
            .collect(),
        sudden: r.sudden_change.as_ref().map(|c| c.reason.clone()),
    }
}

fn pick_segment<'a>(d: &'a Dashboard, wanted: Option<&str>) -> Option<&'a SegmentRow> {
    match wanted.and_then(|w| d.segment(w)) {
        Some(r) => Some(r),
        None => d
            .segments
            .iter()
            .max_by(|a, b| a.members.cmp(&b.members).then_with(|| b.id.cmp(&a.id))),
    }
}

fn detail_view(d: &Dashboard, r: &SegmentRow) -> Detail {
    let days = d.histories.get(&r.id).cloned().unwrap_or_default();
    let tabs = Granularity::ALL
        .into_iter()
        .map(|g| {
            let b = buckets(&days, g);
            Tab {
                key: g.as_str(),
                label: match g {
                    Granularity::Day => "By day",
                    Granularity::Week => "By week",
                    Granularity::Month => "By month",
                },
                checked: g == Granularity::Day,
                size_svg: svg::size_chart(
                    &b,
                    1180,
                    220,
                    &format!("members of {} by {}", r.id, g.as_str()),
                ),
                flow_svg: svg::flow_chart(
                    &b,
                    1180,
                    160,
                    &format!("entered vs exited of {} by {}", r.id, g.as_str()),
                ),
                rows: b
                    .iter()
                    .rev()
                    .map(|x| NumRow {
                        label: x.label.clone(),
                        size: int(x.size),
                        entered: count(x.entered),
                        exited: count(x.exited),
                    })
                    .collect(),
            }
        })
        .collect();
    Detail {
        id: r.id.clone(),
        description: r.description.clone(),
        members: int(r.members),
        tabs,
    }
}
