//! Observability: trace context that crosses machines, metrics, and helpers
//! that install an exporter.
//!
//! The engine always opens its spans through `tracing` (the flow, each atom
//! attempt, reverts, retries; see the README's "Observability"); with no
//! subscriber installed they cost an atomic load each. This module adds:
//!
//! - [`TraceContext`], [`inject`] and [`set_parent`]: the W3C `traceparent`
//!   and `tracestate` of a span, carried in remote workers' requests and in
//!   jobs, so that a conductor's job, the engine's flow and a worker's task
//!   share one trace. Without the feature `otel` there is no trace id to
//!   carry: [`inject`] gives an empty context and [`set_parent`] does
//!   nothing.
//! - `meter` (feature `metrics`): the metrics the runtime records, by name.
//! - `otel` (feature `otel`): `install_otlp()`, a subscriber exporting spans
//!   over OTLP.
//! - `prometheus` (feature `prometheus`): a recorder whose `handle()` renders
//!   the metrics in Prometheus' text format.

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod meter;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;

use serde::{Deserialize, Serialize};

/// A span's place in a distributed trace, as W3C Trace Context headers:
/// what travels with a remote request or a job.
///
/// Both fields are absent when there is no trace to continue (no `otel`
/// feature, no OpenTelemetry layer, or no span).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// The `traceparent` header: `00-{trace id}-{span id}-{flags}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The `tracestate` header (vendor data), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// Whether there is a trace to continue.
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_none()
    }
}

/// The trace context of the current span (`tracing::Span::current()`), to
/// send with work that another process does.
///
/// ```
/// let cx = taskwire_runtime::telemetry::inject();
/// // No OpenTelemetry layer installed here: nothing to carry.
/// assert!(cx.is_empty());
/// ```
#[inline]
pub fn inject() -> TraceContext {
    #[cfg(feature = "otel")]
    {
        otel::inject_span(&tracing::Span::current())
    }
    #[cfg(not(feature = "otel"))]
    {
        TraceContext::default()
    }
}

/// Makes the trace context `cx` (from another process) the parent of `span`,
/// which must not have been entered yet. Does nothing when `cx` is empty,
/// `span` is disabled, or without the feature `otel`.
#[inline]
pub fn set_parent(span: &tracing::Span, cx: &TraceContext) {
    #[cfg(feature = "otel")]
    {
        otel::set_parent_span(span, cx);
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (span, cx);
    }
}
