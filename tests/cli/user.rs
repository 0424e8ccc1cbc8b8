//! `user show` and `user delete` end to end, on the embedded store and on DynamoDB Local: the
//! same user erased from the same replay leaves the same segments with one member fewer,
//! `show` finds nothing afterwards, a second erasure finds nothing to delete, and `--dry-run`
//! writes nothing.

use crate::util::*;
use audience_testkit::dynamodb_local::DynamoDbLocal;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs the binary against `store` (`None`: the embedded store in `dir`).
fn cli(dir: &Path, endpoint: Option<&str>, args: &[&str]) -> Value {
    let out = match endpoint {
        None => run(dir, args),
        Some(endpoint) => Command::new(env!("CARGO_BIN_EXE_audience-stream"))
            .args(args)
            .args(["--store", "dynamodb:cli-erase"])
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
            .current_dir(dir)
            .output()
            .unwrap(),
    };
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

fn members(stats: &Value, segment: &str) -> i64 {
    stats["segments"][segment]["members"].as_i64().unwrap_or(0)
}

/// Erases `user` and checks everything a store must agree on; returns the erasure's report.
fn erase_and_check(dir: &Path, endpoint: Option<&str>, user: &str) -> Value {
    let shown = cli(dir, endpoint, &["user", "show", user]);
    assert!(shown["state"].is_object(), "{shown}");
    let segments: Vec<String> = shown["member_of"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert!(
        !segments.is_empty(),
        "the chosen user is a member somewhere: {shown}"
    );
    let before = cli(dir, endpoint, &["stats", "--json"]);

    let dry = cli(
        dir,
        endpoint,
        &["user", "delete", user, "--dry-run", "--json"],
    );
    assert_eq!(dry["segments"], serde_json::json!(segments), "{dry}");
    assert!(
        cli(dir, endpoint, &["user", "show", user])["state"].is_object(),
        "a dry run writes nothing"
    );

    let done = cli(dir, endpoint, &["user", "delete", user, "--json"]);
    assert_eq!(done["segments"], serde_json::json!(segments), "{done}");
    assert_eq!(done["erased"]["state"], 1, "{done}");
    assert_eq!(done["erased"]["memberships"], segments.len(), "{done}");
    let after = cli(dir, endpoint, &["user", "show", user]);
    assert!(
        after["state"].is_null() && after["member_of"] == serde_json::json!([]),
        "{after}"
    );
    let stats = cli(dir, endpoint, &["stats", "--json"]);
    for seg in &segments {
        assert_eq!(members(&stats, seg), members(&before, seg) - 1, "{seg}");
    }

    let again = cli(dir, endpoint, &["user", "delete", user, "--json"]);
    assert!(
        again["erased"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == 0),
        "nothing left to delete: {again}"
    );
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_delete_erases_alike_on_both_stores() {
    let local = DynamoDbLocal::start().await.unwrap_or_else(|e| {
        panic!("DynamoDB Local could not start (see scripts/ensure-dynamodb-local.sh): {e}")
    });
    let endpoint = local.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        fixture("kinesis-batch-1.json"),
        fixture("kinesis-batch-2.json"),
    ];
    run_json(dir.path(), &["replay", "--json", &files[0], &files[1]]);
    let out = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args(["table", "create", "--table", "cli-erase"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cli(
        dir.path(),
        Some(&endpoint),
        &["replay", "--json", &files[0], &files[1]],
    );

    // A buyer: a member of the purchase segments in the shipped rules.
    let facts = facts();
    let user = facts
        .iter()
        .max_by_key(|(k, f)| (f.purchase_days.len(), std::cmp::Reverse(k.as_str())))
        .map(|(k, _)| k.clone())
        .unwrap();

    let embedded = erase_and_check(dir.path(), None, &user);
    let dynamo = erase_and_check(dir.path(), Some(&endpoint), &user);
    for field in ["segments", "exits_queued", "identities"] {
        assert_eq!(embedded[field], dynamo[field], "{field}");
    }
    for field in ["state", "memberships", "outbox", "links"] {
        assert_eq!(
            embedded["erased"][field], dynamo["erased"][field],
            "{field}"
        );
    }
}

#[test]
fn delete_help_says_what_goes_and_what_remains() {
    let out = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args(["user", "delete", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--dry-run",
        "rotation",
        "Pinpoint",
        "docs/erasure.md",
        "dynamodb:TABLE",
    ] {
        assert!(help.contains(needle), "`{needle}` in: {help}");
    }
}
