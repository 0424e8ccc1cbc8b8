//! Parsing and printing the `--now` instant (RFC 3339).

use anyhow::{Context, Result};
use audience_core::Millis;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Result<Millis> {
    let t = OffsetDateTime::parse(text, &Rfc3339).with_context(|| {
        format!("`{text}` is not an RFC 3339 time such as 2025-12-01T00:00:00Z")
    })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// The wall clock in epoch milliseconds.
pub fn wall_clock() -> Millis {
    audience_clock::now_millis()
}
