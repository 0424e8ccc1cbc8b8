//! Opening the store named by a store URL, and loading the rules file.

use anyhow::{Context, Result};
use audience_core::Rules;
use audience_store::StateStore;
use std::path::Path;

/// Opens the store behind `url` (`embedded:PATH` or `dynamodb:TABLE`).
pub async fn open_store(url: &str) -> Result<Box<dyn StateStore>> {
    Ok(audience_store_open::open_store(url).await?)
}

/// Reads and validates a rules file; errors name `file:line:column`.
pub fn load_rules(path: &Path) -> Result<Rules> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read rules file {}", path.display()))?;
    let rules = Rules::load(&text, &path.display().to_string())?;
    audience_destinations::check_rules(&rules)
        .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
    Ok(rules)
}
