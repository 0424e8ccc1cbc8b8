//! Store URLs: `embedded:PATH` (SQLite file) or `dynamodb:TABLE`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the state store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite database file (created if missing).
    Embedded(PathBuf),
    /// A DynamoDB table (endpoint from the AWS SDK's standard configuration).
    DynamoDb(String),
}

impl FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("embedded", path)) if !path.is_empty() => Ok(StoreUrl::Embedded(PathBuf::from(path))),
            Some(("dynamodb", table)) if !table.is_empty() => Ok(StoreUrl::DynamoDb(table.to_string())),
            _ => Err(format!(
                "store URL `{s}` is not `embedded:PATH` or `dynamodb:TABLE` (e.g. embedded:.audience-stream/state)"
            )),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Embedded(p) => write!(f, "embedded:{}", p.display()),
            StoreUrl::DynamoDb(t) => write!(f, "dynamodb:{t}"),
        }
    }
}
