//! Input formats: which producers' JSON the decoder reads and how each maps into the one event
//! model ([`PinpointEvent`]), so everything after decoding is the same whatever the producer.
//!
//! - `pinpoint`: Amazon Pinpoint's event stream (event_version 3.x), read typed and fast.
//! - `segment`: the Segment spec's `track`, `identify`, `page`, `screen` and `alias` calls, as
//!   Segment, RudderStack and Jitsu send them ([`segment`]).
//! - `mapped`: any JSON object, through JSON Pointer paths declared in the rules ([`mapped`]).
//! - `auto` (the default): per record — Pinpoint when it parses as one, Segment when its
//!   `type` is a Segment call, the declared mapping when there is one; otherwise the record is
//!   set aside as `unknown_format`.

pub mod attributes;
pub mod mapped;
pub mod segment;
mod value;

use crate::decode::DecodeErrorKind;
use crate::event::PinpointEvent;
pub use mapped::EventMapping;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which format records are read as (`settings.input.format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Detected per record: Pinpoint, then Segment, then the declared mapping.
    #[default]
    Auto,
    /// Pinpoint event-stream events only.
    Pinpoint,
    /// Segment-spec calls only.
    Segment,
    /// The declared mapping only.
    Mapped,
}

/// `settings.input`: the format of the stream's records and, for `mapped`, the mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSettings {
    /// Which format records are read as (default `auto`).
    #[serde(default)]
    pub format: InputFormat,
    /// How to read an arbitrary JSON event (needed for `mapped`; used by `auto` for records
    /// that are neither Pinpoint nor Segment events).
    #[serde(default)]
    pub mapping: Option<EventMapping>,
}

impl InputSettings {
    /// Checks the settings at load time; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.format == InputFormat::Mapped && self.mapping.is_none() {
            return Err("format `mapped` needs a `mapping`".to_string());
        }
        if let Some(mapping) = &self.mapping {
            mapping.validate().map_err(|m| format!("mapping: {m}"))?;
        }
        Ok(())
    }
}

/// Reads a JSON object that is not read as a Pinpoint event: as the declared format, or under
/// `auto` as whichever format it matches. `pinpoint_error` is the Pinpoint reading's failure
/// (under `auto`), reported when the document looks like a Pinpoint event after all.
pub(crate) fn decode_other(
    text: &str,
    input: &InputSettings,
    line_attribute: &str,
    pinpoint_error: impl FnOnce() -> DecodeErrorKind,
) -> Result<PinpointEvent, DecodeErrorKind> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| DecodeErrorKind::NotJson(e.to_string()))?;
    match input.format {
        InputFormat::Segment => segment::to_event(&doc),
        InputFormat::Mapped => match &input.mapping {
            Some(mapping) => mapping.to_event(&doc, line_attribute),
            None => Err(unknown_format(input)),
        },
        InputFormat::Pinpoint => Err(pinpoint_error()),
        InputFormat::Auto => {
            if doc.get("event_type").is_some() {
                Err(pinpoint_error())
            } else if segment::is_segment_call(&doc) {
                segment::to_event(&doc)
            } else if let Some(mapping) = &input.mapping {
                mapping.to_event(&doc, line_attribute)
            } else {
                Err(unknown_format(input))
            }
        }
    }
}

fn unknown_format(input: &InputSettings) -> DecodeErrorKind {
    let mapping = if input.mapping.is_some() {
        ""
    } else {
        ", and no settings.input.mapping is declared"
    };
    DecodeErrorKind::UnknownFormat(format!(
        "matches no input format: no `event_type` (Pinpoint), no Segment-spec `type` ({}){mapping}",
        segment::CALLS.join(", ")
    ))
}
