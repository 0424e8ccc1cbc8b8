//! Building the destinations a run needs, shared by the CLI and the sync Lambda: which
//! destination kinds to sync (all configured ones, or those asked for), and their clients
//! (none for a dry run). Adding a destination kind is a variant of [`DestinationKind`] and
//! an arm here, plus its [`crate::KINDS`] entry.
//!
//! A destination without configuration — no LINE credentials; no Pinpoint application, bucket
//! and role — does not stop the run: its segments are reported `not_configured` and skipped
//! ([`NotConfigured`]) while the others sync. Asking for it by name (`--destination`) is an
//! error instead, and so is a half-done configuration (e.g. a LINE channel ID without its
//! secret, a Pinpoint bucket without an application).

use audience_core::rules::Segment;
use audience_core::Rules;
use audience_eventbridge::{EventBridgeConfig, EventBridgeDestination};
use audience_line::config::ConfigError;
use audience_line::{LineClient, LineConfig};
use audience_sync::{
    Destination, LineDestination, LineMessageDestination, NotConfigured, PinpointClients,
    PinpointDestination, SyncConfig, SyncError,
};
use std::fmt;
use std::str::FromStr;

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

/// A destination kind a run can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DestinationKind {
    /// LINE audiences.
    Line,
    /// Pinpoint imported segments.
    Pinpoint,
    /// Events on an EventBridge bus.
    EventBridge,
    /// LINE messages (push, multicast) on segment entry and exit.
    LineMessage,
}

impl DestinationKind {
    /// Every kind, in the order a segment's destinations are synced.
    pub const ALL: [DestinationKind; 4] = [
        DestinationKind::Line,
        DestinationKind::Pinpoint,
        DestinationKind::EventBridge,
        DestinationKind::LineMessage,
    ];

    /// The name used in rules, outbox entries and flags (`line`, `pinpoint`).
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Line => audience_sync::line::state::KIND,
            DestinationKind::Pinpoint => audience_sync::pinpoint::state::KIND,
            DestinationKind::EventBridge => audience_eventbridge::KIND,
            DestinationKind::LineMessage => audience_sync::line_message::KIND,
        }
    }

    /// Parses a comma-separated list (`line,pinpoint`); blank means none named (= every
    /// configured destination).
    pub fn parse_list(text: &str) -> Result<Vec<DestinationKind>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .collect()
    }

    fn wanted_by(self, segment: &Segment) -> bool {
        segment.def.destinations.has(self.as_str())
    }
}

impl FromStr for DestinationKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DestinationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = DestinationKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown destination `{s}` (destinations: {})",
                    known.join(", ")
                )
            })
    }
}

impl fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What LINE needs, for "not configured" notes and errors.
const LINE_SETTINGS: &str = "set LINE_CHANNEL_ACCESS_TOKEN (or _FILE), or LINE_CHANNEL_ID and LINE_CHANNEL_SECRET (or _FILE)";

/// The destinations for the selected segments (`only`, or all), every configured kind:
/// [`select_destinations`] with no kind named.
pub async fn destinations(
    config: &SyncConfig,
    rules: &Rules,
    only: Option<&str>,
    dry_run: bool,
    line: LineCredentials<'_>,
) -> Result<Vec<Box<dyn Destination>>, SyncError> {
    select_destinations(config, rules, only, dry_run, line, &[]).await
}

/// The destinations of the kinds in `kinds` (empty: every kind, those not configured
/// reported `not_configured`) for the selected segments (`only`, or all). Clients are built
/// only for kinds the segments use, and not at all for a dry run. A kind named in `kinds`
/// that is not configured is an error.
pub async fn select_destinations(
    config: &SyncConfig,
    rules: &Rules,
    only: Option<&str>,
    dry_run: bool,
    line: LineCredentials<'_>,
    kinds: &[DestinationKind],
) -> Result<Vec<Box<dyn Destination>>, SyncError> {
    let named = !kinds.is_empty();
    let mut chosen: Vec<DestinationKind> = if named {
        kinds.to_vec()
    } else {
        DestinationKind::ALL.to_vec()
    };
    chosen.sort();
    chosen.dedup();
    let used = |kind: DestinationKind| {
        rules
            .segments
            .iter()
            .filter(|s| only.is_none_or(|id| s.def.id == id))
            .any(|s| kind.wanted_by(s))
    };
    // The LINE credentials serve both LINE kinds: read once, the client shared.
    let mut line = Some(line);
    let mut line_client_built: Option<Option<LineClient>> = None;
    let mut out: Vec<Box<dyn Destination>> = Vec::with_capacity(chosen.len());
    for kind in chosen {
        let sends = !dry_run && used(kind);
        out.push(match kind {
            DestinationKind::Line => {
                let client = if sends {
                    shared_line_client(&mut line, &mut line_client_built)?
                } else {
                    None
                };
                match client {
                    Some(client) => Box::new(LineDestination::new(config.line.clone(), Some(client))),
                    None if sends && named => {
                        return Err(SyncError::Config(format!(
                            "the LINE destination was asked for but is not configured: {LINE_SETTINGS}"
                        )))
                    }
                    None if sends => Box::new(NotConfigured::new(
                        kind.as_str(),
                        LINE_SETTINGS.to_string(),
                    )),
                    None => Box::new(LineDestination::new(config.line.clone(), None)),
                }
            }
            DestinationKind::Pinpoint => {
                let p = &config.pinpoint;
                let missing = format!("set {}", p.missing().join(", "));
                let nothing_set =
                    p.application_id.is_none() && p.bucket.is_none() && p.role_arn.is_none();
                if !sends {
                    Box::new(PinpointDestination::new(p.clone(), None))
                } else if p.is_complete() {
                    Box::new(PinpointDestination::new(
                        p.clone(),
                        Some(PinpointClients::from_env(p).await),
                    ))
                } else if nothing_set && !named {
                    Box::new(NotConfigured::new(kind.as_str(), missing))
                } else if nothing_set {
                    return Err(SyncError::Config(format!(
                        "the Pinpoint destination was asked for but is not configured: {missing}"
                    )));
                } else {
                    return Err(SyncError::Config(format!(
                        "the Pinpoint destination is only partly configured: {missing} (or use a dry run)"
                    )));
                }
            }
            DestinationKind::LineMessage => {
                let client = if sends {
                    shared_line_client(&mut line, &mut line_client_built)?
                } else {
                    None
                };
                let make = |client| -> Box<dyn Destination> {
                    Box::new(LineMessageDestination::new(
                        config.line_message.clone(),
                        client,
                        rules.zone.clone(),
                    ))
                };
                match client {
                    Some(client) => make(Some(client)),
                    None if sends && named => {
                        return Err(SyncError::Config(format!(
                            "the LINE message destination was asked for but is not configured: {LINE_SETTINGS}"
                        )))
                    }
                    None if sends => Box::new(NotConfigured::new(
                        kind.as_str(),
                        LINE_SETTINGS.to_string(),
                    )),
                    None => make(None),
                }
            }
            DestinationKind::EventBridge => {
                // The bus defaults to `default`: with AWS credentials it is always configured.
                let config = EventBridgeConfig::from_env().map_err(SyncError::Config)?;
                if sends {
                    Box::new(EventBridgeDestination::from_env(config).await)
                } else {
                    Box::new(EventBridgeDestination::new(config, None))
                }
            }
        });
    }
    Ok(out)
}

/// The run's one LINE client: built from the credentials the first time a LINE kind needs
/// it, the same (cheap to clone) client after.
fn shared_line_client(
    credentials: &mut Option<LineCredentials<'_>>,
    built: &mut Option<Option<LineClient>>,
) -> Result<Option<LineClient>, SyncError> {
    if built.is_none() {
        let client = match credentials.take() {
            Some(c) => line_client(c)?,
            None => None,
        };
        *built = Some(client);
    }
    Ok(built.clone().flatten())
}

/// A LINE client, or `None` when no credentials are set at all; credentials that are set but
/// unusable (a channel ID without its secret, a bad base URL) are an error.
pub fn line_client(credentials: LineCredentials<'_>) -> Result<Option<LineClient>, SyncError> {
    let (loaded, api_base, data_base) = match credentials {
        LineCredentials::Env {
            api_base,
            data_base,
        } => (LineConfig::from_env(), api_base, data_base),
        LineCredentials::Lookup(lookup) => (LineConfig::from_lookup(lookup), None, None),
    };
    let mut config = match loaded {
        Ok(config) => config,
        Err(ConfigError::MissingCredentials) => return Ok(None),
        Err(e) => return Err(SyncError::Config(e.to_string())),
    };
    let parse = |flag: &str, v: &str| {
        reqwest::Url::parse(v)
            .map_err(|e| SyncError::Config(format!("{flag} {v:?} is not a URL: {e}")))
    };
    if let Some(v) = api_base {
        config.api_base = parse("--line-api-base", v)?;
    }
    if let Some(v) = data_base {
        config.data_base = parse("--line-data-base", v)?;
    }
    LineClient::new(config)
        .map(Some)
        .map_err(|e| SyncError::Config(e.to_string()))
}
