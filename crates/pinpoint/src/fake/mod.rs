//! A local fake of Pinpoint's CreateImportJob, GetImportJob and GetImportJobs (no emulator
//! implements them), served by axum on 127.0.0.1. It speaks the REST-JSON wire format of the fact sheet, accepts
//! SigV4-signed requests from the real SDK without checking them, validates the request,
//! and runs each job through a scripted status sequence, one step per GET.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use audience_pinpoint::fake::{FakePinpoint, JobScript};
//! let fake = FakePinpoint::start().await?;
//! fake.throttle_next_creates(2);
//! fake.script_next_job(JobScript::fails(vec!["bad row".into()]));
//! // point the SDK at fake.base_url() (e.g. AWS_ENDPOINT_URL_PINPOINT)
//! # Ok(()) }
//! ```

mod routes;
mod s3_count;
mod script;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};

pub use script::{FakeOp, JobScript};
pub use state::{FakeJob, WireRequest};

/// How to start a [`FakePinpoint`].
#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// An S3 endpoint (e.g. moto's URL) to read imported files from and count their rows;
    /// a file that cannot be read there fails its job.
    pub s3_endpoint: Option<String>,
}

/// A running fake; stops when dropped.
#[derive(Debug)]
pub struct FakePinpoint {
    base_url: String,
    state: Arc<Mutex<state::State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakePinpoint {
    /// Starts a fake on a free 127.0.0.1 port, jobs completing by [`JobScript::completes`].
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a fake with options.
    pub async fn start_with(options: FakeOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(state::State::default()));
        let app = routes::App {
            state: Arc::clone(&state),
            counter: options
                .s3_endpoint
                .as_deref()
                .map(s3_count::RowCounter::new),
        };
        let router = routes::router(app);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "fake Pinpoint server stopped");
            }
        });
        tracing::info!(%base_url, "fake Pinpoint listening");
        Ok(Self {
            base_url,
            state,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` or `AWS_ENDPOINT_URL_PINPOINT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next created job follows `script` (scripts queue up, one per job).
    pub fn script_next_job(&self, script: JobScript) {
        self.lock().scripts.push_back(script);
    }

    /// The script of jobs with no queued script.
    pub fn set_default_script(&self, script: JobScript) {
        self.lock().default_script = script;
    }

    /// Answer the next `n` CreateImportJob requests with 429 TooManyRequests.
    pub fn throttle_next_creates(&self, n: usize) {
        self.fail_next(FakeOp::CreateImportJob, 429, n);
    }

    /// Answer the next `n` requests of `op` with HTTP `status` (400, 403, 404, 429, 500, ...).
    pub fn fail_next(&self, op: FakeOp, status: u16, n: usize) {
        self.lock()
            .injected
            .entry(op)
            .or_default()
            .extend(std::iter::repeat_n(status, n));
    }

    /// The jobs created so far, oldest first.
    pub fn jobs(&self) -> Vec<FakeJob> {
        let state = self.lock();
        state
            .order
            .iter()
            .filter_map(|id| state.jobs.get(id).cloned())
            .collect()
    }

    /// CreateImportJob requests received, including rejected and throttled ones.
    pub fn create_requests(&self) -> usize {
        self.lock().create_requests
    }

    /// GetImportJob requests received, including rejected ones.
    pub fn get_requests(&self) -> usize {
        self.lock().get_requests
    }

    /// GetImportJobs requests received, including rejected ones.
    pub fn list_requests(&self) -> usize {
        self.lock().list_requests
    }

    /// The next `n` CreateImportJob requests create their job and then answer with HTTP
    /// `status` (e.g. 500): a job exists whose ID the caller never learns.
    pub fn fail_next_after_create(&self, status: u16, n: usize) {
        self.lock()
            .fail_after_create
            .extend(std::iter::repeat_n(status, n));
    }
}

impl Drop for FakePinpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
