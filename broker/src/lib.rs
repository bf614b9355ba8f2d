//! Fjord's Kafka-compatible broker.
