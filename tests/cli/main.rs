//! End-to-end tests of the `audience-stream` binary on the shipped fixtures: the summary
//! numbers (checked against an independent reading of the fixtures), set-aside reasons,
//! redelivery, the sweep, rules diffs, explain and the error paths.

mod util;

mod dynamodb;
mod errors;
mod kinesis;
mod replay;
mod sweep_and_rules;
