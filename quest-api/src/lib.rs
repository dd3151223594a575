//! # quest-api
//!
//! The quest catalog (a data file shipped in this crate) and each character's quest
//! progress, served over HTTP (actix-web) from sled. Progress events are idempotent by
//! event id, so a zone that retries never counts twice.
