//! # cluster-tests
//!
//! The harness that starts a real cluster (a `nats-server` plus the project's binaries on
//! free loopback ports), the bot client, the end-to-end tests, the local-cluster launcher,
//! the load generator and the benchmarks.
//!
//! The services' own integration tests use this crate as a dev-dependency for the parts
//! they share (a real NATS server, child processes with logs), so every test in the
//! workspace starts real programs the same way.
//!
//! | module | what |
//! | --- | --- |
//! | [`cluster`] | a whole cluster of real processes, any of which can be killed or restarted |
//! | [`bot`] | a bot client: joins through the manager, plays over WebSocket, follows transfers; tests steer it through its controls |
//! | [`process`] | child processes on free ports, logs kept, SIGKILL and restart |
//! | [`nats`] | a real `nats-server` on a free port |
//! | [`services`] | the project's own binaries (character-api, quest-api, ...) as child processes |
//! | [`wait`] | polling with a deadline |
//! | [`stays`] | the zones' record of who was where, checked for double owners and lost inputs |

pub mod bot;
pub mod cluster;
pub mod nats;
pub mod process;
pub mod services;
pub mod stays;
pub mod wait;

pub use cluster::{Cluster, ClusterOptions, Secrets};
pub use nats::NatsServer;
pub use process::{ManagedProcess, ProcessSpec, free_port, wait_for_tcp};
pub use services::{Service, binary};
pub use wait::{wait_for, wait_for_showing};
