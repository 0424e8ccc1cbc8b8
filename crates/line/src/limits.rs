//! LINE's documented request limits and the client-side checks that enforce them before
//! anything is sent (a request LINE would reject is a typed [`LineError::Invalid`]).

use crate::error::LineError;

/// Max user IDs / IFAs in one JSON create or add.
pub const MAX_IDS_PER_JSON: usize = 10_000;
/// Max user IDs / IFAs in one by-file create or add.
pub const MAX_IDS_PER_FILE: usize = 1_500_000;
/// Max characters of an audience name (`description`).
pub const MAX_DESCRIPTION_CHARS: usize = 120;
/// Max characters of a job's `uploadDescription`.
pub const MAX_UPLOAD_DESCRIPTION_CHARS: usize = 300;
/// Max page size of the audience list.
pub const MAX_PAGE_SIZE: u32 = 40;
/// The fewest final recipients of a narrowcast with an audience condition (a send-time rule,
/// errorCode 4). Upload audiences have no minimum size and may be empty.
pub const MIN_NARROWCAST_RECIPIENTS: usize = 50;

/// Checks an audience name: required, 1..=120 characters (not bytes).
pub fn check_description(op: &'static str, description: &str) -> Result<(), LineError> {
    let chars = description.chars().count();
    if description.trim().is_empty() {
        return Err(invalid(
            op,
            "description (audience name) is required".into(),
        ));
    }
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            op,
            format!(
                "description has {chars} characters; LINE allows at most {MAX_DESCRIPTION_CHARS}"
            ),
        ));
    }
    Ok(())
}

/// Checks an optional job description: at most 300 characters.
pub fn check_upload_description(
    op: &'static str,
    upload_description: Option<&str>,
) -> Result<(), LineError> {
    if let Some(d) = upload_description {
        let chars = d.chars().count();
        if chars > MAX_UPLOAD_DESCRIPTION_CHARS {
            return Err(invalid(
                op,
                format!(
                    "uploadDescription has {chars} characters; LINE allows at most {MAX_UPLOAD_DESCRIPTION_CHARS}"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a batch of IDs: count within `max` (and non-zero unless `allow_empty`), every ID
/// non-empty and free of whitespace/control characters (a newline would split a file line).
pub fn check_ids(
    op: &'static str,
    ids: &[String],
    max: usize,
    allow_empty: bool,
) -> Result<(), LineError> {
    if ids.len() > max {
        return Err(invalid(
            op,
            format!(
                "{} IDs in one request; LINE allows at most {max}",
                ids.len()
            ),
        ));
    }
    if ids.is_empty() && !allow_empty {
        return Err(invalid(op, "no IDs to upload".into()));
    }
    if let Some((i, _)) = ids
        .iter()
        .enumerate()
        .find(|(_, id)| id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(invalid(
            op,
            format!("ID at index {i} is empty or contains whitespace/control characters"),
        ));
    }
    Ok(())
}

/// Checks an audience ID is positive.
pub fn check_audience_id(op: &'static str, id: i64) -> Result<(), LineError> {
    if id <= 0 {
        return Err(invalid(op, format!("audience ID {id} is not positive")));
    }
    Ok(())
}

fn invalid(op: &'static str, reason: String) -> LineError {
    LineError::Invalid { op, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_counts_characters_not_bytes() {
        let jp: String = "あ".repeat(120); // 360 bytes, 120 chars
        assert!(check_description("t", &jp).is_ok());
        assert!(check_description("t", &"あ".repeat(121)).is_err());
        assert!(check_description("t", "  ").is_err());
        assert!(check_upload_description("t", Some(&"x".repeat(300))).is_ok());
        assert!(check_upload_description("t", Some(&"x".repeat(301))).is_err());
    }

    #[test]
    fn ids_are_checked() {
        let ok = vec!["Uabc".to_string(); 3];
        assert!(check_ids("t", &ok, 3, false).is_ok());
        assert!(check_ids("t", &ok, 2, false).is_err());
        assert!(check_ids("t", &[], 2, false).is_err());
        assert!(check_ids("t", &[], 2, true).is_ok());
        assert!(check_ids("t", &["a\nb".to_string()], 2, false).is_err());
    }
}
