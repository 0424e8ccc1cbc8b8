//! Puts an import file at `s3://BUCKET/PREFIX/SEGMENT/VERSION.csv`: one PutObject for small
//! files, a multipart upload (aborted on failure) above a configurable threshold.

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::error::{Error, Result};

/// S3's smallest part size (all parts but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// How [`S3Uploader`] talks to S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Options {
    /// Path-style addressing (`http://host/bucket/key`); needed by moto and most emulators.
    pub force_path_style: bool,
    /// Files larger than this many bytes go up as a multipart upload.
    pub multipart_threshold: usize,
    /// Part size of a multipart upload; raised to [`MIN_PART_SIZE`] when smaller.
    pub part_size: usize,
}

impl Default for S3Options {
    fn default() -> Self {
        Self {
            force_path_style: false,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
        }
    }
}

/// Uploads import files to S3.
#[derive(Debug, Clone)]
pub struct S3Uploader {
    client: aws_sdk_s3::Client,
    options: S3Options,
}

/// The object key of an import file: `PREFIX/SEGMENT/VERSION.csv` (no prefix: `SEGMENT/VERSION.csv`).
pub fn import_object_key(prefix: &str, segment: &str, version: &str) -> Result<String> {
    for (part, value) in [("segment", segment), ("version", version)] {
        if value.is_empty() {
            return Err(invalid_key(part, value, "empty"));
        }
        if value.contains('/') || value.chars().any(char::is_control) {
            return Err(invalid_key(
                part,
                value,
                "contains '/' or a control character",
            ));
        }
    }
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        format!("{segment}/{version}.csv")
    } else {
        format!("{prefix}/{segment}/{version}.csv")
    })
}

fn invalid_key(part: &'static str, value: &str, reason: &'static str) -> Error {
    Error::InvalidKey {
        part,
        value: value.to_owned(),
        reason,
    }
}

impl S3Uploader {
    /// A client from shared SDK config (region, credentials, `AWS_ENDPOINT_URL[_S3]`).
    pub fn new(sdk_config: &aws_config::SdkConfig, options: S3Options) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk_config)
            .force_path_style(options.force_path_style)
            .build();
        Self::from_client(aws_sdk_s3::Client::from_conf(conf), options)
    }

    /// Wraps a ready client (`options.force_path_style` is then the client's business).
    pub fn from_client(client: aws_sdk_s3::Client, mut options: S3Options) -> Self {
        options.part_size = options.part_size.max(MIN_PART_SIZE);
        Self { client, options }
    }

    /// The underlying S3 client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Puts `body` at `s3://bucket/PREFIX/SEGMENT/VERSION.csv` and returns that URL.
    pub async fn put_import_file(
        &self,
        bucket: &str,
        prefix: &str,
        segment: &str,
        version: &str,
        body: Vec<u8>,
    ) -> Result<String> {
        let key = import_object_key(prefix, segment, version)?;
        self.put_object(bucket, &key, body).await
    }

    /// Puts `body` at `s3://bucket/key` (multipart above the threshold) and returns that URL.
    pub async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<String> {
        if bucket.is_empty() {
            return Err(invalid_key("bucket", bucket, "empty"));
        }
        let size = body.len();
        if size > self.options.multipart_threshold {
            self.put_multipart(bucket, key, body).await?;
        } else {
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("text/csv; charset=utf-8")
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| s3_error("PutObject", bucket, key, e))?;
        }
        tracing::info!(bucket, key, size, "import file uploaded");
        Ok(format!("s3://{bucket}/{key}"))
    }

    async fn put_multipart(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", bucket, key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        if upload_id.is_empty() {
            return Err(Error::S3 {
                operation: "CreateMultipartUpload",
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                message: "answer has no UploadId".into(),
            });
        }
        let result = self.upload_parts(bucket, key, &upload_id, &body).await;
        if result.is_err() {
            // Best effort: an abandoned upload costs storage until a lifecycle rule removes it.
            if let Err(e) = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                tracing::warn!(bucket, key, upload_id, error = %DisplayErrorContext(&e), "abort of failed multipart upload failed");
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        body: &[u8],
    ) -> Result<()> {
        let mut parts = Vec::new();
        for (index, chunk) in body.chunks(self.options.part_size).enumerate() {
            let part_number = i32::try_from(index + 1).map_err(|_| Error::S3 {
                operation: "UploadPart",
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                message: "too many parts".into(),
            })?;
            let out = self
                .client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| s3_error("UploadPart", bucket, key, e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_error("CompleteMultipartUpload", bucket, key, e))?;
        Ok(())
    }
}

fn s3_error<E>(operation: &'static str, bucket: &str, key: &str, err: E) -> Error
where
    E: std::error::Error,
{
    Error::S3 {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: DisplayErrorContext(&err).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            import_object_key("imports/", "vip", "v7").unwrap(),
            "imports/vip/v7.csv"
        );
        assert_eq!(import_object_key("", "vip", "v7").unwrap(), "vip/v7.csv");
        assert!(import_object_key("p", "a/b", "v").is_err());
        assert!(import_object_key("p", "a", "").is_err());
    }
}
