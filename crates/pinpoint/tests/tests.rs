//! Integration tests of audience-pinpoint: S3 through the moto emulator, Pinpoint through
//! the crate's own fake (feature `fake`), both with the real AWS SDK clients.

mod fake_contract;
mod import_jobs;
mod s3_csv;
mod util;
