//! The pure core of audience-stream: decode Pinpoint records, keep per-user state, evaluate
//! declarative segment rules and report who entered or left which segment, exactly once.
//!
//! Design: like a sans-IO protocol core, nothing here performs I/O, reads a clock or awaits.
//! Callers pass records, state, rules and `now` in; they get new state, membership changes
//! and planned requests out. The Lambda, the replay tool, the sweep and the tests share it,
//! so a decision made in a test is the decision made in production.

pub mod alert;
pub mod apply;
pub mod codec;
pub mod decode;
pub mod erase;
pub mod eval;
pub mod event;
pub mod formats;
pub mod hash;
pub mod limits;
pub mod plan;
pub mod record;
pub mod rules;
pub mod signature;
pub mod state;
pub mod time;
pub mod zone;

pub use apply::{apply, apply_each, reevaluate, Applied, Cause, ChangeKind, MembershipChange};
pub use codec::{decode_state, encode_state, CodecError};
pub use decode::{
    decode_record, DecodeError, DecodeErrorKind, DecodeOptions, DecodedEvent, Decoder, KeyField,
    LineIdSource, SetAside, UserKey,
};
pub use eval::{evaluate_all, explain, next_flip_at, Explanation};
pub use event::PinpointEvent;
pub use record::{KeptPayload, KinesisEnvelope, Payload, RawRecord, RecordId};
pub use rules::{Rules, RulesError};
pub use state::UserState;
pub use time::Clock;
pub use time::Millis;
pub use zone::Zone;
