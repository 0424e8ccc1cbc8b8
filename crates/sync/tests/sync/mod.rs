//! One module per area; helpers in `util`.

mod absorbed;
mod destinations;
mod dry_run;
mod erasure;
mod lease;
mod line_faults;
mod line_sync;
mod messages;
mod pinpoint_sync;
mod util;
