//! Contract tests: every request kind of the client is validated by Stoplight Prism against
//! LINE's official OpenAPI files, vendored in vendor/line-openapi/. Prism runs in mock
//! mode with `--errors`, so a request that violates the spec answers 422 (401 for missing
//! auth) and the client sees an error. Prism is installed by scripts/ensure-prism.sh; if it
//! cannot be installed or started, these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use audience_line::fake::user_ids;
use audience_line::{
    Credentials, LineClient, LineConfig, ListAudiences, MessageRequest, Secret, TokenProvider,
};
use tokio::process::{Child, Command};

fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())).join("../..")
}

fn spec(name: &str) -> PathBuf {
    let path = repo_root().join("vendor/line-openapi").join(name);
    assert!(
        path.is_file(),
        "LINE OpenAPI file {} is missing: it is vendored at <repo>/vendor/line-openapi/{name}",
        path.display()
    );
    path
}

fn prism_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(install_prism).clone()
}

fn install_prism() -> PathBuf {
    let script = repo_root().join("scripts/ensure-prism.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/ensure-prism.sh failed ({}): Prism (npm @stoplight/prism-cli) could not be \
         installed; it needs Node.js >= 18, npm and access to the npm registry",
        out.status
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    assert!(
        path.is_file(),
        "ensure-prism.sh printed {path:?}, which is not a file"
    );
    path
}

/// A running `prism mock`, killed on drop.
struct Prism {
    _child: Child,
    base: reqwest::Url,
    log: PathBuf,
}

async fn start_prism(spec_file: &Path) -> Prism {
    let bin = prism_binary();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = std::env::temp_dir().join(format!("prism-{port}.log"));
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(&bin)
        .arg("mock")
        .arg(spec_file)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--errors"])
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start Prism ({}): {e}", bin.display()));
    let base: reqwest::Url = format!("http://127.0.0.1:{port}").parse().unwrap();
    let prism = Prism {
        _child: child,
        base,
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return prism;
        }
        assert!(
            Instant::now() < deadline,
            "Prism did not start listening on port {port} within 90 s; its log:\n{}",
            std::fs::read_to_string(&prism.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Prism {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn config(&self, credentials: Credentials) -> LineConfig {
        LineConfig::new(credentials).with_bases(self.base.clone(), self.base.clone())
    }
}

#[tokio::test]
async fn every_audience_request_kind_passes_prism_validation() {
    let prism = start_prism(&spec("manage-audience.yml")).await;
    let client =
        LineClient::new(prism.config(Credentials::LongLived(Secret::new("prism-contract-token"))))
            .unwrap();
    let ids = user_ids(1, 3);
    let ctx = |what: &str, e: &dyn std::fmt::Display| {
        format!(
            "{what} was rejected by Prism: {e}\nPrism log:\n{}",
            prism.log()
        )
    };

    let created = client
        .create_upload_audience("seg:contract", false, Some("job-1"), &ids)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("create (JSON)", &e)));
    assert!(created.audience_group_id > 0);
    client
        .create_upload_audience("seg:contract-empty", false, None, &[])
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("create (JSON, no IDs)", &e)));
    client
        .add_to_upload_audience(created.audience_group_id, &ids, Some("job-2"))
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("add (JSON)", &e)));
    client
        .add_to_upload_audience(created.audience_group_id, &ids, None)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("add (JSON, no uploadDescription)", &e)));
    client
        .create_upload_audience_by_file("seg:contract-file", false, Some("file-1"), &ids)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("create (by file)", &e)));
    client
        .create_upload_audience_by_file("seg:contract-file2", true, None, &ids)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("create (by file, IFA, no uploadDescription)", &e)));
    client
        .add_to_upload_audience_by_file(created.audience_group_id, &ids, Some("file-2"))
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("add (by file)", &e)));
    client
        .add_to_upload_audience_by_file(created.audience_group_id, &ids, None)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("add (by file, no uploadDescription)", &e)));
    let detail = client
        .get_audience(created.audience_group_id)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("get", &e)));
    assert!(detail.audience_group.audience_group_id > 0);
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("list (default)", &e)));
    client
        .list_audiences(&ListAudiences {
            status: Some(audience_line::AudienceStatus::Ready),
            ..ListAudiences::own_by_description("seg:")
        })
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("list (filtered)", &e)));
    client
        .rename_audience(created.audience_group_id, "seg:contract:v2")
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("rename", &e)));
    client
        .delete_audience(created.audience_group_id)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("delete", &e)));

    // Prism really validates: requests that break the spec are refused.
    let http = reqwest::Client::new();
    let too_long = http
        .post(format!("{}v2/bot/audienceGroup/upload", prism.base))
        .bearer_auth("prism-contract-token")
        .json(&serde_json::json!({"description": "x".repeat(121), "audiences": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        too_long.status().as_u16(),
        422,
        "Prism must reject a 121-char name"
    );
    let no_page = http
        .get(format!("{}v2/bot/audienceGroup/list", prism.base))
        .bearer_auth("prism-contract-token")
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_page.status().as_u16(),
        422,
        "Prism must reject a list without page"
    );
    let no_file = http
        .post(format!("{}v2/bot/audienceGroup/upload/byFile", prism.base))
        .bearer_auth("prism-contract-token")
        .multipart(reqwest::multipart::Form::new().text("description", "seg:x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_file.status().as_u16(),
        422,
        "Prism must reject a by-file upload without file"
    );
    let no_auth = http
        .get(format!("{}v2/bot/audienceGroup/1", prism.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_auth.status().as_u16(),
        401,
        "Prism must require the bearer token"
    );
}

#[tokio::test]
async fn token_issuance_passes_prism_validation() {
    let prism = start_prism(&spec("channel-access-token.yml")).await;
    for credentials in [
        Credentials::ClientCredentials {
            channel_id: "1234567890".into(),
            channel_secret: Secret::new("prism-channel-secret"),
        },
        Credentials::Stateless {
            channel_id: "1234567890".into(),
            channel_secret: Secret::new("prism-channel-secret"),
        },
    ] {
        let kind = credentials.kind();
        let config = prism.config(credentials);
        let provider = TokenProvider::new(
            reqwest::Client::new(),
            &config,
            std::sync::Arc::new(audience_line::SystemClock),
        );
        let token = provider.token().await.unwrap_or_else(|e| {
            panic!(
                "{kind} token issuance was rejected by Prism: {e}\nPrism log:\n{}",
                prism.log()
            )
        });
        assert!(!token.is_empty());
        provider.token().await.unwrap();
        assert_eq!(provider.issued_count(), 1, "{kind}: token reused");
    }

    // A form without client_secret breaks the spec.
    let bad = reqwest::Client::new()
        .post(format!("{}v2/oauth/accessToken", prism.base))
        .form(&[("grant_type", "client_credentials"), ("client_id", "1")])
        .send()
        .await
        .unwrap();
    // Prism answers the operation's own 400 response when the spec defines one, else 422.
    assert!(
        matches!(bad.status().as_u16(), 400 | 422),
        "Prism must reject a form without client_secret, answered {}",
        bad.status()
    );
}

#[tokio::test]
async fn every_message_request_kind_passes_prism_validation() {
    let prism = start_prism(&spec("messaging-api.yml")).await;
    let client =
        LineClient::new(prism.config(Credentials::LongLived(Secret::new("prism-contract-token"))))
            .unwrap();
    let ctx = |what: &str, e: &dyn std::fmt::Display| {
        format!(
            "{what} was rejected by Prism: {e}\nPrism log:\n{}",
            prism.log()
        )
    };
    // What the planner renders: a text message and a Flex message passed through.
    let messages = vec![
        serde_json::json!({"type": "text", "text": "Welcome, Aiko!"}),
        serde_json::json!({"type": "flex", "altText": "Your coupon", "contents": {
            "type": "bubble",
            "body": {"type": "box", "layout": "vertical", "contents": [
                {"type": "text", "text": "10% off"}
            ]}
        }}),
    ];
    let key = audience_core_free_key(1);
    let request = MessageRequest {
        messages: &messages,
        notification_disabled: true,
        aggregation_unit: Some("welcome_2026"),
        retry_key: &key,
    };
    let ids = user_ids(1, 3);
    client
        .push(&ids[0], &request)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("push", &e)));
    let plain = MessageRequest {
        aggregation_unit: None,
        notification_disabled: false,
        ..request.clone()
    };
    client
        .multicast(&ids, &plain)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("multicast", &e)));
    client
        .multicast(&ids, &request)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("multicast (aggregation unit)", &e)));
    client
        .quota()
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("quota", &e)));
    client
        .quota_consumption()
        .await
        .unwrap_or_else(|e| panic!("{}", ctx("quota consumption", &e)));

    // Prism really validates: a seventh message and a non-UUID retry key break the spec.
    let http = reqwest::Client::new();
    let too_many = http
        .post(format!("{}v2/bot/message/multicast", prism.base))
        .bearer_auth("prism-contract-token")
        .json(&serde_json::json!({"to": ids, "messages": vec![messages[0].clone(); 6]}))
        .send()
        .await
        .unwrap();
    // Prism answers the operation's own 400 response when the spec defines one, else 422.
    assert!(
        matches!(too_many.status().as_u16(), 400 | 422),
        "Prism must reject 6 messages, answered {}",
        too_many.status()
    );
    let push_with = |key: &str| {
        http.post(format!("{}v2/bot/message/push", prism.base))
            .bearer_auth("prism-contract-token")
            .header("X-Line-Retry-Key", key.to_string())
            .json(&serde_json::json!({"to": ids[0], "messages": [messages[0].clone()]}))
            .send()
    };
    let good_key = push_with(&key).await.unwrap();
    assert!(
        good_key.status().is_success(),
        "the same push with a UUID key passes"
    );
    let bad_key = http
        .post(format!("{}v2/bot/message/push", prism.base))
        .bearer_auth("prism-contract-token")
        .header("X-Line-Retry-Key", "not-a-uuid")
        .json(&serde_json::json!({"to": ids[0], "messages": [messages[0].clone()]}))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(bad_key.status().as_u16(), 400 | 422),
        "Prism must reject a non-UUID retry key, answered {}",
        bad_key.status()
    );
}

/// A hex UUID for the contract test (the planner's keys are tested in the core).
fn audience_core_free_key(n: u32) -> String {
    format!("{n:08x}-0000-8000-8000-000000000000")
}
