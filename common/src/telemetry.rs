//! Logging and tracing set-up shared by every binary.
//!
//! - Logs go to stderr, human-readable or one JSON object per line
//!   (`--log-format`, `FJORD_LOG_FORMAT`), filtered by `--log-level`
//!   (`FJORD_LOG_LEVEL`, `RUST_LOG` syntax: `info,fjord_broker=debug`).
//! - When the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans are also exported over
//!   OTLP/gRPC; the exporter reads the other standard `OTEL_*` variables itself.
//!
//! Keep the returned [`Telemetry`] alive for the life of the process: dropping
//! it flushes and stops the exporter.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging flags every Fjord binary accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "FJORD_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `info,fjord_broker=debug`.
    #[arg(long, env = "FJORD_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Keeps the exporter alive; flushes it when dropped.
#[must_use = "dropping the telemetry guard stops span export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. Call once, inside a Tokio runtime (the
    /// OTLP exporter's gRPC client needs one).
    pub fn init(service_name: &'static str, args: &LogArgs) -> anyhow::Result<Self> {
        let filter = EnvFilter::try_new(&args.log_level)
            .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
        let fmt = match args.log_format {
            LogFormat::Human => tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(std::io::stderr)
                .boxed(),
        };
        let provider = otlp_endpoint_configured()
            .then(|| otlp_provider(service_name))
            .transpose()?;
        let otel = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name))
        });
        tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .with(otel)
            .try_init()
            .context("a global tracing subscriber is already installed")?;
        if provider.is_some() {
            tracing::info!("exporting spans over OTLP");
        }
        Ok(Self { provider })
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing OTLP spans failed: {error}");
        }
    }
}

fn otlp_endpoint_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

fn otlp_provider(service_name: &'static str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .context("building the OTLP span exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
