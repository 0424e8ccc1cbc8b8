//! User-attribute export rows, one per user, like the export of the LINE-audience article:
//! `{"id","pref","plan","lineUserId"?,"endpointId"}`.

use crate::options::GenOptions;
use crate::users::build_users;
use serde_json::{json, Map, Value};

/// User-attribute export rows, one per user, like the LINE-audience article's
/// `{"id":"456","pref":"兵庫県"}`: `id`, `pref`, `plan`, `lineUserId` when the user has linked
/// LINE, and `endpointId` (the only place that ties an email/SMS-only endpoint to its user).
pub fn user_attribute_rows(opts: &GenOptions) -> Vec<Value> {
    build_users(opts)
        .into_iter()
        .map(|u| {
            let mut row = Map::new();
            row.insert("id".into(), json!(u.id));
            row.insert("pref".into(), json!(u.pref));
            row.insert("plan".into(), json!(u.plan));
            if let Some(line) = u.line_user_id {
                row.insert("lineUserId".into(), json!(line));
            }
            row.insert("endpointId".into(), json!(u.endpoint_id));
            Value::Object(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::opts;
    use std::collections::BTreeSet;

    #[test]
    fn users_have_the_requested_mix() {
        let rows = user_attribute_rows(&opts(0));
        assert_eq!(rows.len(), 240);
        assert_eq!(rows[0]["id"], "user-0001");
        assert_eq!(rows[239]["id"], "user-0240");
        let hyogo = rows.iter().filter(|r| r["pref"] == "兵庫県").count();
        assert_eq!(hyogo, 36);
        let line: Vec<&str> = rows
            .iter()
            .filter_map(|r| r["lineUserId"].as_str())
            .collect();
        assert_eq!(line.len(), 144);
        for id in line {
            assert!(id.len() == 33 && id.starts_with('U'));
            assert!(id[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
        let users = build_users(&opts(0));
        assert_eq!(users.iter().filter(|u| u.app).count(), 204);
        let ids: BTreeSet<&str> = users.iter().map(|u| u.endpoint_id.as_str()).collect();
        assert_eq!(ids.len(), 240, "endpoint IDs must be unique");
        let row_endpoints: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r["endpointId"].as_str())
            .collect();
        assert_eq!(row_endpoints, ids);
    }

    #[test]
    fn users_do_not_depend_on_the_event_count() {
        assert_eq!(
            user_attribute_rows(&opts(10)),
            user_attribute_rows(&opts(3000))
        );
        let mut other = opts(10);
        other.seed = 8;
        assert_ne!(user_attribute_rows(&opts(10)), user_attribute_rows(&other));
    }
}
