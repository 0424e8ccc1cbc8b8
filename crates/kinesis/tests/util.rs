//! Test helpers: the shared moto harness (crates/testkit).

pub use audience_testkit::{create_stream, Moto};
