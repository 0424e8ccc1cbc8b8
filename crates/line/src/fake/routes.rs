//! The fake LINE's HTTP surface (axum): request parsing and the checks LINE applies at the
//! edge (bearer token, `X-Line-Retry-Key`, media types, limits), then the state rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::client::{LIST_PATH, UPLOAD_BY_FILE_PATH, UPLOAD_PATH};
use crate::limits::{
    MAX_DESCRIPTION_CHARS, MAX_IDS_PER_FILE, MAX_IDS_PER_JSON, MAX_PAGE_SIZE,
    MAX_UPLOAD_DESCRIPTION_CHARS,
};
use crate::token::{SHORT_LIVED_TOKEN_PATH, STATELESS_TOKEN_PATH};

use super::state::{is_user_id, Reply, State};
use super::{FakeOp, LoggedRequest};

pub(crate) type Shared = Arc<Mutex<State>>;

const MAX_BODY: usize = 256 * 1024 * 1024;

pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Router for the api.line.me side.
pub(crate) fn api_router(shared: Shared) -> Router {
    Router::new()
        .route(SHORT_LIVED_TOKEN_PATH, post(issue_short_lived))
        .route(STATELESS_TOKEN_PATH, post(issue_stateless))
        .route(UPLOAD_PATH, post(create_json).put(add_json))
        .route(LIST_PATH, get(list))
        .route(
            "/v2/bot/audienceGroup/{id}",
            get(get_one).delete(delete_one),
        )
        .route("/v2/bot/audienceGroup/{id}/updateDescription", put(rename))
        .merge(super::messages::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Router for the api-data.line.me side (by-file endpoints only).
pub(crate) fn data_router(shared: Shared) -> Router {
    Router::new()
        .route(UPLOAD_BY_FILE_PATH, post(create_file).put(add_file))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

pub(crate) struct Call<'a> {
    pub(crate) op: FakeOp,
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) needs_auth: bool,
    pub(crate) ids: Option<usize>,
    pub(crate) audience_group_id: Option<i64>,
    pub(crate) form_fields: Option<Vec<String>>,
}

/// Applies the edge checks, injected faults and `apply`, logs the request, answers.
pub(crate) async fn run(
    shared: &Shared,
    call: Call<'_>,
    apply: impl FnOnce(&mut State, SystemTime) -> Reply,
) -> Response {
    let now = audience_clock::now();
    let (reply, request_id, delay) = {
        let mut st = lock(shared);
        let request_id = st.next_request_id();
        let mut delay = None;
        let reply = if call.headers.contains_key("x-line-retry-key") && !call.op.takes_retry_key() {
            Reply::error(
                400,
                "The retry key is not supported by this endpoint",
                &[("X-Line-Retry-Key is not allowed", Some("X-Line-Retry-Key"))],
            )
        } else if call.needs_auth && !authorized(&st, call.headers, now) {
            Reply::error(
                401,
                "Authentication failed. Confirm that the access token in the authorization header is valid.",
                &[],
            )
        } else {
            match st.take_fault(call.op) {
                Some(fault) => {
                    delay = fault.delay;
                    let applied = if fault.after_apply || fault.status.is_none() {
                        Some(apply(&mut st, now))
                    } else {
                        None
                    };
                    match (fault.status, applied) {
                        (Some(status), _) => fault_reply(status, fault.retry_after),
                        (None, Some(reply)) => reply,
                        (None, None) => Reply::error(500, "fake: empty fault", &[]),
                    }
                }
                None => apply(&mut st, now),
            }
        };
        st.log.push(LoggedRequest {
            method: call.method.to_owned(),
            path: call.path,
            op: Some(call.op),
            ids: call.ids,
            audience_group_id: call.audience_group_id,
            form_fields: call.form_fields,
            status: reply.status,
            request_id: request_id.clone(),
        });
        (reply, request_id, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    respond(reply, &request_id)
}

fn respond(reply: Reply, request_id: &str) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(reply.body)).into_response();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-line-request-id", v);
    }
    if let Some(secs) = reply.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn fault_reply(status: u16, retry_after: Option<u64>) -> Reply {
    let mut reply = match status {
        429 => Reply::error(429, "Too Many Requests", &[]),
        401 => Reply::error(401, "Authentication failed (injected)", &[]),
        s if s >= 500 => Reply::error(s, "Internal Server Error", &[]),
        s => Reply::error(
            s,
            "The request body has 1 error(s)",
            &[("INJECTED_FAULT", Some("audiences"))],
        ),
    };
    reply.retry_after = retry_after;
    reply
}

fn authorized(st: &State, headers: &HeaderMap, now: SystemTime) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| st.token_valid(token.trim(), now))
}

async fn not_found(AxState(shared): AxState<Shared>, method: Method, uri: Uri) -> Response {
    let mut st = lock(&shared);
    let request_id = st.next_request_id();
    st.log.push(LoggedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        op: None,
        ids: None,
        audience_group_id: None,
        form_fields: None,
        status: 404,
        request_id: request_id.clone(),
    });
    respond(Reply::error(404, "Not found", &[]), &request_id)
}

// ---- tokens ----

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn issue_short_lived(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    issue(shared, headers, form, false).await
}

async fn issue_stateless(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    issue(shared, headers, form, true).await
}

async fn issue(
    shared: Shared,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
    stateless: bool,
) -> Response {
    let (op, path) = if stateless {
        (FakeOp::IssueStatelessToken, STATELESS_TOKEN_PATH)
    } else {
        (FakeOp::IssueToken, SHORT_LIVED_TOKEN_PATH)
    };
    let call = Call {
        op,
        method: "POST",
        path: path.into(),
        headers: &headers,
        needs_auth: false,
        ids: None,
        audience_group_id: None,
        form_fields: None,
    };
    run(&shared, call, move |st, now| {
        let oauth_error =
            |e: &str, d: &str| Reply::ok(400, json!({"error": e, "error_description": d}));
        let Ok(Form(form)) = form else {
            return oauth_error(
                "invalid_request",
                "body must be application/x-www-form-urlencoded",
            );
        };
        if form.grant_type.as_deref() != Some("client_credentials") {
            return oauth_error(
                "unsupported_grant_type",
                "grant_type must be client_credentials",
            );
        }
        if form.client_id.as_deref() != Some(st.config.channel_id.as_str())
            || form.client_secret.as_deref() != Some(st.config.channel_secret.as_str())
        {
            return oauth_error("invalid_client", "invalid client_id or client_secret");
        }
        let (token, expires_in) = st.issue_token(stateless, now);
        Reply::ok(
            200,
            json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}),
        )
    })
    .await
}

// ---- JSON uploads ----

#[derive(Deserialize)]
struct IdItem {
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateReq {
    description: Option<String>,
    is_ifa_audience: Option<bool>,
    upload_description: Option<String>,
    audiences: Option<Vec<IdItem>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddReq {
    audience_group_id: Option<i64>,
    upload_description: Option<String>,
    audiences: Option<Vec<IdItem>>,
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Reply> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(Reply::error(
            415,
            "Unsupported Media Type: use application/json",
            &[],
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Reply::error(
            400,
            "The request body has 1 error(s)",
            &[(&format!("invalid JSON: {e}"), None)],
        )
    })
}

fn check_description(description: Option<&str>) -> Result<String, Reply> {
    match description {
        None | Some("") => Err(Reply::bad_request("must be specified", Some("description"))),
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(Reply::bad_request(
            "AUDIENCE_GROUP_NAME_SIZE_OVER",
            Some("description"),
        )),
        Some(d) => Ok(d.to_owned()),
    }
}

fn check_upload_description(d: Option<String>) -> Result<Option<String>, Reply> {
    match d {
        Some(d) if d.chars().count() > MAX_UPLOAD_DESCRIPTION_CHARS => Err(Reply::bad_request(
            "size must be between 0 and 300",
            Some("uploadDescription"),
        )),
        other => Ok(other),
    }
}

/// Checks a batch of IDs: within `max`, non-empty unless `allow_empty`, well-formed.
fn check_ids(
    st: &State,
    ids: Vec<String>,
    is_ifa: bool,
    max: usize,
    allow_empty: bool,
) -> Result<Vec<String>, Reply> {
    if ids.len() > max {
        return Err(Reply::bad_request(
            "UPLOAD_AUDIENCE_GROUP_TOO_MANY_AUDIENCE_IDS",
            Some("audiences"),
        ));
    }
    if ids.is_empty() && !allow_empty {
        return Err(Reply::bad_request(
            "UPLOAD_AUDIENCE_GROUP_NO_VALID_AUDIENCE_IDS",
            Some("audiences"),
        ));
    }
    if st.config.strict_user_ids && !is_ifa {
        if let Some(i) = ids.iter().position(|id| !is_user_id(id)) {
            let property = format!("audiences[{i}].id");
            return Err(Reply::bad_request(
                "UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT",
                Some(&property),
            ));
        }
    }
    Ok(ids)
}

fn items_to_ids(items: Option<Vec<IdItem>>) -> Result<Vec<String>, Reply> {
    items
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            item.id.filter(|s| !s.is_empty()).ok_or_else(|| {
                Reply::bad_request("must be specified", Some(&format!("audiences[{i}].id")))
            })
        })
        .collect()
}

async fn create_json(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = json_body::<CreateReq>(&headers, &body);
    let ids = parsed
        .as_ref()
        .ok()
        .map(|r| r.audiences.as_ref().map_or(0, Vec::len));
    let call = Call {
        op: FakeOp::Create,
        method: "POST",
        path: UPLOAD_PATH.into(),
        headers: &headers,
        needs_auth: true,
        ids,
        audience_group_id: None,
        form_fields: None,
    };
    run(&shared, call, move |st, now| {
        let result = (|| {
            let req = parsed?;
            let description = check_description(req.description.as_deref())?;
            let upload_description = check_upload_description(req.upload_description)?;
            let is_ifa = req.is_ifa_audience.unwrap_or(false);
            let ids = check_ids(
                st,
                items_to_ids(req.audiences)?,
                is_ifa,
                MAX_IDS_PER_JSON,
                true,
            )?;
            st.create_audience(description, is_ifa, upload_description, ids, now)
        })();
        match result {
            Ok(body) => Reply::ok(202, body),
            Err(reply) => reply,
        }
    })
    .await
}

async fn add_json(AxState(shared): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = json_body::<AddReq>(&headers, &body);
    let ids = parsed
        .as_ref()
        .ok()
        .map(|r| r.audiences.as_ref().map_or(0, Vec::len));
    let audience_group_id = parsed.as_ref().ok().and_then(|r| r.audience_group_id);
    let call = Call {
        op: FakeOp::Add,
        method: "PUT",
        path: UPLOAD_PATH.into(),
        headers: &headers,
        needs_auth: true,
        ids,
        audience_group_id,
        form_fields: None,
    };
    run(&shared, call, move |st, now| {
        let result = (|| {
            let req = parsed?;
            let id = req
                .audience_group_id
                .ok_or_else(|| Reply::bad_request("must be specified", Some("audienceGroupId")))?;
            let upload_description = check_upload_description(req.upload_description)?;
            st.check_uploadable(id)?;
            let is_ifa = st.audiences.get(&id).is_some_and(|a| a.is_ifa);
            let ids = check_ids(
                st,
                items_to_ids(req.audiences)?,
                is_ifa,
                MAX_IDS_PER_JSON,
                false,
            )?;
            st.add_ids(id, upload_description, ids, now)
        })();
        match result {
            Ok(()) => Reply::ok(202, json!({})),
            Err(reply) => reply,
        }
    })
    .await
}

// ---- by-file uploads ----

struct FileUpload {
    names: Vec<String>,
    fields: HashMap<String, String>,
    ids: Vec<String>,
}

async fn read_multipart(
    multipart: Result<Multipart, MultipartRejection>,
    allowed: &[&str],
) -> Result<FileUpload, Reply> {
    let mut multipart = multipart.map_err(|e| {
        Reply::error(
            415,
            "Unsupported Media Type: use multipart/form-data",
            &[(&e.body_text(), None)],
        )
    })?;
    let mut fields = HashMap::new();
    let mut names = Vec::new();
    let mut ids = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(Reply::error(
                    400,
                    "Malformed multipart body",
                    &[(&e.body_text(), None)],
                ))
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        names.push(name.clone());
        if !allowed.contains(&name.as_str()) {
            return Err(Reply::bad_request("unknown field", Some(&name)));
        }
        if name == "file" {
            if ids.is_some() {
                return Err(Reply::bad_request("only one file is allowed", Some("file")));
            }
            let text_plain = field
                .content_type()
                .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/plain"));
            if !text_plain {
                return Err(Reply::error(
                    415,
                    "Unsupported Media Type: the file part must be text/plain",
                    &[("must be text/plain", Some("file"))],
                ));
            }
            let bytes = field.bytes().await.map_err(|e| {
                Reply::error(
                    400,
                    "Malformed multipart body",
                    &[(&e.body_text(), Some("file"))],
                )
            })?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| Reply::bad_request("file is not UTF-8 text", Some("file")))?;
            ids = Some(
                text.lines()
                    .map(|l| l.trim_end_matches('\r').to_owned())
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>(),
            );
        } else {
            if fields.contains_key(&name) {
                return Err(Reply::bad_request("duplicate field", Some(&name)));
            }
            let value = field.text().await.map_err(|e| {
                Reply::error(
                    400,
                    "Malformed multipart body",
                    &[(&e.body_text(), Some(&name))],
                )
            })?;
            fields.insert(name, value);
        }
    }
    let ids = ids.ok_or_else(|| Reply::bad_request("must be specified", Some("file")))?;
    Ok(FileUpload { names, fields, ids })
}

fn bool_field(fields: &HashMap<String, String>, name: &str) -> Result<bool, Reply> {
    match fields.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Reply::bad_request("must be true or false", Some(name))),
    }
}

async fn create_file(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let parsed = read_multipart(
        multipart,
        &["description", "isIfaAudience", "uploadDescription", "file"],
    )
    .await;
    let ids = parsed.as_ref().ok().map(|u| u.ids.len());
    let form_fields = parsed.as_ref().ok().map(|u| u.names.clone());
    let call = Call {
        op: FakeOp::CreateByFile,
        method: "POST",
        path: UPLOAD_BY_FILE_PATH.into(),
        headers: &headers,
        needs_auth: true,
        ids,
        audience_group_id: None,
        form_fields,
    };
    run(&shared, call, move |st, now| {
        let result = (|| {
            let upload = parsed?;
            let description =
                check_description(upload.fields.get("description").map(String::as_str))?;
            let is_ifa = bool_field(&upload.fields, "isIfaAudience")?;
            let upload_description =
                check_upload_description(upload.fields.get("uploadDescription").cloned())?;
            let ids = check_ids(st, upload.ids, is_ifa, MAX_IDS_PER_FILE, false)?;
            st.create_audience(description, is_ifa, upload_description, ids, now)
        })();
        match result {
            Ok(body) => Reply::ok(202, body),
            Err(reply) => reply,
        }
    })
    .await
}

async fn add_file(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let parsed = read_multipart(multipart, &["audienceGroupId", "uploadDescription", "file"]).await;
    let ids = parsed.as_ref().ok().map(|u| u.ids.len());
    let form_fields = parsed.as_ref().ok().map(|u| u.names.clone());
    let audience_group_id = parsed
        .as_ref()
        .ok()
        .and_then(|u| u.fields.get("audienceGroupId"))
        .and_then(|v| v.parse().ok());
    let call = Call {
        op: FakeOp::AddByFile,
        method: "PUT",
        path: UPLOAD_BY_FILE_PATH.into(),
        headers: &headers,
        needs_auth: true,
        ids,
        audience_group_id,
        form_fields,
    };
    run(&shared, call, move |st, now| {
        let result = (|| {
            let upload = parsed?;
            let id: i64 = upload
                .fields
                .get("audienceGroupId")
                .ok_or_else(|| Reply::bad_request("must be specified", Some("audienceGroupId")))?
                .parse()
                .map_err(|_| Reply::bad_request("must be an integer", Some("audienceGroupId")))?;
            let upload_description =
                check_upload_description(upload.fields.get("uploadDescription").cloned())?;
            st.check_uploadable(id)?;
            let is_ifa = st.audiences.get(&id).is_some_and(|a| a.is_ifa);
            let ids = check_ids(st, upload.ids, is_ifa, MAX_IDS_PER_FILE, false)?;
            st.add_ids(id, upload_description, ids, now)
        })();
        match result {
            Ok(()) => Reply::ok(202, json!({})),
            Err(reply) => reply,
        }
    })
    .await
}

// ---- get / list / rename / delete ----

fn path_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, Reply> {
    id.map(|Path(id)| id)
        .map_err(|_| Reply::bad_request("must be an integer", Some("audienceGroupId")))
}

async fn get_one(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<i64>, PathRejection>,
) -> Response {
    let id = path_id(id);
    let call = Call {
        op: FakeOp::Get,
        method: "GET",
        path: uri.path().to_owned(),
        headers: &headers,
        needs_auth: true,
        ids: None,
        audience_group_id: id.as_ref().ok().copied(),
        form_fields: None,
    };
    run(&shared, call, move |st, _| {
        let id = match id {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        match st.audiences.get(&id) {
            Some(a) => Reply::ok(200, State::detail_json(a)),
            None => Reply::not_found_audience(),
        }
    })
    .await
}

async fn delete_one(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<i64>, PathRejection>,
) -> Response {
    let id = path_id(id);
    let call = Call {
        op: FakeOp::Delete,
        method: "DELETE",
        path: uri.path().to_owned(),
        headers: &headers,
        needs_auth: true,
        ids: None,
        audience_group_id: id.as_ref().ok().copied(),
        form_fields: None,
    };
    run(&shared, call, move |st, _| {
        let id = match id {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        match st.audiences.remove(&id) {
            Some(_) => Reply::ok(200, json!({})),
            None => Reply::not_found_audience(),
        }
    })
    .await
}

#[derive(Deserialize)]
struct RenameReq {
    description: Option<String>,
}

async fn rename(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<i64>, PathRejection>,
    body: Bytes,
) -> Response {
    let id = path_id(id);
    let parsed = json_body::<RenameReq>(&headers, &body);
    let call = Call {
        op: FakeOp::Rename,
        method: "PUT",
        path: uri.path().to_owned(),
        headers: &headers,
        needs_auth: true,
        ids: None,
        audience_group_id: id.as_ref().ok().copied(),
        form_fields: None,
    };
    run(&shared, call, move |st, _| {
        let result = (|| {
            let id = id?;
            let req = parsed?;
            let description = check_description(req.description.as_deref())?;
            let a = st
                .audiences
                .get_mut(&id)
                .ok_or_else(Reply::not_found_audience)?;
            a.description = description;
            Ok(())
        })();
        match result {
            Ok(()) => Reply::ok(200, json!({})),
            Err(reply) => reply,
        }
    })
    .await
}

async fn list(
    AxState(shared): AxState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let call = Call {
        op: FakeOp::List,
        method: "GET",
        path: uri.path().to_owned(),
        headers: &headers,
        needs_auth: true,
        ids: None,
        audience_group_id: None,
        form_fields: None,
    };
    run(&shared, call, move |st, _| {
        let result = (|| {
            let Query(q) = query.map_err(|_| Reply::bad_request("malformed query", None))?;
            let page: usize = q
                .get("page")
                .ok_or_else(|| Reply::bad_request("must be specified", Some("page")))?
                .parse()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| Reply::bad_request("must be 1 or higher", Some("page")))?;
            let size: usize = match q.get("size") {
                None => 20,
                Some(s) => s
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_PAGE_SIZE as usize).contains(s))
                    .ok_or_else(|| Reply::bad_request("must be between 1 and 40", Some("size")))?,
            };
            if let Some(v) = q.get("includesExternalPublicGroups") {
                if v != "true" && v != "false" {
                    return Err(Reply::bad_request(
                        "must be true or false",
                        Some("includesExternalPublicGroups"),
                    ));
                }
            }
            Ok(st.list_json(
                q.get("description").map(String::as_str),
                q.get("status").map(String::as_str),
                q.get("createRoute").map(String::as_str),
                page,
                size,
            ))
        })();
        match result {
            Ok(body) => Reply::ok(200, body),
            Err(reply) => reply,
        }
    })
    .await
}
