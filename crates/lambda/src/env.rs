//! Configuration from the environment, read once per cold start: the store URL
//! (`AUDIENCE_STREAM_STORE`, e.g. `dynamodb:audience`) and the rules file
//! (`AUDIENCE_STREAM_RULES`, default `segments.yaml` next to the bootstrap binary).

use anyhow::{Context, Result};
use audience_core::Rules;
use audience_store::StateStore;
use std::sync::Arc;

/// What every invocation shares: the store client and the compiled rules.
#[derive(Clone)]
pub struct Shared {
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// The segment rules.
    pub rules: Arc<Rules>,
}

impl Shared {
    /// Reads the environment and builds the store and rules.
    pub async fn from_env() -> Result<Shared> {
        let url = std::env::var("AUDIENCE_STREAM_STORE")
            .context("AUDIENCE_STREAM_STORE is not set (e.g. dynamodb:audience)")?;
        let mut rules = rules_from_env()?;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        match crate::secret::record_key(&aws).await? {
            Some(key) => rules = rules.with_record_key(key),
            None => tracing::warn!(
                "no record signing key (AUDIENCE_STREAM_RECORD_KEY_SECRET_ARN): LINE webhook records will be set aside as untrusted_line_event"
            ),
        }
        // Built with `dynamodb` only: an `embedded:` URL is refused (no SQLite in the Lambdas).
        let store: Arc<dyn StateStore> = Arc::from(audience_store_open::open_store(&url).await?);
        Ok(Shared {
            store,
            rules: Arc::new(rules),
        })
    }
}

/// The rules file named by `AUDIENCE_STREAM_RULES` (default `segments.yaml`), loaded and
/// checked against the destination kinds this build knows.
pub fn rules_from_env() -> Result<Rules> {
    let rules_path =
        std::env::var("AUDIENCE_STREAM_RULES").unwrap_or_else(|_| "segments.yaml".to_string());
    let text = std::fs::read_to_string(&rules_path)
        .with_context(|| format!("cannot read rules file {rules_path}"))?;
    let rules = Rules::load(&text, &rules_path)?;
    audience_destinations::check_rules(&rules).map_err(|m| anyhow::anyhow!("{rules_path}: {m}"))?;
    Ok(rules)
}

/// JSON logs to stdout (CloudWatch), level from `AUDIENCE_STREAM_LOG` (default info).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUDIENCE_STREAM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
}
