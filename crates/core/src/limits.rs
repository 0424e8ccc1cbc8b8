//! The bounds every value must respect before it enters state, in one place (docs/limits.md
//! explains each). They are facts to design for: DynamoDB refuses a partition key over 2,048
//! bytes and a sort key over 1,024, an item over 400 KB; a float sum can overflow to infinity.
//! Records that break a bound are set aside at decode with a reason; arithmetic saturates.

/// Longest user key, endpoint ID or client ID, in UTF-8 bytes. It leaves room for the store's
/// prefixes and composite sort keys under DynamoDB's 1,024-byte sort-key limit; real IDs
/// (UUIDs, Cognito IDs, `line:U…`) are under 100 bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// Largest absolute value of an event metric. Bigger values (or `1e300`) are absurd for prices,
/// quantities and counts and are set aside as `value_out_of_range`.
pub const MAX_METRIC_ABS: f64 = 1e15;

/// Aggregated sums and metric products saturate at ± this value, so nothing non-finite is ever
/// stored, however many events are summed.
pub const MAX_AGGREGATE_ABS: f64 = 1e18;

/// Longest stored attribute value, endpoint address or channel type, in UTF-8 bytes.
pub const MAX_VALUE_BYTES: usize = 1_000;

/// Most values one stored attribute may hold.
pub const MAX_ATTRIBUTE_VALUES: usize = 50;

/// Endpoints kept per user: the most recently seen ones (by event time).
pub const MAX_ENDPOINTS: usize = 8;

/// Largest encoded user state accepted by a store (DynamoDB's item limit is 400 KB); a state
/// over it is refused and its user quarantined rather than failing a batch.
pub const MAX_STATE_BYTES: usize = 350_000;

/// The identity namespace of LINE webhook events (`line:<LINE user ID>`). Only records signed
/// by the webhook function may use it.
pub const LINE_KEY_PREFIX: &str = "line:";

/// Saturating sum of two aggregate values (finite in, finite out).
pub fn add_saturating(a: f64, b: f64) -> f64 {
    clamp_aggregate(a + b)
}

/// Clamps a value into ±[`MAX_AGGREGATE_ABS`]; NaN becomes 0.
pub fn clamp_aggregate(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(-MAX_AGGREGATE_ABS, MAX_AGGREGATE_ABS)
    }
}

/// Why a key is not acceptable, if it is not.
pub fn key_problem(key: &str) -> Option<String> {
    if key.len() > MAX_KEY_BYTES {
        Some(format!(
            "{} bytes, over the {MAX_KEY_BYTES}-byte limit",
            key.len()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_and_never_go_non_finite() {
        assert_eq!(
            add_saturating(MAX_AGGREGATE_ABS, MAX_AGGREGATE_ABS),
            MAX_AGGREGATE_ABS
        );
        assert_eq!(
            add_saturating(-MAX_AGGREGATE_ABS, -1e300),
            -MAX_AGGREGATE_ABS
        );
        assert_eq!(clamp_aggregate(f64::INFINITY), MAX_AGGREGATE_ABS);
        assert_eq!(clamp_aggregate(f64::NAN), 0.0);
    }

    #[test]
    fn keys_over_the_limit_are_named() {
        assert!(key_problem(&"k".repeat(MAX_KEY_BYTES)).is_none());
        assert!(
            key_problem(&"k".repeat(MAX_KEY_BYTES + 1)).is_some_and(|p| p.contains("513 bytes"))
        );
    }
}
