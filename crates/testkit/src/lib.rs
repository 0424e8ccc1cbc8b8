//! Test support shared by the workspace's test suites, used only as a dev-dependency: the moto
//! emulator (S3 and Kinesis) and DynamoDB Local (feature `dynamodb`), each started per test on
//! a free loopback port and failing loudly — never skipping — when the tool is missing; the
//! conformance suite every state store must pass (feature `store`); and the pipeline's delivery
//! scenarios and `rules apply` scenarios (feature `pipeline`). Not used by production code.

pub mod moto;

#[cfg(feature = "store")]
pub mod conformance;
#[cfg(feature = "dynamodb")]
pub mod dynamodb_local;
#[cfg(feature = "store")]
pub mod erasure;
#[cfg(feature = "pipeline")]
pub mod rules_apply;
#[cfg(feature = "pipeline")]
pub mod scenarios;

pub use moto::{create_stream, sdk_config, Moto};
