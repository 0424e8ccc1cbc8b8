//! Store errors: a lost race is its own variant, so callers can reload and re-apply.

/// What can go wrong in a state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer saved this user first; reload, re-apply and retry.
    #[error("version conflict on user `{user}`: another writer saved it first")]
    VersionConflict {
        /// The user key.
        user: String,
    },
    /// The store is unreachable or throttling after its own retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back.
    #[error("stored item `{key}` is unreadable: {message}")]
    Corrupt {
        /// The item key.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

/// Store result.
pub type StoreResult<T> = Result<T, StoreError>;
