//! Logs and traces: the process's `tracing` subscriber (log lines on
//! stderr, filtered by `RUST_LOG`), and with the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, OpenTelemetry spans exported over
//! OTLP/HTTP (protobuf) by a background thread; off (and free) when unset.
//! Owns the W3C trace context a run carries through the queue: taken from
//! the span that queues it ([`current_traceparent`]), given to the span that
//! runs it ([`follow`]), so a run's span is a child of the request that
//! caused it, on whatever node it runs.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes the exporter when dropped (at the end of `main`).
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("taskbox: could not flush traces: {e}");
        }
    }
}

/// Installs the subscriber: stderr at `default` (unless `RUST_LOG` says
/// otherwise), and the OTLP exporter if `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub fn init(default: &str) -> Tracing {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty());
    init_with(default, endpoint.map(|_| Export::FromEnvironment))
}

/// Where spans go.
pub enum Export {
    /// As the `OTEL_*` variables say.
    FromEnvironment,
    /// To this OTLP/HTTP traces URL (`http://host:4318/v1/traces`).
    To(String),
}

/// [`init`], with the export given (`None`: off). One filter for both the
/// log and the spans (`RUST_LOG`, else `default`): with a filter per layer,
/// spans stopped reaching the exporter after its first batch (seen in the
/// suite), so there is none.
pub fn init_with(default: &str, export: Option<Export>) -> Tracing {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let Some(provider) = export.and_then(exporter) else {
        tracing_subscriber::registry().with(filter).with(stderr).init();
        return Tracing { provider: None };
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("taskbox"));
    tracing_subscriber::registry().with(filter).with(stderr).with(otel).init();
    Tracing { provider: Some(provider) }
}

/// A guest's log lines as events of its run's span (never on stderr).
pub fn log_lines(span: &tracing::Span, logs: &str) {
    for line in logs.lines() {
        span.add_event(line.to_owned(), Vec::new());
    }
}

/// The OTLP/HTTP exporter (protobuf) of `export`.
fn exporter(export: Export) -> Option<SdkTracerProvider> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let builder = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
    let builder = match export {
        Export::FromEnvironment => builder,
        Export::To(url) => builder.with_endpoint(url),
    };
    let exporter = builder.build().map_err(|e| eprintln!("taskbox: traces are off: {e}")).ok()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "taskbox".into()))
        .with_attribute(opentelemetry::KeyValue::new("process.pid", i64::from(std::process::id())))
        .build();
    Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The W3C `traceparent` of the current span, if it is traced.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the span `traceparent` names (from another
/// process, through the queue).
pub fn follow(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else { return };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}
