//! Sync planning: from pending membership changes and what is known about a destination,
//! decide which requests to send. Pure: the sync runner does the I/O.

pub mod line;
pub mod message;
pub mod pinpoint;
