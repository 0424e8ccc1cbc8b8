//! Named leases, one item each (`LEASE#<name>` / `L`): what keeps two sync runs from working
//! at once.
//!
//! Acquiring is one conditional `PutItem` (`attribute_not_exists(PK) OR #until < :now OR
//! #holder = :me`): DynamoDB decides between concurrent callers, and a failed condition means
//! someone else holds an unexpired lease. Releasing is a `DeleteItem` conditional on the
//! holder, so a run whose lease expired and was taken over never deletes the new holder's.

use crate::errors::{corrupt, sdk_error};
use crate::keys::*;
use crate::metrics::Access;
use crate::DynamoStore;
use audience_core::Millis;
use audience_store::{Lease, StoreResult};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

/// A released or expired lease item is deleted by TTL this long after its `until` (a crash
/// can leave one behind; an expired lease is free to take either way).
const LEASE_TTL_AFTER_SECS: i64 = 86_400;

impl DynamoStore {
    /// Takes or extends the lease (see `StateStore::acquire_lease`).
    pub(crate) async fn put_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        let mut item = key(lease_pk(name), LEASE_SK);
        item.insert(A_HOLDER.into(), s(holder));
        item.insert(A_UNTIL.into(), n(until));
        item.insert(
            A_TTL.into(),
            n((until / 1000).saturating_add(LEASE_TTL_AFTER_SECS)),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #until < :now OR #holder = :me")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#until", A_UNTIL)
            .expression_attribute_names("#holder", A_HOLDER)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":me", s(holder))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        self.conditional(&format!("PutItem (acquire lease `{name}`)"), result)
    }

    /// Deletes the lease if `holder` holds it (see `StateStore::release_lease`).
    pub(crate) async fn delete_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(lease_pk(name), LEASE_SK)))
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", A_HOLDER)
            .expression_attribute_values(":me", s(holder))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        // A failed condition: not ours (taken over after it expired) or already gone.
        self.conditional(&format!("DeleteItem (release lease `{name}`)"), result)
            .map(|_| ())
    }

    /// Reads the lease item, strongly consistent.
    pub(crate) async fn get_lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(lease_pk(name), LEASE_SK)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem (lease)", &self.table, e))?;
        self.metrics.record(Access::Read, resp.consumed_capacity());
        let Some(item) = resp.item() else {
            return Ok(None);
        };
        let what = lease_pk(name);
        let holder = get_s(item, A_HOLDER)
            .ok_or_else(|| corrupt(&what, format!("lease item has no `{A_HOLDER}`")))?;
        let until = get_i64(item, A_UNTIL)
            .ok_or_else(|| corrupt(&what, format!("lease item has no numeric `{A_UNTIL}`")))?;
        Ok(Some(Lease {
            holder: holder.to_string(),
            until,
        }))
    }
}
