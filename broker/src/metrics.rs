//! Prometheus metrics of the broker, served on the admin port's `/metrics`.
//! Names follow `fjord_<component>_<thing>_<unit>`; labels stay low-cardinality
//! (API names and error names, never client ids).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub api: &'static str,
    pub error: &'static str,
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
    pub partitions: Gauge,
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
        let partitions = Gauge::default();
        registry.register("partitions", "Partitions hosted", partitions.clone());
        Self {
            registry,
            requests,
            bytes_in,
            bytes_out,
            connections,
            produce_latency,
            fetch_latency,
            partitions,
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

    /// Extra lines appended after the registry (per-partition gauges that come
    /// and go with topics are rendered by the caller).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }
}
