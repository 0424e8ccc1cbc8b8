//! The core's integration tests: one binary, a module per area.

mod alerts;
mod conditions;
mod decode;
mod erase;
mod formats;
mod hostile;
mod messages;
mod properties;
mod rules;
mod util;
