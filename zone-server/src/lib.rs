//! # zone-server
//!
//! One process hosting K zone actors (ractor). A zone is idle until the server-manager
//! allocates it to an area of the world; it then runs the authoritative tick for that area
//! (per-tick event stacks of client inputs, rapier3d physics, NPCs, combat, items, quest
//! progress) for the players connected to it over WebSocket, and hands players to
//! neighbouring zones over NATS when they cross a border.
//!
//! Every format it speaks lives in the `protocol` crate; this crate owns the behaviour.

pub mod sim;
