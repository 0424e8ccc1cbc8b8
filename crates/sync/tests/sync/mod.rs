//! One module per area; helpers in `util`.

mod dry_run;
mod line_faults;
mod line_sync;
mod pinpoint_sync;
mod util;
