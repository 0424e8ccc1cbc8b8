//! Strongly consistent member reads: the same Query of `M#<segment>` as `list_members`, with
//! `ConsistentRead`, so a rotation or a full export sees every member committed before it.

use crate::keys::*;
use crate::DynamoStore;
use audience_store::StoreResult;

impl DynamoStore {
    /// Members of a segment in key order after `after`, at most `limit`, with
    /// `ConsistentRead` (the members partition is in the table, not the GSI, so it may be).
    pub(crate) async fn members_consistent(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let pk = member_pk(segment);
        let items = self
            .query_items("Query (segment members, consistent)", Some(limit), || {
                let q = self
                    .client
                    .query()
                    .consistent_read(true)
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .projection_expression("#sk");
                match after {
                    Some(a) => q
                        .key_condition_expression("#pk = :pk AND #sk > :after")
                        .expression_attribute_values(":after", s(a)),
                    None => q.key_condition_expression("#pk = :pk"),
                }
            })
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, SK).map(str::to_string))
            .collect())
    }
}
