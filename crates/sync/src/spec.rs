//! The open set of destination kinds: each destination names its kind and checks its own
//! per-segment settings ([`DestinationSpec`]); [`check_destinations`] refuses rules that name
//! a kind no registered destination handles, or settings it cannot read — at load time, so a
//! typo never fills an outbox nobody drains. The list of registered kinds lives with the
//! programs that sync (crates/destinations).

use audience_core::Rules;

/// A destination kind as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct DestinationSpec {
    /// The kind's name in rules, outbox entries, the ledger and `--destination`.
    pub kind: &'static str,
    /// Checks one segment's settings of this kind; the message says what is wrong.
    pub check: fn(&serde_json::Value) -> Result<(), String>,
}

/// A destination's per-segment settings, read from `destinations.<KIND>` and checked; `null`
/// (`kind:` with nothing after it) reads as no settings.
pub trait SegmentSettings: serde::de::DeserializeOwned {
    /// The destination kind whose settings these are.
    const KIND: &'static str;

    /// Checks what the type alone cannot; the message says what is wrong.
    fn check(&self) -> Result<(), String>;

    /// The segment's settings (`None`: it has no destination of this kind).
    fn of(segment: &audience_core::rules::Segment) -> Option<Result<Self, String>> {
        segment
            .def
            .destinations
            .get(Self::KIND)
            .map(|v| Self::read(v).map_err(|m| format!("destinations.{}: {m}", Self::KIND)))
    }

    /// Reads and checks raw settings.
    fn read(settings: &serde_json::Value) -> Result<Self, String> {
        let parsed: Self = parse_settings(Self::KIND, settings)?;
        parsed.check()?;
        Ok(parsed)
    }

    /// Checks raw settings (a [`DestinationSpec::check`]).
    fn check_value(settings: &serde_json::Value) -> Result<(), String> {
        Self::read(settings).map(|_| ())
    }
}

/// The kinds LINE and Pinpoint destinations of this crate register.
pub const BUILT_IN: [DestinationSpec; 2] = [
    DestinationSpec {
        kind: crate::line::state::KIND,
        check: <crate::line::settings::LineAudienceSettings as SegmentSettings>::check_value,
    },
    DestinationSpec {
        kind: crate::pinpoint::state::KIND,
        check: <crate::pinpoint::settings::PinpointSegmentSettings as SegmentSettings>::check_value,
    },
];

/// Checks every segment's destinations against the registered kinds.
pub fn check_destinations(rules: &Rules, specs: &[DestinationSpec]) -> Result<(), String> {
    for seg in &rules.segments {
        for (kind, settings) in &seg.def.destinations.0 {
            let Some(spec) = specs.iter().find(|s| s.kind == kind) else {
                let known: Vec<&str> = specs.iter().map(|s| s.kind).collect();
                return Err(format!(
                    "segment `{}`: unknown destination `{kind}` (destinations: {})",
                    seg.def.id,
                    known.join(", ")
                ));
            };
            (spec.check)(settings)
                .map_err(|m| format!("segment `{}`: destinations.{kind}: {m}", seg.def.id))?;
        }
    }
    Ok(())
}

/// Reads settings as a destination's type (`null` = no settings).
pub fn parse_settings<T: serde::de::DeserializeOwned>(
    kind: &str,
    settings: &serde_json::Value,
) -> Result<T, String> {
    let value = if settings.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        settings.clone()
    };
    let _ = kind;
    serde_json::from_value(value).map_err(|e| e.to_string())
}
