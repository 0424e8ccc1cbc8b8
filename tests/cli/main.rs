//! End-to-end tests of the `audience-stream` binary on the shipped fixtures: the summary
//! numbers (checked against an independent reading of the fixtures), set-aside reasons,
//! redelivery, the sweep, rules diffs, explain, the error paths, a closed stdout, the Host
//! check of `serve`, `sync` against the LINE fake, `explain` of LINE messages, `recover`, `bench dynamodb` and `collect`
//! against moto's Kinesis.

mod util;

mod attributes;
mod audiences;
mod bench;
#[cfg(unix)]
mod closed_stdout;
mod collect;
mod dynamodb;
mod errors;
mod kinesis;
mod messages;
mod recover;
mod replay;
mod serve;
mod stats;
mod sweep_and_rules;
mod sync;
mod user;
