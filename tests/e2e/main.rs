//! End to end on local parts: fixture events into a moto Kinesis stream, read back as the
//! Lambda would receive them, through the consumer handler into DynamoDB Local, then the LINE
//! sync against the contract-true fake — the fake's audience ends equal to the segment. Also
//! the LINE webhook Lambda (signature check, follow/unfollow onto the stream), and the
//! attribute loader Lambda (an S3 file of user attributes onto the stream).

mod attributes;
mod pipeline;
mod webhook;
