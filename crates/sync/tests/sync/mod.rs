//! One module per area; helpers in `util`.

mod absorbed;
mod destinations;
mod erasure;
mod dry_run;
mod lease;
mod line_faults;
mod line_sync;
mod pinpoint_sync;
mod util;
