//! The live dashboard (axum): the page at `/` (refreshed by `<meta http-equiv=refresh>`)
//! and a read-only JSON API for Grafana's Infinity data source and scripts:
//! `/api/summary.json`, `/api/segments.json`, `/api/segments/{id}/history.json?by=day|week|month`,
//! `/api/ledger.json`, `/api/reconciliation.json`, `/api/messages.json`. Every request reads the store afresh
//! (segments + 3 reads). Unknown paths and segments get 404; store errors 500 — never a panic.
//! Every route, the fallback included, sits behind [`check_host`]: a request naming a `Host`
//! outside [`AllowedHosts`] gets 421 (DNS rebinding).

use crate::allowed_hosts::{check_host, AllowedHosts};
use crate::html::{render_page, PageOptions};
use crate::model::Dashboard;
use crate::read::{load, LoadOptions};
use crate::series::{buckets, Granularity};
use audience_core::{Millis, Rules};
use audience_store::StateStore;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What the server reads from.
#[derive(Clone)]
pub struct ServeState {
    /// The store.
    pub store: Arc<dyn StateStore>,
    /// The rules (segment list, descriptions, destinations).
    pub rules: Arc<Rules>,
    /// Page refresh interval in seconds (0 = none).
    pub refresh_secs: u64,
    /// A fixed `now` (tests, demos on old data); `None` = the wall clock.
    pub now: Option<Millis>,
    /// Read limits.
    pub load: LoadOptions,
}

impl ServeState {
    /// A state on the wall clock with default limits.
    pub fn new(store: Arc<dyn StateStore>, rules: Arc<Rules>, refresh_secs: u64) -> Self {
        ServeState {
            store,
            rules,
            refresh_secs,
            now: None,
            load: LoadOptions::default(),
        }
    }

    fn now(&self) -> Millis {
        self.now.unwrap_or_else(wall_clock)
    }

    async fn dashboard(&self) -> Result<Dashboard, Response> {
        load(self.store.as_ref(), &self.rules, self.now(), &self.load)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "dashboard read failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
            })
    }
}

/// Epoch milliseconds now.
pub fn wall_clock() -> Millis {
    audience_clock::now_millis()
}

/// The routes, behind the `Host` check (`allowed`: usually
/// [`AllowedHosts::for_listener`] of the listener's address). Serve with `axum::serve` or
/// [`serve_on`].
pub fn router(state: ServeState, allowed: AllowedHosts) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/index.html", get(page))
        .route("/api/summary.json", get(summary))
        .route("/api/segments.json", get(segments))
        .route("/api/segments/{id}/history.json", get(history))
        .route("/api/ledger.json", get(ledger))
        .route("/api/reconciliation.json", get(reconciliation))
        .route("/api/messages.json", get(messages))
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            Arc::new(allowed),
            check_host,
        ))
}

/// Serves the router on `listener`, answering the `allowed` hosts, until Ctrl-C.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: ServeState,
    allowed: AllowedHosts,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, allowed))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such page: try /, /api/summary.json, /api/segments.json, /api/segments/{id}/history.json, /api/ledger.json, /api/reconciliation.json, /api/messages.json",
    )
}

#[derive(Deserialize)]
struct PageQuery {
    segment: Option<String>,
}

async fn page(State(st): State<ServeState>, Query(q): Query<PageQuery>) -> Response {
    let d = match st.dashboard().await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if let Some(id) = &q.segment {
        if d.segment(id).is_none() {
            return (StatusCode::NOT_FOUND, Html(format!("<!DOCTYPE html><title>Not found</title><p>No segment <code>{}</code> in the rules. <a href=\"/\">Back to the dashboard</a></p>", crate::svg::escape(id)))).into_response();
        }
    }
    let opts = PageOptions {
        segment: q.segment,
        refresh_secs: (st.refresh_secs > 0).then_some(st.refresh_secs),
        links: true,
        ledger_rows: 50,
    };
    match render_page(&d, &opts) {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn summary(State(st): State<ServeState>) -> Response {
    match st.dashboard().await {
        Ok(d) => Json(json!({
            "summary": d.summary,
            "store_reads": d.store_reads,
            "store_reads_budget": d.store_reads_budget,
        }))
        .into_response(),
        Err(r) => r,
    }
}

async fn segments(State(st): State<ServeState>) -> Response {
    match st.dashboard().await {
        Ok(d) => Json(json!({
            "as_of": d.summary.as_of,
            "segments": d.segments,
            "growers": d.growers,
            "decliners": d.decliners,
        }))
        .into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    by: Option<String>,
}

async fn history(
    State(st): State<ServeState>,
    id: Result<Path<String>, PathRejection>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let Ok(Path(id)) = id else {
        return error(StatusCode::NOT_FOUND, "no such segment");
    };
    let by = match q.by.as_deref() {
        None => Granularity::Day,
        Some(text) => match Granularity::parse(text) {
            Some(g) => g,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("by=`{text}` is not day, week or month"),
                )
            }
        },
    };
    if st.rules.index_of(&id).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no segment `{id}` in the rules"),
        );
    }
    let d = match st.dashboard().await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let days = d.histories.get(&id).cloned().unwrap_or_default();
    Json(json!({
        "segment": id,
        "as_of": d.summary.as_of,
        "by": by,
        "days": days.len(),
        "points": buckets(&days, by),
    }))
    .into_response()
}

async fn ledger(State(st): State<ServeState>) -> Response {
    match st.dashboard().await {
        Ok(d) => Json(json!({
            "as_of": d.summary.as_of,
            "truncated": d.ledger_truncated,
            "rows": d.ledger,
        }))
        .into_response(),
        Err(r) => r,
    }
}

async fn messages(State(st): State<ServeState>) -> Response {
    match st.dashboard().await {
        Ok(d) => Json(json!({
            "as_of": d.summary.as_of,
            "ledger_truncated": d.ledger_truncated,
            "rows": d.messages,
        }))
        .into_response(),
        Err(r) => r,
    }
}

async fn reconciliation(State(st): State<ServeState>) -> Response {
    match st.dashboard().await {
        Ok(d) => Json(json!({
            "as_of": d.summary.as_of,
            "ledger_truncated": d.ledger_truncated,
            "rows": d.reconciliation,
        }))
        .into_response(),
        Err(r) => r,
    }
}
