//! The one retry mechanism every destination and the Kinesis sender share: capped
//! exponential backoff with jitter (backon), a classification of errors into retryable or
//! permanent, and "retry only these items" for partial failures (PutRecords, batched uploads).
//!
//! Modelled on vector's `RetryLogic` / `RetryPartial`: the caller says what failed; this crate
//! decides when to try again and when to give up.

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// How to retry. Defaults follow Treasure Data's LINE Messaging export connector: 7 retries, 15 s first
/// wait, 3,600 s cap (each request also has its own timeout, set by the client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First wait.
    #[serde(with = "secs")]
    pub first_wait: Duration,
    /// Longest wait.
    #[serde(with = "secs")]
    pub cap: Duration,
    /// Randomise waits (recommended; avoids synchronised retries).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 7,
            first_wait: Duration::from_secs(15),
            cap: Duration::from_secs(3600),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A fast policy for tests and local fakes.
    pub fn fast(max_retries: usize) -> Self {
        RetryPolicy {
            max_retries,
            first_wait: Duration::from_millis(5),
            cap: Duration::from_millis(50),
            jitter: false,
        }
    }

    /// The waits between attempts, in order.
    pub fn waits(&self) -> impl Iterator<Item = Duration> {
        let mut b = ExponentialBuilder::default()
            .with_min_delay(self.first_wait)
            .with_max_delay(self.cap)
            .with_max_times(self.max_retries);
        if self.jitter {
            b = b.with_jitter();
        }
        b.build()
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || v < 0.0 {
            return Err(serde::de::Error::custom(
                "a duration in seconds must be ≥ 0",
            ));
        }
        Ok(Duration::from_secs_f64(v))
    }
}

/// Whether an error is worth another attempt.
pub trait Retryable {
    /// True for throttling, 5xx, timeouts and transport errors; false for permanent refusals.
    fn is_retryable(&self) -> bool;
    /// A wait the server asked for (e.g. `Retry-After`), if any.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// The result of a retried call: the value or the last error, with the attempts made.
#[derive(Debug)]
pub struct Attempted<T, E> {
    /// The outcome.
    pub result: Result<T, E>,
    /// Attempts made (≥ 1).
    pub attempts: u32,
}

/// Calls `op` until it succeeds, fails permanently, or the policy runs out.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, mut op: F) -> Attempted<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut waits = policy.waits();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match op().await {
            Ok(v) => {
                return Attempted {
                    result: Ok(v),
                    attempts,
                }
            }
            Err(e) if e.is_retryable() => match waits.next() {
                Some(wait) => {
                    let wait = e
                        .retry_after()
                        .map_or(wait, |asked| asked.max(wait).min(policy.cap.max(asked)));
                    tracing::info!(attempt = attempts, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                }
                None => {
                    return Attempted {
                        result: Err(e),
                        attempts,
                    }
                }
            },
            Err(e) => {
                return Attempted {
                    result: Err(e),
                    attempts,
                }
            }
        }
    }
}

/// What one attempt of a partial operation left over.
pub enum Partial<I, E> {
    /// Everything was accepted.
    Done,
    /// These items failed with a retryable error; send only them again.
    Retry(Vec<I>, E),
}

/// Sends `items`, re-sending only the items each attempt reports as failed, until none are
/// left or the policy runs out. Returns the items never accepted (empty on success), the
/// last error, and the attempts made. A permanent error (`Err`) stops at once.
pub async fn retry_partial<I, E, F, Fut>(
    policy: &RetryPolicy,
    items: Vec<I>,
    mut send: F,
) -> (Vec<I>, Option<E>, u32)
where
    E: Retryable + std::fmt::Display,
    F: FnMut(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Partial<I, E>, (Vec<I>, E)>>,
{
    let mut waits = policy.waits();
    let mut pending = items;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match send(pending).await {
            Ok(Partial::Done) => return (Vec::new(), None, attempts),
            Ok(Partial::Retry(failed, e)) => match waits.next() {
                Some(wait) => {
                    tracing::info!(attempt = attempts, failed = failed.len(), wait_ms = wait.as_millis() as u64, error = %e, "re-sending failed items");
                    tokio::time::sleep(e.retry_after().unwrap_or(wait).max(wait)).await;
                    pending = failed;
                }
                None => return (failed, Some(e), attempts),
            },
            Err((failed, e)) => return (failed, Some(e), attempts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Debug)]
    struct E(bool);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "e{}", self.0)
        }
    }
    impl Retryable for E {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_then_gives_up() {
        let calls = Cell::new(0);
        let out: Attempted<(), E> = retry(&RetryPolicy::fast(3), || {
            calls.set(calls.get() + 1);
            async { Err(E(true)) }
        })
        .await;
        assert_eq!(out.attempts, 4);
        assert_eq!(calls.get(), 4);
        let out: Attempted<(), E> = retry(&RetryPolicy::fast(3), || async { Err(E(false)) }).await;
        assert_eq!(out.attempts, 1, "permanent errors are not retried");
    }

    #[tokio::test]
    async fn partial_resends_only_failed_items() {
        let sent = std::cell::RefCell::new(Vec::new());
        let (left, err, attempts) = retry_partial(
            &RetryPolicy::fast(5),
            vec![1, 2, 3, 4],
            |items: Vec<i32>| {
                sent.borrow_mut().push(items.clone());
                async move {
                    let failed: Vec<i32> = items
                        .into_iter()
                        .filter(|i| *i % 2 == 0 && *i < 4)
                        .collect();
                    if failed.is_empty() {
                        Ok(Partial::Done)
                    } else {
                        // Item 2 fails once, then succeeds.
                        Ok(Partial::Retry(
                            failed.into_iter().map(|i| i + 2).collect(),
                            E(true),
                        ))
                    }
                }
            },
        )
        .await;
        assert!(left.is_empty() && err.is_none());
        assert_eq!(attempts, 2);
        assert_eq!(sent.borrow()[1], vec![4]);
    }

    #[test]
    fn waits_are_capped_and_counted() {
        let p = RetryPolicy {
            max_retries: 7,
            first_wait: Duration::from_secs(15),
            cap: Duration::from_secs(60),
            jitter: false,
        };
        let waits: Vec<u64> = p.waits().map(|d| d.as_secs()).collect();
        assert_eq!(waits, vec![15, 30, 60, 60, 60, 60, 60]);
    }
}
