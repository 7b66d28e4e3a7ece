//! The engine's decisions, without I/O: given the execution graph and the
//! recorded states, what to execute, revert or finish next.
//!
//! Executing: an atom is ready when every predecessor succeeded; ready atoms
//! run in the order they were added to the flow. After a failure nothing new
//! starts; the failed atom is reverted first, then every atom that succeeded,
//! newest first. A revert that fails ends the flow in FAILURE and nothing
//! before it is reverted.

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
    phase: Phase,
}

impl Machine {
    /// A machine continuing from what `storage` recorded.
    pub(crate) fn new(storage: &Storage) -> Machine {
        let graph = &storage.plan.graph;
        let n = storage.states.len();
        let mut preds = vec![0u32; n];
        for edge in graph.raw_edges() {
            if storage.states[edge.source().index()] != AtomState::Success {
                preds[edge.target().index()] += 1;
            }
        }
        let ready = (0..n as u32)
            .filter(|&i| {
                preds[i as usize] == 0
                    && matches!(
                        storage.states[i as usize],
                        AtomState::Pending | AtomState::Running
                    )
            })
            .map(Reverse)
            .collect();
        Machine {
            preds,
            ready,
            phase: Phase::Executing,
        }
    }

    /// The next action.
    pub(crate) fn next(&mut self) -> Action {
        match &mut self.phase {
            Phase::Executing => match self.ready.pop() {
                Some(Reverse(i)) => Action::Execute(i as usize),
                None => {
                    self.phase = Phase::Finished(FlowState::Success);
                    Action::Finish(FlowState::Success)
                }
            },
            Phase::Reverting { order, next } => match order.get(*next) {
                Some(&i) => {
                    *next += 1;
                    Action::Revert(i as usize)
                }
                None => {
                    self.phase = Phase::Finished(FlowState::Reverted);
                    Action::Finish(FlowState::Reverted)
                }
            },
            Phase::Finished(state) => Action::Finish(*state),
        }
    }

    /// Atom `index` finished executing, successfully or not.
    pub(crate) fn executed(&mut self, storage: &Storage, index: usize, ok: bool) {
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
            let mut order = Vec::with_capacity(storage.completed.len() + 1);
            order.push(index as u32);
            order.extend(
                storage
                    .completed
                    .iter()
                    .rev()
                    .filter(|&&i| i as usize != index),
            );
            self.ready.clear();
            self.phase = Phase::Reverting { order, next: 0 };
        }
    }

    /// Atom `index` finished reverting, successfully or not.
    pub(crate) fn reverted(&mut self, ok: bool) {
        if !ok {
            self.phase = Phase::Finished(FlowState::Failure);
        }
    }

    /// Whether the machine is reverting.
    pub(crate) fn is_reverting(&self) -> bool {
        matches!(self.phase, Phase::Reverting { .. })
    }
}
