//! # test-support
//!
//! The plumbing every crate's tests share, so that each test in the workspace starts real
//! programs, waits and checks errors the same way. Dev-only: the services list it under
//! `[dev-dependencies]`; `cluster-tests` builds its whole-cluster harness on it. It holds no
//! game logic and knows no service beyond how to start one.
//!
//! | module | what |
//! | --- | --- |
//! | [`ports`] | free loopback ports |
//! | [`process`] | child processes with their output in a log file: SIGTERM, SIGKILL, SIGSTOP, wait, restart |
//! | [`browser`] | a real headless Chromium over the DevTools protocol: open a page, evaluate, keys, clicks, screenshots, console errors |
//! | [`binaries`] | finding (building if missing) the workspace's own binaries |
//! | [`nats`] | a real `nats-server` (JetStream on, auth on: the bundle `nats-security` makes) on a free port, set up through [`NatsOptions`]; several routed into a [`NatsCluster`] |
//! | [`netns`] | hosts simulated as network namespaces on a bridge: processes placed on them, partitions by `iptables`, everything deleted afterwards |
//! | [`postgres`] | a real PostgreSQL (Debian's package): `initdb` into a temp dir, the server on a free port, as the `postgres` user when run as root; immediate stop and restart; one test body run on both storage backends (`on_both_backends!`) |
//! | [`services`] | the project's HTTP services (character-api, quest-api) as child processes |
//! | [`wait`] | polling a condition with a deadline, never a bare sleep |
//! | [`http`] | waiting until a service's `/readyz` answers 200; a client sending the service token; summing a metric from `/metrics` text |
//! | [`problem`] | asserting an answer is a well-formed `application/problem+json` |

pub mod binaries;
pub mod browser;
pub mod http;
pub mod nats;
pub mod netns;
pub mod ports;
pub mod postgres;
pub mod problem;
pub mod process;
pub mod services;
pub mod wait;

pub use binaries::binary;
pub use http::{ServiceClient, metric, wait_ready};
pub use nats::{NatsCluster, NatsOptions, NatsServer, NodePlacement, nats_server_program};
pub use ports::{free_addr, free_port};
pub use postgres::{Backend, Postgres, TestStore};
pub use problem::assert_problem;
pub use process::{ManagedProcess, ProcessSpec};
pub use services::{Service, ServiceOptions, service_spec};
pub use wait::{wait_for, wait_for_showing, wait_for_value};
