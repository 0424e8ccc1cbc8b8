//! Optional: the fake reads the imported S3 object (e.g. from moto) to count its data rows, as
//! Pinpoint's `TotalProcessed` would; an unreadable object fails the job like Pinpoint does.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;

/// Reads import files from one S3 endpoint (path-style, dummy credentials).
#[derive(Debug, Clone)]
pub(crate) struct RowCounter {
    client: aws_sdk_s3::Client,
}

impl RowCounter {
    pub fn new(endpoint: &str) -> Self {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(
                "fake",
                "fake",
                None,
                None,
                "fake-pinpoint",
            ))
            .force_path_style(true)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(conf),
        }
    }

    /// Data rows (header excluded) of the CSV at `s3_url`, or the failure to report.
    pub async fn count_rows(&self, s3_url: &str) -> Result<u64, String> {
        let (bucket, key) = s3_url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| format!("{s3_url}: not s3://bucket/key"))?;
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("{s3_url}: {}", DisplayErrorContext(&e)))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| format!("{s3_url}: reading body: {e}"))?
            .into_bytes();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(bytes.as_ref());
        let headers = reader
            .headers()
            .map_err(|e| format!("{s3_url}: header: {e}"))?
            .clone();
        if !headers.iter().any(|h| h == "ChannelType") || !headers.iter().any(|h| h == "Address") {
            return Err(format!("{s3_url}: header lacks ChannelType or Address"));
        }
        let mut rows = 0;
        for (line, record) in reader.records().enumerate() {
            record.map_err(|e| format!("{s3_url}: row {}: {e}", line + 1))?;
            rows += 1;
        }
        Ok(rows)
    }
}
