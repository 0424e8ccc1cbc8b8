//! Reading records back: a whole stream (ListShards + GetShardIterator(TRIM_HORIZON) +
//! GetRecords), for tests and the local end-to-end run, and one shard's inclusive range of
//! sequence numbers ([`RangeReader`]: GetShardIterator(AT_SEQUENCE_NUMBER) + GetRecords), for
//! recovering a batch the consumer gave up on. Not a consumer: no checkpoints, no resharding
//! order.

use std::time::Duration;

use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;

use audience_core::record::compare_seq;

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

/// An inclusive range of sequence numbers on one shard, as an on-failure destination message
/// names it (`KinesisBatchInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    /// The stream's name.
    pub stream: String,
    /// The shard.
    pub shard_id: String,
    /// The first sequence number of the range.
    pub start: String,
    /// The last sequence number of the range (included).
    pub end: String,
}

/// What a [`RangeReader`] could not find: records of the range that the shard no longer
/// holds (expired past the retention period) or never returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRange {
    /// The first missing sequence number, or the one after which records are missing.
    pub from: String,
    /// Whether `from` itself is missing (`false`: only what follows it).
    pub from_included: bool,
    /// The last sequence number of the range that is missing, or before which records are
    /// missing.
    pub to: String,
    /// Whether `to` itself is missing.
    pub to_included: bool,
}

impl std::fmt::Display for MissingRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = if self.from_included { '[' } else { '(' };
        let close = if self.to_included { ']' } else { ')' };
        write!(f, "{open}{}, {}{close}", self.from, self.to)
    }
}

/// Reads the records of a [`ShardRange`] page by page (one GetRecords call each, at most
/// 10,000 records), in sequence order, stopping after the range's last record, at the end of
/// a closed shard, or when the shard has no more records (at the tip, or after
/// [`MAX_EMPTY_RANGE_READS`] empty answers in a row). Sequence numbers are compared as big
/// integers ([`compare_seq`]).
///
/// Records that cannot be read are reported, not guessed at: after the last page,
/// [`RangeReader::missing`] names the part of the range that was not seen (the first record
/// must be the range's start, the last its end; Kinesis sequence numbers are not contiguous,
/// so nothing can be said about gaps in between).
pub struct RangeReader<'a> {
    client: &'a Client,
    range: ShardRange,
    target: String,
    iterator: Option<String>,
    started: bool,
    done: bool,
    first_seen: Option<String>,
    last_seen: Option<String>,
    reached_end: bool,
    empty_reads: u32,
    poll_wait: Duration,
}

/// Most empty GetRecords answers in a row, while the range's end has not been reached, before a
/// range read gives up (a shard may answer empty pages over stretches with no records).
pub const MAX_EMPTY_RANGE_READS: u32 = 10;

impl<'a> RangeReader<'a> {
    /// A reader of `range` through `client` (nothing is called until the first page).
    pub fn new(client: &'a Client, range: ShardRange) -> Self {
        let target = format!("stream {} shard {}", range.stream, range.shard_id);
        RangeReader {
            client,
            range,
            target,
            iterator: None,
            started: false,
            done: false,
            first_seen: None,
            last_seen: None,
            reached_end: false,
            empty_reads: 0,
            poll_wait: Duration::from_millis(200),
        }
    }

    /// Waits this long between empty answers (default 200 ms).
    pub fn with_poll_wait(mut self, wait: Duration) -> Self {
        self.poll_wait = wait;
        self
    }

    /// The next page of the range's records (possibly empty while the shard answers empty
    /// pages), or `None` when the read is over.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ReadRecord>>, ReadError> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            self.iterator = self.first_iterator().await?;
        }
        let Some(it) = self.iterator.take() else {
            // The shard is closed and every record was read.
            self.done = true;
            return Ok(None);
        };
        let page = self
            .client
            .get_records()
            .shard_iterator(&it)
            .limit(10_000)
            .send()
            .await
            .map_err(|e| ReadError {
                operation: "GetRecords",
                target: self.target.clone(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        let mut out = Vec::with_capacity(page.records().len());
        for r in page.records() {
            let seq = r.sequence_number();
            if compare_seq(seq, &self.range.end).is_gt() {
                self.done = true;
                break;
            }
            if compare_seq(seq, &self.range.start).is_lt() {
                continue; // never returned by AT_SEQUENCE_NUMBER; kept out of the range anyway
            }
            if self.first_seen.is_none() {
                self.first_seen = Some(seq.to_owned());
            }
            self.last_seen = Some(seq.to_owned());
            if compare_seq(seq, &self.range.end).is_eq() {
                self.reached_end = true;
                self.done = true;
            }
            out.push(ReadRecord {
                shard_id: self.range.shard_id.clone(),
                sequence_number: seq.to_owned(),
                partition_key: r.partition_key().unwrap_or_default().to_owned(),
                data: r.data().as_ref().to_vec(),
                approximate_arrival_epoch_secs: r
                    .approximate_arrival_timestamp()
                    .map(|t| t.as_secs_f64()),
            });
            if self.done {
                break;
            }
        }
        if self.done {
            return Ok(Some(out));
        }
        if page.records().is_empty() {
            let at_tip = page.millis_behind_latest().unwrap_or(0) == 0;
            self.empty_reads += 1;
            if at_tip || self.empty_reads >= MAX_EMPTY_RANGE_READS {
                self.done = true;
                return Ok(Some(out));
            }
            tokio::time::sleep(self.poll_wait).await;
        } else {
            self.empty_reads = 0;
        }
        self.iterator = page.next_shard_iterator().map(str::to_owned);
        Ok(Some(out))
    }

    async fn first_iterator(&self) -> Result<Option<String>, ReadError> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_name(&self.range.stream)
            .shard_id(&self.range.shard_id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(&self.range.start)
            .send()
            .await
            .map_err(|e| ReadError {
                operation: "GetShardIterator",
                target: format!("{} at sequence number {}", self.target, self.range.start),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    /// The parts of the range that were not read: its beginning when the first record read
    /// is not the range's start (expired, or the start is not a record of this shard), its
    /// end when the range's last record never came. Empty when the whole range was read.
    pub fn missing(&self) -> Vec<MissingRange> {
        let range = &self.range;
        let Some(first) = &self.first_seen else {
            return vec![MissingRange {
                from: range.start.clone(),
                from_included: true,
                to: range.end.clone(),
                to_included: true,
            }];
        };
        let mut missing = Vec::new();
        if compare_seq(first, &range.start).is_ne() {
            missing.push(MissingRange {
                from: range.start.clone(),
                from_included: true,
                to: first.clone(),
                to_included: false,
            });
        }
        if !self.reached_end {
            missing.push(MissingRange {
                from: self.last_seen.clone().unwrap_or_else(|| first.clone()),
                from_included: false,
                to: range.end.clone(),
                to_included: true,
            });
        }
        missing
    }
}
