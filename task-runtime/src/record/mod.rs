//! Recording a run in a logbook, below the engine: the [`Recorder`] keeps the
//! records of a flow and its atoms, takes and keeps the run's lease (with a
//! heartbeat), and commits transitions in groups; [`restore`] rebuilds a run
//! from what was recorded.
//!
//! Write-through stays exact with group commit: storage notes each transition
//! here (the `Journal` trait of `storage`), and the engine
//! commits what was noted — in one transaction — before it acts on any of it
//! (starts a task, begins a revert, tells a listener, returns). In a chain the
//! SUCCESS of one task and the RUNNING of the next share one commit.

mod heartbeat;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use self::heartbeat::Heartbeat;
pub(crate) use self::writer::Writer;
use crate::failure::Failure;
use crate::flow::ExecutionGraph;
use crate::persistence::{
    engine_owner, now_ms, owner_is_gone, AtomDetail, AtomType, Backend, FlowDetail, Lease, LogBook,
    PersistenceError, Uuid,
};
use crate::retry::History;
use crate::state::{AtomState, FlowState, Intention};
use crate::storage::Storage;
use crate::task::{CancelToken, Version};

/// Decides whether an atom recorded by another major version of its task may
/// be resumed by this code: `(atom, recorded version, code's version)`.
pub(crate) type UpgradePolicy = dyn Fn(&str, &str, Version) -> bool + Send + Sync;

/// How many lease notes a flow detail keeps (the newest).
const MAX_LEASE_NOTES: usize = 20;

/// How an engine records its run; see [`Engine::persist`](crate::Engine::persist).
/// Every setting is kept whether or not the backend is set yet, so that the
/// engine's setters work in any order.
#[derive(Debug, Clone)]
pub(crate) struct PersistConfig {
    pub(crate) backend: Option<Arc<dyn Backend>>,
    pub(crate) logbook: Option<Uuid>,
    /// `None` until the engine records: then
    /// [`default_owner`](crate::persistence::default_owner)`#n`, which
    /// names this process and this engine.
    pub(crate) owner: Option<String>,
    pub(crate) ttl: Duration,
    /// An operator's takeover: take the lease from a live owner after
    /// waiting this long for it to be given up.
    pub(crate) take_over_after: Option<Duration>,
}

impl Default for PersistConfig {
    fn default() -> PersistConfig {
        PersistConfig {
            backend: None,
            logbook: None,
            owner: None,
            ttl: Duration::from_secs(30),
            take_over_after: None,
        }
    }
}

impl PersistConfig {
    fn owner(&self) -> String {
        self.owner.clone().unwrap_or_else(engine_owner)
    }
}

/// The engine's side of the logbook: the records of its flow and atoms, and
/// the lease it writes under, kept alive by a heartbeat while held.
#[derive(Debug)]
pub(crate) struct Recorder {
    backend: Arc<dyn Backend>,
    flow: FlowDetail,
    atoms: Vec<AtomDetail>,
    lease: Lease,
    ttl: Duration,
    /// Whether the lease is held (it is given back when the flow suspends or
    /// ends, and taken again to go on).
    held: bool,
    heartbeat: Option<Heartbeat>,
    /// Fires when the lease is lost; a new one for each time it is taken.
    cancel: CancelToken,
    /// Order in which atoms succeeded, kept in each atom's `meta.done`.
    next_done: u64,
    /// Noted and not yet committed: the flow, the atoms (by index, each
    /// once: `marked`).
    flow_dirty: bool,
    dirty: Vec<u32>,
    marked: Vec<bool>,
    /// Writes batches off the async loop (started on first use in a runtime).
    writer: Option<Writer>,
}

/// Records committed together: one transaction.
#[derive(Debug)]
pub(crate) struct Batch {
    flow: Option<FlowDetail>,
    atoms: Vec<AtomDetail>,
    lease: Lease,
}

impl Batch {
    pub(crate) fn write(&self, backend: &dyn Backend) -> Result<(), PersistenceError> {
        backend.save_records(self.flow.as_ref(), &self.atoms, Some(&self.lease))
    }
}

/// The range of indices `sorted` holds, if it holds every index of one.
fn contiguous(sorted: &[u32]) -> Option<std::ops::Range<usize>> {
    let (&first, &last) = (sorted.first()?, sorted.last()?);
    let (first, last) = (first as usize, last as usize);
    (last - first + 1 == sorted.len()).then_some(first..last + 1)
}

/// A recorded atom's id: `random` (a version 4 UUID) made a version 8 one
/// whose first four bytes are the atom's position. Logbooks key atoms by
/// (flow, atom id), so the atoms of a flow sit in their flow's order: the
/// SUCCESS of one atom and the RUNNING of the next, committed together,
/// land on one page of the index, not two (one page written per commit in
/// a chain, not two).
fn in_order(random: Uuid, position: u32) -> Uuid {
    let mut bytes = *random.as_bytes();
    bytes[..4].copy_from_slice(&position.to_be_bytes());
    Uuid::new_v8(bytes)
}

impl Recorder {
    /// Records a new run: a logbook (unless given), the flow detail with the
    /// factory, parameters and inputs to rebuild it, and every atom PENDING.
    pub(crate) fn start(
        config: &PersistConfig,
        backend: &Arc<dyn Backend>,
        plan: &ExecutionGraph,
        meta: Value,
    ) -> Result<Recorder, PersistenceError> {
        let backend = Arc::clone(backend);
        let logbook = match config.logbook {
            Some(uuid) => uuid,
            None => {
                let book = LogBook::new(plan.flow_name());
                backend.save_logbook(&book)?;
                book.uuid
            }
        };
        let mut flow = FlowDetail::new(logbook, plan.flow_name());
        flow.meta = meta;
        backend.save_flow(&flow, None)?;
        let lease = take_lease(config, &backend, &mut flow, true)?;
        let atoms: Vec<AtomDetail> = plan
            .atoms()
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut a = AtomDetail::new(flow.uuid, spec.atom_name(), i as u32);
                a.uuid = in_order(a.uuid, i as u32);
                a.version = spec.def().meta.version.to_string();
                if plan.is_retry(i) {
                    a.atom_type = AtomType::Retry;
                }
                a
            })
            .collect();
        let recorder = Recorder::holding(backend, flow, atoms, lease, config.ttl, 0);
        recorder
            .backend
            .save_atoms(&recorder.atoms, Some(&recorder.lease))?;
        Ok(recorder)
    }

    /// Takes over a recorded run: its lease first, then its records, read
    /// again under the lease. What a previous owner wrote before the lease
    /// changed hands (a dead process's last statements may land after the
    /// records were first read) is seen; what it writes after is refused.
    pub(crate) fn resume(
        config: &PersistConfig,
        backend: &Arc<dyn Backend>,
        flow: FlowDetail,
    ) -> Result<Recorder, PersistenceError> {
        let mut flow = flow;
        let lease = take_lease(config, backend, &mut flow, false)?;
        let (fresh, atoms) = match backend.load_flow(flow.uuid) {
            Ok(loaded) => loaded,
            Err(e) => {
                // Not held by anyone then: give it back at once.
                let _ = backend.release_lease(&lease);
                return Err(e);
            }
        };
        // The notes of this takeover, on the records as they are now.
        let notes = flow.meta.get("leases").cloned();
        flow = fresh;
        if let Some(notes) = notes {
            set_meta(&mut flow.meta, "leases", notes);
        }
        let next_done = atoms.iter().filter_map(done_of).max().map_or(0, |d| d + 1);
        Ok(Recorder::holding(
            Arc::clone(backend),
            flow,
            atoms,
            lease,
            config.ttl,
            next_done,
        ))
    }

    /// The records of the flow and its atoms, as last written.
    pub(crate) fn records(&self) -> (&FlowDetail, &[AtomDetail]) {
        (&self.flow, &self.atoms)
    }

    fn holding(
        backend: Arc<dyn Backend>,
        flow: FlowDetail,
        atoms: Vec<AtomDetail>,
        lease: Lease,
        ttl: Duration,
        next_done: u64,
    ) -> Recorder {
        let mut recorder = Recorder {
            backend,
            flow,
            marked: vec![false; atoms.len()],
            atoms,
            lease,
            ttl,
            held: true,
            heartbeat: None,
            cancel: CancelToken::new(),
            next_done,
            flow_dirty: false,
            dirty: Vec::new(),
            writer: None,
        };
        recorder.beat();
        recorder
    }

    /// Starts the heartbeat of the lease just taken, with a fresh token.
    fn beat(&mut self) {
        self.cancel = CancelToken::new();
        self.heartbeat = Heartbeat::start(
            Arc::clone(&self.backend),
            self.lease.clone(),
            self.ttl,
            self.cancel.clone(),
        );
    }

    /// Takes the lease again if the run gave it up (it was suspended), to go
    /// on. A run that lost its lease cannot go on from what this engine
    /// remembers (the new owner may have moved the flow on): refused, fenced.
    pub(crate) fn hold(&mut self, config: &PersistConfig) -> Result<(), PersistenceError> {
        if self.cancel.is_cancelled() {
            return Err(self.fenced());
        }
        if self.held {
            return Ok(());
        }
        self.stop_heartbeat();
        self.lease = take_lease(config, &self.backend, &mut self.flow, false)?;
        self.held = true;
        self.beat();
        Ok(())
    }

    /// The signal that fires when the lease is lost.
    pub(crate) fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Why the lease was lost (once the cancel token fired).
    pub(crate) fn lost(&mut self) -> PersistenceError {
        self.heartbeat
            .as_ref()
            .and_then(Heartbeat::take_lost)
            .unwrap_or_else(|| self.fenced())
    }

    /// The error for this engine's lease, no longer current: it names who
    /// holds the flow now, as far as the logbook says.
    fn fenced(&self) -> PersistenceError {
        let now = self.backend.current_lease(self.flow.uuid).ok().flatten();
        PersistenceError::Fenced {
            backend: self.backend.url().to_owned(),
            flow: self.lease.flow_uuid,
            owner: self.lease.owner.clone(),
            token: self.lease.token,
            current_token: now.as_ref().map_or(self.lease.token, |l| l.token),
            current_owner: now.map(|l| l.owner),
        }
    }

    fn stop_heartbeat(&mut self) {
        if let Some(mut heartbeat) = self.heartbeat.take() {
            heartbeat.stop();
        }
    }

    /// The flow detail's id.
    pub(crate) fn flow_uuid(&self) -> Uuid {
        self.flow.uuid
    }

    /// The logbook the run is recorded in.
    pub(crate) fn logbook_uuid(&self) -> Uuid {
        self.flow.logbook_uuid
    }

    /// The owner the run's lease is held by.
    pub(crate) fn owner(&self) -> &str {
        &self.lease.owner
    }

    /// Notes the flow going to `to` (written by the next [`Recorder::commit`]).
    pub(crate) fn flow(&mut self, to: FlowState) {
        if to == FlowState::Reverting {
            self.intend_revert();
        }
        self.flow.state = to;
        self.flow.touch();
        self.flow_dirty = true;
    }

    /// As TaskFlow does when a flow reverts: atoms that never ran get the
    /// intention REVERT too (written with the flow's REVERTING).
    fn intend_revert(&mut self) {
        for i in 0..self.atoms.len() {
            let atom = &mut self.atoms[i];
            if atom.state == AtomState::Pending && atom.intention != Intention::Revert {
                atom.intention = Intention::Revert;
                atom.touch();
                self.mark(i);
            }
        }
    }

    fn mark(&mut self, index: usize) {
        if !std::mem::replace(&mut self.marked[index], true) {
            self.dirty.push(index as u32);
        }
    }

    /// Notes atom `index` going to `to`, with its result or failure (written
    /// by the next [`Recorder::commit`]).
    pub(crate) fn atom(
        &mut self,
        index: usize,
        to: AtomState,
        outcome: Option<&Result<Value, Failure>>,
        history: Option<&History>,
    ) {
        let atom = &mut self.atoms[index];
        atom.state = to;
        if let Some(history) = history {
            set_meta(&mut atom.meta, "history", json!(history));
        }
        mark_timeline(&mut atom.meta, to, now_ms());
        if to == AtomState::Pending {
            // Reset for another attempt of its retry: the last attempt's
            // outcome lives on in the retry's history.
            atom.result = None;
            atom.failure = None;
            atom.revert_failure = None;
            if let Value::Object(map) = &mut atom.meta {
                for key in ["done", "progress", "progress_details", "revert_result"] {
                    map.remove(key);
                }
            }
        }
        atom.intention = match to {
            AtomState::Reverting | AtomState::Reverted | AtomState::RevertFailure => {
                Intention::Revert
            }
            AtomState::Ignore => Intention::Ignore,
            _ => Intention::Execute,
        };
        match outcome {
            Some(Ok(value)) => {
                atom.result = Some(value.clone());
                set_done(&mut atom.meta, self.next_done);
                self.next_done += 1;
            }
            Some(Err(failure)) if to == AtomState::RevertFailure => {
                atom.revert_failure = Some(failure.clone())
            }
            Some(Err(failure)) => atom.failure = Some(failure.clone()),
            None => {}
        }
        atom.touch();
        self.mark(index);
    }

    /// Whether transitions were noted and not yet committed.
    pub(crate) fn is_dirty(&self) -> bool {
        self.flow_dirty || !self.dirty.is_empty()
    }

    /// Commits every transition noted since the last commit, in one
    /// transaction under the lease; once the flow is recorded ended or
    /// suspended, gives the lease back. Inside a tokio runtime the write is
    /// done by the recorder's writer thread (the async loop and the tasks on
    /// its runtime go on meanwhile); outside one, on this thread.
    pub(crate) async fn commit(&mut self) -> Result<(), PersistenceError> {
        if !self.is_dirty() {
            return Ok(());
        }
        self.renew_if_due()?;
        let flow = std::mem::take(&mut self.flow_dirty);
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            self.marked[i as usize] = false;
        }
        let written = if tokio::runtime::Handle::try_current().is_ok() {
            // Off the loop, on the writer's thread: the records go there.
            let batch = Batch {
                flow: flow.then(|| self.flow.clone()),
                atoms: dirty
                    .iter()
                    .map(|&i| self.atoms[i as usize].clone())
                    .collect(),
                lease: self.lease.clone(),
            };
            let backend = &self.backend;
            let writer = self
                .writer
                .get_or_insert_with(|| Writer::start(Arc::clone(backend)));
            writer.write(batch).await
        } else {
            // Here: the records are written where they are.
            dirty.sort_unstable();
            let flow = flow.then_some(&self.flow);
            let lease = Some(&self.lease);
            match contiguous(&dirty) {
                Some(range) => self.backend.save_records(flow, &self.atoms[range], lease),
                None => {
                    let atoms: Vec<AtomDetail> = dirty
                        .iter()
                        .map(|&i| self.atoms[i as usize].clone())
                        .collect();
                    self.backend.save_records(flow, &atoms, lease)
                }
            }
        };
        // The list is given back, to keep its allocation.
        dirty.clear();
        self.dirty = dirty;
        written?;
        if self.flow.state.is_final() || self.flow.state == FlowState::Suspended {
            // Done with it for now: let another engine have it at once.
            self.release()?;
        }
        Ok(())
    }

    /// Without a heartbeat (no thread could be started): renews the lease
    /// once half its time has passed, so that a long run keeps it; a lease
    /// lost to another owner stops the run (fenced).
    fn renew_if_due(&mut self) -> Result<(), PersistenceError> {
        if self.heartbeat.is_some() {
            return Ok(());
        }
        let half = i64::try_from(self.ttl.as_millis() / 2).unwrap_or(i64::MAX);
        if self.lease.expires_at - now_ms() < half {
            self.lease = self.backend.renew_lease(&self.lease, self.ttl)?;
        }
        Ok(())
    }

    /// Stops the heartbeat and gives the lease back, if held.
    pub(crate) fn release(&mut self) -> Result<(), PersistenceError> {
        self.stop_heartbeat();
        if !std::mem::replace(&mut self.held, false) {
            return Ok(());
        }
        self.backend.release_lease(&self.lease)
    }
}

impl Drop for Recorder {
    /// An engine dropped while it holds the lease (mid-run, or compiled and
    /// never run) gives it back, so that another can resume the run at once.
    fn drop(&mut self) {
        if self.held && !self.cancel.is_cancelled() {
            if let Err(e) = self.release() {
                tracing::warn!(flow = %self.flow.uuid, error = %e, "cannot give the lease back");
            }
        }
        self.stop_heartbeat();
    }
}

/// Takes the lease of `flow` under `config`'s owner, and notes in its
/// metadata (`meta.leases`, saved with the flow's next state) who took it,
/// when, from whom and how; a takeover from another owner is logged too.
/// `fresh`: the flow detail was just created, no one held it.
fn take_lease(
    config: &PersistConfig,
    backend: &Arc<dyn Backend>,
    flow: &mut FlowDetail,
    fresh: bool,
) -> Result<Lease, PersistenceError> {
    let owner = config.owner();
    let before = match fresh {
        true => None,
        false => backend.current_lease(flow.uuid).ok().flatten(),
    };
    let lease = match config.take_over_after {
        None => backend
            .acquire_lease(flow.uuid, &owner, config.ttl)
            .map_err(|e| held_since(e, &flow.meta))?,
        Some(grace) => {
            let until = std::time::Instant::now() + grace;
            loop {
                match backend.acquire_lease(flow.uuid, &owner, config.ttl) {
                    Err(PersistenceError::LeaseHeld { .. })
                        if std::time::Instant::now() < until =>
                    {
                        std::thread::sleep(Duration::from_millis(50).min(grace));
                    }
                    Err(PersistenceError::LeaseHeld { owner: holder, .. }) => {
                        tracing::warn!(flow = %flow.uuid, from = %holder, to = %owner, "forced takeover of a live lease");
                        break backend.take_over_lease(flow.uuid, &owner, config.ttl)?;
                    }
                    other => break other.map_err(|e| held_since(e, &flow.meta))?,
                }
            }
        }
    };
    let now = now_ms();
    let how = match &before {
        None => "free",
        Some(b) if b.owner == owner => "restarted",
        Some(b) if b.expires_at <= now => "expired",
        Some(b) if owner_is_gone(&b.owner) => "owner gone",
        Some(_) => "forced",
    };
    if let Some(b) = &before {
        if b.owner != owner {
            tracing::warn!(flow = %flow.uuid, from = %b.owner, to = %owner, token = lease.token, how, "lease taken over");
        }
    }
    let entry = json!({
        "owner": owner,
        "token": lease.token,
        "since": now,
        "from": before.as_ref().map(|b| b.owner.as_str()),
        "how": how,
    });
    let mut leases = flow
        .meta
        .get("leases")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    leases.push(entry);
    let keep = leases.len().saturating_sub(MAX_LEASE_NOTES);
    leases.drain(..keep);
    set_meta(&mut flow.meta, "leases", Value::Array(leases));
    Ok(lease)
}

/// A `LeaseHeld` error told since when its owner holds the lease, from the
/// notes in the flow detail's metadata.
fn held_since(error: PersistenceError, meta: &Value) -> PersistenceError {
    match error {
        PersistenceError::LeaseHeld {
            backend,
            flow,
            owner,
            token,
            since: None,
            expires_at,
        } => {
            let since = meta
                .get("leases")
                .and_then(Value::as_array)
                .and_then(|notes| {
                    notes.iter().rev().find(|n| {
                        n.get("owner").and_then(Value::as_str) == Some(owner.as_str())
                            && n.get("token").and_then(Value::as_u64) == Some(token)
                    })
                })
                .and_then(|n| n.get("since")?.as_i64());
            PersistenceError::LeaseHeld {
                backend,
                flow,
                owner,
                token,
                since,
                expires_at,
            }
        }
        other => other,
    }
}

fn done_of(atom: &AtomDetail) -> Option<u64> {
    atom.meta.get("done").and_then(Value::as_u64)
}

fn set_done(meta: &mut Value, done: u64) {
    set_meta(meta, "done", json!(done));
}

/// Keeps when each execution and revert of an atom started and ended in
/// `meta.timeline`, a list of `{"kind", "start", "end", "state"}` (unix ms;
/// `end` and `state` once it ended), so that operators' tools can draw its
/// attempts (a retried atom runs several times); read it back with
/// [`AtomDetail::timeline`].
fn mark_timeline(meta: &mut Value, to: AtomState, now: i64) {
    let kind = match to {
        AtomState::Running => Some("execute"),
        AtomState::Reverting => Some("revert"),
        _ => None,
    };
    match (kind, meta.get_mut("timeline").and_then(Value::as_array_mut)) {
        (Some(kind), Some(entries)) => entries.push(json!({ "kind": kind, "start": now })),
        (Some(kind), None) => set_meta(meta, "timeline", json!([{ "kind": kind, "start": now }])),
        (None, Some(entries)) => {
            if let Some(Value::Object(last)) = entries.last_mut() {
                if !last.contains_key("end") {
                    last.insert("end".into(), json!(now));
                    last.insert("state".into(), json!(to.as_str()));
                }
            }
        }
        (None, None) => {}
    }
}

fn set_meta(meta: &mut Value, key: &str, value: Value) {
    match meta {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        other => *other = json!({ key: value }),
    }
}

/// Why a recorded run cannot be taken up again.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The logbook could not be read or the lease not taken.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// The flow detail does not say how to rebuild its flow.
    #[error("flow detail {flow}: its metadata does not name a flow factory (`{field}` is missing or not {expected}); only runs started with `Engine::from_factory` can be resumed by id: take the others up with `Engine::load_from_detail(flow, backend, id)`")]
    NoFactory {
        /// The flow detail.
        flow: Uuid,
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The factory is unknown or refused its parameters.
    #[error("flow detail {flow}: {source}")]
    Factory {
        /// The flow detail.
        flow: Uuid,
        /// What went wrong.
        #[source]
        source: crate::factory::FactoryError,
    },
    /// The rebuilt flow does not have the recorded atoms.
    #[error("flow detail {flow}: the recorded atom `{atom}` at position {position} is not in the flow the factory builds now ({found})")]
    Mismatch {
        /// The flow detail.
        flow: Uuid,
        /// The recorded atom.
        atom: String,
        /// Its recorded position.
        position: u32,
        /// What the flow has there.
        found: String,
    },
    /// An atom was recorded by a different major version of its task.
    #[error("flow detail {flow}: atom `{atom}` was recorded by version {recorded} of its task, and the code is version {current}; a major version change needs an upgrade policy (`Engine::upgrade_policy`)")]
    Version {
        /// The flow detail.
        flow: Uuid,
        /// The atom.
        atom: String,
        /// The recorded version.
        recorded: String,
        /// The code's version.
        current: Version,
    },
    /// The rebuilt flow is not valid.
    #[error(transparent)]
    Invalid(#[from] crate::flow::FlowErrors),
    /// The backend has no flow detail of that id.
    #[error("cannot take up flow `{name}`: the logbook at {backend} has no flow detail {flow}")]
    UnknownFlow {
        /// The id asked for.
        flow: Uuid,
        /// The flow it was to be taken up with.
        name: String,
        /// The backend's URL (password removed).
        backend: String,
    },
    /// The flow given to [`Engine::load_from_detail`](crate::Engine::load_from_detail)
    /// does not have the recorded atoms.
    #[error(
        "flow detail {flow} cannot be taken up with flow `{name}`: its atoms differ: {}",
        differences(missing, unrecorded, moved)
    )]
    AtomsDiffer {
        /// The flow detail.
        flow: Uuid,
        /// The name of the flow given.
        name: String,
        /// Atoms recorded that the flow does not have.
        missing: Vec<String>,
        /// Atoms of the flow that were not recorded.
        unrecorded: Vec<String>,
        /// Atoms at another place in the flow than recorded, each described.
        moved: Vec<String>,
    },
    /// The run had transient inputs, and they were not given again.
    #[error("flow detail {flow} (flow `{name}`) had transient inputs, which the logbook does not keep: give {} again with `Engine::transient_input`", quoted(missing))]
    MissingTransient {
        /// The flow detail.
        flow: Uuid,
        /// The flow's name.
        name: String,
        /// The transient inputs not given.
        missing: Vec<String>,
    },
    /// The flow detail's own record cannot be read.
    #[error("flow detail {flow}: {message}")]
    CorruptFlow {
        /// The flow detail.
        flow: Uuid,
        /// What is wrong.
        message: String,
    },
    /// A record cannot be read.
    #[error("flow detail {flow}: atom `{atom}`: {message}")]
    Corrupt {
        /// The flow detail.
        flow: Uuid,
        /// The atom.
        atom: String,
        /// What is wrong.
        message: String,
    },
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn differences(missing: &[String], unrecorded: &[String], moved: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("recorded but not in the flow: {}", quoted(missing)));
    }
    if !unrecorded.is_empty() {
        parts.push(format!(
            "in the flow but not recorded: {}",
            quoted(unrecorded)
        ));
    }
    if !moved.is_empty() {
        parts.push(format!("moved: {}", moved.join(", ")));
    }
    parts.join("; ")
}

/// Puts what the logbook recorded into a fresh storage, checking that the
/// recorded atoms are the plan's and that their versions are compatible.
pub(crate) fn restore(
    storage: &mut Storage,
    flow: &FlowDetail,
    atoms: &[AtomDetail],
    upgrade: Option<&UpgradePolicy>,
) -> Result<(), ResumeError> {
    let plan = Arc::clone(&storage.plan);
    let mut done: Vec<(u64, u32)> = Vec::new();
    for recorded in atoms {
        let i = recorded.position as usize;
        let spec = plan
            .atoms()
            .get(i)
            .filter(|s| s.atom_name() == recorded.name);
        let Some(spec) = spec else {
            return Err(ResumeError::Mismatch {
                flow: flow.uuid,
                atom: recorded.name.clone(),
                position: recorded.position,
                found: plan.atoms().get(i).map_or_else(
                    || format!("it has {} atoms", plan.atoms().len()),
                    |s| format!("`{}` is there", s.atom_name()),
                ),
            });
        };
        let current = spec.def().meta.version;
        let compatible = recorded
            .parsed_version()
            .is_some_and(|v| v.major == current.major);
        if !compatible
            && !upgrade.is_some_and(|allow| allow(&recorded.name, &recorded.version, current))
        {
            return Err(ResumeError::Version {
                flow: flow.uuid,
                atom: recorded.name.clone(),
                recorded: recorded.version.clone(),
                current,
            });
        }
        if let Some(scope) = plan.retry_scope(i) {
            if let Some(history) = recorded.meta.get("history") {
                let history = History::deserialize(history).map_err(|e| ResumeError::Corrupt {
                    flow: flow.uuid,
                    atom: recorded.name.clone(),
                    message: format!("its retry history (`meta.history`) cannot be read: {e}"),
                })?;
                storage.histories[scope] = Arc::new(history);
            }
        }
        storage.states[i] = recorded.state;
        storage.intentions[i] = recorded.intention;
        if let Value::Object(meta) = &recorded.meta {
            storage.metas[i] = meta
                .iter()
                .filter(|(k, _)| crate::storage::is_kept_meta(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        storage.results[i] = recorded.result.clone();
        storage.failures[i] = recorded.failure.clone();
        storage.revert_failures[i] = recorded.revert_failure.clone();
        if let Some(d) = done_of(recorded) {
            if recorded.result.is_some() {
                done.push((d, i as u32));
            }
        }
    }
    done.sort_unstable();
    storage.completed = done.into_iter().map(|(_, i)| i).collect();
    storage.flow_state = flow.state;
    Ok(())
}

impl crate::storage::Journal for Recorder {
    fn atom(
        &mut self,
        index: usize,
        to: AtomState,
        outcome: Option<&Result<Value, Failure>>,
        history: Option<&History>,
    ) {
        Recorder::atom(self, index, to, outcome, history);
    }

    fn flow(&mut self, to: FlowState) {
        Recorder::flow(self, to);
    }

    fn meta(&mut self, index: usize, key: &str, value: Option<&Value>) {
        let atom = &mut self.atoms[index];
        match value {
            Some(value) => set_meta(&mut atom.meta, key, value.clone()),
            None => {
                if let Value::Object(map) = &mut atom.meta {
                    map.remove(key);
                }
            }
        }
        atom.touch();
        self.mark(index);
    }
}
