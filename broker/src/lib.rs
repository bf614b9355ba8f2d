//! Fjord's Kafka-compatible broker.
//!
//! ```text
//!  server/ (accept, frames, connections) ─► protocol/ (decode, versions) ─► api/ (one file per API)
//!  admin (HTTP: /livez /readyz /metrics)
//! ```
//!
//! [`startup`] wires them together for the binary and for tests: admin listener first, then
//! log recovery, then the Kafka listener.

pub mod admin;
pub mod alloc;
pub mod api;
pub mod broker;
mod clean_shutdown;
pub mod cluster;
pub mod config;
pub mod group;
pub mod log;
mod maintenance;
pub mod meta_properties;
pub mod metrics;
pub mod partition;
pub mod producer_state;
pub mod protocol;
pub mod replication;
pub mod rpc;
pub mod server;
pub mod startup;
pub mod topics;
pub mod txn;

pub use broker::Broker;
pub use config::{Cli, Config};
pub use startup::{Bound, Starting, bind, start};

/// Every allocation in a process that links the broker goes through the
/// guarded allocator, so hostile wire counts cannot abort it (see [`alloc`]).
#[global_allocator]
static GLOBAL: alloc::GuardedAlloc = alloc::GuardedAlloc;
