//! The import file of a segment: every current member's endpoints that have a channel and an
//! address (members with none are counted, not written), plus configured user attributes.

use crate::error::SyncError;
use crate::members::for_each_member;
use audience_core::plan::pinpoint::endpoint_rows;
use audience_pinpoint::{write_import_csv, ImportRow};
use audience_store::StateStore;

/// A built import file.
pub struct ImportFile {
    /// CSV bytes.
    pub bytes: Vec<u8>,
    /// Endpoint rows written.
    pub rows: u64,
    /// Members read.
    pub members: u64,
    /// Members without any endpoint address (left out).
    pub skipped_users: u64,
}

/// Builds the segment's import CSV from its full current membership.
pub async fn build(
    store: &dyn StateStore,
    segment: &str,
    attribute_columns: &[String],
) -> Result<ImportFile, SyncError> {
    let mut rows = Vec::new();
    let mut skipped = 0u64;
    let members = for_each_member(store, segment, |user| {
        let mine = endpoint_rows(user);
        if mine.is_empty() {
            skipped += 1;
        }
        for r in mine {
            rows.push(ImportRow {
                channel_type: r.channel_type,
                address: Some(r.address),
                endpoint_id: Some(r.endpoint_id),
                user_id: r.user_id,
                attributes: attribute_columns
                    .iter()
                    .filter_map(|name| {
                        user.attr(&format!("u:{name}"))
                            .map(|v| (name.clone(), v.to_vec()))
                    })
                    .collect(),
            });
        }
    })
    .await?;
    let (bytes, stats) = write_import_csv(&rows, attribute_columns)
        .map_err(|e| SyncError::Destination(format!("import file of segment `{segment}`: {e}")))?;
    Ok(ImportFile {
        bytes,
        rows: stats.written as u64,
        members,
        skipped_users: skipped,
    })
}
