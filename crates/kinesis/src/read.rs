//! Reading a whole stream back (ListShards + GetShardIterator(TRIM_HORIZON) + GetRecords), for
//! tests and the local end-to-end run. Not a consumer: no checkpoints, no resharding order.

use std::time::Duration;

use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;

/// One record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// The shard it was on.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: String,
    /// Its partition key.
    pub partition_key: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// When Kinesis received it, in seconds since the Unix epoch (fractional), if given.
    pub approximate_arrival_epoch_secs: Option<f64>,
}

/// A read that failed: which call, on which stream or shard, and why.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on {target}: {message}")]
pub struct ReadError {
    /// The Kinesis operation.
    pub operation: &'static str,
    /// The stream or shard.
    pub target: String,
    /// The SDK's error, with its causes.
    pub message: String,
}

/// Most empty GetRecords answers in a row on a shard that is still behind before giving up.
const MAX_EMPTY_READS: u32 = 50;

/// Reads every record of `stream` (a name, or an ARN starting with `arn:`) from the trim
/// horizon to the tip, shard by shard (shards in ListShards order, records in sequence order
/// within a shard).
pub async fn read_all(client: &Client, stream: &str) -> Result<Vec<ReadRecord>, ReadError> {
    let mut out = Vec::new();
    for shard in list_shards(client, stream).await? {
        read_shard(client, stream, &shard, &mut out).await?;
    }
    Ok(out)
}

async fn list_shards(client: &Client, stream: &str) -> Result<Vec<String>, ReadError> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = client.list_shards();
        let req = match &token {
            Some(t) => req.next_token(t),
            None if stream.starts_with("arn:") => req.stream_arn(stream),
            None => req.stream_name(stream),
        };
        let out = req.send().await.map_err(|e| ReadError {
            operation: "ListShards",
            target: stream.to_owned(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
        shards.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(shards),
        }
    }
}

async fn read_shard(
    client: &Client,
    stream: &str,
    shard: &str,
    out: &mut Vec<ReadRecord>,
) -> Result<(), ReadError> {
    let target = format!("stream {stream} shard {shard}");
    let req = client
        .get_shard_iterator()
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon);
    let req = if stream.starts_with("arn:") {
        req.stream_arn(stream)
    } else {
        req.stream_name(stream)
    };
    let mut iterator = req
        .send()
        .await
        .map_err(|e| ReadError {
            operation: "GetShardIterator",
            target: target.clone(),
            message: DisplayErrorContext(&e).to_string(),
        })?
        .shard_iterator()
        .map(str::to_owned);
    let mut empty_reads = 0;
    while let Some(it) = iterator.take() {
        let req = client.get_records().shard_iterator(&it).limit(10_000);
        // With an ARN, name the stream on GetRecords too (AWS's advice for ARN-based access).
        let req = if stream.starts_with("arn:") {
            req.stream_arn(stream)
        } else {
            req
        };
        let page = req.send().await.map_err(|e| ReadError {
            operation: "GetRecords",
            target: target.clone(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
        for r in page.records() {
            out.push(ReadRecord {
                shard_id: shard.to_owned(),
                sequence_number: r.sequence_number().to_owned(),
                partition_key: r.partition_key().unwrap_or_default().to_owned(),
                data: r.data().as_ref().to_vec(),
                approximate_arrival_epoch_secs: r
                    .approximate_arrival_timestamp()
                    .map(|t| t.as_secs_f64()),
            });
        }
        if page.records().is_empty() {
            // At the tip (or a real shard still catching up: try a few more times, slowly).
            if page.millis_behind_latest().unwrap_or(0) == 0 || empty_reads >= MAX_EMPTY_READS {
                return Ok(());
            }
            empty_reads += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            empty_reads = 0;
        }
        iterator = page.next_shard_iterator().map(str::to_owned);
    }
    Ok(())
}
