//! Segment-size snapshots for size alerts: `SZ#<day>` / `<instant>#<chunk>`, the JSON of a
//! segment → members map in `j` and the number of chunks in `n` (a snapshot of many segments
//! is split so no item nears 400 KB). Written by the sweep, read as "the newest snapshot at or
//! before an instant" with one descending Query per day looked at; expire by TTL.

use crate::keys::*;
use crate::ops::Item;
use crate::DynamoStore;
use audience_core::time::day_of;
use audience_core::Millis;
use audience_store::upkeep::SIZE_SNAPSHOT_RETENTION_MS;
use audience_store::{SizeSnapshot, StoreError, StoreResult};
use std::collections::BTreeMap;

/// Largest JSON text of one chunk (DynamoDB's item limit is 400 KB).
const CHUNK_BYTES: usize = 300_000;
/// Number of chunks of a snapshot.
const A_CHUNKS: &str = "n";

impl DynamoStore {
    pub(crate) async fn record_sizes_impl(&self, snapshot: &SizeSnapshot) -> StoreResult<()> {
        let mut chunks: Vec<BTreeMap<&str, i64>> = vec![BTreeMap::new()];
        let mut bytes = 0;
        for (segment, members) in &snapshot.sizes {
            let len = segment.len() + 24;
            if bytes + len > CHUNK_BYTES && chunks.last().is_some_and(|c| !c.is_empty()) {
                chunks.push(BTreeMap::new());
                bytes = 0;
            }
            bytes += len;
            if let Some(c) = chunks.last_mut() {
                c.insert(segment, *members);
            }
        }
        let ttl = u64::try_from(snapshot.at.saturating_add(SIZE_SNAPSHOT_RETENTION_MS) / 1000)
            .unwrap_or(0);
        let count = chunks.len();
        for (i, chunk) in chunks.iter().enumerate() {
            let text = serde_json::to_string(chunk)
                .map_err(|e| StoreError::Other(format!("cannot serialise size snapshot: {e}")))?;
            let mut item = key(
                sizes_pk(day_of(snapshot.at)),
                format!("{}#{i:03}", instant_code(snapshot.at)),
            );
            item.insert(A_JSON.into(), s(text));
            item.insert(A_CHUNKS.into(), n(count));
            item.insert(A_TTL.into(), n(ttl));
            self.put("PutItem (size snapshot)", item).await?;
        }
        Ok(())
    }

    pub(crate) async fn sizes_at_impl(
        &self,
        at: Millis,
        not_before: Millis,
    ) -> StoreResult<Option<SizeSnapshot>> {
        let not_before = not_before.max(at.saturating_sub(SIZE_SNAPSHOT_RETENTION_MS));
        if not_before > at {
            return Ok(None);
        }
        let mut day = day_of(at);
        while day >= day_of(not_before) {
            let pk = sizes_pk(day);
            let newest = self
                .query_items("Query (size snapshot)", Some(1), || {
                    self.client
                        .query()
                        .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_names("#sk", SK)
                        .expression_attribute_values(":pk", s(pk.clone()))
                        .expression_attribute_values(":from", s(instant_code(not_before)))
                        // '$' sorts after '#': every chunk of a snapshot taken at `at`.
                        .expression_attribute_values(":to", s(format!("{}$", instant_code(at))))
                        .scan_index_forward(false)
                        .consistent_read(true)
                })
                .await?;
            if let Some(item) = newest.first() {
                return self.snapshot_of(&pk, item).await.map(Some);
            }
            day -= 1;
        }
        Ok(None)
    }

    /// The whole snapshot `item` is a chunk of.
    async fn snapshot_of(&self, pk: &str, item: &Item) -> StoreResult<SizeSnapshot> {
        let sk = get_s(item, SK).unwrap_or_default();
        let corrupt = |m: &str| StoreError::Corrupt {
            key: format!("{pk}/{sk}"),
            message: m.to_string(),
        };
        let at = instant_from_code(sk).ok_or_else(|| corrupt("no instant in the key"))?;
        let items = if get_i64(item, A_CHUNKS).unwrap_or(1) > 1 {
            let prefix = format!("{}#", instant_code(at));
            self.query_items("Query (size snapshot chunks)", None, || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":p", s(prefix.clone()))
                    .consistent_read(true)
            })
            .await?
        } else {
            vec![item.clone()]
        };
        let mut sizes = BTreeMap::new();
        for chunk in &items {
            let text = get_s(chunk, A_JSON).ok_or_else(|| corrupt("no `j` attribute"))?;
            let part: BTreeMap<String, i64> =
                serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?;
            sizes.extend(part);
        }
        Ok(SizeSnapshot { at, sizes })
    }
}
