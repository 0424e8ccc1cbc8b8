//! [`NotConfigured`]: a destination kind the run has no credentials or settings for. Segments
//! that use it are reported `not_configured` and skipped — their outbox entries stay pending
//! until it is configured — while the other destinations sync as usual.

use crate::error::SyncError;
use crate::report::{SegmentOutcome, SegmentReport};
use crate::runner::SyncContext;
use crate::Destination;
use async_trait::async_trait;
use audience_core::rules::Segment;

/// Stands in for a destination that cannot send.
pub struct NotConfigured {
    kind: &'static str,
    missing: String,
}

impl NotConfigured {
    /// `kind` is not configured (segments whose destinations name it are skipped);
    /// `missing` says what to set.
    pub fn new(kind: &'static str, missing: String) -> Self {
        NotConfigured { kind, missing }
    }
}

#[async_trait]
impl Destination for NotConfigured {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn sync_segment(
        &self,
        _ctx: &SyncContext<'_>,
        segment: &Segment,
    ) -> Result<SegmentReport, SyncError> {
        let mut report = SegmentReport::new(self.kind, &segment.def.id);
        report.outcome = SegmentOutcome::NotConfigured;
        report.notes.push(format!(
            "{} is not configured, skipped (its changes stay pending): {}",
            self.kind, self.missing
        ));
        Ok(report)
    }
}
