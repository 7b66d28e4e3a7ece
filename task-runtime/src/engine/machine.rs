//! The engine's decisions, without I/O: given the execution graph and the
//! recorded states, what to execute, revert or finish next.
//!
//! Executing: an atom is ready when every predecessor succeeded; ready atoms
//! start in the order they were added to the flow, as many at a time as the
//! executor has room for. After a failure nothing new starts; once the atoms
//! still running have finished, the failed atoms are reverted first (in the
//! order they failed), then every atom that succeeded, newest first. A revert
//! that fails ends the flow in FAILURE and nothing before it is reverted.
//!
//! Suspension: nothing new starts; once the running atoms have finished the
//! flow ends SUSPENDED, and a machine built again from the same storage goes
//! on from there (reverting, if an atom had failed).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use super::{AtomState, FlowState};
use crate::storage::Storage;

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Execute this atom.
    Execute(usize),
    /// Revert this atom.
    Revert(usize),
    /// Wait for a running atom to finish.
    Wait,
    /// The flow ends in this state.
    Finish(FlowState),
}

#[derive(Debug)]
enum Phase {
    Executing,
    Reverting { order: Vec<u32>, next: usize },
    Finished(FlowState),
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
    suspending: bool,
    phase: Phase,
}

impl Machine {
    /// A machine continuing from what `storage` recorded: atoms that
    /// succeeded stay done, atoms recorded RUNNING run again, and a flow with
    /// a failed atom goes on reverting.
    pub(crate) fn new(storage: &Storage) -> Machine {
        let graph = &storage.plan.graph;
        let n = storage.states.len();
        // An atom whose execution failed means the flow is reverting; those
        // not reverted yet go first.
        let failing = storage.failures.iter().any(Option::is_some);
        let failed: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                let i = i as usize;
                storage.failures[i].is_some()
                    && matches!(storage.states[i], AtomState::Failure | AtomState::Reverting)
            })
            .collect();
        let mut machine = Machine {
            preds: Vec::new(),
            ready: BinaryHeap::new(),
            running: 0,
            failed,
            suspending: false,
            phase: Phase::Executing,
        };
        if storage.states.contains(&AtomState::RevertFailure) {
            machine.phase = Phase::Finished(FlowState::Failure);
            return machine;
        }
        if failing {
            machine.start_reverting(storage);
            return machine;
        }
        let mut preds = vec![0u32; n];
        for edge in graph.raw_edges() {
            if storage.states[edge.source().index()] != AtomState::Success {
                preds[edge.target().index()] += 1;
            }
        }
        machine.ready = (0..n as u32)
            .filter(|&i| {
                preds[i as usize] == 0
                    && matches!(
                        storage.states[i as usize],
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
    pub(crate) fn next(&mut self, room: bool) -> Action {
        match &mut self.phase {
            Phase::Executing => {
                if !self.failed.is_empty() || self.suspending {
                    if self.running > 0 {
                        return Action::Wait;
                    }
                    if self.suspending {
                        self.phase = Phase::Finished(FlowState::Suspended);
                        return Action::Finish(FlowState::Suspended);
                    }
                    unreachable!("reverting starts when the last running atom finishes");
                }
                if room {
                    if let Some(Reverse(i)) = self.ready.pop() {
                        self.running += 1;
                        return Action::Execute(i as usize);
                    }
                }
                if self.running > 0 {
                    return Action::Wait;
                }
                self.phase = Phase::Finished(FlowState::Success);
                Action::Finish(FlowState::Success)
            }
            Phase::Reverting { order, next } => {
                if self.suspending {
                    self.phase = Phase::Finished(FlowState::Suspended);
                    return Action::Finish(FlowState::Suspended);
                }
                match order.get(*next) {
                    Some(&i) => {
                        *next += 1;
                        Action::Revert(i as usize)
                    }
                    None => {
                        self.phase = Phase::Finished(FlowState::Reverted);
                        Action::Finish(FlowState::Reverted)
                    }
                }
            }
            Phase::Finished(state) => Action::Finish(*state),
        }
    }

    /// Atom `index` finished executing, successfully or not.
    pub(crate) fn executed(&mut self, storage: &Storage, index: usize, ok: bool) {
        self.running -= 1;
        if ok {
            for succ in storage
                .plan
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
            self.ready.clear();
        }
        if !self.failed.is_empty() && self.running == 0 && !self.suspending {
            self.start_reverting(storage);
        }
    }

    fn start_reverting(&mut self, storage: &Storage) {
        let mut order = self.failed.clone();
        order.extend(storage.completed.iter().rev().filter(|&&i| {
            !self.failed.contains(&i)
                && matches!(
                    storage.states[i as usize],
                    AtomState::Success | AtomState::Reverting
                )
        }));
        self.ready.clear();
        self.phase = Phase::Reverting { order, next: 0 };
    }

    /// Atom `index` finished reverting, successfully or not.
    pub(crate) fn reverted(&mut self, ok: bool) {
        if !ok {
            self.phase = Phase::Finished(FlowState::Failure);
        }
    }

    /// Stop starting atoms; end SUSPENDED once the running ones finished.
    pub(crate) fn suspend(&mut self) {
        self.suspending = true;
    }

    /// Whether the machine is reverting.
    pub(crate) fn is_reverting(&self) -> bool {
        matches!(self.phase, Phase::Reverting { .. })
    }
}
