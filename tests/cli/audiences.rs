//! `audiences` after a `sync` against the LINE fake: each LINE segment's current audience with
//! the size LINE reports, and without credentials the same list from the store alone.

use crate::util::*;
use audience_line::fake::{FakeLine, FAKE_LONG_LIVED_TOKEN};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

async fn run_with_line(dir: &Path, fake: Option<&FakeLine>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_audience-stream"));
    cmd.args(args)
        .env(
            "AUDIENCE_STREAM_STORE",
            format!("embedded:{}", dir.join("state").display()),
        )
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .env_remove("LINE_CHANNEL_ID")
        .env_remove("LINE_CHANNEL_SECRET")
        .env_remove("LINE_CHANNEL_ACCESS_TOKEN")
        .env_remove("AUDIENCE_STREAM_PINPOINT_APPLICATION_ID")
        .current_dir(dir);
    if let Some(fake) = fake {
        cmd.env("LINE_CHANNEL_ACCESS_TOKEN", FAKE_LONG_LIVED_TOKEN)
            .env("LINE_API_BASE", fake.api_base().as_str())
            .env("LINE_DATA_BASE", fake.data_base().as_str());
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run audience-stream"))
        .await
        .expect("join")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_each_line_segments_current_audience_with_its_line_size() {
    let dir = tempfile::tempdir().unwrap();
    run_json(
        dir.path(),
        &[
            "replay",
            "--json",
            &fixture("events.jsonl"),
            &fixture("user-attributes.jsonl"),
        ],
    );
    let fake = FakeLine::start().await;
    let synced = run_with_line(dir.path(), Some(&fake), &["sync", "--destination", "line"]).await;
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );

    let list = json(&run_with_line(dir.path(), Some(&fake), &["audiences", "--json"]).await);
    let list = list.as_array().unwrap();
    assert!(!list.is_empty());
    for seg in list {
        let current = &seg["current"];
        let id = current["audience_id"].as_i64().unwrap();
        let audience = fake
            .audience(id)
            .unwrap_or_else(|| panic!("{id} at LINE: {seg}"));
        assert_eq!(current["name"], audience.description.as_str(), "{seg}");
        assert_eq!(current["size"], audience.members.len() as u64, "{seg}");
        assert_eq!(current["status"], "READY", "{seg}");
        assert!(current["created_at"].as_i64().is_some(), "{seg}");
        assert!(
            seg["earlier"].as_array().unwrap().is_empty(),
            "no rotation yet: {seg}"
        );
        let small = audience.members.len() < 50;
        assert_eq!(
            seg["warnings"].as_array().unwrap().len(),
            usize::from(small),
            "warned exactly when LINE would refuse a narrowcast: {seg}"
        );
    }

    // Without credentials: the same audiences, from the store alone.
    let offline = run_with_line(dir.path(), None, &["audiences"]).await;
    let text = String::from_utf8_lossy(&offline.stdout);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert!(
        text.contains("LINE is not configured: sizes unknown"),
        "{text}"
    );
    for seg in list {
        let id = seg["current"]["audience_id"].as_i64().unwrap();
        assert!(text.contains(&format!("current      {id} ")), "{text}");
    }
}
