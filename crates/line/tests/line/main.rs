//! Integration tests of audience-line: the client against the stateful fake LINE, token
//! caching, secret hygiene, and request validation against LINE's OpenAPI files with Prism.
//! One test binary (modules below) so it compiles once.

mod audiences;
mod errors;
mod messages;
mod prism;
mod secrets;
mod tokens;
mod util;
