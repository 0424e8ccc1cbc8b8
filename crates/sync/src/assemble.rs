//! Building the destinations a run needs, shared by the CLI and the sync Lambda: which
//! destination kinds the selected segments use, and their clients (none for a dry run).

use crate::{
    Destination, LineDestination, PinpointClients, PinpointDestination, SyncConfig, SyncError,
};
use audience_core::Rules;
use audience_line::LineClient;

/// Where LINE credentials come from.
pub enum LineCredentials<'a> {
    /// The process environment (`LINE_CHANNEL_ACCESS_TOKEN`, …), with optional base URLs.
    Env {
        /// `--line-api-base`.
        api_base: Option<&'a str>,
        /// `--line-data-base`.
        data_base: Option<&'a str>,
    },
    /// A lookup of the same variable names (e.g. a Secrets Manager JSON secret).
    Lookup(&'a (dyn Fn(&str) -> Option<String> + Sync)),
}

/// The destinations for the selected segments (`only`, or all): clients are built only for
/// kinds that are used, and not at all for a dry run.
pub async fn destinations(
    config: &SyncConfig,
    rules: &Rules,
    only: Option<&str>,
    dry_run: bool,
    line: LineCredentials<'_>,
) -> Result<Vec<Box<dyn Destination>>, SyncError> {
    let selected = || {
        rules
            .segments
            .iter()
            .filter(|s| only.is_none_or(|id| s.def.id == id))
    };
    let wants_line = selected().any(|s| s.def.destinations.line.is_some());
    let wants_pinpoint = selected().any(|s| s.def.destinations.pinpoint.is_some());
    let line_client = if dry_run || !wants_line {
        None
    } else {
        Some(match line {
            LineCredentials::Env {
                api_base,
                data_base,
            } => LineDestination::client_from_env(api_base, data_base)?,
            LineCredentials::Lookup(lookup) => {
                let cfg = audience_line::LineConfig::from_lookup(lookup)
                    .map_err(|e| SyncError::Config(e.to_string()))?;
                LineClient::new(cfg).map_err(|e| SyncError::Config(e.to_string()))?
            }
        })
    };
    let pinpoint_clients = if dry_run || !wants_pinpoint {
        None
    } else if !config.pinpoint.is_complete() {
        return Err(SyncError::Config(format!(
            "segments have Pinpoint destinations but the sync is not configured: set {} (or use a dry run)",
            config.pinpoint.missing().join(", ")
        )));
    } else {
        Some(PinpointClients::from_env(&config.pinpoint).await)
    };
    Ok(vec![
        Box::new(LineDestination::new(config.line.clone(), line_client)),
        Box::new(PinpointDestination::new(
            config.pinpoint.clone(),
            pinpoint_clients,
        )),
    ])
}
