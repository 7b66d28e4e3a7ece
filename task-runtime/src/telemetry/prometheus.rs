//! The runtime's metrics ([`meter`](super::meter)) in Prometheus' text
//! format, through `metrics-exporter-prometheus` (no HTTP listener of its
//! own: serve [`render`]'s text from the server the program already has,
//! such as the dashboard of `taskwire serve`).
//!
//! ```
//! use taskwire_runtime::telemetry::prometheus;
//!
//! let handle = prometheus::install()?;
//! // ... run flows, then, on GET /metrics:
//! let text = handle.render();
//! assert!(text.is_empty() || text.contains("taskwire_"));
//! assert!(prometheus::render().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};
pub use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

/// The buckets of every histogram, in seconds: from 100 µs (an in-memory
/// atom, a logbook write) to 2 minutes (a long task, a whole flow).
pub const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The recorder [`install`] installed, if it did.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Why the Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder: {0}")]
pub struct PrometheusError(#[from] BuildError);

fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Prefix("taskwire_".to_owned()), BUCKETS)
}

/// A recorder with taskwire's buckets, not installed: for
/// `metrics::with_local_recorder`, or to wrap in a recorder of your own.
pub fn recorder() -> PrometheusRecorder {
    builder()
        .expect("the buckets are not empty")
        .build_recorder()
}

/// Installs the process's global `metrics` recorder, rendering Prometheus'
/// text; later calls give the same handle. Fails if another global recorder
/// was installed first.
pub fn install() -> Result<PrometheusHandle, PrometheusError> {
    // One install at a time: a second caller waits, then gets the handle.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = builder()?.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| PrometheusError(BuildError::FailedToSetGlobalRecorder(e)))?;
    super::meter::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The handle of the recorder [`install`] installed; `None` before.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE.get().cloned()
}

/// The metrics in Prometheus' text format (for a `/metrics` route); `None`
/// if [`install`] was not called.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}
