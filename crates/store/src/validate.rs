//! What every store refuses before writing, identically: user keys and endpoint IDs over
//! [`MAX_KEY_BYTES`], states that encode over [`MAX_STATE_BYTES`]. The embedded store refuses
//! what DynamoDB would, so a test on the embedded store meets the same limits as production.

use crate::error::{StoreError, StoreResult};
use crate::model::UserCommit;
use audience_core::encode_state;
use audience_core::limits::{key_problem, MAX_STATE_BYTES};

/// Checks a commit against the store limits and returns the encoded state to write.
pub fn encode_commit(commit: &UserCommit) -> StoreResult<Vec<u8>> {
    let user = &commit.state.user;
    let reject = |message: String| StoreError::Rejected {
        user: user.clone(),
        message,
    };
    if let Some(p) = key_problem(user) {
        return Err(reject(format!("user key is {p}")));
    }
    for (endpoint, _) in &commit.links {
        if let Some(p) = key_problem(endpoint) {
            return Err(reject(format!("linked endpoint ID is {p}")));
        }
    }
    let bytes = encode_state(&commit.state);
    if bytes.len() > MAX_STATE_BYTES {
        return Err(reject(format!(
            "its state encodes to {} bytes, over the {MAX_STATE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    Ok(bytes)
}
