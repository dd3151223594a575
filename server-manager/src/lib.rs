//! # server-manager
//!
//! The cluster's control plane: the pool of zones (registered over NATS, watched through
//! their heartbeats), the area map with its ever-growing epochs (persisted in sled), the
//! allocation of idle zones to areas, player routing (`POST /v1/join`), failure detection,
//! drain orchestration, the operator HTTP API and the live dashboard.
