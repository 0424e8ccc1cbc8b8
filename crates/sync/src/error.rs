//! `SyncError`: what stops a segment's sync (as opposed to a refusal by the destination,
//! which is recorded in the ledger). Messages name the segment, file or setting concerned and
//! never contain a token or channel secret.

use audience_store::StoreError;

/// A failure of the sync run itself.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// A configuration problem (missing setting, invalid value, missing credentials).
    #[error("configuration: {0}")]
    Config(String),
    /// Writing dry-run output failed.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Stored destination state could not be read back.
    #[error("destination state of segment `{segment}` ({destination}) is unreadable: {message}")]
    State {
        /// Destination kind.
        destination: &'static str,
        /// Segment ID.
        segment: String,
        /// What was wrong.
        message: String,
    },
    /// The destination failed in a way that stops this segment (recorded in the ledger too).
    #[error("{0}")]
    Destination(String),
}
