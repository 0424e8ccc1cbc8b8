//! The dashboard's errors: a store read that failed (naming the read) or a template that
//! could not render.

use audience_store::StoreError;

/// What went wrong while building or rendering a dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// A store read failed.
    #[error("dashboard read `{read}` failed: {source}")]
    Store {
        /// Which read (e.g. `daily_history(hyogo)`).
        read: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The page template failed to render.
    #[error("dashboard page did not render: {0}")]
    Render(#[from] askama::Error),
}

impl DashboardError {
    /// Wraps a store error with the read that caused it.
    pub fn store(read: impl Into<String>) -> impl FnOnce(StoreError) -> DashboardError {
        let read = read.into();
        move |source| DashboardError::Store { read, source }
    }
}
