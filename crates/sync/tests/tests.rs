//! Integration tests of audience-sync: LINE against the contract-true `FakeLine`, Pinpoint
//! against `FakePinpoint` with S3 in the moto emulator, both through the real runner.

mod sync;
