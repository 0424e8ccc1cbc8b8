//! A segment's Pinpoint settings (`destinations.pinpoint` in the rules), read and checked by
//! this destination: the core keeps them as opaque settings.

use audience_core::rules::Segment;
use serde::{Deserialize, Serialize};

/// `destinations.pinpoint`: a segment name (first import) or an existing segment ID.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PinpointSegmentSettings {
    /// Name of the imported segment to create.
    #[serde(default)]
    pub segment_name: Option<String>,
    /// An existing imported segment to update.
    #[serde(default)]
    pub segment_id: Option<String>,
}

impl PinpointSegmentSettings {
    /// The segment's Pinpoint settings (`None`: it has no Pinpoint destination).
    pub fn of(segment: &Segment) -> Option<Result<Self, String>> {
        segment
            .def
            .destinations
            .settings::<Self>(super::state::KIND)
            .map(|r| r.and_then(|s| s.check().map(|()| s)))
    }

    /// Exactly one of name and ID.
    pub fn check(&self) -> Result<(), String> {
        if self.segment_name.is_some() == self.segment_id.is_some() {
            return Err(
                "pinpoint destination needs exactly one of segment_name or segment_id".into(),
            );
        }
        Ok(())
    }
}

/// Checks `destinations.pinpoint` settings when the rules are loaded.
pub fn check_settings(settings: &serde_json::Value) -> Result<(), String> {
    crate::spec::parse_settings::<PinpointSegmentSettings>(super::state::KIND, settings)?.check()
}
