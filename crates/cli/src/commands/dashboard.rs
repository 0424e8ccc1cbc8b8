//! `dashboard` (one self-contained HTML file) and `serve` (the live page and a read-only
//! JSON API): thin wrappers over the `audience-dashboard` crate.

use crate::open::{load_rules, open_store};
use crate::timeparse::{parse_rfc3339, wall_clock};
use crate::{RulesArgs, StoreArgs};
use anyhow::{bail, Context, Result};
use audience_dashboard::{
    load, render_page, AllowedHosts, HostName, LoadOptions, PageOptions, ServeState,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `dashboard`.
#[derive(clap::Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Describe this instant (RFC 3339). Default: the wall clock. After a fixture replay use
    /// the replay's `now` (e.g. 2025-12-01T00:00:00Z) so "today" means the fixtures' day.
    #[arg(long)]
    now: Option<String>,
    /// The segment whose charts are shown (default: the largest).
    #[arg(long)]
    segment: Option<String>,
    /// Write the page here.
    #[arg(long, default_value = "dashboard.html")]
    out: PathBuf,
}

/// Runs `dashboard`.
pub async fn run(args: DashboardArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let now = match &args.now {
        Some(text) => parse_rfc3339(text)?,
        None => wall_clock(),
    };
    if let Some(id) = &args.segment {
        if rules.index_of(id).is_none() {
            bail!(
                "--segment `{id}` is not a segment of {}",
                args.rules.rules.display()
            );
        }
    }
    let store = open_store(&args.store.store).await?;
    let model = load(store.as_ref(), &rules, now, &LoadOptions::default()).await?;
    let html = render_page(
        &model,
        &PageOptions {
            segment: args.segment.clone(),
            ..PageOptions::default()
        },
    )?;
    std::fs::write(&args.out, &html)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} KB, {} segments, {} store reads)",
        args.out.display(),
        html.len().div_ceil(1024),
        model.segments.len(),
        model.store_reads
    );
    Ok(())
}

/// Arguments of `serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on. Loopback by default; bind 0.0.0.0 only behind access control.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Page refresh interval: `30s`, `1m`, `0s` for none.
    #[arg(long, default_value = "30s", value_parser = parse_refresh)]
    refresh: u64,
    /// Describe this fixed instant (RFC 3339) instead of the wall clock (demos on old data).
    #[arg(long)]
    now: Option<String>,
    /// Also answer requests whose Host header is NAME, e.g. a reverse proxy's public name
    /// (`dash.example.com`) or `dash.example.com:8443`. Exact and case-insensitive: a NAME
    /// without a port matches only a Host without a port. Repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<HostName>,
}

fn parse_refresh(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s or 1m"))?;
    match unit {
        "" | "s" => Ok(n),
        "m" => Ok(n * 60),
        _ => Err(format!("`{text}` is not a duration such as 30s or 1m")),
    }
}

/// Runs `serve` until Ctrl-C.
pub async fn run_serve(args: ServeArgs) -> Result<()> {
    let rules = load_rules(&args.rules.rules)?;
    let now = args.now.as_deref().map(parse_rfc3339).transpose()?;
    let store = open_store(&args.store.store).await?;
    let mut state = ServeState::new(Arc::from(store), Arc::new(rules), args.refresh);
    state.now = now;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("listening on {}", args.bind))?;
    if !addr.ip().is_loopback() {
        eprintln!("warning: serving on {addr}, which is not loopback: the dashboard has no authentication");
    }
    let allowed = args
        .allow_host
        .into_iter()
        .fold(AllowedHosts::for_listener(addr), AllowedHosts::allow);
    eprintln!("dashboard on http://{addr}/ (JSON API under /api/; Ctrl-C stops)");
    eprintln!(
        "answering Host: {} (others get 421; see --allow-host)",
        allowed.names().join(", ")
    );
    audience_dashboard::serve::serve_on(listener, state, allowed)
        .await
        .with_context(|| format!("dashboard server on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::parse_refresh;

    #[test]
    fn refresh_durations() {
        assert_eq!(parse_refresh("30s"), Ok(30));
        assert_eq!(parse_refresh("2m"), Ok(120));
        assert_eq!(parse_refresh("0s"), Ok(0));
        assert!(parse_refresh("soon").is_err());
        assert!(parse_refresh("5h").is_err());
    }
}
