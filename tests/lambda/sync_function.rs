//! The sync Lambda as deployed by default: the environment the SAM template gives the sync
//! function with its parameter defaults (read from deploy/template.yaml, intrinsic functions
//! evaluated), the shipped deploy rules, and LINE credentials in the secret. LINE syncs; the
//! Pinpoint parts of the same segments are reported `not_configured` and stay pending.

use crate::util::*;
use audience_core::Rules;
use audience_lambda::{sync, Shared};
use audience_line::fake::{FakeLine, FAKE_LONG_LIVED_TOKEN};
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_sync::SegmentOutcome;
use serde_yaml_ng::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn repo_path(path: &str) -> String {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .join("../..")
        .join(path)
        .display()
        .to_string()
}

fn repo_file(path: &str) -> String {
    let full = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Evaluates the intrinsic functions the template's environment variables use, with every
/// parameter at its default. Resources (`!Ref LineSecret`, `!GetAtt …`) become placeholders.
struct Template {
    root: Value,
}

impl Template {
    fn load() -> Template {
        Template {
            root: serde_yaml_ng::from_str(&repo_file("deploy/template.yaml")).unwrap(),
        }
    }

    fn tagged(v: &Value) -> Option<(String, &Value)> {
        match v {
            Value::Tagged(t) => Some((
                t.tag.to_string().trim_start_matches('!').to_string(),
                &t.value,
            )),
            _ => None,
        }
    }

    fn parameter_default(&self, name: &str) -> Option<String> {
        let p = self.root.get("Parameters")?.get(name)?;
        Some(match p.get("Default")? {
            Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other).ok()?.trim().to_string(),
        })
    }

    fn condition(&self, v: &Value) -> bool {
        let (tag, arg) = Self::tagged(v).unwrap_or_else(|| panic!("not a condition: {v:?}"));
        let items = || arg.as_sequence().cloned().unwrap_or_default();
        match tag.as_str() {
            "Equals" => {
                let both = items();
                self.value(&both[0]) == self.value(&both[1])
            }
            "Not" => !self.condition(&items()[0]),
            "And" => items().iter().all(|c| self.condition(c)),
            "Or" => items().iter().any(|c| self.condition(c)),
            "Condition" => self.named_condition(arg.as_str().unwrap()),
            other => panic!("condition function {other} not evaluated by this test"),
        }
    }

    fn named_condition(&self, name: &str) -> bool {
        let c = self.root["Conditions"]
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"))
            .clone();
        self.condition(&c)
    }

    fn value(&self, v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                let (tag, arg) = Self::tagged(v).unwrap_or_else(|| panic!("cannot evaluate {v:?}"));
                match tag.as_str() {
                    "Ref" => {
                        let name = arg.as_str().unwrap();
                        self.parameter_default(name)
                            .unwrap_or_else(|| format!("<resource {name}>"))
                    }
                    "If" => {
                        let parts = arg.as_sequence().unwrap();
                        let branch = if self.named_condition(parts[0].as_str().unwrap()) {
                            &parts[1]
                        } else {
                            &parts[2]
                        };
                        self.value(branch)
                    }
                    "GetAtt" | "Sub" => "<resource attribute>".to_string(),
                    other => panic!("function {other} not evaluated by this test"),
                }
            }
        }
    }

    /// The sync function's environment variables with the parameters' defaults.
    fn sync_function_environment(&self) -> HashMap<String, String> {
        let vars =
            &self.root["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"];
        vars.as_mapping()
            .expect("SyncFunction has environment variables")
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), self.value(v)))
            .collect()
    }
}

async fn replayed_store(rules: &Arc<Rules>) -> Shared {
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let shared = Shared {
        store,
        rules: rules.clone(),
    };
    for name in ["kinesis-batch-1.json", "kinesis-batch-2.json"] {
        let response = audience_lambda::consumer::handle(&shared, envelope(name), NOW)
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    shared
}

async fn line_ids_of(store: &dyn StateStore, segment: &str) -> BTreeSet<String> {
    let members = store.list_members(segment, None, 100_000).await.unwrap();
    store
        .load_users(&members)
        .await
        .unwrap()
        .states
        .values()
        .filter_map(|u| u.active_line_user_id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn with_the_template_defaults_and_the_shipped_rules_line_syncs() {
    let template = Template::load();
    let env = template.sync_function_environment();
    assert_eq!(
        env["PINPOINT_APPLICATION_ID"], "",
        "the default deploys no Pinpoint"
    );
    assert_eq!(env["AUDIENCE_STREAM_SYNC_DESTINATIONS"], "");
    // The sync configuration is the rules layer's /opt/sync.yaml, i.e. deploy/rules/sync.yaml.
    assert_eq!(env[sync::CONFIG_VAR], "/opt/sync.yaml");
    let mut env = env;
    env.insert(sync::CONFIG_VAR.into(), repo_path("deploy/rules/sync.yaml"));
    let settings = sync::settings(&|name| env.get(name).cloned()).unwrap();
    let defaults = audience_sync::SyncConfig {
        pinpoint: settings.config.pinpoint.clone(),
        ..Default::default()
    };
    assert_eq!(
        settings.config, defaults,
        "the shipped sync.yaml states the defaults"
    );
    assert!(settings.kinds.is_empty(), "every configured destination");
    assert!(!settings.config.pinpoint.is_complete());

    let rules =
        Arc::new(Rules::load(&repo_file("deploy/rules/segments.yaml"), "segments.yaml").unwrap());
    let both: Vec<&str> = rules
        .segments
        .iter()
        .filter(|s| s.def.destinations.has("line") && s.def.destinations.has("pinpoint"))
        .map(|s| s.def.id.as_str())
        .collect();
    assert!(
        !both.is_empty(),
        "the shipped rules name LINE and Pinpoint together"
    );
    let shared = replayed_store(&rules).await;

    let fake = FakeLine::start().await;
    let secret: HashMap<String, String> = HashMap::from([
        (
            "LINE_CHANNEL_ACCESS_TOKEN".into(),
            FAKE_LONG_LIVED_TOKEN.into(),
        ),
        ("LINE_API_BASE".into(), fake.api_base().to_string()),
        ("LINE_DATA_BASE".into(), fake.data_base().to_string()),
    ]);
    let lookup = move |name: &str| secret.get(name).cloned();
    let runner = sync::runner(&shared, &settings, &lookup).await.unwrap();
    let report = sync::invoke(&shared, &runner, Duration::from_secs(60))
        .await
        .unwrap();
    let text = report.to_text();
    assert!(!report.has_failures(), "{text}");
    for s in &report.segments {
        match s.destination.as_str() {
            "line" => assert_eq!(s.outcome, SegmentOutcome::Done, "{text}"),
            "pinpoint" => {
                assert_eq!(s.outcome, SegmentOutcome::NotConfigured, "{text}");
                assert!(s.notes[0].contains("--pinpoint-application-id"), "{text}");
            }
            other => panic!("unexpected destination {other}: {text}"),
        }
    }
    assert!(text.contains("not_configured"), "{text}");
    let store = shared.store.as_ref();
    for segment in &both {
        let state = store
            .destination_state("line", segment)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{segment} synced to LINE: {text}"));
        let audience = state["audience_id"].as_i64().expect("an audience");
        let expected = line_ids_of(store, segment).await;
        assert!(!expected.is_empty(), "{segment} has LINE members");
        assert_eq!(fake.members(audience).unwrap(), expected, "{segment}");
        assert!(store.pending("line", segment, 10).await.unwrap().is_empty());
        assert!(
            !store
                .pending("pinpoint", segment, 10)
                .await
                .unwrap()
                .is_empty(),
            "the Pinpoint changes of {segment} wait until Pinpoint is configured"
        );
    }
}

#[tokio::test]
async fn the_destination_choice_comes_from_the_environment() {
    let rules =
        Arc::new(Rules::load(&repo_file("deploy/rules/segments.yaml"), "segments.yaml").unwrap());
    let shared = replayed_store(&rules).await;
    let no_line = |_: &str| None;

    // Naming Pinpoint without configuring it is an error, not a silent skip.
    let env = HashMap::from([(sync::DESTINATIONS_VAR, "pinpoint")]);
    let settings = sync::settings(&|n| env.get(n).map(|v| v.to_string())).unwrap();
    let err = sync::runner(&shared, &settings, &no_line)
        .await
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("Pinpoint destination was asked for but is not configured"),
        "{err:#}"
    );

    // LINE only: Pinpoint is not visited at all.
    let fake = FakeLine::start().await;
    let secret = HashMap::from([
        (
            "LINE_CHANNEL_ACCESS_TOKEN",
            FAKE_LONG_LIVED_TOKEN.to_string(),
        ),
        ("LINE_API_BASE", fake.api_base().to_string()),
        ("LINE_DATA_BASE", fake.data_base().to_string()),
    ]);
    let lookup = move |n: &str| secret.get(n).cloned();
    let env = HashMap::from([(sync::DESTINATIONS_VAR, " line ")]);
    let settings = sync::settings(&|n| env.get(n).map(|v| v.to_string())).unwrap();
    let runner = sync::runner(&shared, &settings, &lookup).await.unwrap();
    let report = sync::invoke(&shared, &runner, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!report.segments.is_empty());
    assert!(
        report
            .segments
            .iter()
            .all(|s| s.destination == "line" && s.outcome == SegmentOutcome::Done),
        "{}",
        report.to_text()
    );

    // Nothing configured at all: every segment is reported, none fails.
    let settings = sync::settings(&|_| None).unwrap();
    let runner = sync::runner(&shared, &settings, &no_line).await.unwrap();
    let report = sync::invoke(&shared, &runner, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!report.has_failures());
    assert!(report
        .segments
        .iter()
        .any(|s| s.destination == "pinpoint" && s.outcome == SegmentOutcome::NotConfigured));

    let env = HashMap::from([(sync::DESTINATIONS_VAR, "line,sms")]);
    let err = sync::settings(&|n| env.get(n).map(|v| v.to_string())).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown destination `sms`"),
        "{err:#}"
    );
}

#[test]
fn the_sync_config_file_is_loaded_and_validated_at_cold_start() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let settings_for = |path: &str| {
        let env = HashMap::from([(sync::CONFIG_VAR, path.to_string())]);
        sync::settings(&|n| env.get(n).cloned())
    };
    let good = write(
        "good.yaml",
        "line:\n  file_threshold: 50000\n  requests_per_minute: 30\n  rotation: { min_exit_ratio: 0.25, delete_grace_ms: 86400000 }\n  retry: { max_retries: 2 }\npinpoint:\n  attribute_columns: [plan, pref]\n",
    );
    let c = settings_for(&good).unwrap().config;
    assert_eq!(c.line.file_threshold, 50_000);
    assert_eq!(c.line.requests_per_minute, 30);
    assert_eq!(c.line.rotation.min_exit_ratio, 0.25);
    assert_eq!(c.line.rotation.delete_grace_ms, 86_400_000);
    assert_eq!(c.line.retry.max_retries, 2);
    assert_eq!(c.pinpoint.attribute_columns, vec!["plan", "pref"]);

    // Bad configuration stops the cold start with an error naming the variable, file and field.
    let bad = write("bad.yaml", "line:\n  rotation: { min_exit_ratio: 2 }\n");
    let err = format!("{:#}", settings_for(&bad).unwrap_err());
    assert!(
        err.contains(sync::CONFIG_VAR)
            && err.contains("bad.yaml")
            && err.contains("line.rotation.min_exit_ratio"),
        "{err}"
    );
    let unknown = write("unknown.yaml", "line:\n  rotaton: {}\n");
    let err = format!("{:#}", settings_for(&unknown).unwrap_err());
    assert!(
        err.contains("unknown.yaml") && err.contains("rotaton"),
        "{err}"
    );
    let err = format!("{:#}", settings_for("/nonexistent/sync.yaml").unwrap_err());
    assert!(
        err.contains("cannot read sync config /nonexistent/sync.yaml"),
        "{err}"
    );
    // Unset or empty: the defaults.
    let env = HashMap::from([(sync::CONFIG_VAR, " ".to_string())]);
    let c = sync::settings(&|n| env.get(n).cloned()).unwrap().config;
    assert_eq!(c, audience_sync::SyncConfig::default());
}

#[test]
fn an_invocation_event_asks_for_un_parking() {
    let plain = sync::SyncRequest::from_event(&serde_json::json!({
        "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}
    }))
    .unwrap();
    assert_eq!(plain, sync::SyncRequest::default());
    let retry = sync::SyncRequest::from_event(
        &serde_json::json!({"retry_parked": true, "segment": "hyogo"}),
    )
    .unwrap();
    assert!(retry.retry_parked);
    assert_eq!(retry.segment.as_deref(), Some("hyogo"));
    assert!(sync::SyncRequest::from_event(&serde_json::json!({"retry_parked": "yes"})).is_err());
}

#[tokio::test]
async fn a_parked_segment_is_retried_when_the_event_asks() {
    let rules =
        Arc::new(Rules::load(&repo_file("deploy/rules/segments.yaml"), "segments.yaml").unwrap());
    let shared = replayed_store(&rules).await;
    let fake = FakeLine::start().await;
    let secret = HashMap::from([
        (
            "LINE_CHANNEL_ACCESS_TOKEN",
            FAKE_LONG_LIVED_TOKEN.to_string(),
        ),
        ("LINE_API_BASE", fake.api_base().to_string()),
        ("LINE_DATA_BASE", fake.data_base().to_string()),
    ]);
    let lookup = move |n: &str| secret.get(n).cloned();
    let env = HashMap::from([(sync::DESTINATIONS_VAR, "line")]);
    let settings = sync::settings(&|n| env.get(n).map(|v| v.to_string())).unwrap();
    let runner = sync::runner(&shared, &settings, &lookup).await.unwrap();
    // LINE refuses every create once: each segment is parked.
    fake.fail_next(audience_line::fake::FakeOp::Create, 400, 100);
    let first = sync::invoke(&shared, &runner, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        first
            .segments
            .iter()
            .all(|s| s.outcome == SegmentOutcome::Parked),
        "{}",
        first.to_text()
    );
    fake.clear_faults();
    // The schedule's plain run leaves them parked.
    let plain = sync::invoke(&shared, &runner, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(plain
        .segments
        .iter()
        .all(|s| s.outcome == SegmentOutcome::Parked));
    // One segment un-parked by the event of `aws lambda invoke`.
    let one = first.segments[0].segment.clone();
    let request =
        sync::SyncRequest::from_event(&serde_json::json!({"retry_parked": true, "segment": one}))
            .unwrap();
    let report = sync::invoke_request(&shared, &runner, Duration::from_secs(60), &request)
        .await
        .unwrap();
    assert_eq!(report.segments.len(), 1, "{}", report.to_text());
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{}",
        report.to_text()
    );
    // The rest by the same event without `segment`.
    let all = sync::invoke_request(
        &shared,
        &runner,
        Duration::from_secs(60),
        &sync::SyncRequest {
            retry_parked: true,
            segment: None,
        },
    )
    .await
    .unwrap();
    assert!(
        all.segments
            .iter()
            .all(|s| s.outcome == SegmentOutcome::Done),
        "{}",
        all.to_text()
    );
    let err = sync::invoke_request(
        &shared,
        &runner,
        Duration::from_secs(60),
        &sync::SyncRequest {
            retry_parked: true,
            segment: Some("nope".into()),
        },
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("segment `nope`"), "{err:#}");
}
