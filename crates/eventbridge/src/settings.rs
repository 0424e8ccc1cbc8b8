//! The EventBridge destination's settings: per segment in the rules
//! (`destinations.eventbridge: { bus: … }`) and per run (the default bus, the retry policy).

use audience_retry::RetryPolicy;
use audience_sync::spec::SegmentSettings;
use serde::{Deserialize, Serialize};

/// `destinations.eventbridge` of a segment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeSettings {
    /// The event bus (name or ARN); default: the run's bus
    /// (`AUDIENCE_STREAM_EVENT_BUS`, else `default`).
    #[serde(default)]
    pub bus: Option<String>,
}

impl SegmentSettings for EventBridgeSettings {
    const KIND: &'static str = crate::KIND;

    /// A bus is a name (1–256 of `A-Za-z0-9._-/`) or an event-bus ARN.
    fn check(&self) -> Result<(), String> {
        if let Some(bus) = &self.bus {
            check_bus(bus)?;
        }
        Ok(())
    }
}

/// Checks an event bus name or ARN.
pub fn check_bus(bus: &str) -> Result<(), String> {
    let valid_name = !bus.is_empty()
        && bus.len() <= 256
        && bus
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    let arn = bus.starts_with("arn:") && bus.contains(":event-bus/") && bus.len() <= 1600;
    if valid_name || arn {
        Ok(())
    } else {
        Err(format!(
            "bus `{bus}` is not an event bus name (1–256 of A-Z a-z 0-9 . - _ /) or an event-bus ARN"
        ))
    }
}

/// How a run sends.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBridgeConfig {
    /// The bus of segments that name none.
    pub default_bus: String,
    /// Re-sending of throttled or failed entries and calls.
    pub retry: RetryPolicy,
    /// Outbox entries read per segment and run.
    pub max_pending: usize,
}

impl Default for EventBridgeConfig {
    fn default() -> Self {
        EventBridgeConfig {
            default_bus: "default".to_string(),
            // EventBridge throttles briefly; a run should not sleep for minutes on it.
            retry: RetryPolicy {
                max_retries: 5,
                first_wait: std::time::Duration::from_millis(200),
                cap: std::time::Duration::from_secs(5),
                jitter: true,
            },
            max_pending: 10_000,
        }
    }
}

impl EventBridgeConfig {
    /// The defaults, with the bus from `AUDIENCE_STREAM_EVENT_BUS` when set (checked).
    pub fn from_env() -> Result<Self, String> {
        let mut config = EventBridgeConfig::default();
        if let Ok(bus) = std::env::var("AUDIENCE_STREAM_EVENT_BUS") {
            if !bus.trim().is_empty() {
                check_bus(bus.trim()).map_err(|m| format!("AUDIENCE_STREAM_EVENT_BUS: {m}"))?;
                config.default_bus = bus.trim().to_string();
            }
        }
        Ok(config)
    }
}
