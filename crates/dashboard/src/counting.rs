//! [`CountingStore`]: a store wrapper that counts calls per method (on the store crate's
//! [`HookedStore`]), so a page can show (and a test can assert) how many store reads it took.

use async_trait::async_trait;
use audience_store::{HookedStore, Hooks, Op, StateStore};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts calls per method.
#[derive(Default)]
pub struct CallCounts {
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

#[async_trait]
impl Hooks for CallCounts {
    async fn after(&self, op: Op) {
        let mut calls = match self.calls.lock() {
            Ok(calls) => calls,
            Err(poisoned) => poisoned.into_inner(),
        };
        *calls.entry(op.name()).or_default() += 1;
    }
}

/// Delegates to a store and counts calls per method.
pub type CountingStore<'a> = HookedStore<'a, CallCounts>;

/// Wraps a store; counts start at zero.
pub fn counting_store(inner: &dyn StateStore) -> CountingStore<'_> {
    HookedStore::new(inner, CallCounts::default())
}

/// Reading the counts of a [`CountingStore`].
pub trait Counted {
    /// Calls made so far, all methods together.
    fn total(&self) -> u64;
    /// Calls made so far per method name.
    fn by_method(&self) -> BTreeMap<&'static str, u64>;
}

impl Counted for CountingStore<'_> {
    fn total(&self) -> u64 {
        self.by_method().values().sum()
    }

    fn by_method(&self) -> BTreeMap<&'static str, u64> {
        match self.hooks.calls.lock() {
            Ok(calls) => calls.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
