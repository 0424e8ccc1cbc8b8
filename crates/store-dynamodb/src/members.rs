//! Segment member reads: a Query of `M#<segment>` in key order, exits' tombstones filtered
//! out, eventually consistent for dashboards or strongly consistent (`ConsistentRead`, 2× the
//! read units) so a rotation or a full export sees every member committed before it.

use crate::keys::*;
use crate::DynamoStore;
use audience_store::StoreResult;

impl DynamoStore {
    /// Members of a segment in key order after `after`, at most `limit`.
    pub(crate) async fn members(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
        consistent: bool,
    ) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let pk = member_pk(segment);
        let items = self
            .query_items("Query (segment members)", Some(limit), || {
                let q = self
                    .client
                    .query()
                    .consistent_read(consistent)
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_names("#x", A_EXITED_FLAG)
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .filter_expression("attribute_not_exists(#x)")
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
