//! The consumer Lambda's handler on fixture Kinesis events, against the embedded store and
//! against DynamoDB Local (started by the harness; a test fails, never skips, if it cannot
//! start), plus the pipeline's delivery scenarios on DynamoDB, and the sync function with the
//! deploy template's defaults.

mod consumer;
mod dynamodb;
mod hostile;
mod sync_function;
mod util;
