//! # cluster-tests
//!
//! The harness that starts a real cluster (a `nats-server` plus the project's binaries on
//! free loopback ports), the bot client, the end-to-end tests, the local-cluster launcher,
//! the load generator and the benchmarks.
//!
//! It builds on `test-support` (a real NATS server, child processes with logs, the
//! workspace's binaries, polling waits), which the services' own tests use as well; no
//! service crate depends on this one.
//!
//! | module | what |
//! | --- | --- |
//! | [`cluster`] | a whole cluster of real processes, any of which can be killed or restarted |
//! | [`bot`] | a bot client: joins through the manager, plays over WebSocket, follows transfers; tests steer it through its controls |
//! | [`stays`] | the zones' record of who was where, checked for double owners and lost inputs |
//! | [`bench`] | what the benchmarks share: release binaries, settings, percentiles, zone metrics |
//! | [`spots`] | places at a border clear of obstacles, the NPC living nearest a border, small moves there |
//! | [`viewer`] | a player placed where a test wants it, whose view is recorded frame by frame |

pub mod bench;
pub mod bot;
pub mod cluster;
pub mod spots;
pub mod stays;
pub mod viewer;

pub use cluster::{Cluster, ClusterOptions, Secrets};
