//! # character-api
//!
//! The durable home of characters: account, position, stats and inventory, served over
//! HTTP (actix-web) from sled. Saves are compare-and-set on a version (`If-Match`), and a
//! write is answered only after sled has flushed it.
