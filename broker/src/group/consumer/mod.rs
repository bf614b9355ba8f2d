//! Consumer groups of the KIP-848 protocol (`group.protocol=consumer`): the broker computes
//! each member's target assignment with a server-side assignor and reconciles members towards
//! it incrementally through ConsumerGroupHeartbeat — a partition is revoked from its old owner
//! before it is given to a new one, and members hear only of their own changes.
//!
//! Pure parts, each tested on its own:
//! - [`assignor`]: the assignment spec every assignor takes and the [`assignor::Assignor`]
//!   trait; `uniform` and `range`, as Kafka names them.
//! - [`records`]: the group's records in `__consumer_offsets`, in Kafka's layout.
//! - [`uniform`]: Kafka's default assignor, balanced then sticky, for alike and differing
//!   subscriptions; [`range`]: per-topic contiguous ranges, co-partitioned, sticky as Kafka's;
//!   [`assignors`]: them by name.
//! - [`regex`]: `SubscribedTopicRegex`, compiled as strictly as RE2/J, matched against whole
//!   topic names, never an internal topic.
//! - [`group`], [`member`]: the group and its members as pure state; reconciliation of a
//!   member towards its target assignment in `reconcile`.

pub mod assignor;
pub mod assignors;
#[cfg(test)]
mod classic_tests;
pub mod group;
#[cfg(test)]
mod group_harness;
#[cfg(test)]
mod group_props;
#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod group_topic_tests;
pub mod member;
pub mod range;
mod reconcile;
pub mod records;
pub mod regex;
mod request;
pub mod uniform;
