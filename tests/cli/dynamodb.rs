//! `table create`, `replay --store dynamodb:TABLE` and `stats` against DynamoDB Local give the
//! same numbers as the embedded store.

use crate::util::*;
use audience_testkit::dynamodb_local::DynamoDbLocal;
use std::process::Command;

fn with_aws(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"));
}

fn json_of(out: std::process::Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_into_dynamodb_local_matches_the_embedded_store() {
    let local = DynamoDbLocal::start().await.unwrap_or_else(|e| {
        panic!("DynamoDB Local could not start (see scripts/ensure-dynamodb-local.sh): {e}")
    });
    let endpoint = local.endpoint();
    let bin = env!("CARGO_BIN_EXE_audience-stream");
    let dir = tempfile::tempdir().unwrap();

    let mut create = Command::new(bin);
    create.args(["table", "create", "--table", "cli-replay"]);
    with_aws(&mut create, &endpoint);
    let out = create.output().unwrap();
    assert!(
        out.status.success(),
        "table create: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let files = [
        fixture("kinesis-batch-1.json"),
        fixture("kinesis-batch-2.json"),
    ];
    let mut replay = Command::new(bin);
    replay.args([
        "replay",
        "--json",
        "--store",
        "dynamodb:cli-replay",
        &files[0],
        &files[1],
    ]);
    with_aws(&mut replay, &endpoint);
    let dynamo = json_of(replay.output().unwrap(), "replay into DynamoDB");

    let embedded = run_json(dir.path(), &["replay", "--json", &files[0], &files[1]]);
    assert_eq!(dynamo["segments"], embedded["segments"]);
    assert_eq!(dynamo["pending"], embedded["pending"]);
    assert_eq!(dynamo["users"], embedded["users"]);

    let mut stats = Command::new(bin);
    stats.args(["stats", "--json", "--store", "dynamodb:cli-replay"]);
    with_aws(&mut stats, &endpoint);
    let dstats = json_of(stats.output().unwrap(), "stats on DynamoDB");
    let estats = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(dstats["segments"], estats["segments"]);
    assert_eq!(dstats["history"], estats["history"]);
}
