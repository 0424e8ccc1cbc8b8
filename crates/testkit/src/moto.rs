//! The moto emulator: a server per caller (python3 -m moto.server on a free 127.0.0.1 port,
//! killed on drop, failing loudly with install advice when moto is missing), SDK configuration
//! with dummy credentials, and Kinesis streams created and waited for.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kinesis::config::Credentials;
use aws_sdk_kinesis::types::StreamStatus;

const INSTALL_HINT: &str =
    "moto[server] >= 5.2.2 is needed for these tests: run scripts/ensure-moto.sh \
     (pip install 'moto[server]>=5.2.2,<6')";

/// Checks once per test process that python has moto >= 5.2.2.
fn check_moto_version(python: &str) {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let out = Command::new(python)
            .args(["-c", "import moto, moto.server; print(moto.__version__)"])
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{python} cannot import moto.server: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let parts: Vec<u32> = version
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse().ok())
            .take(3)
            .collect();
        if parts.as_slice() < [5, 2, 2].as_slice() {
            return Err(format!("moto {version} is too old"));
        }
        Ok(())
    });
    if let Err(e) = checked {
        panic!("{e}\n{INSTALL_HINT}");
    }
}

/// A moto server on a free 127.0.0.1 port.
pub struct Moto {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Moto {
    /// Starts moto and waits until it accepts connections; panics with install advice if not.
    pub fn start() -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("audience-stream-moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create moto log file");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        check_moto_version(&python);
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} -m moto.server: {e}. {INSTALL_HINT}"));
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        moto.wait_ready(SocketAddr::from(([127, 0, 0, 1], port)));
        moto
    }

    fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("moto.server exited ({status}) before answering:\n{log}\n{INSTALL_HINT}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("moto.server did not answer on {addr} within 60 s:\n{log}\n{INSTALL_HINT}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SDK configuration for this server: dummy credentials, us-east-1, its endpoint.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.url).await
    }

    /// A Kinesis client against this server.
    pub async fn kinesis(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.sdk_config().await)
    }

    /// An S3 client against this server (path-style addressing).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// SDK configuration for a local endpoint: dummy credentials, region us-east-1.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Creates `name` with `shards` shards and waits until it is ACTIVE.
pub async fn create_stream(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("CreateStream in moto");
    for _ in 0..100 {
        let d = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .expect("DescribeStreamSummary in moto");
        if d.stream_description_summary().map(|s| s.stream_status()) == Some(&StreamStatus::Active)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became ACTIVE");
}
