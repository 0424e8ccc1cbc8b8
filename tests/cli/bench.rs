//! `bench dynamodb` on a tiny generated workload against a DynamoDB Local the test starts
//! (given with `--endpoint`, as for an installed binary): the JSON report's shape, the pipeline
//! below the naive handler in billed write units, and the temporary tables gone afterwards.

use crate::util::*;
use audience_testkit::dynamodb_local::DynamoDbLocal;
use serde_json::Value;
use std::process::Command;

fn number(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {v:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_dynamodb_reports_both_sides_and_removes_its_tables() {
    let local = DynamoDbLocal::start().await.unwrap_or_else(|e| {
        panic!("DynamoDB Local could not start (see scripts/ensure-dynamodb-local.sh): {e}")
    });
    let out = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args([
            "bench",
            "dynamodb",
            "--json",
            "--endpoint",
            &local.endpoint(),
            "--users",
            "60",
            "--events",
            "900",
            "--phase-events",
            "300",
            "--batch-sizes",
            "100",
            "--naive-events",
            "100",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .output()
        .expect("run audience-stream");
    assert!(
        out.status.success(),
        "bench dynamodb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("bench prints JSON");

    assert_eq!(report["endpoint"], local.endpoint());
    assert_eq!(report["workload"]["events"], 900);
    assert_eq!(report["workload"]["warm_up_events"], 300);
    assert_eq!(report["workload"]["naive_events_per_phase"], 100);
    let sizes = report["batch_sizes"].as_array().expect("batch_sizes array");
    assert_eq!(sizes.len(), 1);
    let size = &sizes[0];
    assert_eq!(size["batch_size"], 100);
    for phase in ["first", "steady"] {
        let p = &size[phase];
        assert_eq!(p["pipeline"]["events"], 300, "{phase}");
        assert_eq!(p["pipeline"]["batches"], 3, "{phase}");
        assert_eq!(p["naive"]["events"], 100, "{phase}");
        assert_eq!(
            p["naive"]["requests"], 200,
            "{phase}: one Get and one Put per record"
        );
        for side in ["pipeline", "naive"] {
            for field in [
                "billed_write_units_per_event",
                "read_units_per_event",
                "requests_per_batch",
                "events_per_second",
            ] {
                let x = number(p, &format!("/{side}/{field}"));
                assert!(x.is_finite() && x >= 0.0, "{phase}/{side}/{field} = {x}");
            }
            assert!(number(p, &format!("/{side}/events_per_second")) > 0.0);
        }
        let w_pipeline = number(p, "/pipeline/billed_write_units_per_event");
        let w_naive = number(p, "/naive/billed_write_units_per_event");
        assert!(w_pipeline > 0.0, "{phase}: the pipeline wrote nothing");
        assert!(
            w_pipeline < w_naive,
            "{phase}: pipeline W {w_pipeline} is not below the naive handler's {w_naive}"
        );
        let ratio = number(p, "/write_unit_ratio_naive_over_pipeline");
        assert!(
            (ratio - w_naive / w_pipeline).abs() < 1e-6,
            "{phase}: ratio {ratio}"
        );
        assert!(number(p, "/speedup") > 0.0);
        assert!(number(p, "/pipeline/pipeline/distinct_users_per_event") > 0.0);
        assert!(p["naive"].get("pipeline").is_none());
    }
    assert!(
        number(size, "/first/pipeline/pipeline/users_new") > 0.0,
        "the first slice adds users to an empty table"
    );

    let tables = local
        .client()
        .list_tables()
        .send()
        .await
        .expect("ListTables on DynamoDB Local");
    let left: Vec<&String> = tables
        .table_names()
        .iter()
        .filter(|t| t.starts_with("audience-bench-"))
        .collect();
    assert!(left.is_empty(), "temporary tables left behind: {left:?}");
}

#[test]
fn bench_dynamodb_help_has_an_example_and_the_endpoint_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args(["bench", "dynamodb", "--help"])
        .output()
        .expect("run audience-stream");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--endpoint"), "{help}");
    assert!(
        help.contains("Example: audience-stream bench dynamodb"),
        "{help}"
    );
    assert!(help.contains("--batch-sizes"), "{help}");
}

/// `gen --records-per-file` writes Kinesis event files of that many records whose sequence
/// numbers keep rising from file to file; `bench parse` counts every record of them; `replay`
/// of the same files decodes every record.
#[test]
fn gen_kinesis_files_then_bench_parse_and_replay_agree_on_the_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files_dir = dir.path().join("k");
    let out = run(
        dir.path(),
        &[
            "gen",
            "--events",
            "250",
            "--users",
            "40",
            "--shards",
            "1",
            "--format",
            "kinesis",
            "--records-per-file",
            "100",
            "--out",
            files_dir.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        out.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(&files_dir)
        .expect("gen created the directory")
        .map(|e| e.expect("dir entry").path().display().to_string())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "250 records in files of 100: {files:?}");
    let mut counts = Vec::new();
    let mut last_seq = String::new();
    for f in &files {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(f).expect("read")).expect("Kinesis event");
        let records = doc["Records"].as_array().expect("Records");
        counts.push(records.len());
        for r in records {
            let seq = r["kinesis"]["sequenceNumber"]
                .as_str()
                .expect("seq")
                .to_string();
            assert!(
                audience_core::record::compare_seq(&last_seq, &seq).is_lt(),
                "sequence numbers rise across files: {last_seq} then {seq}"
            );
            last_seq = seq;
        }
    }
    assert_eq!(counts, vec![100, 100, 50]);

    let mut args = vec!["bench", "parse", "--json"];
    args.extend(files.iter().map(String::as_str));
    let parse = run_json(dir.path(), &args);
    assert_eq!(parse["files"], 3);
    assert_eq!(parse["records"], 250);
    assert_eq!(parse["unparsable"], 0);

    let mut args = vec!["replay", "--json"];
    args.extend(files.iter().map(String::as_str));
    let replay = run_json(dir.path(), &args);
    assert_eq!(replay["records"], 250);
    assert_eq!(replay["decoded"], 250);
}
