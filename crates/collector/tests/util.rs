//! Shared test helpers: write keys, requests and a scripted sink.

use std::sync::{Arc, Mutex};

use audience_collector::{Collector, CollectorRequest, Limits, WriteKeys};
use audience_kinesis::{EventSink, OutRecord};
use base64::Engine;

pub const IOS_KEY: &str = "wk_ios_3f9a0c7d51e2";
pub const BACKEND_KEY: &str = "wk_backend_77b1c0";

pub fn keys() -> WriteKeys {
    WriteKeys::from_json(&format!(
        r#"{{"sources": {{"ios-app": "{IOS_KEY}", "backend": "{BACKEND_KEY}"}}}}"#
    ))
    .unwrap()
}

pub fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

pub fn post(path: &str, body: &str, authorization: Option<String>) -> CollectorRequest {
    CollectorRequest {
        method: "POST".into(),
        path: path.into(),
        content_type: Some("application/json".into()),
        authorization,
        body: body.as_bytes().to_vec(),
    }
}

pub fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-12-07 04:00:00.250 UTC)
}

/// A sink that keeps what it is given, or fails every put.
#[derive(Default)]
pub struct ScriptedSink {
    pub fail: bool,
    pub puts: Mutex<Vec<Vec<OutRecord>>>,
}

#[async_trait::async_trait]
impl EventSink for ScriptedSink {
    async fn put(&self, records: Vec<OutRecord>) -> Result<(), String> {
        self.puts.lock().unwrap().push(records);
        if self.fail {
            Err("3 records were not accepted by Kinesis".into())
        } else {
            Ok(())
        }
    }
}

pub fn collector(sink: Arc<ScriptedSink>) -> Collector {
    Collector::new(keys(), Limits::default(), sink)
}
