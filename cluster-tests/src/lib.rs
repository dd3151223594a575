//! # cluster-tests
//!
//! The harness that starts a real cluster (a `nats-server` plus the project's binaries on
//! free loopback ports, or spread over simulated hosts with a NATS cluster), the bot client,
//! the end-to-end tests and drills, the local-cluster launcher, the load generator, the
//! soak (random fault schedules) and the benchmarks.
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
//! | [`audit`] | the item audit: every item and coin accounted for, nothing duplicated or lost |
//! | [`hosts`] | a whole cluster over simulated hosts (network namespaces), a NATS node on each |
//! | [`measure`] | what the benchmarks share: percentiles, NATS round trips, release builds, settings, zone metrics |
//! | [`drills`] | faults on that cluster (NATS node kills, partitions, pauses) with bots playing, each checked by the stays and the audit; random schedules of them |
//! | [`spots`] | places at a border clear of obstacles, the NPC living nearest a border, small moves there |
//! | [`cpu_quota`] | a process held to a share of one CPU (a cgroup quota): a zone overloaded for real |
//! | [`viewer`] | a player placed where a test wants it, whose view is recorded frame by frame |

pub mod audit;
pub mod bot;
pub mod cluster;
pub mod cpu_quota;
pub mod drills;
pub mod hosts;
pub mod measure;
pub mod spots;
pub mod stays;
pub mod viewer;

pub use cluster::{Cluster, ClusterOptions, Secrets};
