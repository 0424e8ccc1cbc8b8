//! The Pinpoint import CSV: one endpoint per line, header `ChannelType,Address,Id,User.UserId`
//! then one `User.UserAttributes.<name>` column per attribute (repeated for multi-valued ones).
//!
//! Pinpoint forbids tabs and line breaks anywhere in the file, so they are replaced with a
//! space (and counted); values with commas or quotes are quoted by the csv crate. Attribute
//! values longer than Pinpoint's 100 characters are cut (and counted).

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Longest attribute name Pinpoint accepts.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 50;
/// Longest attribute value Pinpoint accepts.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 100;

/// The fixed leading columns of every import file.
pub const FIXED_COLUMNS: [&str; 4] = ["ChannelType", "Address", "Id", "User.UserId"];

/// One endpoint to import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportRow {
    /// `EMAIL`, `SMS`, `APNS`, `GCM`, ... (written as given).
    pub channel_type: String,
    /// The endpoint address; a row without one (or with a blank one) is skipped.
    pub address: Option<String>,
    /// The Pinpoint endpoint ID; needed to update an existing endpoint.
    pub endpoint_id: Option<String>,
    /// `User.UserId`.
    pub user_id: String,
    /// User attributes by name; only names listed in `attribute_columns` are written.
    pub attributes: Vec<(String, Vec<String>)>,
}

/// What [`write_import_csv`] wrote and what it had to change or leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsvStats {
    /// Endpoint lines written (the header not counted).
    pub written: usize,
    /// Rows left out because they had no address.
    pub skipped_no_address: usize,
    /// Values in which tabs or line breaks were replaced with spaces.
    pub sanitized_values: usize,
    /// Attribute values cut to [`MAX_ATTRIBUTE_VALUE_CHARS`].
    pub truncated_values: usize,
}

/// Writes `rows` as a Pinpoint import CSV (UTF-8, `\n` line ends, no BOM).
///
/// Each name in `attribute_columns` becomes `User.UserAttributes.<name>`, repeated as many times
/// as the most values any written row has for it (at least once).
pub fn write_import_csv(
    rows: &[ImportRow],
    attribute_columns: &[String],
) -> Result<(Vec<u8>, CsvStats)> {
    for name in attribute_columns {
        validate_column(name)?;
    }
    let mut stats = CsvStats::default();
    let written: Vec<(usize, &ImportRow)> = rows
        .iter()
        .enumerate()
        .filter(|(_, row)| has_address(row))
        .collect();
    stats.skipped_no_address = rows.len() - written.len();

    let widths = column_widths(written.iter().map(|(_, r)| *r), attribute_columns);
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());

    let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    for (name, width) in attribute_columns.iter().zip(&widths) {
        header.extend(std::iter::repeat_n(
            format!("User.UserAttributes.{name}"),
            *width,
        ));
    }
    writer.write_record(&header).map_err(|source| Error::Csv {
        row: 0,
        user_id: String::from("(header)"),
        source,
    })?;

    for (index, row) in written {
        let record = row_record(row, attribute_columns, &widths, &mut stats);
        writer.write_record(&record).map_err(|source| Error::Csv {
            row: index,
            user_id: row.user_id.clone(),
            source,
        })?;
        stats.written += 1;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Csv {
        row: rows.len(),
        user_id: String::from("(flush)"),
        source: e.into_error().into(),
    })?;
    Ok((bytes, stats))
}

fn has_address(row: &ImportRow) -> bool {
    row.address.as_deref().is_some_and(|a| !a.trim().is_empty())
}

fn validate_column(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
        Some("longer than 50 characters")
    } else if name.chars().any(char::is_control) {
        Some("contains a tab, line break or other control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidColumn {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// How many columns each attribute needs: the most values any row has, at least one.
fn column_widths<'a>(
    rows: impl Iterator<Item = &'a ImportRow>,
    attribute_columns: &[String],
) -> Vec<usize> {
    let index: HashMap<&str, usize> = attribute_columns
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut widths = vec![1; attribute_columns.len()];
    for row in rows {
        for (name, values) in &row.attributes {
            if let Some(&i) = index.get(name.as_str()) {
                widths[i] = widths[i].max(values.len());
            }
        }
    }
    widths
}

fn row_record(
    row: &ImportRow,
    attribute_columns: &[String],
    widths: &[usize],
    stats: &mut CsvStats,
) -> Vec<String> {
    let mut record = vec![
        clean(&row.channel_type, stats),
        clean(row.address.as_deref().unwrap_or_default().trim(), stats),
        clean(row.endpoint_id.as_deref().unwrap_or_default(), stats),
        clean(&row.user_id, stats),
    ];
    for (name, width) in attribute_columns.iter().zip(widths) {
        // A name given twice in one row: its values are concatenated.
        let values: Vec<&String> = row
            .attributes
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v)
            .collect();
        for slot in 0..*width {
            let value = values.get(slot).map(|v| v.as_str()).unwrap_or_default();
            let value = truncate(value, stats);
            record.push(clean(value, stats));
        }
    }
    record
}

/// Replaces tabs and line breaks (and other control characters) with a space.
fn clean(value: &str, stats: &mut CsvStats) -> String {
    if value.chars().any(char::is_control) {
        stats.sanitized_values += 1;
        value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    } else {
        value.to_owned()
    }
}

fn truncate<'a>(value: &'a str, stats: &mut CsvStats) -> &'a str {
    match value.char_indices().nth(MAX_ATTRIBUTE_VALUE_CHARS) {
        Some((cut, _)) => {
            stats.truncated_values += 1;
            &value[..cut]
        }
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: &str, address: Option<&str>, attrs: &[(&str, &[&str])]) -> ImportRow {
        ImportRow {
            channel_type: "EMAIL".into(),
            address: address.map(Into::into),
            endpoint_id: None,
            user_id: user.into(),
            attributes: attrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    fn text(rows: &[ImportRow], cols: &[&str]) -> (String, CsvStats) {
        let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
        let (bytes, stats) = write_import_csv(rows, &cols).unwrap();
        (String::from_utf8(bytes).unwrap(), stats)
    }

    #[test]
    fn header_repeats_multi_valued_attribute() {
        let rows = [
            row(
                "u1",
                Some("a@example.com"),
                &[("Interests", &["golf", "ski"])],
            ),
            row("u2", Some("b@example.com"), &[("Plan", &["gold"])]),
        ];
        let (csv, stats) = text(&rows, &["Interests", "Plan"]);
        assert_eq!(
            csv,
            "ChannelType,Address,Id,User.UserId,User.UserAttributes.Interests,User.UserAttributes.Interests,User.UserAttributes.Plan\n\
             EMAIL,a@example.com,,u1,golf,ski,\n\
             EMAIL,b@example.com,,u2,,,gold\n"
        );
        assert_eq!(stats.written, 2);
    }

    #[test]
    fn quotes_commas_and_quotes_and_keeps_japanese() {
        let rows = [row(
            "u1",
            Some("a@example.com"),
            &[("Name", &["Doe, \"J\" 山田"])],
        )];
        let (csv, _) = text(&rows, &["Name"]);
        assert!(csv.ends_with(",u1,\"Doe, \"\"J\"\" 山田\"\n"), "{csv}");
    }

    #[test]
    fn skips_rows_without_address_and_replaces_line_breaks() {
        let rows = [
            row("u1", None, &[]),
            row("u2", Some("  "), &[]),
            row("u3", Some("c@example.com"), &[("Note", &["a\tb\r\nc"])]),
        ];
        let (csv, stats) = text(&rows, &["Note"]);
        assert_eq!(stats.skipped_no_address, 2);
        assert_eq!(stats.written, 1);
        assert_eq!(stats.sanitized_values, 1);
        assert!(csv.ends_with("EMAIL,c@example.com,,u3,a b  c\n"), "{csv}");
        assert!(!csv.contains('\t'));
    }

    #[test]
    fn truncates_long_values_and_rejects_bad_columns() {
        let long = "あ".repeat(120);
        let rows = [row(
            "u1",
            Some("x@example.com"),
            &[("Bio", &[long.as_str()])],
        )];
        let (csv, stats) = text(&rows, &["Bio"]);
        assert_eq!(stats.truncated_values, 1);
        assert!(csv.contains(&"あ".repeat(100)) && !csv.contains(&"あ".repeat(101)));

        let too_long = "n".repeat(51);
        assert!(matches!(
            write_import_csv(&rows, &[too_long]),
            Err(Error::InvalidColumn { .. })
        ));
        assert!(write_import_csv(&rows, &["a\tb".to_string()]).is_err());
    }
}
