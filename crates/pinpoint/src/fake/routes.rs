//! The fake's HTTP surface: CreateImportJob, GetImportJob and GetImportJobs as REST-JSON,
//! errors as `{"Message","RequestID"}` with `x-amzn-ErrorType`. Signatures are not checked.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::s3_count::RowCounter;
use super::script::{error_code, FakeOp};
use super::state::{FakeJob, State, WireRequest};
use crate::job::JobStatus;

#[derive(Clone)]
pub(crate) struct App {
    pub state: Arc<Mutex<State>>,
    pub counter: Option<RowCounter>,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the fake down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route(
            "/v1/apps/{application_id}/jobs/import",
            post(create).get(list),
        )
        .route("/v1/apps/{application_id}/jobs/import/{job_id}", get(read))
        .fallback(|| async { error(404, "Resource not found", "fallback") })
        .with_state(app)
}

fn request_id(seed: &str) -> String {
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        hash >> 32,
        (hash >> 16) & 0xffff,
        hash & 0xfff,
        (hash >> 4) & 0xfff,
        hash & 0xffff_ffff_ffff
    )
}

fn error(status: u16, message: &str, seed: &str) -> Response {
    let request_id = request_id(&format!("{seed}{message}{status}"));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ "Message": message, "RequestID": request_id });
    let mut response = (code, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(error_code(status)),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

fn ok(status: StatusCode, job: &FakeJob) -> Response {
    let mut response = (status, Json(job.response())).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id(&format!("{}{}", job.id, job.gets))) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn validate(request: &WireRequest) -> Result<(), &'static str> {
    match request.format.as_deref() {
        None => return Err("Format is required"),
        Some("CSV" | "JSON") => {}
        Some(_) => return Err("Format must be CSV or JSON"),
    }
    match request.s3_url.as_deref() {
        None => return Err("S3Url is required"),
        Some(u) if !u.starts_with("s3://") || u.len() <= 5 => {
            return Err("S3Url must be an s3:// URL")
        }
        Some(_) => {}
    }
    match request.role_arn.as_deref() {
        None => return Err("RoleArn is required"),
        Some(r) if !r.starts_with("arn:") => return Err("RoleArn must be an ARN"),
        Some(_) => {}
    }
    let named = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if request.define_segment == Some(true)
        && !named(&request.segment_name)
        && !named(&request.segment_id)
    {
        return Err("DefineSegment requires SegmentName or SegmentId");
    }
    Ok(())
}

async fn create(
    Extract(app): Extract<App>,
    Path(application_id): Path<String>,
    body: Bytes,
) -> Response {
    let injected = {
        let mut state = app.lock();
        state.create_requests += 1;
        state.next_injected(FakeOp::CreateImportJob)
    };
    if let Some(status) = injected {
        return error(status, "Injected failure", &application_id);
    }
    let request: WireRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                400,
                &format!("Request body is not an ImportJobRequest: {e}"),
                &application_id,
            )
        }
    };
    if let Err(message) = validate(&request) {
        return error(400, message, &application_id);
    }
    let counted = match (&app.counter, request.s3_url.as_deref()) {
        (Some(counter), Some(url)) => Some(counter.count_rows(url).await),
        _ => None,
    };
    let mut state = app.lock();
    let id = state.next_id();
    let mut script = state
        .scripts
        .pop_front()
        .unwrap_or_else(|| state.default_script.clone());
    let rows_in_file = match counted {
        Some(Ok(rows)) => Some(rows),
        Some(Err(failure)) => {
            script = super::script::JobScript::fails(vec![failure]);
            None
        }
        None => None,
    };
    let job = FakeJob {
        application_id,
        id: id.clone(),
        segment_id: request.segment_id.clone().filter(|s| !s.is_empty()),
        request,
        status: JobStatus::Created,
        rows_in_file,
        gets: 0,
        creation_date: now(),
        completion_date: None,
        script,
    };
    let response = ok(StatusCode::CREATED, &job);
    state.order.push(id.clone());
    state.jobs.insert(id.clone(), job);
    if let Some(status) = state.fail_after_create.pop_front() {
        // The job exists; the caller never learns its ID (a lost answer).
        return error(status, "Injected failure after the job was created", &id);
    }
    response
}

/// GetImportJobs' query string.
#[derive(serde::Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "page-size")]
    page_size: Option<String>,
    token: Option<String>,
}

/// Jobs per page when the request names no `page-size`.
const DEFAULT_PAGE_SIZE: usize = 50;

async fn list(
    Extract(app): Extract<App>,
    Path(application_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let mut state = app.lock();
    state.list_requests += 1;
    if let Some(status) = state.next_injected(FakeOp::GetImportJobs) {
        return error(status, "Injected failure", &application_id);
    }
    let size = match query.page_size.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => return error(400, "page-size must be a positive integer", &application_id),
    };
    // The token is the offset of the page's first job.
    let start = match query.token.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return error(400, "Invalid token", &application_id),
    };
    // Newest first.
    let jobs: Vec<&FakeJob> = state
        .order
        .iter()
        .rev()
        .filter_map(|id| state.jobs.get(id))
        .filter(|j| j.application_id == application_id)
        .collect();
    let item: Vec<_> = jobs
        .iter()
        .skip(start)
        .take(size)
        .map(|j| j.response())
        .collect();
    let mut body = serde_json::json!({ "Item": item });
    if start.saturating_add(size) < jobs.len() {
        body["NextToken"] = serde_json::Value::String((start + size).to_string());
    }
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id(&format!("{application_id}{start}"))) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

async fn read(
    Extract(app): Extract<App>,
    Path((application_id, job_id)): Path<(String, String)>,
) -> Response {
    let mut state = app.lock();
    state.get_requests += 1;
    if let Some(status) = state.next_injected(FakeOp::GetImportJob) {
        return error(status, "Injected failure", &job_id);
    }
    match state.jobs.get(&job_id) {
        Some(job) if job.application_id == application_id => {}
        _ => return error(404, "Resource not found", &job_id),
    }
    state.advance(&job_id, &now());
    match state.jobs.get(&job_id) {
        Some(job) => ok(StatusCode::OK, job),
        None => error(404, "Resource not found", &job_id),
    }
}
