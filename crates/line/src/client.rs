//! `LineClient`: typed calls to LINE's Manage Audience endpoints.
//!
//! One call is one HTTP request: the client validates limits before sending, attaches the
//! bearer token from its [`TokenProvider`], treats any 2xx as success (create/add answer 202)
//! and turns everything else into a classified [`LineError`]. It never retries and never
//! sends `X-Line-Retry-Key` (audience endpoints answer 400 to it); retry policy belongs to
//! the sync runner.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{ConfigError, LineConfig};
use crate::error::{ErrorBody, LineError};
use crate::limits::{
    check_audience_id, check_description, check_ids, check_upload_description, MAX_IDS_PER_FILE,
    MAX_IDS_PER_JSON, MAX_PAGE_SIZE,
};
use crate::model::{AudienceGroupDetail, AudienceGroupPage, CreatedAudience, ListAudiences};
use crate::token::{Clock, SystemClock, TokenProvider};

/// Path of JSON create (POST) and add (PUT).
pub const UPLOAD_PATH: &str = "/v2/bot/audienceGroup/upload";
/// Path of by-file create (POST) and add (PUT), on the data base URL.
pub const UPLOAD_BY_FILE_PATH: &str = "/v2/bot/audienceGroup/upload/byFile";
/// Path of the audience list.
pub const LIST_PATH: &str = "/v2/bot/audienceGroup/list";
/// Response header carrying LINE's request ID.
pub const REQUEST_ID_HEADER: &str = "x-line-request-id";

/// Client for LINE's audience endpoints. Cheap to clone (shares the HTTP pool and token cache).
#[derive(Debug, Clone)]
pub struct LineClient {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base: Url,
    data_base: Url,
    tokens: Arc<TokenProvider>,
}

#[derive(Serialize)]
struct AudienceId<'a> {
    id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody<'a> {
    description: &'a str,
    is_ifa_audience: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_description: Option<&'a str>,
    audiences: Vec<AudienceId<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddBody<'a> {
    audience_group_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_description: Option<&'a str>,
    audiences: Vec<AudienceId<'a>>,
}

#[derive(Serialize)]
struct RenameBody<'a> {
    description: &'a str,
}

/// What a successful request answered.
pub(crate) struct Answer {
    status: StatusCode,
    request_id: Option<String>,
    body: Vec<u8>,
}

impl LineClient {
    /// A client for `config` using the system clock. Fails if the config is invalid.
    pub fn new(config: LineConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client whose token cache reads `clock` (tests simulate near-expiry with it).
    pub fn with_clock(config: LineConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .user_agent(concat!("audience-stream/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Invalid {
                var: "http client".into(),
                reason: e.to_string(),
            })?;
        let tokens = Arc::new(TokenProvider::new(http.clone(), &config, clock));
        Ok(LineClient {
            http,
            api_base: config.api_base,
            data_base: config.data_base,
            tokens,
        })
    }

    /// The token provider (e.g. to count issued tokens or invalidate the cache).
    pub fn token_provider(&self) -> &TokenProvider {
        &self.tokens
    }

    /// Creates an upload audience by JSON (`POST /v2/bot/audienceGroup/upload`, ≤ 10,000 IDs,
    /// may be empty). `description` is required, ≤ 120 characters. No idempotency: after an
    /// error with [`LineError::outcome_unknown`], look the audience up by description.
    pub async fn create_upload_audience(
        &self,
        description: &str,
        is_ifa: bool,
        upload_description: Option<&str>,
        audiences: &[String],
    ) -> Result<CreatedAudience, LineError> {
        const OP: &str = "create_upload_audience";
        check_description(OP, description)?;
        check_upload_description(OP, upload_description)?;
        check_ids(OP, audiences, MAX_IDS_PER_JSON, true)?;
        let body = CreateBody {
            description,
            is_ifa_audience: is_ifa,
            upload_description,
            audiences: ids_json(audiences),
        };
        let req = self
            .http
            .post(endpoint(&self.api_base, UPLOAD_PATH))
            .json(&body);
        let answer = self.send(OP, req).await?;
        decode(OP, answer)
    }

    /// Adds IDs to an upload audience by JSON (`PUT /v2/bot/audienceGroup/upload`,
    /// 1..=10,000 IDs). LINE answers 202 and processes the job asynchronously.
    pub async fn add_to_upload_audience(
        &self,
        audience_group_id: i64,
        audiences: &[String],
        upload_description: Option<&str>,
    ) -> Result<(), LineError> {
        const OP: &str = "add_to_upload_audience";
        check_audience_id(OP, audience_group_id)?;
        check_upload_description(OP, upload_description)?;
        check_ids(OP, audiences, MAX_IDS_PER_JSON, false)?;
        let body = AddBody {
            audience_group_id,
            upload_description,
            audiences: ids_json(audiences),
        };
        let req = self
            .http
            .put(endpoint(&self.api_base, UPLOAD_PATH))
            .json(&body);
        self.send(OP, req).await.map(|_| ())
    }

    /// Creates an upload audience from a file (`POST .../upload/byFile` on the data base URL,
    /// multipart, `file` part `text/plain` with one ID per line, 1..=1,500,000 IDs).
    pub async fn create_upload_audience_by_file(
        &self,
        description: &str,
        is_ifa: bool,
        upload_description: Option<&str>,
        audiences: &[String],
    ) -> Result<CreatedAudience, LineError> {
        const OP: &str = "create_upload_audience_by_file";
        check_description(OP, description)?;
        check_upload_description(OP, upload_description)?;
        check_ids(OP, audiences, MAX_IDS_PER_FILE, false)?;
        let mut form = Form::new()
            .text("description", description.to_owned())
            .text("isIfaAudience", if is_ifa { "true" } else { "false" });
        if let Some(d) = upload_description {
            form = form.text("uploadDescription", d.to_owned());
        }
        let form = form.part("file", file_part(OP, audiences)?);
        let req = self
            .http
            .post(endpoint(&self.data_base, UPLOAD_BY_FILE_PATH))
            .multipart(form);
        let answer = self.send(OP, req).await?;
        decode(OP, answer)
    }

    /// Adds IDs to an upload audience from a file (`PUT .../upload/byFile` on the data base
    /// URL, multipart, 1..=1,500,000 IDs).
    pub async fn add_to_upload_audience_by_file(
        &self,
        audience_group_id: i64,
        audiences: &[String],
        upload_description: Option<&str>,
    ) -> Result<(), LineError> {
        const OP: &str = "add_to_upload_audience_by_file";
        check_audience_id(OP, audience_group_id)?;
        check_upload_description(OP, upload_description)?;
        check_ids(OP, audiences, MAX_IDS_PER_FILE, false)?;
        let mut form = Form::new().text("audienceGroupId", audience_group_id.to_string());
        if let Some(d) = upload_description {
            form = form.text("uploadDescription", d.to_owned());
        }
        let form = form.part("file", file_part(OP, audiences)?);
        let req = self
            .http
            .put(endpoint(&self.data_base, UPLOAD_BY_FILE_PATH))
            .multipart(form);
        self.send(OP, req).await.map(|_| ())
    }

    /// Gets an audience and its jobs (`GET /v2/bot/audienceGroup/{id}`). A missing audience
    /// is a 400 `Api` error with code `AUDIENCE_GROUP_NOT_FOUND`.
    pub async fn get_audience(
        &self,
        audience_group_id: i64,
    ) -> Result<AudienceGroupDetail, LineError> {
        const OP: &str = "get_audience";
        check_audience_id(OP, audience_group_id)?;
        let req = self
            .http
            .get(audience_url(&self.api_base, audience_group_id));
        let answer = self.send(OP, req).await?;
        decode(OP, answer)
    }

    /// Lists audiences (`GET /v2/bot/audienceGroup/list`), one page.
    pub async fn list_audiences(
        &self,
        query: &ListAudiences,
    ) -> Result<AudienceGroupPage, LineError> {
        const OP: &str = "list_audiences";
        if query.page == 0 {
            return Err(LineError::Invalid {
                op: OP,
                reason: "page must be 1 or higher".into(),
            });
        }
        if query.size == 0 || query.size > MAX_PAGE_SIZE {
            return Err(LineError::Invalid {
                op: OP,
                reason: format!("size {} is outside 1..={MAX_PAGE_SIZE}", query.size),
            });
        }
        let mut params: Vec<(&str, String)> = vec![
            ("page", query.page.to_string()),
            ("size", query.size.to_string()),
            (
                "includesExternalPublicGroups",
                query.includes_external_public_groups.to_string(),
            ),
        ];
        if let Some(d) = &query.description {
            params.push(("description", d.clone()));
        }
        if let Some(s) = &query.status {
            params.push(("status", s.as_str().to_owned()));
        }
        if let Some(r) = &query.create_route {
            params.push(("createRoute", r.clone()));
        }
        let req = self
            .http
            .get(endpoint(&self.api_base, LIST_PATH))
            .query(&params);
        let answer = self.send(OP, req).await?;
        decode(OP, answer)
    }

    /// Renames an audience (`PUT /v2/bot/audienceGroup/{id}/updateDescription`).
    pub async fn rename_audience(
        &self,
        audience_group_id: i64,
        description: &str,
    ) -> Result<(), LineError> {
        const OP: &str = "rename_audience";
        check_audience_id(OP, audience_group_id)?;
        check_description(OP, description)?;
        let mut url = audience_url(&self.api_base, audience_group_id);
        url.set_path(&format!("{}/updateDescription", url.path()));
        let req = self.http.put(url).json(&RenameBody { description });
        self.send(OP, req).await.map(|_| ())
    }

    /// Deletes an audience (`DELETE /v2/bot/audienceGroup/{id}`).
    pub async fn delete_audience(&self, audience_group_id: i64) -> Result<(), LineError> {
        const OP: &str = "delete_audience";
        check_audience_id(OP, audience_group_id)?;
        let req = self.http.request(
            Method::DELETE,
            audience_url(&self.api_base, audience_group_id),
        );
        self.send(OP, req).await.map(|_| ())
    }

    pub(crate) async fn send(
        &self,
        op: &'static str,
        req: RequestBuilder,
    ) -> Result<Answer, LineError> {
        let token = self.tokens.token().await?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                LineError::Invalid {
                    op,
                    reason: "channel access token is not a valid header value".into(),
                }
            })?;
        auth.set_sensitive(true);
        let response = req
            .header(AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| transport_error(op, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = header_str(&headers, REQUEST_ID_HEADER);
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(op, e))?
            .to_vec();
        tracing::debug!(op, status = status.as_u16(), request_id = ?request_id, "LINE answered");
        if status.is_success() {
            return Ok(Answer {
                status,
                request_id,
                body,
            });
        }
        if status == StatusCode::UNAUTHORIZED && self.tokens.issues_tokens() {
            // The issued token may have been revoked; make the next attempt issue a new one.
            self.tokens.invalidate().await;
        }
        let (message, details) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(parsed) if !parsed.message.is_empty() || !parsed.details.is_empty() => {
                (parsed.message, parsed.details)
            }
            _ => (snippet(&body), Vec::new()),
        };
        Err(LineError::Api {
            op,
            status: status.as_u16(),
            message,
            details,
            request_id,
            retry_after: retry_after(&headers),
        })
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    op: &'static str,
    answer: Answer,
) -> Result<T, LineError> {
    serde_json::from_slice(&answer.body).map_err(|e| LineError::Decode {
        op,
        status: answer.status.as_u16(),
        reason: e.to_string(),
        request_id: answer.request_id,
    })
}

fn ids_json(ids: &[String]) -> Vec<AudienceId<'_>> {
    ids.iter().map(|id| AudienceId { id }).collect()
}

fn file_part(op: &'static str, ids: &[String]) -> Result<Part, LineError> {
    let mut text = String::with_capacity(ids.iter().map(|i| i.len() + 1).sum());
    for id in ids {
        text.push_str(id);
        text.push('\n');
    }
    Part::bytes(text.into_bytes())
        .file_name("audience.txt")
        .mime_str("text/plain")
        .map_err(|e| LineError::Invalid {
            op,
            reason: format!("cannot build the file part: {e}"),
        })
}

/// `base` + `path`, keeping any path prefix of `base`.
pub(crate) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

fn audience_url(base: &Url, id: i64) -> Url {
    endpoint(base, &format!("/v2/bot/audienceGroup/{id}"))
}

pub(crate) fn transport_error(op: &'static str, e: reqwest::Error) -> LineError {
    if e.is_timeout() {
        LineError::Timeout { op, source: e }
    } else {
        LineError::Transport { op, source: e }
    }
}

/// The first 300 characters of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "(empty body)".into();
    }
    trimmed.chars().take(300).collect()
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, RETRY_AFTER.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_base_prefix() {
        let base = Url::parse("http://127.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            endpoint(&base, LIST_PATH).as_str(),
            "http://127.0.0.1:8080/prefix/v2/bot/audienceGroup/list"
        );
        let base = Url::parse("https://api.line.me").unwrap();
        assert_eq!(
            audience_url(&base, 42).as_str(),
            "https://api.line.me/v2/bot/audienceGroup/42"
        );
    }
}
