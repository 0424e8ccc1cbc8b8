//! `sync` against the LINE fake with the shipped rules, whose segments also name Pinpoint:
//! with no Pinpoint configured the LINE audiences sync and the Pinpoint parts are reported
//! `not_configured`; `--destination` limits the run and naming an unconfigured destination
//! fails with what to set; while another run holds the lease a run sends nothing, and a dry
//! run still plans.

use crate::util::*;
use audience_line::fake::{FakeLine, FAKE_LONG_LIVED_TOKEN};
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `audience-stream sync ARGS` on the store in `dir` with LINE credentials for `fake`
/// (none when `fake` is `None`) and no Pinpoint settings.
async fn sync(dir: &Path, fake: Option<&FakeLine>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_audience-stream"));
    cmd.arg("sync")
        .args(args)
        .env(
            "AUDIENCE_STREAM_STORE",
            format!("embedded:{}", dir.join("state").display()),
        )
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .current_dir(dir);
    for var in [
        "LINE_CHANNEL_ACCESS_TOKEN",
        "LINE_CHANNEL_ID",
        "LINE_CHANNEL_SECRET",
        "AUDIENCE_STREAM_PINPOINT_APPLICATION_ID",
        "AUDIENCE_STREAM_S3_BUCKET",
        "AUDIENCE_STREAM_IMPORT_ROLE_ARN",
    ] {
        cmd.env_remove(var);
    }
    if let Some(fake) = fake {
        cmd.env("LINE_CHANNEL_ACCESS_TOKEN", FAKE_LONG_LIVED_TOKEN)
            .env("LINE_API_BASE", fake.api_base().as_str())
            .env("LINE_DATA_BASE", fake.data_base().as_str());
    }
    // The fake answers on this test's runtime: wait for the binary off it.
    tokio::task::spawn_blocking(move || cmd.output().expect("run audience-stream sync"))
        .await
        .expect("join")
}

fn json_report(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn rows<'a>(report: &'a Value, destination: &str) -> Vec<&'a Value> {
    report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["destination"] == destination)
        .collect()
}

fn replayed() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    run_json(
        dir.path(),
        &[
            "replay",
            "--json",
            &fixture("kinesis-batch-1.json"),
            &fixture("kinesis-batch-2.json"),
        ],
    );
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_syncs_while_unconfigured_pinpoint_is_reported_and_skipped() {
    let (_tmp, dir) = replayed();
    let fake = FakeLine::start().await;

    let report = json_report(&sync(&dir, Some(&fake), &["--json"]).await);
    let line = rows(&report, "line");
    let pinpoint = rows(&report, "pinpoint");
    assert!(!line.is_empty() && !pinpoint.is_empty(), "{report:#}");
    assert!(line.iter().all(|s| s["outcome"] == "done"), "{report:#}");
    assert!(
        pinpoint.iter().all(|s| s["outcome"] == "not_configured"
            && s["notes"][0]
                .as_str()
                .is_some_and(|n| n.contains("--pinpoint-application-id"))),
        "{report:#}"
    );
    assert!(!fake.audiences().is_empty(), "LINE audiences were created");
    let store = EmbeddedStore::open(&dir.join("state")).unwrap();
    let summary = store.pending_summary().await.unwrap();
    assert!(
        summary.iter().all(|p| p.destination == "pinpoint"),
        "LINE is drained, Pinpoint waits: {summary:?}"
    );
    assert!(!summary.is_empty());
    drop(store);

    // The text report names the outcome too.
    let text = sync(&dir, Some(&fake), &[]).await;
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("not_configured"));

    // Only LINE: Pinpoint is not visited.
    let report = json_report(&sync(&dir, Some(&fake), &["--json", "--destination", "line"]).await);
    assert!(rows(&report, "pinpoint").is_empty(), "{report:#}");
    assert!(!rows(&report, "line").is_empty());

    // Naming a destination that is not configured is an error saying what to set.
    let out = sync(&dir, Some(&fake), &["--destination", "pinpoint"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Pinpoint destination was asked for but is not configured")
            && err.contains("--s3-bucket"),
        "{err}"
    );
    let out = sync(&dir, None, &["--destination", "line"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("LINE_CHANNEL_ACCESS_TOKEN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sync(&dir, Some(&fake), &["--destination", "sms"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown destination `sms`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_while_another_holds_the_lease_sends_nothing_and_a_dry_run_still_plans() {
    let (_tmp, dir) = replayed();
    let fake = FakeLine::start().await;
    let now = audience_clock::now_millis();
    {
        let store = EmbeddedStore::open(&dir.join("state")).unwrap();
        assert!(store
            .acquire_lease("sync", "scheduled-run", now, now + 600_000)
            .await
            .unwrap());
    }
    let report = json_report(&sync(&dir, Some(&fake), &["--json"]).await);
    assert_eq!(report["lease_held_elsewhere"], true, "{report:#}");
    assert!(
        report["notes"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("another sync run holds the lease until")
                && n.contains("scheduled-run")),
        "{report:#}"
    );
    assert!(report["segments"].as_array().unwrap().is_empty());
    assert!(fake.requests().is_empty(), "nothing sent");

    let out = dir.join("planned");
    let planned = json_report(
        &sync(
            &dir,
            None,
            &["--json", "--dry-run", "--out", out.to_str().unwrap()],
        )
        .await,
    );
    assert!(!planned["segments"].as_array().unwrap().is_empty());
    assert!(planned["segments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["outcome"] == "planned"));
    assert!(out.join("line").is_dir());

    {
        let store = EmbeddedStore::open(&dir.join("state")).unwrap();
        store.release_lease("sync", "scheduled-run").await.unwrap();
    }
    let report = json_report(&sync(&dir, Some(&fake), &["--json", "--destination", "line"]).await);
    assert_eq!(report["lease_held_elsewhere"], false);
    assert!(!fake.audiences().is_empty());
}
