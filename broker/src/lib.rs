//! Fjord's Kafka-compatible broker.
pub mod log;
