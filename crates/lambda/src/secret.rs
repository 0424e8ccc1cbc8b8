//! LINE credentials from Secrets Manager: the secret (ARN in `LINE_SECRET_ARN`) is a JSON
//! object whose keys are the LINE client's own variable names (`LINE_CHANNEL_SECRET`,
//! `LINE_CHANNEL_ACCESS_TOKEN` or `LINE_CHANNEL_ID`, `LINE_TOKEN_KIND`, …). Without
//! `LINE_SECRET_ARN` the process environment is used. Values are never logged.

use anyhow::{Context, Result};
use std::collections::HashMap;

/// Variable lookups over the secret, falling back to the environment.
pub struct SecretLookup {
    values: HashMap<String, String>,
}

impl SecretLookup {
    /// Reads the secret named by `LINE_SECRET_ARN`, if set.
    pub async fn load(config: &aws_config::SdkConfig) -> Result<SecretLookup> {
        let Ok(arn) = std::env::var("LINE_SECRET_ARN") else {
            return Ok(SecretLookup {
                values: HashMap::new(),
            });
        };
        let text = secret_string(config, &arn, "the LINE secret").await?;
        let values: HashMap<String, String> = serde_json::from_str(&text)
            .with_context(|| format!("secret {arn} is not a JSON object of strings"))?;
        Ok(SecretLookup { values })
    }

    /// A lookup from given values (tests).
    pub fn from_map(values: HashMap<String, String>) -> SecretLookup {
        SecretLookup { values }
    }

    /// The value of `name`: the secret's, else the environment's.
    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }
}

/// The key the LINE webhook function signs its records with and the consumer checks them
/// with: the secret string of `AUDIENCE_STREAM_RECORD_KEY_SECRET_ARN` (Secrets Manager), or
/// `AUDIENCE_STREAM_RECORD_KEY` (local runs). `None` when neither is set. Never logged.
pub async fn record_key(
    config: &aws_config::SdkConfig,
) -> Result<Option<audience_core::signature::RecordKey>> {
    let text = match std::env::var("AUDIENCE_STREAM_RECORD_KEY_SECRET_ARN") {
        Ok(arn) if !arn.is_empty() => {
            secret_string(config, &arn, "the record signing key secret").await?
        }
        _ => match std::env::var("AUDIENCE_STREAM_RECORD_KEY") {
            Ok(text) if !text.is_empty() => text,
            _ => return Ok(None),
        },
    };
    audience_core::signature::RecordKey::new(text.into_bytes())
        .map(Some)
        .map_err(anyhow::Error::msg)
}

/// The string value of a Secrets Manager secret (`what` names it in errors).
pub(crate) async fn secret_string(
    config: &aws_config::SdkConfig,
    arn: &str,
    what: &str,
) -> Result<String> {
    let out = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .with_context(|| format!("cannot read {what} {arn}"))?;
    out.secret_string()
        .map(str::to_string)
        .with_context(|| format!("secret {arn} has no string value"))
}
