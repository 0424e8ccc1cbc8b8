//! Reading replay input files and detecting their format: Lambda Kinesis events, JSON Lines
//! of raw Pinpoint events, or JSON Lines of user-attribute rows (the export shape of the original LINE-audience article: `{"id": …, "pref": …}`).
//!
//! Files are streamed (`RecordReader`): a replay of any size holds one line, or one Kinesis
//! event file, at a time. A file that cannot be read at all is an error naming the file. A bad
//! record or line inside a readable file is not: it becomes a record that decoding sets aside,
//! named by file and line (or shard and sequence number).

use anyhow::{bail, Context, Result};
use audience_core::formats::attributes::{row_event, IdKind as CoreIdKind};
use audience_core::{Millis, Payload, RawRecord, RecordId};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A Lambda Kinesis event: {"Records":[{"kinesis":{"data":"<Base64>",...},...}]}.
    Kinesis,
    /// JSON Lines, one raw Pinpoint event per line.
    Events,
    /// JSON Lines of user-attribute rows: {"id":"123","pref":"兵庫県"}.
    Attributes,
}

/// Whose ID an attribute file's ID column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IdKind {
    /// An app user ID (`User.UserId`).
    #[default]
    User,
    /// A LINE user ID (`U` + 32 hex): the row's user is keyed by it and it is their LINE ID,
    /// so rows like `{"id": "U…", "pref": "兵庫県"}` build LINE audiences.
    Line,
}

/// How the columns of an attribute file are read (`replay` flags).
#[derive(Debug, Clone, clap::Args)]
pub struct ColumnArgs {
    /// Attribute files: the column naming the user.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_column: String,
    /// Attribute files: what the ID column holds — `user` (an app user ID) or `line` (a LINE
    /// user ID, which becomes both the user key and the user's LINE ID).
    #[arg(long, value_enum, default_value_t = IdKind::User)]
    pub id_kind: IdKind,
    /// Attribute files: a column holding the user's LINE user ID (default: the rules'
    /// `settings.line_user_id_attribute`, `lineUserId`).
    #[arg(long, value_name = "NAME")]
    pub line_user_id_column: Option<String>,
    /// Attribute files: the column holding a Pinpoint endpoint ID to link to the user.
    #[arg(long, value_name = "NAME", default_value = "endpointId")]
    pub endpoint_id_column: String,
}

impl Default for ColumnArgs {
    fn default() -> Self {
        ColumnArgs {
            id_column: "id".into(),
            id_kind: IdKind::User,
            line_user_id_column: None,
            endpoint_id_column: "endpointId".into(),
        }
    }
}

impl ColumnArgs {
    /// The mapping, with the rules' LINE user ID attribute (`line_attr`).
    pub fn mapping(&self, line_attr: &str) -> RowMapping {
        RowMapping {
            id_column: self.id_column.clone(),
            id_kind: match self.id_kind {
                IdKind::User => CoreIdKind::User,
                IdKind::Line => CoreIdKind::Line,
            },
            line_user_id_column: self
                .line_user_id_column
                .clone()
                .unwrap_or_else(|| line_attr.to_string()),
            endpoint_id_column: self.endpoint_id_column.clone(),
            line_attr: line_attr.to_string(),
        }
    }
}

pub use audience_core::formats::attributes::RowMapping;

/// A record of an input file.
pub enum InputRecord {
    /// A record ready to decode.
    Raw(RawRecord),
    /// A user-attribute row (line number, parsed row or the raw line if it is not JSON).
    Row(RecordId, Result<Map<String, Value>, String>),
}

/// One input file as read: its path, format and number of records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    /// The path given.
    pub path: String,
    /// Detected (or forced) format.
    pub format: Format,
    /// Records (lines) in it.
    pub records: u64,
}

/// The file being read.
enum Cursor {
    /// JSON Lines (events or attribute rows), read a line at a time.
    Lines {
        name: String,
        format: Format,
        lines: std::io::Split<BufReader<File>>,
        line_no: u64,
    },
    /// A Lambda Kinesis event (one JSON document), parsed whole.
    Records(std::vec::IntoIter<InputRecord>),
}

/// Streams the records of several files in order, one file open at a time: memory stays
/// bounded by one line (JSON Lines) or one Kinesis event file (≤ 6 MB as Lambda sends them).
/// An unreadable file or undetectable format is an error naming the file; a bad line is a
/// record that decoding sets aside.
pub struct RecordReader {
    pending: std::collections::VecDeque<PathBuf>,
    forced: Option<Format>,
    id_column: String,
    current: Option<Cursor>,
    files: Vec<FileInfo>,
}

impl RecordReader {
    /// A reader over `paths`, detecting each file's format unless `forced` (a JSON Lines file
    /// whose first row has `id_column` is an attribute file).
    pub fn new(paths: Vec<PathBuf>, forced: Option<Format>, id_column: &str) -> RecordReader {
        RecordReader {
            pending: paths.into(),
            forced,
            id_column: id_column.to_string(),
            current: None,
            files: Vec::new(),
        }
    }

    /// The files opened so far, with their record counts.
    pub fn files(&self) -> &[FileInfo] {
        &self.files
    }

    fn open(&mut self, path: &Path) -> Result<Cursor> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let format = match self.forced {
            Some(f) => f,
            None => detect_file(path, &self.id_column)
                .with_context(|| format!("cannot tell the format of {}", path.display()))?,
        };
        self.files.push(FileInfo {
            path: path.display().to_string(),
            format,
            records: 0,
        });
        if format == Format::Kinesis {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read input file {}", path.display()))?;
            let records = kinesis_records(&bytes)
                .with_context(|| format!("{} is not a Lambda Kinesis event", path.display()))?;
            return Ok(Cursor::Records(records.into_iter()));
        }
        let file = File::open(path)
            .with_context(|| format!("cannot read input file {}", path.display()))?;
        Ok(Cursor::Lines {
            name,
            format,
            lines: BufReader::with_capacity(1 << 20, file).split(b'\n'),
            line_no: 0,
        })
    }
}

impl Iterator for RecordReader {
    type Item = Result<InputRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let record = match self.current.as_mut() {
                None => {
                    let path = self.pending.pop_front()?;
                    match self.open(&path) {
                        Ok(cursor) => self.current = Some(cursor),
                        Err(e) => return Some(Err(e)),
                    }
                    continue;
                }
                Some(Cursor::Records(it)) => it.next(),
                Some(Cursor::Lines {
                    name,
                    format,
                    lines,
                    line_no,
                }) => loop {
                    let Some(line) = lines.next() else {
                        break None;
                    };
                    *line_no += 1;
                    let mut line = match line {
                        Ok(l) => l,
                        Err(e) => {
                            return Some(Err(anyhow::Error::new(e)
                                .context(format!("cannot read {name} at line {line_no}"))))
                        }
                    };
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let id = RecordId::new(format!("file:{name}"), line_no.to_string());
                    break Some(line_record(*format, id, line));
                },
            };
            match record {
                Some(r) => {
                    if let Some(f) = self.files.last_mut() {
                        f.records += 1;
                    }
                    return Some(Ok(r));
                }
                None => self.current = None,
            }
        }
    }
}

/// A line as a record: raw bytes for events (the decoder names a line that is not UTF-8),
/// a parsed row for attribute files.
fn line_record(format: Format, id: RecordId, line: Vec<u8>) -> InputRecord {
    match format {
        Format::Attributes => {
            let row = match serde_json::from_slice::<Value>(&line) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(String::from_utf8_lossy(&line).into_owned()),
            };
            InputRecord::Row(id, row)
        }
        _ => InputRecord::Raw(RawRecord {
            id,
            payload: Payload::Json(line),
            arrival_ms: None,
        }),
    }
}

/// Detects a file's format from its beginning.
fn detect_file(path: &Path, id_column: &str) -> Result<Format> {
    let file =
        File::open(path).with_context(|| format!("cannot read input file {}", path.display()))?;
    let mut head = String::new();
    BufReader::new(file)
        .take(1 << 16)
        .read_to_string(&mut head)
        .or_else(|_| Ok::<usize, anyhow::Error>(0))?;
    detect(&head, id_column)
}

fn detect(text: &str, id_column: &str) -> Result<Format> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        bail!("the file is empty");
    }
    let compact: String = trimmed
        .chars()
        .take(64)
        .filter(|c| !c.is_whitespace())
        .collect();
    if compact.starts_with("{\"Records\"") {
        return Ok(Format::Kinesis);
    }
    let first = trimmed.lines().next().unwrap_or("");
    match serde_json::from_str::<Value>(first) {
        Ok(Value::Object(obj)) if obj.contains_key("event_type") => Ok(Format::Events),
        Ok(Value::Object(obj)) if obj.contains_key(id_column) => Ok(Format::Attributes),
        Ok(_) => bail!("the first line is JSON but neither a Pinpoint event (event_type) nor a user-attribute row ({id_column}); use --format or --id-column"),
        Err(_) => Ok(Format::Events),
    }
}

/// The Lambda Kinesis event, as much as replay reads of it (`data` kept as a string).
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "Records")]
    records: Vec<EnvelopeRecord>,
}

#[derive(serde::Deserialize)]
struct EnvelopeRecord {
    #[serde(default)]
    kinesis: Option<EnvelopeKinesis>,
    #[serde(rename = "eventID", default)]
    event_id: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeKinesis {
    #[serde(default)]
    sequence_number: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    approximate_arrival_timestamp: Option<f64>,
}

fn kinesis_records(bytes: &[u8]) -> Result<Vec<InputRecord>> {
    let doc: Envelope = serde_json::from_slice(bytes).context("no `Records` array of records")?;
    let mut out = Vec::with_capacity(doc.records.len());
    for (i, rec) in doc.records.into_iter().enumerate() {
        let kinesis = rec.kinesis.unwrap_or(EnvelopeKinesis {
            sequence_number: None,
            data: None,
            approximate_arrival_timestamp: None,
        });
        let shard = rec
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':').map(|(s, _)| s.to_string()))
            .unwrap_or_else(|| "shardId-unknown".to_string());
        let seq = kinesis
            .sequence_number
            .unwrap_or_else(|| format!("record-{i}"));
        out.push(InputRecord::Raw(RawRecord {
            id: RecordId::new(shard, seq),
            payload: Payload::Base64(kinesis.data.unwrap_or_default()),
            arrival_ms: kinesis
                .approximate_arrival_timestamp
                .filter(|s| s.is_finite())
                .map(|s| (s * 1000.0).round() as Millis),
        }));
    }
    Ok(out)
}

/// Turns a user-attribute row into an `_import.attributes` event at time `at`
/// ([`audience_core::formats::attributes::row_event`]); a line that is not a JSON object stays
/// as it was, for decoding to set aside with its file and line.
pub fn row_to_record(
    id: RecordId,
    row: Result<Map<String, Value>, String>,
    at: Millis,
    mapping: &RowMapping,
) -> RawRecord {
    let payload = match row {
        Err(line) => Payload::Json(line.into_bytes()),
        Ok(row) => Payload::Json(row_event(row, at, mapping)),
    };
    RawRecord {
        id,
        payload,
        arrival_ms: None,
    }
}
