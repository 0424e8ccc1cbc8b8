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
    /// The store refuses this user's item (a key or item over the service's limits): the
    /// user is quarantined; other users are not affected.
    #[error("user `{user}` cannot be stored: {message}")]
    Rejected {
        /// The user key.
        user: String,
        /// What limit it breaks.
        message: String,
    },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// True when the error concerns one user only (its item is unreadable or refused), so the
    /// user is quarantined and the batch goes on; false for store-wide faults.
    pub fn is_user_fault(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Rejected { .. }
        )
    }
}

/// Store result.
pub type StoreResult<T> = Result<T, StoreError>;
