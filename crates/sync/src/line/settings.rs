//! A segment's LINE settings (`destinations.line` in the rules), read and checked by this
//! destination: the core keeps them as opaque settings.

use crate::spec::SegmentSettings;
use serde::{Deserialize, Serialize};

/// `destinations.line`: an audience name to create, or an existing audience ID.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineAudienceSettings {
    /// The audience name (`description`, ≤ 120 characters) to create on first use.
    #[serde(default)]
    pub audience_name: Option<String>,
    /// An existing audience to add to (never deleted or rotated by this system).
    #[serde(default)]
    pub audience_id: Option<i64>,
    /// Upload IFAs instead of user IDs.
    #[serde(default)]
    pub ifa: bool,
}

impl SegmentSettings for LineAudienceSettings {
    const KIND: &'static str = super::state::KIND;

    /// Exactly one of name and ID; LINE's 120-character name limit; a positive ID.
    fn check(&self) -> Result<(), String> {
        match (&self.audience_name, self.audience_id) {
            (Some(_), Some(_)) | (None, None) => {
                Err("line destination needs exactly one of audience_name or audience_id".into())
            }
            (Some(name), None) => {
                let chars = name.chars().count();
                if chars == 0 || chars > 120 {
                    Err(format!(
                        "line audience_name must be 1–120 characters (LINE's limit), it has {chars}"
                    ))
                } else {
                    Ok(())
                }
            }
            (None, Some(id)) if id <= 0 => Err(format!("line audience_id {id} must be positive")),
            _ => Ok(()),
        }
    }
}
