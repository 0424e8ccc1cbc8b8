//! Integration tests for audience-kinesis: one binary, a module per area.

mod moto_stream;
mod partial;
mod range;
mod util;
