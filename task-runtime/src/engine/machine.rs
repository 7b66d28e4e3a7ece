//! The engine's decisions, without I/O: given the execution graph and the
//! recorded states, what to execute, revert, retry or finish next.
//!
//! Executing: an atom is ready when every predecessor succeeded; ready atoms
//! start in the order they were added to the flow, as many at a time as the
//! executor has room for.
//!
//! A failure outside any retry fails the flow: nothing new starts; once the
//! atoms still running have finished, the failed atoms are reverted first (in
//! the order they failed), then every atom that succeeded, newest first. A
//! revert that fails ends the flow in FAILURE and nothing before it is
//! reverted.
//!
//! A failure inside a retry's subflow is resolved first ([`Action::Decide`]:
//! the engine asks the retry controllers). Retrying or reverting one subflow
//! stops new atoms starting in it; once its running atoms finished, its
//! failed atoms are reverted, then its succeeded atoms newest first; then it
//! is reset and its retry runs again ([`Action::Retry`]), or — when it is
//! reverted for good — the retry is reverted too and the flow will end
//! REVERTED. Atoms outside the subflow go on meanwhile.
//!
//! Suspension: nothing new starts; once the running atoms have finished the
//! flow ends SUSPENDED, and a machine built again from the same storage goes
//! on from there (reverting, if an atom had failed).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use crate::decider::Depth;
use crate::flow::ExecutionGraph;
use crate::state::{AtomState, FlowState};
use crate::storage::Storage;

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Execute this atom.
    Execute(usize),
    /// Revert this atom.
    Revert(usize),
    /// This atom, inside a retry's subflow, failed: resolve what to do and
    /// tell [`Machine::resolved`].
    Decide(usize),
    /// This retry scope's subflow is reverted: reset it for another attempt
    /// and tell [`Machine::retried`].
    Retry(usize),
    /// This atom is ready, behind links with deciders: ask them and tell
    /// [`Machine::checked`].
    Check(usize),
    /// Wait for a running atom to finish.
    Wait,
    /// The flow ends in this state.
    Finish(FlowState),
}

/// What the deciders in front of an atom said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Checked {
    /// Run it.
    Run,
    /// These links said no: skip what they reach.
    Ignore(Vec<usize>),
    /// A decider failed: the atom fails.
    Fail,
}

/// How a failure inside a retry's subflow is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Revert this scope's subflow, then run it again.
    Retry(usize),
    /// Revert this scope's subflow and its retry, for good.
    Revert(usize),
    /// Revert the whole flow.
    All,
}

#[derive(Debug)]
enum Phase {
    Executing,
    Reverting { order: Vec<u32>, next: usize },
    Finished(FlowState),
}

/// A retry scope being reverted (to be retried, or for good).
#[derive(Debug)]
struct Unwind {
    scope: u32,
    again: bool,
    /// The atoms to revert, once nothing in the scope runs any more.
    order: Option<Vec<u32>>,
    next: usize,
}

#[derive(Debug)]
pub(crate) struct Machine {
    /// Predecessors of each atom that have not succeeded yet.
    preds: Vec<u32>,
    ready: BinaryHeap<Reverse<u32>>,
    /// Atoms started and not finished.
    running: u32,
    /// Atoms that failed, in the order they failed.
    failed: Vec<u32>,
    /// The whole flow is failing: everything is to be reverted.
    all: bool,
    suspending: bool,
    /// A revert failed: the flow ends FAILURE once nothing runs.
    revert_failed: bool,
    phase: Phase,
    // Retry scopes (all empty when the flow has none).
    /// Atoms running inside each scope.
    running_in: Vec<u32>,
    /// Scopes being reverted or reverted for good: nothing starts in them.
    blocked: Vec<bool>,
    /// Failed atoms waiting for a resolution.
    decide: VecDeque<u32>,
    /// Scopes whose reset for another attempt is due.
    reset: VecDeque<u32>,
    unwinding: Vec<Unwind>,
    /// Scopes reverted (or being reverted) for good.
    dead: Vec<bool>,
    // Deciders (both empty when the flow has none).
    /// Atoms whose deciders said yes.
    approved: Vec<bool>,
    /// Atoms skipped by a decider.
    skipped: Vec<bool>,
    /// The flow has no retry and no decider: the plain path applies.
    plain: bool,
}

impl Machine {
    /// A machine continuing from what `storage` recorded: atoms that
    /// succeeded stay done, atoms recorded RUNNING run again, and a flow with
    /// a failed atom goes on resolving and reverting.
    pub(crate) fn new(storage: &Storage) -> Machine {
        let plan = &*storage.plan;
        let graph = &plan.graph;
        let n = storage.states.len();
        let scopes = plan.retries.len();
        let mut machine = Machine {
            preds: Vec::new(),
            ready: BinaryHeap::new(),
            running: 0,
            failed: Vec::new(),
            all: false,
            suspending: false,
            revert_failed: false,
            phase: Phase::Executing,
            running_in: vec![0; scopes],
            blocked: vec![false; scopes],
            decide: VecDeque::new(),
            reset: VecDeque::new(),
            unwinding: Vec::new(),
            dead: vec![false; scopes],
            approved: Vec::new(),
            skipped: Vec::new(),
            plain: plan.retries.is_empty() && plan.deciders.is_empty(),
        };
        if !plan.deciders.is_empty() {
            machine.approved = vec![false; n];
            machine.skipped = storage
                .states
                .iter()
                .map(|s| *s == AtomState::Ignore)
                .collect();
        }
        if storage.states.contains(&AtomState::RevertFailure) {
            machine.phase = Phase::Finished(FlowState::Failure);
            return machine;
        }
        for (s, scope) in plan.retries.iter().enumerate() {
            match storage.states[scope.atom as usize] {
                AtomState::Retrying => machine.reset.push_back(s as u32),
                AtomState::Reverted => {
                    machine.blocked[s] = true;
                    machine.dead[s] = true;
                }
                // Stopped while reverting the retry itself, its subflow done.
                AtomState::Reverting => {
                    machine.blocked[s] = true;
                    machine.dead[s] = true;
                    machine.unwinding.push(Unwind {
                        scope: s as u32,
                        again: false,
                        order: Some(vec![scope.atom]),
                        next: 0,
                    });
                }
                _ => {}
            }
        }
        // Recorded failures not yet undone by a retry: an atom whose execution
        // failed means its flow (or subflow) is being resolved or reverted.
        for i in 0..n {
            if storage.failures[i].is_none() {
                continue;
            }
            let live = match (storage.states[i], plan.scope_of(i)) {
                (AtomState::Failure | AtomState::Reverting, _) => true,
                // Outside retries, any failure means the flow is reverting.
                (_, None) => true,
                // Reverted, in a subflow still being unwound for a retry.
                (AtomState::Reverted, Some(s)) => {
                    storage.states[plan.retries[s].atom as usize] == AtomState::Success
                }
                _ => false,
            };
            if !live {
                continue;
            }
            if storage.states[i] != AtomState::Reverted {
                machine.failed.push(i as u32);
            }
            match plan.scope_of(i) {
                Some(s) if !machine.blocked[s] => machine.decide.push_back(i as u32),
                Some(_) => {}
                None => machine.all = true,
            }
        }
        if machine.all {
            machine.decide.clear();
            machine.reset.clear();
            machine.start_reverting(storage);
            return machine;
        }
        let mut preds = vec![0u32; n];
        for edge in graph.raw_edges() {
            if !is_done(storage.states[edge.source().index()]) {
                preds[edge.target().index()] += 1;
            }
        }
        machine.ready = (0..n as u32)
            .filter(|&i| {
                preds[i as usize] == 0
                    && matches!(
                        storage.states[i as usize],
                        // A RETRYING retry runs again once its scope is reset.
                        AtomState::Pending | AtomState::Running
                    )
            })
            .map(Reverse)
            .collect();
        machine.preds = preds;
        machine
    }

    /// The next action; `room` says whether the executor can start one more
    /// atom now.
    #[inline]
    pub(crate) fn next(&mut self, plan: &ExecutionGraph, room: bool) -> Action {
        if self.plain
            && matches!(self.phase, Phase::Executing)
            && !(self.all || self.suspending || self.revert_failed)
        {
            // No retry, no decider, nothing failed: what most runs are.
            if room {
                if let Some(Reverse(i)) = self.ready.pop() {
                    self.running += 1;
                    return Action::Execute(i as usize);
                }
            }
            if self.running > 0 {
                return Action::Wait;
            }
            return self.finish(FlowState::Success);
        }
        if let Phase::Finished(state) = self.phase {
            return Action::Finish(state);
        }
        if let Some(i) = self.decide.pop_front() {
            return Action::Decide(i as usize);
        }
        if self.revert_failed || self.suspending {
            if self.running > 0 {
                return Action::Wait;
            }
            let state = if self.revert_failed {
                FlowState::Failure
            } else {
                FlowState::Suspended
            };
            return self.finish(state);
        }
        if let Some(s) = self.reset.front() {
            return Action::Retry(*s as usize);
        }
        if let Phase::Reverting { order, next } = &mut self.phase {
            return match order.get(*next) {
                Some(&i) => {
                    *next += 1;
                    Action::Revert(i as usize)
                }
                None => self.finish(FlowState::Reverted),
            };
        }
        if self.all {
            if self.running > 0 {
                return Action::Wait;
            }
            unreachable!("reverting starts when the last running atom finishes");
        }
        if let Some(action) = self.unwind_step() {
            return action;
        }
        if room {
            while let Some(Reverse(i)) = self.ready.pop() {
                if self.is_blocked(plan, i as usize) {
                    continue;
                }
                if !self.skipped.is_empty() {
                    if self.skipped[i as usize] {
                        continue;
                    }
                    if !self.approved[i as usize] && plan.guards_of(i as usize).next().is_some() {
                        return Action::Check(i as usize);
                    }
                }
                self.started(plan, i as usize);
                return Action::Execute(i as usize);
            }
        }
        if self.running > 0 {
            return Action::Wait;
        }
        if self.dead.contains(&true) {
            return self.finish(FlowState::Reverted);
        }
        self.finish(FlowState::Success)
    }

    #[inline]
    fn finish(&mut self, state: FlowState) -> Action {
        self.phase = Phase::Finished(state);
        Action::Finish(state)
    }

    /// The next revert or reset of a scope being unwound, if one is due.
    #[inline]
    fn unwind_step(&mut self) -> Option<Action> {
        let mut k = 0;
        while k < self.unwinding.len() {
            let u = &mut self.unwinding[k];
            let Some(order) = &u.order else {
                k += 1;
                continue;
            };
            if let Some(&i) = order.get(u.next) {
                u.next += 1;
                return Some(Action::Revert(i as usize));
            }
            let u = self.unwinding.remove(k);
            if u.again {
                self.reset.push_back(u.scope);
                return Some(Action::Retry(u.scope as usize));
            }
        }
        None
    }

    #[inline]
    fn started(&mut self, plan: &ExecutionGraph, i: usize) {
        self.running += 1;
        for s in plan.scopes_around(i) {
            self.running_in[s] += 1;
        }
    }

    /// Whether atom `i` is inside a scope being unwound or reverted for good.
    #[inline]
    fn is_blocked(&self, plan: &ExecutionGraph, i: usize) -> bool {
        plan.scopes_around(i).any(|s| self.blocked[s])
    }

    /// Atom `index` finished executing, successfully or not.
    #[inline]
    pub(crate) fn executed(&mut self, storage: &Storage, index: usize, ok: bool) {
        let plan = &*storage.plan;
        self.running -= 1;
        if !self.plain {
            for s in plan.scopes_around(index) {
                self.running_in[s] -= 1;
            }
        }
        if ok {
            for succ in plan
                .graph
                .neighbors_directed(NodeIndex::new(index), Direction::Outgoing)
            {
                let p = &mut self.preds[succ.index()];
                *p -= 1;
                if *p == 0 {
                    self.ready.push(Reverse(succ.index() as u32));
                }
            }
        } else {
            self.failed.push(index as u32);
            if plan.scope_of(index).is_some() && !self.all {
                self.decide.push_back(index as u32);
            } else {
                self.fail_all();
            }
        }
        self.settle(storage);
    }

    /// The resolution of a failure the machine asked about ([`Action::Decide`]).
    pub(crate) fn resolved(&mut self, storage: &Storage, resolution: Resolution) {
        let plan = &*storage.plan;
        let (scope, again) = match resolution {
            Resolution::All => {
                self.fail_all();
                self.settle(storage);
                return;
            }
            Resolution::Retry(s) => (s, true),
            Resolution::Revert(s) => (s, false),
        };
        if self.all {
            return;
        }
        // A scope already unwound (this one, or one around it) covers it.
        let retry = plan.retries[scope].atom as usize;
        if self.blocked[scope] || plan.scopes_around(retry).any(|s| self.blocked[s]) {
            return;
        }
        // It covers the scopes inside it being unwound.
        let members = plan.retries[scope].members.clone();
        self.unwinding
            .retain(|u| !members.contains(&plan.retries[u.scope as usize].atom));
        self.blocked[scope] = true;
        self.dead[scope] = !again;
        self.unwinding.push(Unwind {
            scope: scope as u32,
            again,
            order: None,
            next: 0,
        });
        self.settle(storage);
    }

    /// Starts what waited for running atoms to finish: the global revert, or
    /// the reverts of scopes being unwound.
    fn settle(&mut self, storage: &Storage) {
        if self.suspending || self.revert_failed {
            return;
        }
        if self.all {
            if self.running == 0 && matches!(self.phase, Phase::Executing) {
                self.start_reverting(storage);
            }
            return;
        }
        let plan = &*storage.plan;
        for u in &mut self.unwinding {
            if u.order.is_some() || self.running_in[u.scope as usize] > 0 {
                continue;
            }
            let scope = &plan.retries[u.scope as usize];
            let mut order = revert_order(&self.failed, storage, |i| scope.members.contains(&i));
            if !u.again && is_revertible(storage.states[scope.atom as usize]) {
                order.push(scope.atom);
            }
            u.order = Some(order);
        }
    }

    /// What the deciders in front of atom `i` said ([`Action::Check`]). For
    /// [`Checked::Ignore`], the atoms to skip (the engine records them
    /// IGNORE, then calls [`Machine::ignored`]); for [`Checked::Fail`], the
    /// atom counts as started and the engine finishes it with its failure.
    pub(crate) fn checked(
        &mut self,
        plan: &ExecutionGraph,
        i: usize,
        checked: Checked,
    ) -> Vec<usize> {
        self.approved[i] = true;
        match checked {
            Checked::Run => {
                self.ready.push(Reverse(i as u32));
                Vec::new()
            }
            Checked::Fail => {
                self.started(plan, i);
                Vec::new()
            }
            Checked::Ignore(links) => {
                let mut skip = vec![false; self.skipped.len()];
                let mut out = Vec::new();
                let add = |j: u32, skip: &mut Vec<bool>, out: &mut Vec<u32>| {
                    if !skip[j as usize] && !self.skipped[j as usize] {
                        skip[j as usize] = true;
                        out.push(j);
                    }
                };
                for link in links {
                    let link = &plan.deciders[link];
                    let start = out.len();
                    for j in link.to.clone() {
                        add(j, &mut skip, &mut out);
                    }
                    let depth = link.decider.depth;
                    if depth == Depth::Atom {
                        continue;
                    }
                    let mut k = start;
                    while k < out.len() {
                        let j = out[k];
                        k += 1;
                        let beyond_base = !link.to.contains(&j);
                        if depth == Depth::Neighbors && beyond_base {
                            continue;
                        }
                        for succ in plan
                            .graph
                            .neighbors_directed(NodeIndex::new(j as usize), Direction::Outgoing)
                        {
                            let succ = succ.index() as u32;
                            if depth == Depth::Flow
                                && !link.to.contains(&succ)
                                && link.flow_tasks.binary_search(&succ).is_err()
                            {
                                continue;
                            }
                            add(succ, &mut skip, &mut out);
                        }
                    }
                }
                out.sort_unstable();
                out.into_iter().map(|j| j as usize).collect()
            }
        }
    }

    /// The atoms a decider skipped are recorded IGNORE: what follows them
    /// may run.
    pub(crate) fn ignored(&mut self, storage: &Storage, atoms: &[usize]) {
        for &j in atoms {
            self.skipped[j] = true;
        }
        for &j in atoms {
            for succ in storage
                .plan
                .graph
                .neighbors_directed(NodeIndex::new(j), Direction::Outgoing)
            {
                let p = &mut self.preds[succ.index()];
                *p -= 1;
                if *p == 0 && !self.skipped[succ.index()] {
                    self.ready.push(Reverse(succ.index() as u32));
                }
            }
        }
    }

    /// Scope `scope` was reset for another attempt: its retry runs again.
    pub(crate) fn retried(&mut self, storage: &Storage, scope: usize) {
        let plan = &*storage.plan;
        if self.reset.front() == Some(&(scope as u32)) {
            self.reset.pop_front();
        }
        let r = plan.retries[scope].atom;
        let members = plan.retries[scope].members.clone();
        for (s, inner) in plan.retries.iter().enumerate() {
            if s == scope || members.contains(&inner.atom) {
                self.blocked[s] = false;
                self.dead[s] = false;
            }
        }
        self.failed.retain(|i| *i != r && !members.contains(i));
        if self.preds.is_empty() {
            self.preds = vec![0; storage.states.len()];
        }
        let all = r..members.end;
        for i in all.clone() {
            self.preds[i as usize] = 0;
            if !self.skipped.is_empty() {
                self.skipped[i as usize] = false;
                self.approved[i as usize] = false;
            }
        }
        for edge in plan.graph.raw_edges() {
            let (a, b) = (edge.source().index(), edge.target().index() as u32);
            if all.contains(&b) && !is_done(storage.states[a]) {
                self.preds[b as usize] += 1;
            }
        }
        if self.preds[r as usize] == 0 {
            self.ready.push(Reverse(r));
        }
    }

    fn fail_all(&mut self) {
        self.all = true;
        self.ready.clear();
        self.decide.clear();
        self.reset.clear();
        self.unwinding.clear();
    }

    fn start_reverting(&mut self, storage: &Storage) {
        let order = revert_order(&self.failed, storage, |_| true);
        self.ready.clear();
        self.phase = Phase::Reverting { order, next: 0 };
    }

    /// Atom `index` finished reverting, successfully or not.
    pub(crate) fn reverted(&mut self, ok: bool) {
        if !ok {
            self.revert_failed = true;
            self.ready.clear();
            self.unwinding.clear();
            self.reset.clear();
            if matches!(self.phase, Phase::Reverting { .. }) {
                self.phase = Phase::Executing;
            }
        }
    }

    /// Stop starting atoms; end SUSPENDED once the running ones finished.
    pub(crate) fn suspend(&mut self) {
        self.suspending = true;
    }

    /// Whether the machine is on its plain path (no retry, no decider,
    /// nothing failed, not suspending): its next action is to start another
    /// atom, to wait, or to finish.
    pub(crate) fn only_starts(&self) -> bool {
        self.plain
            && matches!(self.phase, Phase::Executing)
            && !(self.all || self.suspending || self.revert_failed)
    }

    /// Whether the whole flow is being reverted.
    pub(crate) fn is_reverting(&self) -> bool {
        self.all
    }
}

/// What to revert among the atoms `take` accepts: those that failed, in the
/// order they failed, then those that succeeded, newest first; each once,
/// and only if it has something to undo.
fn revert_order(failed: &[u32], storage: &Storage, take: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut seen = vec![false; storage.states.len()];
    let failed = failed.iter();
    let succeeded = storage.completed.iter().rev();
    let mut order = Vec::new();
    for &i in failed.chain(succeeded) {
        if take(i) && !seen[i as usize] && is_revertible(storage.states[i as usize]) {
            seen[i as usize] = true;
            order.push(i);
        }
    }
    order
}

/// Whether an atom in this state lets the atoms after it run.
fn is_done(state: AtomState) -> bool {
    matches!(state, AtomState::Success | AtomState::Ignore)
}

/// Whether an atom in this state has something a revert may undo.
fn is_revertible(state: AtomState) -> bool {
    matches!(
        state,
        AtomState::Success | AtomState::Failure | AtomState::Reverting
    )
}
