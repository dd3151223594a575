//! # cluster-tests
//!
//! The harness that starts a real cluster (a `nats-server` plus the project's binaries on
//! free loopback ports), the bot client, the end-to-end tests, the local-cluster launcher,
//! the load generator and the benchmarks.
