//! [`EventSink`]: where a front door (the LINE webhook, the HTTP event collector) hands the
//! records it accepted, and its implementation for [`KinesisSender`]. The front doors answer
//! their callers from the result (an error means "try again later"), and tests put a scripted
//! sink in its place.

use async_trait::async_trait;

use crate::api::PutRecordsApi;
use crate::batch::OutRecord;
use crate::sender::KinesisSender;

/// Where accepted events go (Kinesis in production).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Puts the records; an error means some were not accepted and the caller should be told
    /// to send again (the consumer counts a re-sent event once by its identity).
    async fn put(&self, records: Vec<OutRecord>) -> Result<(), String>;
}

#[async_trait]
impl<A: PutRecordsApi + Send + Sync> EventSink for KinesisSender<A> {
    async fn put(&self, records: Vec<OutRecord>) -> Result<(), String> {
        let report = self
            .send(records, |_| {})
            .await
            .map_err(|e| e.to_string())?;
        if report.failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} records were not accepted by Kinesis",
                report.failed.len()
            ))
        }
    }
}
