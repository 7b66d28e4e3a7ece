//! OpenTelemetry: the engine's `tracing` spans exported over OTLP, and the
//! W3C trace context that [`inject`](super::inject) and
//! [`set_parent`](super::set_parent) carry between processes.
//!
//! # The helper
//!
//! [`install_otlp`] installs, as the process's global `tracing` subscriber,
//! a registry with the `tracing-opentelemetry` layer (spans at INFO and
//! above) feeding a batch exporter that sends OTLP over HTTP (protobuf). It
//! reads the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, and
//! `OTEL_SERVICE_NAME` (default: the executable's name). Keep the guard it
//! returns alive for as long as the program runs: dropping it flushes the
//! spans still buffered.
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = taskwire_runtime::telemetry::otel::install_otlp()?;
//!     // ... run flows: their spans go to the collector.
//!     Ok(())
//! }
//! ```
//!
//! HTTP with the blocking client rather than gRPC: it pulls no tonic/h2
//! stack, and the batch processor exports from its own thread, so it works
//! in programs without an async runtime as well as in tokio ones.
//!
//! # Your own pipeline
//!
//! The engine only needs a `tracing` subscriber with the
//! `tracing-opentelemetry` layer; build it as you like (other exporters,
//! samplers, filters, a `fmt` layer beside it). The crates are re-exported
//! here, at the versions taskwire was built with, so that the layer's types
//! match:
//!
//! ```
//! use taskwire_runtime::telemetry::otel::{opentelemetry, opentelemetry_sdk, tracing_opentelemetry};
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     // .with_batch_exporter(your_exporter)
//!     .build();
//! let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("my-service"));
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     // ... run flows here (or install it with `set_global_default`).
//! });
//! ```
//!
//! The trace context travels as W3C Trace Context whatever propagator is
//! installed globally.

use std::collections::HashMap;
use std::fmt;

pub use opentelemetry;
pub use opentelemetry_otlp;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use super::TraceContext;

/// Why [`install_otlp`] could not install its pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtelError {
    /// The OTLP exporter could not be built (a malformed endpoint or header
    /// in the `OTEL_EXPORTER_OTLP_*` variables, no HTTP client).
    #[error("cannot build the OTLP exporter (check the OTEL_EXPORTER_OTLP_* variables): {0}")]
    Exporter(String),
    /// The process has a global `tracing` subscriber already; add the
    /// `tracing-opentelemetry` layer to it instead (see the
    /// [module documentation](self)).
    #[error("a global tracing subscriber is installed already: add the tracing-opentelemetry layer to it instead ({0})")]
    SubscriberSet(String),
}

/// Keeps the OTLP pipeline of [`install_otlp`]; dropping it flushes the
/// spans still buffered and shuts the exporter down.
#[must_use = "dropping the guard shuts the exporter down"]
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl fmt::Debug for OtelGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelGuard").finish_non_exhaustive()
    }
}

impl OtelGuard {
    /// The tracer provider, for spans of your own made with OpenTelemetry's
    /// API.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("taskwire: flushing the OTLP exporter failed: {e}");
        }
    }
}

/// Installs the global `tracing` subscriber that exports spans over OTLP;
/// see the [module documentation](self).
pub fn install_otlp() -> Result<OtelGuard, OtelError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| OtelError::Exporter(e.to_string()))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        if let Some(name) = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        {
            resource = resource.with_service_name(name);
        }
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("taskwire"))
        .with_filter(LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry().with(layer);
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        let _ = provider.shutdown();
        return Err(OtelError::SubscriberSet(e.to_string()));
    }
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(OtelGuard { provider })
}

/// `span`'s trace context as W3C headers.
pub(super) fn inject_span(span: &tracing::Span) -> TraceContext {
    if span.is_disabled() {
        return TraceContext::default();
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return TraceContext::default();
    }
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut headers);
    TraceContext {
        traceparent: headers.remove("traceparent"),
        tracestate: headers.remove("tracestate").filter(|s| !s.is_empty()),
    }
}

/// Sets `cx` as `span`'s parent.
pub(super) fn set_parent_span(span: &tracing::Span, cx: &TraceContext) {
    let Some(traceparent) = &cx.traceparent else {
        return;
    };
    if span.is_disabled() {
        return;
    }
    let mut headers = HashMap::new();
    headers.insert("traceparent".to_owned(), traceparent.clone());
    if let Some(state) = &cx.tracestate {
        headers.insert("tracestate".to_owned(), state.clone());
    }
    let parent = TraceContextPropagator::new().extract(&headers);
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed, or the span
        // was entered already: it then keeps its local parent.
        let _ = span.set_parent(parent);
    } else {
        tracing::debug!(traceparent = %traceparent, "ignored a malformed traceparent");
    }
}
