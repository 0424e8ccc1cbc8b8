//! The collector's tests: body parsing and limits (pure), the handler with a scripted sink
//! (answers, 503 on a stream failure), and the handler against moto's Kinesis with every
//! record decoded by the consumer's decoder.

mod handler;
mod moto_stream;
mod parse;
mod util;
