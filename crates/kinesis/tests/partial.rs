//! The re-send logic, through a scripted PutRecords fake (no emulator injects per-entry
//! failures): only failed entries are re-sent, exhausted ones are reported with their code,
//! call errors are retried or stop the send, and the rate limit spaces calls.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use audience_kinesis::{
    CallError, EntryOutcome, KinesisSender, OutRecord, PutRecordsApi, RetryPolicy, SendError,
    SenderOptions,
};

type EntryScript = Box<dyn Fn(usize, &OutRecord) -> EntryOutcome + Send + Sync>;

/// Records every call's partition keys; answers each entry by `script(call_number, record)`,
/// or fails whole calls whose number is in `call_errors`.
struct Scripted {
    calls: Mutex<Vec<Vec<String>>>,
    script: EntryScript,
    call_errors: Vec<(usize, CallError)>,
}

impl Scripted {
    fn new(script: impl Fn(usize, &OutRecord) -> EntryOutcome + Send + Sync + 'static) -> Self {
        Scripted {
            calls: Mutex::new(Vec::new()),
            script: Box::new(script),
            call_errors: Vec::new(),
        }
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }
}

impl PutRecordsApi for Scripted {
    async fn put_records(
        &self,
        stream: &str,
        batch: &[&OutRecord],
    ) -> Result<Vec<EntryOutcome>, CallError> {
        assert_eq!(stream, "s");
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(batch.iter().map(|r| r.partition_key.clone()).collect());
            calls.len() - 1
        };
        if let Some((_, e)) = self.call_errors.iter().find(|(at, _)| *at == n) {
            return Err(e.clone());
        }
        Ok(batch.iter().map(|r| (self.script)(n, r)).collect())
    }
}

fn failed(code: &str) -> EntryOutcome {
    EntryOutcome::Failed {
        code: code.into(),
        message: format!("{code} (scripted)"),
    }
}

fn records(n: usize) -> Vec<OutRecord> {
    (0..n)
        .map(|i| OutRecord::new(format!("k{i}"), format!("d{i}")))
        .collect()
}

fn sender(api: Scripted, retries: usize) -> KinesisSender<Scripted> {
    KinesisSender::with_api(
        api,
        "s",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(retries),
        },
    )
}

fn key_index(r: &OutRecord) -> usize {
    r.partition_key[1..].parse().unwrap()
}

#[tokio::test]
async fn only_the_failed_entries_are_sent_again() {
    // On a batch's first call every 7th record is throttled and every 11th hits an internal
    // failure; re-sends succeed.
    let first_calls = [0usize, 2, 4];
    let api = Scripted::new(move |call, r| {
        let i = key_index(r);
        if first_calls.contains(&call) && i % 7 == 0 {
            failed("ProvisionedThroughputExceededException")
        } else if first_calls.contains(&call) && i % 11 == 0 {
            failed("InternalFailure")
        } else {
            EntryOutcome::Accepted
        }
    });
    let progressed = AtomicU64::new(0);
    let s = sender(api, 3);
    let report = s
        .send(records(1234), |n| {
            progressed.fetch_add(n, Ordering::Relaxed);
        })
        .await
        .unwrap();
    let expected_failed: Vec<usize> = (0..1234).filter(|i| i % 7 == 0 || i % 11 == 0).collect();
    assert_eq!(report.sent, 1234);
    assert!(report.failed.is_empty());
    assert_eq!(report.retried, expected_failed.len() as u64);
    assert_eq!(report.calls, 6);
    assert_eq!(progressed.load(Ordering::Relaxed), 1234);

    let calls = s.api().calls();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    for (call, range) in [(0, 0..500), (2, 500..1000), (4, 1000..1234)] {
        let sent: Vec<String> = range.clone().map(|i| format!("k{i}")).collect();
        assert_eq!(
            calls[call], sent,
            "call {call} carries its records in order"
        );
        let resent: Vec<String> = expected_failed
            .iter()
            .filter(|i| range.contains(*i))
            .map(|i| format!("k{i}"))
            .collect();
        assert_eq!(
            calls[call + 1],
            resent,
            "call {} re-sends exactly the failed ones ({sizes:?})",
            call + 1
        );
    }
}

#[tokio::test]
async fn entries_still_failing_after_every_retry_are_reported_with_their_code() {
    let api = Scripted::new(|_, r| match key_index(r) {
        3 | 8 => failed("InternalFailure"),
        _ => EntryOutcome::Accepted,
    });
    let s = sender(api, 2);
    let report = s.send(records(10), |_| {}).await.unwrap();
    assert_eq!(report.sent, 8);
    assert_eq!(report.calls, 3, "first call and two retries");
    assert_eq!(report.retried, 4, "two records, re-sent twice each");
    let failed: Vec<(usize, &str)> = report
        .failed
        .iter()
        .map(|f| (f.index, f.error_code.as_str()))
        .collect();
    assert_eq!(failed, vec![(3, "InternalFailure"), (8, "InternalFailure")]);
    assert!(report.failed[0].message.contains("scripted"));
    assert_eq!(s.api().calls()[1], vec!["k3", "k8"]);
}

#[tokio::test]
async fn an_entry_code_not_worth_retrying_is_reported_at_once() {
    let api = Scripted::new(|_, r| match key_index(r) {
        1 => failed("KMSAccessDeniedException"),
        _ => EntryOutcome::Accepted,
    });
    let s = sender(api, 5);
    let report = s.send(records(3), |_| {}).await.unwrap();
    assert_eq!((report.sent, report.calls, report.retried), (2, 1, 0));
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].index, 1);
    assert_eq!(report.failed[0].error_code, "KMSAccessDeniedException");
}

fn call_error(code: &str, retryable: bool) -> CallError {
    CallError {
        stream: "s".into(),
        code: Some(code.into()),
        message: format!("{code} (scripted)"),
        retryable,
    }
}

#[tokio::test]
async fn a_throttled_call_is_repeated_whole() {
    let mut api = Scripted::new(|_, _| EntryOutcome::Accepted);
    api.call_errors = vec![(
        0,
        call_error("ProvisionedThroughputExceededException", true),
    )];
    let s = sender(api, 3);
    let report = s.send(records(4), |_| {}).await.unwrap();
    assert_eq!((report.sent, report.calls, report.retried), (4, 2, 4));
    let calls = s.api().calls();
    assert_eq!(calls[0], calls[1]);
}

#[tokio::test]
async fn a_permanent_call_error_stops_the_send_and_keeps_the_report() {
    let mut api = Scripted::new(|_, _| EntryOutcome::Accepted);
    api.call_errors = vec![(1, call_error("AccessDeniedException", false))];
    let s = sender(api, 3);
    let err = s.send(records(1200), |_| {}).await.unwrap_err();
    let msg = err.to_string();
    match err {
        SendError::Call {
            first_unsent,
            source,
            report,
        } => {
            assert_eq!(first_unsent, 500);
            assert_eq!(source.code.as_deref(), Some("AccessDeniedException"));
            assert_eq!((report.sent, report.calls), (500, 2));
            assert!(
                msg.contains("record 500") && msg.contains("500 records were sent"),
                "{msg}"
            );
        }
        other => panic!("expected a call error, got {other:?}"),
    }
    assert_eq!(s.api().calls().len(), 2, "nothing sent after the stop");
}

#[tokio::test]
async fn a_call_failing_after_every_retry_stops_the_send() {
    let mut api = Scripted::new(|_, _| EntryOutcome::Accepted);
    api.call_errors = (0..3)
        .map(|n| (n, call_error("InternalFailureException", true)))
        .collect();
    let s = sender(api, 2);
    let err = s.send(records(3), |_| {}).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Call { report, .. } if report.calls == 3 && report.sent == 0),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_oversized_record_makes_no_call() {
    let api = Scripted::new(|_, _| EntryOutcome::Accepted);
    let s = sender(api, 0);
    let mut recs = records(5);
    recs[4].data = vec![0; 1024 * 1024];
    let err = s.send(recs, |_| {}).await.unwrap_err();
    assert!(
        err.to_string().contains("record 4 (partition key \"k4\")"),
        "{err}"
    );
    assert!(s.api().calls().is_empty());
}

#[tokio::test]
async fn a_short_answer_is_an_error_not_a_silent_success() {
    struct Short;
    impl PutRecordsApi for Short {
        async fn put_records(
            &self,
            _: &str,
            batch: &[&OutRecord],
        ) -> Result<Vec<EntryOutcome>, CallError> {
            Ok(vec![EntryOutcome::Accepted; batch.len() - 1])
        }
    }
    let s = KinesisSender::with_api(Short, "s", SenderOptions::default());
    let err = s.send(records(3), |_| {}).await.unwrap_err();
    assert!(
        err.to_string().contains("answered 2 entries for 3 records"),
        "{err}"
    );
}

#[tokio::test]
async fn the_rate_limit_spaces_calls() {
    let api = Scripted::new(|_, _| EntryOutcome::Accepted);
    let s = KinesisSender::with_api(
        api,
        "s",
        SenderOptions {
            rate_per_sec: Some(150),
            retry: RetryPolicy::fast(1),
        },
    );
    let started = Instant::now();
    let report = s.send(records(450), |_| {}).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.sent, 450);
    let sizes: HashSet<usize> = s.api().calls().iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        HashSet::from([150]),
        "calls carry at most the per-second quota"
    );
    // The first 150 go at once (burst), the next two calls wait ~1 s each.
    assert!(
        elapsed >= Duration::from_millis(1900),
        "450 records at 150/s took only {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    let zero = KinesisSender::with_api(
        Scripted::new(|_, _| EntryOutcome::Accepted),
        "s",
        SenderOptions {
            rate_per_sec: Some(0),
            retry: RetryPolicy::fast(1),
        },
    );
    assert!(matches!(
        zero.send(records(1), |_| {}).await,
        Err(SendError::InvalidOptions(_))
    ));
}
