//! Prometheus metrics of the broker, served on the admin port's `/metrics`.
//! Names follow `fjord_<component>_<thing>_<unit>`; labels stay low-cardinality
//! (API names and error names, never client ids).

use std::borrow::Cow;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub api: &'static str,
    /// Kafka's error name (`NONE` for success), as in Kafka's own metrics.
    pub error: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

/// Every metric the broker exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub connections: Gauge,
    pub produce_latency: Histogram,
    pub fetch_latency: Histogram,
    pub fetch_reads: Counter,
    pub partitions: Gauge,
    pub log_end_offset: Family<PartitionLabels, Gauge>,
    pub log_size: Family<PartitionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("fjord_broker");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by API and error",
            requests.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "network_in_bytes",
            "Request bytes received",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "network_out_bytes",
            "Response bytes sent",
            bytes_out.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Open client connections",
            connections.clone(),
        );
        let produce_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        registry.register(
            "produce_latency_seconds",
            "Produce request time, acknowledgement included",
            produce_latency.clone(),
        );
        let fetch_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        registry.register(
            "fetch_latency_seconds",
            "Fetch request time, long-poll wait included",
            fetch_latency.clone(),
        );
        let fetch_reads = Counter::default();
        registry.register(
            "fetch_reads",
            "Passes of fetch requests over their partitions: the first, then one per wake-up by an append to a partition they read",
            fetch_reads.clone(),
        );
        let partitions = Gauge::default();
        registry.register("partitions", "Partitions hosted", partitions.clone());
        let log_end_offset = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "log_end_offset",
            "Next offset to be written, per partition",
            log_end_offset.clone(),
        );
        let log_size = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "log_size_bytes",
            "Bytes on local disk, per partition",
            log_size.clone(),
        );
        Self {
            registry,
            requests,
            bytes_in,
            bytes_out,
            connections,
            produce_latency,
            fetch_latency,
            fetch_reads,
            partitions,
            log_end_offset,
            log_size,
        }
    }
}

impl Metrics {
    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(%error, "encoding metrics failed");
        }
        out
    }

    /// Counts one answered request.
    pub fn count_request(&self, api: &'static str, error_code: i16) {
        // Success, the common case, allocates nothing.
        let error = match kafka_protocol::ResponseError::try_from_code(error_code) {
            None => Cow::Borrowed("NONE"),
            Some(kafka_protocol::ResponseError::Unknown(code)) => {
                Cow::Owned(format!("UNKNOWN_{code}"))
            }
            Some(error) => Cow::Owned(format!("{error:?}")),
        };
        self.requests
            .get_or_create(&RequestLabels { api, error })
            .inc();
    }
}
