//! `collect`: the HTTP event collector on a local port for development — the same handler as
//! the `collector` Lambda function (`audience_collector`), served with axum, writing to a
//! Kinesis stream (endpoint and credentials from the AWS SDK's standard configuration, as
//! for `replay --to-kinesis`). Write keys come from `AUDIENCE_STREAM_COLLECTOR_KEYS` or
//! `--keys-file`, never from the command line (where `ps` would show them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use audience_collector::limits::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS, DEFAULT_MAX_EVENT_BYTES,
};
use audience_collector::{Collector, CollectorRequest, CollectorResponse, Limits, WriteKeys};
use audience_kinesis::{KinesisSender, SenderOptions};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The environment variable holding the write keys JSON.
const KEYS_ENV: &str = "AUDIENCE_STREAM_COLLECTOR_KEYS";

/// Arguments of `collect`.
#[derive(clap::Args)]
pub struct CollectArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8088")]
    bind: SocketAddr,
    /// Kinesis stream to write to (name or ARN).
    #[arg(long, env = "AUDIENCE_STREAM_KINESIS_STREAM")]
    stream: String,
    /// A file holding the write keys, `{"sources": {"NAME": "KEY", ...}}`. Default: the JSON
    /// in the AUDIENCE_STREAM_COLLECTOR_KEYS environment variable.
    #[arg(long, value_name = "FILE")]
    keys_file: Option<PathBuf>,
    /// Largest request body (bytes); larger is refused with 413.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Largest event (bytes, as written to the stream); larger is rejected on its own.
    #[arg(long, default_value_t = DEFAULT_MAX_EVENT_BYTES)]
    max_event_bytes: usize,
    /// Most events in one request; more is refused with 413.
    #[arg(long, default_value_t = DEFAULT_MAX_EVENTS)]
    max_events: usize,
}

fn read_keys(args: &CollectArgs) -> Result<WriteKeys> {
    let (text, origin) = match &args.keys_file {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the write keys file {}", path.display()))?,
            path.display().to_string(),
        ),
        None => match std::env::var(KEYS_ENV) {
            Ok(text) => (text, KEYS_ENV.to_string()),
            Err(_) => bail!(
                "no write keys: set {KEYS_ENV} to JSON such as {{\"sources\": {{\"dev\": \"KEY\"}}}} or pass --keys-file FILE"
            ),
        },
    };
    let keys = WriteKeys::from_json(&text).with_context(|| format!("write keys in {origin}"))?;
    if keys.is_empty() {
        bail!("the write keys in {origin} name no source: every request would be refused");
    }
    Ok(keys)
}

/// Runs `collect` until Ctrl-C.
pub async fn run(args: CollectArgs) -> Result<()> {
    let keys = read_keys(&args)?;
    let sources = keys.sources().collect::<Vec<_>>().join(", ");
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_event_bytes: args.max_event_bytes,
        max_events: args.max_events,
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    // As the Lambda does: retry briefly, then answer 503 and let the client send again.
    let sender = KinesisSender::new(
        aws_sdk_kinesis::Client::new(&config),
        args.stream.clone(),
        SenderOptions {
            rate_per_sec: None,
            retry: audience_retry::RetryPolicy {
                max_retries: 3,
                first_wait: Duration::from_millis(100),
                cap: Duration::from_secs(1),
                jitter: true,
            },
        },
    );
    let collector = Arc::new(Collector::new(keys, limits, Arc::new(sender)));
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("listening on {}", args.bind))?;
    eprintln!(
        "collector on http://{addr}/ writing to Kinesis stream {} (sources: {sources}; Ctrl-C stops)",
        args.stream
    );
    let app = Router::new().fallback(collect).with_state(collector);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .with_context(|| format!("collector on {addr}"))
}

/// Every path: the write key first, then the body (read no further than the limit).
async fn collect(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header_text(header::AUTHORIZATION);
    let mut request = CollectorRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        content_type: header_text(header::CONTENT_TYPE),
        authorization: authorization.clone(),
        body: Vec::new(),
    };
    if parts.method == axum::http::Method::POST {
        let source = match collector.authenticate(authorization.as_deref()) {
            Ok(source) => source,
            Err(refused) => return into_response(refused),
        };
        match axum::body::to_bytes(body, collector.limits().max_body_bytes).await {
            Ok(bytes) => request.body = bytes.to_vec(),
            Err(_) => return into_response(collector.body_too_large(&source)),
        }
    }
    into_response(
        collector
            .handle(&request, time::OffsetDateTime::from(audience_clock::now()))
            .await,
    )
}

fn into_response(answer: CollectorResponse) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(answer.body),
    )
        .into_response();
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}
