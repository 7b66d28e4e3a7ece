//! The metrics the runtime records through the [`metrics`] facade, by name.
//!
//! Why the `metrics` facade rather than OpenTelemetry's metrics API: any
//! exporter reads it (Prometheus, StatsD, OpenTelemetry through
//! `metrics-exporter-otel`, a test's local recorder), and without a recorder
//! installed each call goes to a no-op recorder — no global state to set up,
//! no SDK in the dependency tree of programs that do not want one.
//!
//! | name | kind | labels | what |
//! |------|------|--------|------|
//! | [`ATOMS`] | counter | `atom`, `state` | atom attempts that ended, by state (SUCCESS, FAILURE, REVERTED, REVERT_FAILURE) |
//! | [`ATOM_DURATION`] | histogram (s) | `atom` | how long an attempt ran |
//! | [`ATOMS_RUNNING`] | gauge | — | attempts running now, all engines of the process |
//! | [`FLOWS`] | counter | `flow`, `outcome` | runs that ended (SUCCESS, REVERTED, FAILURE, SUSPENDED) |
//! | [`FLOW_DURATION`] | histogram (s) | `flow` | how long a run took, to its end |
//! | [`RETRIES`] | counter | `retry` | subflows run again by their retry |
//! | [`REVERTS`] | counter | `atom` | reverts started |
//! | [`DEAD_JOBS`] | counter | `board` | jobs a conductor moved aside as dead (their dead letters) |
//! | [`LOGBOOK_WRITE`] | histogram (s) | — | one group commit to the logbook |
//! | [`LEASE_RENEW`] | histogram (s) | — | one lease renewal by the heartbeat |
//! | [`JOBBOARD_CLAIM`] | histogram (s) | — | one claim on a jobboard (found a job or not) |
//! | [`REMOTE_IN_FLIGHT`] | gauge | — | requests out to remote workers |

use std::time::Duration;

/// Counter of atom attempts that ended, labels `atom` and `state`.
pub const ATOMS: &str = "taskwire_atoms_total";
/// Histogram of attempt durations in seconds, label `atom`.
pub const ATOM_DURATION: &str = "taskwire_atom_duration_seconds";
/// Gauge of attempts running.
pub const ATOMS_RUNNING: &str = "taskwire_atoms_running";
/// Counter of runs that ended, labels `flow` and `outcome`.
pub const FLOWS: &str = "taskwire_flows_total";
/// Histogram of run durations in seconds, label `flow`.
pub const FLOW_DURATION: &str = "taskwire_flow_duration_seconds";
/// Counter of subflows retried, label `retry`.
pub const RETRIES: &str = "taskwire_retries_total";
/// Counter of reverts started, label `atom`.
pub const REVERTS: &str = "taskwire_reverts_total";
/// Counter of jobs moved aside as dead, label `board`.
pub const DEAD_JOBS: &str = "taskwire_dead_jobs_total";
/// Histogram of logbook group-commit latency in seconds.
pub const LOGBOOK_WRITE: &str = "taskwire_logbook_write_seconds";
/// Histogram of lease renewal latency in seconds.
pub const LEASE_RENEW: &str = "taskwire_lease_renew_seconds";
/// Histogram of jobboard claim latency in seconds.
pub const JOBBOARD_CLAIM: &str = "taskwire_jobboard_claim_seconds";
/// Gauge of requests out to remote workers.
pub const REMOTE_IN_FLIGHT: &str = "taskwire_remote_requests_in_flight";

/// Describes every metric (unit and help text) to the installed recorder;
/// the Prometheus helper calls it when it installs its recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(ATOMS, "Atom attempts that ended, by atom and state.");
    describe_histogram!(
        ATOM_DURATION,
        Unit::Seconds,
        "How long an atom attempt ran."
    );
    describe_gauge!(ATOMS_RUNNING, "Atom attempts running now.");
    describe_counter!(FLOWS, "Flow runs that ended, by flow and outcome.");
    describe_histogram!(FLOW_DURATION, Unit::Seconds, "How long a flow run took.");
    describe_counter!(RETRIES, "Subflows run again by their retry.");
    describe_counter!(REVERTS, "Atom reverts started.");
    describe_counter!(DEAD_JOBS, "Jobs moved aside as dead.");
    describe_histogram!(
        LOGBOOK_WRITE,
        Unit::Seconds,
        "One group commit to the logbook."
    );
    describe_histogram!(LEASE_RENEW, Unit::Seconds, "One lease renewal.");
    describe_histogram!(JOBBOARD_CLAIM, Unit::Seconds, "One claim on a jobboard.");
    describe_gauge!(REMOTE_IN_FLIGHT, "Requests out to remote workers.");
}

pub(crate) fn atom_started() {
    metrics::gauge!(ATOMS_RUNNING).increment(1.0);
}

pub(crate) fn atom_done(atom: &str, state: &'static str, took: Option<Duration>) {
    metrics::counter!(ATOMS, "atom" => atom.to_owned(), "state" => state).increment(1);
    if let Some(took) = took {
        metrics::gauge!(ATOMS_RUNNING).decrement(1.0);
        metrics::histogram!(ATOM_DURATION, "atom" => atom.to_owned()).record(took.as_secs_f64());
    }
}

pub(crate) fn flow_done(flow: &str, outcome: &'static str, took: Duration) {
    metrics::counter!(FLOWS, "flow" => flow.to_owned(), "outcome" => outcome).increment(1);
    metrics::histogram!(FLOW_DURATION, "flow" => flow.to_owned()).record(took.as_secs_f64());
}

pub(crate) fn retry(retry: &str) {
    metrics::counter!(RETRIES, "retry" => retry.to_owned()).increment(1);
}

pub(crate) fn revert(atom: &str) {
    metrics::counter!(REVERTS, "atom" => atom.to_owned()).increment(1);
}

pub(crate) fn dead_job(board: &str) {
    metrics::counter!(DEAD_JOBS, "board" => board.to_owned()).increment(1);
}

pub(crate) fn logbook_write(took: Duration) {
    metrics::histogram!(LOGBOOK_WRITE).record(took.as_secs_f64());
}

pub(crate) fn lease_renew(took: Duration) {
    metrics::histogram!(LEASE_RENEW).record(took.as_secs_f64());
}

pub(crate) fn jobboard_claim(took: Duration) {
    metrics::histogram!(JOBBOARD_CLAIM).record(took.as_secs_f64());
}

pub(crate) fn remote_sent() {
    metrics::gauge!(REMOTE_IN_FLIGHT).increment(1.0);
}

pub(crate) fn remote_done() {
    metrics::gauge!(REMOTE_IN_FLIGHT).decrement(1.0);
}
