//! Test support shared by the workspace's test suites: the moto emulator (S3 and Kinesis),
//! started per test on a free loopback port and failing loudly — never skipping — when moto is
//! missing. Not used by production code.

pub mod moto;

pub use moto::{create_stream, sdk_config, Moto};
