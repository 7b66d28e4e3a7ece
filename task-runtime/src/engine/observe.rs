//! What a run tells the tools that watch it: `tracing` spans and, with the
//! feature `metrics`, the metrics of [`telemetry::meter`](crate::telemetry).
//!
//! Spans (all at INFO but the last two):
//!
//! | span              | fields | where |
//! |-------------------|--------|-------|
//! | `flow`            | `flow`, `uuid`, `logbook`, `owner`, `outcome` | one per run; its parent is the caller's current span |
//! | `atom`            | `atom`, `task`, `version`, `attempt`, `executor`, `outcome`, `error` | one per attempt of a task; the task's code runs inside it, whatever executor runs it (`inline`, `pool`, `async`, `remote`) |
//! | `retry`           | `retry`, `attempt`, `outcome`, `delay_ms` | one per attempt of a retry controller; a `retry waits` event when it waits before its subflow's next attempt |
//! | `retry.decide`    | `retry`, `atom`, `decision` | a failure inside a retry's subflow being resolved; a `retry decided` event per controller asked |
//! | `revert`          | `atom`, `task`, `outcome`, `error` | one per revert of an atom |
//! | `logbook.commit`  | `atoms` | DEBUG: one group commit to the logbook |
//! | `lease.renew`     | `flow`, `owner` | DEBUG: the heartbeat renewing a lease |
//!
//! With no subscriber (or one that wants none of these), opening a span is
//! one check of the global maximum level: [`tracing::Span::none`] is used
//! and nothing is kept.

use std::time::Instant;

use tracing::field::{display, Empty};
use tracing::Span;

use crate::failure::Failure;
use crate::state::{AtomState, FlowState};
use crate::storage::Storage;

/// The spans (and start times) of the atoms that are out, per atom.
pub(super) struct Observe {
    /// Empty until a span is enabled; then per atom, its open span.
    spans: Vec<Span>,
    /// Per atom, the attempts started in this run (with `spans`).
    attempts: Vec<u32>,
    /// Per atom, when its attempt started (feature `metrics`).
    #[cfg(feature = "metrics")]
    started: Vec<Option<Instant>>,
    /// When the run started.
    since: Instant,
    /// Whether `tracing` wanted INFO spans when the run started: if not,
    /// the run opens no atom span (a subscriber installed while it runs
    /// sees the next run's).
    on: bool,
}

impl Observe {
    pub(super) fn new(atoms: usize) -> Observe {
        let _ = atoms;
        Observe {
            spans: Vec::new(),
            attempts: Vec::new(),
            #[cfg(feature = "metrics")]
            started: vec![None; atoms],
            since: Instant::now(),
            on: tracing::level_enabled!(tracing::Level::INFO),
        }
    }

    /// Whether the run opens atom spans.
    #[inline]
    pub(super) fn on(&self) -> bool {
        self.on
    }

    /// An attempt of atom `i` starts, with no span.
    #[inline]
    pub(super) fn started(&mut self, i: usize) {
        #[cfg(feature = "metrics")]
        {
            self.started[i] = Some(Instant::now());
            crate::telemetry::meter::atom_started();
        }
        #[cfg(not(feature = "metrics"))]
        let _ = i;
    }

    /// Opens the span of an attempt of atom `i`, run by the executor that
    /// `executor` names (asked only when the span is wanted); [`Span::none`]
    /// unless a subscriber wants it.
    #[inline]
    pub(super) fn start(
        &mut self,
        storage: &Storage,
        i: usize,
        executor: impl FnOnce() -> &'static str,
    ) -> Span {
        self.started(i);
        // The check `info_span!` makes first, before anything else is done.
        if !self.on || !tracing::level_enabled!(tracing::Level::INFO) {
            return Span::none();
        }
        self.open(storage, i, executor)
    }

    #[inline(never)]
    fn open(
        &mut self,
        storage: &Storage,
        i: usize,
        executor: impl FnOnce() -> &'static str,
    ) -> Span {
        let spec = &storage.plan.atoms[i];
        let span = if storage.plan.retry_scope(i).is_some() {
            tracing::info_span!(
                "retry",
                retry = spec.atom_name(),
                attempt = Empty,
                outcome = Empty,
                delay_ms = Empty,
            )
        } else {
            let meta = &spec.def().meta;
            tracing::info_span!(
                "atom",
                atom = spec.atom_name(),
                task = &*meta.name,
                version = %meta.version,
                attempt = Empty,
                executor = executor(),
                outcome = Empty,
                error = Empty,
                otel.status_code = Empty,
            )
        };
        if !span.is_none() {
            self.keep(storage, i, &span);
        }
        span
    }

    #[cold]
    fn keep(&mut self, storage: &Storage, i: usize, span: &Span) {
        if self.spans.is_empty() {
            let n = storage.plan.atoms.len();
            self.spans = vec![Span::none(); n];
            self.attempts = vec![0; n];
        }
        self.attempts[i] += 1;
        span.record("attempt", self.attempts[i]);
        self.spans[i] = span.clone();
    }

    /// Atom `i`'s attempt ended in `state` (SUCCESS or FAILURE).
    #[inline]
    pub(super) fn done(
        &mut self,
        storage: &Storage,
        i: usize,
        state: AtomState,
        failure: Option<&Failure>,
    ) {
        #[cfg(feature = "metrics")]
        {
            let took = self.started[i].take().map(|t| t.elapsed());
            let name = storage.plan.atoms[i].atom_name();
            crate::telemetry::meter::atom_done(name, state.as_str(), took);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = storage;
        if self.spans.is_empty() {
            return;
        }
        let span = std::mem::replace(&mut self.spans[i], Span::none());
        outcome(&span, state.as_str(), failure);
    }

    /// How long since the run started.
    pub(super) fn elapsed(&self) -> std::time::Duration {
        self.since.elapsed()
    }
}

/// Records how a span's work ended.
fn outcome(span: &Span, state: &str, failure: Option<&Failure>) {
    if span.is_none() {
        return;
    }
    span.record("outcome", state);
    if let Some(failure) = failure {
        span.record("error", display(failure));
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one run of `flow`; the caller's current span is its parent.
pub(super) fn flow_span(flow: &str, recorder: Option<&crate::record::Recorder>) -> Span {
    let span = tracing::info_span!(
        "flow",
        flow,
        uuid = Empty,
        logbook = Empty,
        owner = Empty,
        outcome = Empty,
        otel.status_code = Empty,
    );
    if let (false, Some(recorder)) = (span.is_none(), recorder) {
        span.record("uuid", display(recorder.flow_uuid()));
        span.record("logbook", display(recorder.logbook_uuid()));
        span.record("owner", recorder.owner());
    }
    span
}

/// The run ended (or stopped) in `state`.
pub(super) fn flow_done(span: &Span, flow: &str, state: FlowState, took: std::time::Duration) {
    #[cfg(feature = "metrics")]
    crate::telemetry::meter::flow_done(flow, state.as_str(), took);
    #[cfg(not(feature = "metrics"))]
    let _ = (flow, took);
    if span.is_none() {
        return;
    }
    span.record("outcome", state.as_str());
    if matches!(state, FlowState::Failure | FlowState::Reverted) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of the revert of atom `i`.
#[inline]
pub(super) fn revert_span(storage: &Storage, i: usize) -> Span {
    #[cfg(feature = "metrics")]
    crate::telemetry::meter::revert(storage.plan.atoms[i].atom_name());
    let spec = &storage.plan.atoms[i];
    tracing::info_span!(
        "revert",
        atom = spec.atom_name(),
        task = &*spec.def().meta.name,
        outcome = Empty,
        error = Empty,
        otel.status_code = Empty,
    )
}

/// The revert of atom `i` ended in `state`.
pub(super) fn revert_done(
    storage: &Storage,
    i: usize,
    span: &Span,
    state: AtomState,
    failure: Option<&Failure>,
) {
    #[cfg(feature = "metrics")]
    crate::telemetry::meter::atom_done(storage.plan.atoms[i].atom_name(), state.as_str(), None);
    #[cfg(not(feature = "metrics"))]
    let _ = (storage, i);
    outcome(span, state.as_str(), failure);
}

/// The span of a failure of atom `i` being resolved by the retries around
/// it.
pub(super) fn decide_span(storage: &Storage, i: usize) -> Span {
    let Some(scope) = storage.plan.scope_of(i) else {
        return Span::none();
    };
    let retry = storage.plan.retries[scope].atom as usize;
    tracing::info_span!(
        "retry.decide",
        retry = storage.plan.atoms[retry].atom_name(),
        atom = storage.plan.atoms[i].atom_name(),
        decision = Empty,
    )
}

/// A subflow runs again: its retry's attempt is counted.
pub(super) fn retried(storage: &Storage, scope: usize) {
    #[cfg(feature = "metrics")]
    {
        let retry = storage.plan.retries[scope].atom as usize;
        crate::telemetry::meter::retry(storage.plan.atoms[retry].atom_name());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (storage, scope);
}

/// The span of one group commit to the logbook.
#[inline]
pub(super) fn commit_span() -> Span {
    tracing::debug_span!("logbook.commit")
}
