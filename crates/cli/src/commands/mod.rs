//! One module per subcommand.

pub mod audiences;
pub mod bench;
pub mod collect;
pub mod dashboard;
pub mod explain;
pub mod gen;
pub mod recover;
pub mod replay;
pub mod report;
pub mod rules;
pub mod rules_apply;
pub mod stats;
pub mod sweep;
pub mod sync;
pub mod table;
pub mod to_kinesis;
pub mod user;
