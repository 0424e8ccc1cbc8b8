//! Opening the state store named by a store URL, in one place for the CLI and the Lambda
//! functions: `embedded:PATH` (SQLite, cargo feature `sqlite`) or `dynamodb:TABLE` (cargo
//! feature `dynamodb`). A binary built without a feature refuses that kind of URL with an error
//! saying so, which is how the Lambda functions avoid linking SQLite.

use audience_store::{StateStore, StoreError, StoreUrl};

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is not `embedded:PATH` or `dynamodb:TABLE`.
    #[error("{0}")]
    BadUrl(String),
    /// The URL names a kind of store this binary was built without.
    #[error(
        "store URL `{url}` needs the `{feature}` feature, which this binary was built without"
    )]
    NotBuiltIn {
        /// The URL given.
        url: String,
        /// The cargo feature of `audience-store-open` it needs.
        feature: &'static str,
    },
    /// The store itself failed to open.
    #[error("cannot open store `{url}`: {source}")]
    Store {
        /// The URL given.
        url: String,
        /// What failed.
        source: StoreError,
    },
}

/// Opens the store behind `url`. DynamoDB uses the AWS SDK's standard configuration chain
/// (`AWS_ENDPOINT_URL` points it at DynamoDB Local) with adaptive retries; an embedded store's
/// file and parent directories are created when missing.
pub async fn open_store(url: &str) -> Result<Box<dyn StateStore>, OpenError> {
    let parsed: StoreUrl = url.parse().map_err(OpenError::BadUrl)?;
    match parsed {
        StoreUrl::Embedded(path) => open_embedded(url, &path),
        StoreUrl::DynamoDb(table) => open_dynamodb(url, table).await,
    }
}

#[cfg(feature = "sqlite")]
fn open_embedded(url: &str, path: &std::path::Path) -> Result<Box<dyn StateStore>, OpenError> {
    match audience_store_sqlite::EmbeddedStore::open(path) {
        Ok(store) => Ok(Box::new(store)),
        Err(source) => Err(OpenError::Store {
            url: url.to_string(),
            source,
        }),
    }
}

#[cfg(not(feature = "sqlite"))]
fn open_embedded(url: &str, _path: &std::path::Path) -> Result<Box<dyn StateStore>, OpenError> {
    Err(OpenError::NotBuiltIn {
        url: url.to_string(),
        feature: "sqlite",
    })
}

#[cfg(feature = "dynamodb")]
async fn open_dynamodb(_url: &str, table: String) -> Result<Box<dyn StateStore>, OpenError> {
    Ok(Box::new(
        audience_store_dynamodb::DynamoStore::from_env(table).await,
    ))
}

#[cfg(not(feature = "dynamodb"))]
async fn open_dynamodb(url: &str, _table: String) -> Result<Box<dyn StateStore>, OpenError> {
    Err(OpenError::NotBuiltIn {
        url: url.to_string(),
        feature: "dynamodb",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_says_what_is_expected() {
        let err = open_store("postgres:x").await.err().map(|e| e.to_string());
        let text = err.unwrap_or_default();
        assert!(text.contains("embedded:PATH"), "{text}");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn an_embedded_url_opens_a_working_store() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir.unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!("embedded:{}", dir.path().join("nested/state.db").display());
        let store = open_store(&url).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.user_count().await.unwrap_or_else(|e| panic!("{e}")),
            0
        );
        assert!(dir.path().join("nested/state.db").is_file());
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn an_embedded_url_is_refused_without_sqlite() {
        let err = open_store("embedded:/tmp/x")
            .await
            .err()
            .map(|e| e.to_string());
        let text = err.unwrap_or_default();
        assert!(text.contains("`sqlite` feature"), "{text}");
    }
}
