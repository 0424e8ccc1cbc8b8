//! Running the binary, and an independent reading of the fixture events (plain serde_json,
//! no project code) to compute the numbers the binary must report.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DAY: i64 = 86_400_000;
/// Newest event time in the fixtures: 2025-12-01T00:00:00Z.
pub const NEWEST: i64 = 1_764_547_200_000;

pub fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())).join("../..")
}

pub fn fixture(name: &str) -> String {
    root().join("fixtures").join(name).display().to_string()
}

/// Runs the binary in `dir` with the shipped rules and a store inside `dir`.
pub fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let store = format!("embedded:{}", dir.join("state").display());
    Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args(args)
        .env("AUDIENCE_STREAM_STORE", store)
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .current_dir(dir)
        .output()
        .expect("run audience-stream")
}

/// Runs and parses stdout as JSON, failing with stderr when the command fails.
pub fn run_json(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// What the fixture says about one app user (events keyed by endpoint.User.UserId).
#[derive(Default, Debug)]
pub struct UserFacts {
    pub pref: Option<(i64, String)>,
    pub purchase_days: Vec<i64>,
    pub purchase_amounts: Vec<(i64, f64)>,
    pub last_session_start: Option<i64>,
}

fn endpoint_of(e: &Value) -> Option<Value> {
    if let Some(ep) = e.get("endpoint") {
        return Some(ep.clone());
    }
    let s = e.pointer("/client_context/custom/endpoint")?.as_str()?;
    serde_json::from_str(s).ok()
}

/// Facts per user id from fixtures/events.jsonl, following links from endpoint IDs.
pub fn facts() -> BTreeMap<String, UserFacts> {
    let text = std::fs::read_to_string(fixture("events.jsonl")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    for e in &events {
        if let Some(ep) = endpoint_of(e) {
            if let (Some(id), Some(user)) = (
                ep["Id"].as_str(),
                ep.pointer("/User/UserId").and_then(Value::as_str),
            ) {
                links.insert(id.to_string(), user.to_string());
            }
        }
    }
    let mut out: BTreeMap<String, UserFacts> = BTreeMap::new();
    for e in &events {
        let ep = endpoint_of(e);
        let user = ep
            .as_ref()
            .and_then(|ep| {
                ep.pointer("/User/UserId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| {
                ep.as_ref()
                    .and_then(|ep| ep["Id"].as_str())
                    .map(|id| links.get(id).cloned().unwrap_or(id.to_string()))
            })
            .or_else(|| {
                e.pointer("/client/client_id")
                    .and_then(Value::as_str)
                    .map(|id| links.get(id).cloned().unwrap_or(id.to_string()))
            });
        let Some(user) = user else { continue };
        let t = e["event_timestamp"].as_i64().unwrap();
        let f = out.entry(user).or_default();
        if let Some(p) = ep
            .as_ref()
            .and_then(|ep| ep.pointer("/Attributes/pref/0"))
            .and_then(Value::as_str)
        {
            if f.pref
                .as_ref()
                .is_none_or(|(old, v)| (t, p) > (*old, v.as_str()))
            {
                f.pref = Some((t, p.to_string()));
            }
        }
        match e["event_type"].as_str().unwrap() {
            "_monetization.purchase" => {
                f.purchase_days.push(t.div_euclid(DAY));
                let price = e
                    .pointer("/metrics/_item_price")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                let qty = e
                    .pointer("/metrics/_quantity")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                f.purchase_amounts.push((t.div_euclid(DAY), price * qty));
            }
            "_session.start" => {
                f.last_session_start = Some(f.last_session_start.map_or(t, |o| o.max(t)))
            }
            _ => {}
        }
    }
    out
}

/// Users with a purchase in the 30-day window (UTC days) ending on `now`'s day.
pub fn recent_buyers(facts: &BTreeMap<String, UserFacts>, now: i64) -> usize {
    let first = now.div_euclid(DAY) - 29;
    facts
        .values()
        .filter(|f| f.purchase_days.iter().any(|d| *d >= first))
        .count()
}

/// Users whose last _session.start is at least 14 days before `now`.
pub fn dormant(facts: &BTreeMap<String, UserFacts>, now: i64) -> usize {
    facts
        .values()
        .filter(|f| f.last_session_start.is_some_and(|t| now - t >= 14 * DAY))
        .count()
}

/// Users who spent at least `min` in the 90-day window ending on `now`'s day.
pub fn spenders(facts: &BTreeMap<String, UserFacts>, now: i64, min: f64) -> usize {
    let first = now.div_euclid(DAY) - 89;
    facts
        .values()
        .filter(|f| {
            f.purchase_amounts
                .iter()
                .filter(|(d, _)| *d >= first)
                .map(|(_, a)| a)
                .sum::<f64>()
                >= min
        })
        .count()
}
