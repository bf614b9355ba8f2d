//! Plumbing every Fjord binary shares, the same way: command-line helpers with
//! `FJORD_*` environment fallbacks, logging and tracing set-up, and graceful
//! shutdown on SIGTERM/SIGINT.
//!
//! This crate pulls in neither broker nor Kubernetes dependencies: the broker
//! and the operator both build on it.

pub mod shutdown;
pub mod telemetry;
pub mod units;

pub use shutdown::shutdown_token;
pub use telemetry::{LogArgs, LogFormat, Telemetry};
