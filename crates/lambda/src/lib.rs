//! The Lambda functions' shared shell: configuration from the environment, JSON logging, and
//! the handlers (kept small and testable with fixture JSON, in the style of
//! aws-lambda-rust-runtime's examples). The binaries in `src/bin/` only wire a handler to
//! `lambda_runtime::run(service_fn(...))`.

pub mod attributes;
pub mod collector;
pub mod consumer;
pub mod emf;
pub mod env;
pub mod metrics;
pub mod rotation_notice;
pub mod secret;
pub mod size_metrics;
pub mod stream_out;
pub mod sync;
pub mod webhook;

pub use env::{init_tracing, Shared};
