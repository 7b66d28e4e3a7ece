//! Deciders: conditions on graph links, checked at run time (TaskFlow's
//! `decider` and `decider_depth`).
//!
//! A link made with [`Flow::link_if`](crate::Flow::link_if) carries a
//! decider. When the link's target is about to run, the decider sees the
//! results of the link's source (every atom of it, when it is a nested flow)
//! and says whether the target runs. When it says no, the target is skipped
//! (its atoms end IGNORE), and with it, depending on the [`Depth`]:
//!
//! - [`Depth::All`] (the default): everything after the target;
//! - [`Depth::Flow`]: what comes after the target among the tasks of the
//!   graph flow that holds the link (not inside its other nested flows);
//! - [`Depth::Neighbors`]: the atoms right after the target;
//! - [`Depth::Atom`]: the target only.
//!
//! An ignored atom counts as done for the atoms after it. A decider that
//! panics fails the target atom (the failure says which link), and the flow
//! reverts as for any failure; the engine does not crash.
//!
//! ```
//! use serde_json::json;
//! use taskwire_runtime::decider::{Decider, Depth, LinkResults};
//! use taskwire_runtime::{AtomState, Engine, Flow, FnTask};
//!
//! let flow = Flow::graph("resize")
//!     .add(FnTask::new("measure").provides("size").run(|_| Ok(json!(5))))
//!     .add(FnTask::new("grow").run(|_| Ok(json!("grown"))))
//!     .add(FnTask::new("report").run(|_| Ok(json!("reported"))))
//!     .link_if("measure", "grow", Decider::new(|results: &LinkResults<'_>| {
//!         results.get::<u64>("measure").is_ok_and(|size| size < 3)
//!     }).depth(Depth::Atom))
//!     .link("grow", "report");
//! let mut engine = Engine::new(flow);
//! engine.run().unwrap();
//! assert_eq!(engine.atom_state("grow"), Some(AtomState::Ignore));
//! assert_eq!(engine.atom_state("report"), Some(AtomState::Success));
//! ```

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::failure::{Failure, FailureKind};

/// How far a decider's "no" reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Depth {
    /// The target and everything after it.
    #[default]
    All,
    /// The target and what follows it among the tasks of the same graph flow.
    Flow,
    /// The target and the atoms right after it.
    Neighbors,
    /// The target only.
    Atom,
}

impl Depth {
    /// TaskFlow's name of the depth.
    pub fn as_str(self) -> &'static str {
        match self {
            Depth::All => "ALL",
            Depth::Flow => "FLOW",
            Depth::Neighbors => "NEIGHBORS",
            Depth::Atom => "ATOM",
        }
    }
}

impl fmt::Display for Depth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The results a decider sees: those of the atoms of the link's source.
#[derive(Debug)]
pub struct LinkResults<'a> {
    pub(crate) results: Vec<(&'a str, Option<&'a Value>)>,
}

impl<'a> LinkResults<'a> {
    /// The raw result of atom `atom`, if it has one.
    pub fn value(&self, atom: &str) -> Option<&'a Value> {
        self.results
            .iter()
            .find(|(name, _)| *name == atom)
            .and_then(|(_, v)| *v)
    }

    /// The result of atom `atom`, decoded.
    pub fn get<T: DeserializeOwned>(&self, atom: &str) -> Result<T, Failure> {
        let value = self.value(atom).ok_or_else(|| {
            Failure::new(
                FailureKind::Argument,
                format!(
                    "a decider reads the result of `{atom}`, which is not a source of its link (sources: {})",
                    self.results
                        .iter()
                        .map(|(n, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        T::deserialize(value).map_err(|e| {
            Failure::new(
                FailureKind::Argument,
                format!(
                    "a decider reads the result of `{atom}` as `{}`: {e}",
                    std::any::type_name::<T>()
                ),
            )
        })
    }

    /// Every source atom and its result (none for an atom that was ignored).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a Value>)> + '_ {
        self.results.iter().copied()
    }
}

type DeciderFn = dyn Fn(&LinkResults<'_>) -> bool + Send + Sync;

/// A condition on a graph link, with its depth.
#[derive(Clone)]
pub struct Decider {
    pub(crate) check: Arc<DeciderFn>,
    pub(crate) depth: Depth,
}

impl fmt::Debug for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decider")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl Decider {
    /// A decider of depth [`Depth::All`].
    pub fn new(check: impl Fn(&LinkResults<'_>) -> bool + Send + Sync + 'static) -> Decider {
        Decider {
            check: Arc::new(check),
            depth: Depth::All,
        }
    }

    /// The same decider with another depth.
    pub fn depth(mut self, depth: Depth) -> Decider {
        self.depth = depth;
        self
    }
}

impl<F> From<F> for Decider
where
    F: Fn(&LinkResults<'_>) -> bool + Send + Sync + 'static,
{
    fn from(check: F) -> Decider {
        Decider::new(check)
    }
}
