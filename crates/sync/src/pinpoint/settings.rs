//! A segment's Pinpoint settings (`destinations.pinpoint` in the rules), read and checked by
//! this destination: the core keeps them as opaque settings.

use crate::spec::SegmentSettings;
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

impl SegmentSettings for PinpointSegmentSettings {
    const KIND: &'static str = super::state::KIND;

    /// Exactly one of name and ID.
    fn check(&self) -> Result<(), String> {
        if self.segment_name.is_some() == self.segment_id.is_some() {
            return Err(
                "pinpoint destination needs exactly one of segment_name or segment_id".into(),
            );
        }
        Ok(())
    }
}
