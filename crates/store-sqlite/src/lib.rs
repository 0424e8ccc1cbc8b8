//! The embedded state store: [`EmbeddedStore`] implements [`audience_store::StateStore`] on one
//! SQLite file (rusqlite with bundled SQLite). Kept apart from the trait crate so that binaries
//! which only talk to DynamoDB (the Lambda functions) do not link SQLite.

pub mod embedded;
mod erase;

pub use embedded::EmbeddedStore;
