//! `explain USER` on a segment with a `line_message` destination: after a replay the user's
//! entry is pending with its message rendered from the user's attributes and nothing sent;
//! after a `sync` against the LINE fake the message is sent, the cap record shows when, and
//! nothing is pending.

use crate::util::*;
use audience_line::fake::{FakeLine, FAKE_LONG_LIVED_TOKEN};
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const RULES: &str = r#"
version: 1
settings:
  keep_attributes: [plan]
segments:
  - id: gold-welcome
    condition: { all: [ { line_linked: true }, { user_attribute: { name: plan, eq: gold } } ] }
    destinations:
      line_message:
        on_enter: ["Welcome, {{plan}} member!"]
        cap: 7d
"#;

const WEEK_MS: i64 = 7 * 86_400_000;

/// The binary with the message rules and the store in `dir`, LINE pointed at `fake`.
fn command(dir: &Path, fake: Option<&FakeLine>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_audience-stream"));
    cmd.args(args)
        .env(
            "AUDIENCE_STREAM_STORE",
            format!("embedded:{}", dir.join("state").display()),
        )
        .env("AUDIENCE_STREAM_RULES", dir.join("rules.yaml"))
        .current_dir(dir);
    for var in [
        "LINE_CHANNEL_ACCESS_TOKEN",
        "LINE_CHANNEL_ID",
        "LINE_CHANNEL_SECRET",
    ] {
        cmd.env_remove(var);
    }
    if let Some(fake) = fake {
        cmd.env("LINE_CHANNEL_ACCESS_TOKEN", FAKE_LONG_LIVED_TOKEN)
            .env("LINE_API_BASE", fake.api_base().as_str())
            .env("LINE_DATA_BASE", fake.data_base().as_str());
    }
    cmd
}

/// Runs off the test's runtime (the fake answers on it).
async fn output(mut cmd: Command) -> Output {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run audience-stream"))
        .await
        .expect("join");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn explain(dir: &Path, user: &str) -> (Value, String) {
    let args = ["explain", user, "--segment", "gold-welcome"];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let json = output(command(dir, None, &with_json)).await;
    let json: Value = serde_json::from_slice(&json.stdout).expect("explain --json prints JSON");
    let text = output(command(dir, None, &args)).await;
    (
        json[0]["messages"].clone(),
        String::from_utf8_lossy(&text.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_rendered_pending_message_then_the_send_and_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("rules.yaml"), RULES).unwrap();
    output(command(
        dir,
        None,
        &["replay", "--json", &fixture("kinesis-batch-1.json")],
    ))
    .await;
    let store = EmbeddedStore::open(&dir.join("state")).unwrap();
    let pending = store
        .pending("line_message", "gold-welcome", 10_000)
        .await
        .unwrap();
    drop(store);
    let user = pending
        .first()
        .expect("a gold user with a LINE ID entered")
        .user
        .clone();

    let (messages, text) = explain(dir, &user).await;
    let entry = &messages["pending"][0];
    assert_eq!(entry["on"], "on_enter", "{messages:#}");
    assert_eq!(entry["guard"], "would_send", "{messages:#}");
    assert_eq!(
        entry["messages"],
        serde_json::json!([{"type": "text", "text": "Welcome, gold member!"}]),
        "rendered from the user's plan: {messages:#}"
    );
    assert_eq!(messages["sent"]["record"], "never_sent", "{messages:#}");
    assert!(
        text.contains("pending on_enter") && text.contains("text: Welcome, gold member!"),
        "{text}"
    );

    let fake = FakeLine::start().await;
    output(command(dir, Some(&fake), &["sync", "--json"])).await;
    let delivered = fake.delivered();
    assert!(
        delivered
            .iter()
            .any(|d| d.messages[0]["text"] == "Welcome, gold member!"),
        "{delivered:?}"
    );

    let (messages, text) = explain(dir, &user).await;
    assert_eq!(messages["pending"], serde_json::json!([]), "{messages:#}");
    assert_eq!(messages["planned"], serde_json::json!([]), "{messages:#}");
    let sent = &messages["sent"];
    assert_eq!(sent["record"], "last_sent", "{messages:#}");
    let at = sent["at"].as_i64().expect("a send time");
    assert_eq!(
        sent["cap_ends"].as_i64(),
        Some(at + WEEK_MS),
        "{messages:#}"
    );
    assert!(
        text.contains("nothing pending") && text.contains("sent: last message"),
        "{text}"
    );
}
