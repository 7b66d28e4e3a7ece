//! Activity flows over resource graphs: Karbor's protection plugins, as a
//! front-end that builds an ordinary graph [`Flow`].
//!
//! A [`ResourceGraph`] holds resources (a type, an id, children). A
//! [`ProtectionPlugin`] per resource type gives, for each [`Operation`]
//! (protect, restore, delete, verify, copy), up to three activities per
//! resource — [`Hook::Pre`], [`Hook::Parallel`] (the main work) and
//! [`Hook::Post`] — as ordinary tasks, or none for a hook. A [`Provider`]
//! (plugins plus the [`Bank`] that keeps checkpoints; loaded from
//! configuration by [`config::load_dir`]) walks the graph depth first, each
//! resource once even when two parents share it, and links:
//!
//! - a parent's pre → each child's pre;
//! - a resource's pre → its parallel → its post;
//! - each child's post → its parent's post.
//!
//! When a plugin gives no task for a hook, the links pass through: what would
//! come before the missing activity comes before what would come after it. The
//! result is one graph flow (atom `type:id:hook`) that the ordinary
//! [`Engine`](crate::Engine) runs — in parallel with `max_workers`, persisted,
//! resumable. Long-running activities are async tasks that poll until done and
//! report progress ([`TaskCtx::progress`](crate::TaskCtx::progress)).
//!
//! All atoms are children of one graph flow, so what they provide is visible to
//! one another and orders them too: an activity that provides a value should
//! give it a name of its resource's own (`TaskSpec::provides_as`), or two
//! resources of one type make an ambiguous provider, which the flow's
//! validation reports before anything runs.
//!
//! On top, Karbor's protection service: [`Checkpoints`] (records in the bank
//! with a status lifecycle), [`Operations`] (protect, restore, verify, copy
//! and delete, each Initiate → activities → Complete, each with an
//! [`OperationLog`] in the logbook's database), and [`Protectables`], which
//! derive a plan's resource graph from each type's dependencies. Banks:
//! [`DirBank`], and `ObjectStoreBank` with the `object-store` feature.

mod bank;
mod checkpoint;
pub mod config;
mod graph;
#[cfg(feature = "object-store")]
mod object_bank;
mod operations;
mod oplog;
mod protectable;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use bank::{Bank, BankError, DirBank};
pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointStatus, Checkpoints, Plan, Record, RecordStatus, Records,
};
pub use graph::{GraphRecord, Resource, ResourceGraph};
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use object_bank::ObjectStoreBank;
pub use operations::{EngineHook, OperationDone, OperationError, Operations};
pub use oplog::{OperationLog, OperationLogError, OperationLogs, OperationStatus};
pub use protectable::{Protectable, Protectables};

use crate::flow::Flow;
use crate::task::TaskSpec;

/// What is done to the resources.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Save the resources into a checkpoint.
    Protect,
    /// Bring them back from a checkpoint.
    Restore,
    /// Delete a checkpoint's data.
    Delete,
    /// Check that a checkpoint can be restored.
    Verify,
    /// Copy a checkpoint elsewhere.
    Copy,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 5] = [
        Operation::Protect,
        Operation::Restore,
        Operation::Delete,
        Operation::Verify,
        Operation::Copy,
    ];
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Protect => "protect",
            Operation::Restore => "restore",
            Operation::Delete => "delete",
            Operation::Verify => "verify",
            Operation::Copy => "copy",
        })
    }
}

/// One of the three activities of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Before the resource's children start (quiesce, snapshot metadata).
    Pre,
    /// The main work, in parallel with other resources' main work.
    Parallel,
    /// After the main work and the children's post activities.
    Post,
}

impl Hook {
    /// The three hooks, in order.
    pub const ALL: [Hook; 3] = [Hook::Pre, Hook::Parallel, Hook::Post];
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Pre => "pre",
            Hook::Parallel => "parallel",
            Hook::Post => "post",
        })
    }
}

/// What a plugin is told when asked for an activity.
#[derive(Debug, Clone, Copy)]
pub struct ActivityCtx<'a> {
    /// The operation.
    pub operation: Operation,
    /// The resource.
    pub resource: &'a Resource,
    /// The checkpoint's id.
    pub checkpoint: &'a str,
    /// The provider's bank, where checkpoints are kept.
    pub bank: &'a Arc<dyn Bank>,
    /// For [`Operation::Copy`]: the checkpoint being made, and its bank.
    pub target: Option<Target<'a>>,
}

/// Where a copy goes: the new checkpoint and the bank that keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The new checkpoint's id.
    pub checkpoint: &'a str,
    /// Its bank.
    pub bank: &'a Arc<dyn Bank>,
}

impl Target<'_> {
    /// Where the copy of `resource`'s data named `name` goes in the target
    /// bank (the layout of [`ActivityCtx::bank_key`]).
    pub fn bank_key(&self, resource: &Resource, name: &str) -> String {
        format!(
            "{}/{}/{}/{name}",
            self.checkpoint,
            resource.kind.replace("::", "-"),
            resource.id
        )
    }
}

impl ActivityCtx<'_> {
    /// `checkpoint/type/id/name`: where this resource's data named `name` goes
    /// in the bank (`::` in types becomes `-`).
    pub fn bank_key(&self, name: &str) -> String {
        format!(
            "{}/{}/{}/{name}",
            self.checkpoint,
            self.resource.kind.replace("::", "-"),
            self.resource.id
        )
    }
}

/// Provides the activities for one or more resource types.
pub trait ProtectionPlugin: Send + Sync + fmt::Debug {
    /// The resource types it handles.
    fn resource_types(&self) -> Vec<String>;

    /// The task for `hook` of `ctx.operation` on `ctx.resource`, or `None`
    /// when there is nothing to do then. The builder names the atom; the task
    /// reads what it needs from injected values (`TaskSpec::inject`) or from
    /// what it captured.
    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec>;
}

/// A protection provider: a bank and plugins by resource type.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Its name.
    pub name: String,
    /// Its id (unique among providers).
    pub id: String,
    /// What it is for.
    pub description: String,
    /// Where checkpoints go.
    pub bank: Arc<dyn Bank>,
    plugins: BTreeMap<String, (String, Arc<dyn ProtectionPlugin>)>,
}

impl Provider {
    /// A provider with no plugins yet.
    pub fn new(name: impl Into<String>, id: impl Into<String>, bank: Arc<dyn Bank>) -> Provider {
        Provider {
            name: name.into(),
            id: id.into(),
            description: String::new(),
            bank,
            plugins: BTreeMap::new(),
        }
    }

    /// Adds plugin `name`; a resource type another plugin of this provider
    /// already handles is an error naming both.
    pub fn plugin(
        &mut self,
        name: impl Into<String>,
        plugin: Arc<dyn ProtectionPlugin>,
    ) -> Result<&mut Provider, ActivityError> {
        let name = name.into();
        for kind in plugin.resource_types() {
            if let Some((other, _)) = self.plugins.get(&kind) {
                return Err(ActivityError::TwoPlugins {
                    provider: self.name.clone(),
                    kind,
                    first: other.clone(),
                    second: name,
                });
            }
            self.plugins
                .insert(kind, (name.clone(), Arc::clone(&plugin)));
        }
        Ok(self)
    }

    /// The resource types it has plugins for, sorted.
    pub fn resource_types(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    /// The flow of `operation` over `graph`, for checkpoint `checkpoint`.
    pub fn flow(
        &self,
        operation: Operation,
        graph: &ResourceGraph,
        checkpoint: &str,
    ) -> Result<ActivityFlow, ActivityError> {
        build(
            self,
            format!("{operation}:{checkpoint}"),
            operation,
            graph,
            checkpoint,
            None,
        )
    }

    /// The flow of [`Operation::Copy`] over `graph`, from checkpoint
    /// `checkpoint` to `target`.
    pub fn copy_flow(
        &self,
        graph: &ResourceGraph,
        checkpoint: &str,
        target: Target<'_>,
    ) -> Result<ActivityFlow, ActivityError> {
        build(
            self,
            format!("copy:{checkpoint}"),
            Operation::Copy,
            graph,
            checkpoint,
            Some(target),
        )
    }
}

/// One activity of a built flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The resource's `type:id`.
    pub resource: String,
    /// The hook.
    pub hook: Hook,
    /// The atom's name in the flow: `type:id:hook`.
    pub atom: String,
}

/// An activity flow: the graph flow, and which atom is which activity.
#[derive(Debug, Clone)]
pub struct ActivityFlow {
    /// The graph flow, named `operation:checkpoint`.
    pub flow: Flow,
    /// The activities, resource by resource in walk order, hooks in order.
    pub activities: Vec<Activity>,
    /// The explicit links added, `(from atom, to atom)`, sorted.
    pub links: Vec<(String, String)>,
}

impl ActivityFlow {
    /// The atom of `hook` of the resource `kind:id`, if the plugin gave one.
    pub fn atom(&self, resource: &str, hook: Hook) -> Option<&str> {
        self.activities
            .iter()
            .find(|a| a.resource == resource && a.hook == hook)
            .map(|a| a.atom.as_str())
    }
}

fn build(
    provider: &Provider,
    name: String,
    operation: Operation,
    graph: &ResourceGraph,
    checkpoint: &str,
    target: Option<Target<'_>>,
) -> Result<ActivityFlow, ActivityError> {
    let order = graph.walk();
    // Slot `3 * i + h` is hook `h` of resource `i`; `None` when the plugin
    // gave no task for it.
    let n = graph.resources().len();
    let mut slots: Vec<Option<(String, TaskSpec)>> = vec![None; 3 * n];
    let mut activities = Vec::new();
    for &i in &order {
        let resource = graph.resource(i);
        let Some((_, plugin)) = provider.plugins.get(&resource.kind) else {
            return Err(ActivityError::NoPlugin {
                provider: provider.name.clone(),
                kind: resource.kind.clone(),
                resource: resource.key(),
                known: provider.plugins.keys().cloned().collect(),
            });
        };
        let ctx = ActivityCtx {
            operation,
            resource,
            checkpoint,
            bank: &provider.bank,
            target,
        };
        for (h, hook) in Hook::ALL.into_iter().enumerate() {
            if let Some(spec) = plugin.activity(&ctx, hook) {
                let atom = format!("{}:{hook}", resource.key());
                activities.push(Activity {
                    resource: resource.key(),
                    hook,
                    atom: atom.clone(),
                });
                slots[3 * i + h] = Some((atom, spec));
            }
        }
    }

    // The link pattern over all slots, then missing slots bypassed.
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); 3 * n];
    for &i in &order {
        let (pre, par, post) = (3 * i, 3 * i + 1, 3 * i + 2);
        succ[pre].push(par);
        succ[par].push(post);
        for &c in graph.children(i) {
            succ[pre].push(3 * c);
            succ[3 * c + 2].push(post);
        }
    }
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); 3 * n];
    for (a, list) in succ.iter().enumerate() {
        for &b in list {
            pred[b].push(a);
        }
    }
    for m in 0..3 * n {
        if slots[m].is_some() {
            continue;
        }
        let (ins, outs) = (std::mem::take(&mut pred[m]), std::mem::take(&mut succ[m]));
        for &p in &ins {
            succ[p].retain(|&x| x != m);
        }
        for &s in &outs {
            pred[s].retain(|&x| x != m);
        }
        for &p in &ins {
            for &s in &outs {
                if !succ[p].contains(&s) {
                    succ[p].push(s);
                    pred[s].push(p);
                }
            }
        }
    }

    let mut flow = Flow::graph(name);
    let mut links = Vec::new();
    for (a, list) in succ.iter().enumerate() {
        for &b in list {
            if let (Some((from, _)), Some((to, _))) = (&slots[a], &slots[b]) {
                links.push((from.clone(), to.clone()));
            }
        }
    }
    links.sort();
    links.dedup();
    for &i in &order {
        for h in 0..3 {
            if let Some((atom, spec)) = slots[3 * i + h].take() {
                flow.push(spec.named(atom));
            }
        }
    }
    for (from, to) in &links {
        flow = flow.link(from.clone(), to.clone());
    }
    Ok(ActivityFlow {
        flow,
        activities,
        links,
    })
}

/// Why an activity flow cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivityError {
    /// No plugin of the provider handles a resource's type.
    #[error("provider `{provider}` has no plugin for resource `{resource}` of type `{kind}`; it handles {}", if known.is_empty() { "no type".to_owned() } else { known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ") })]
    NoPlugin {
        /// The provider.
        provider: String,
        /// The type.
        kind: String,
        /// The resource, `type:id`.
        resource: String,
        /// The types it has plugins for.
        known: Vec<String>,
    },
    /// Two plugins of one provider for one resource type.
    #[error("provider `{provider}`: plugins `{first}` and `{second}` both handle resource type `{kind}`")]
    TwoPlugins {
        /// The provider.
        provider: String,
        /// The type.
        kind: String,
        /// The plugin added first.
        first: String,
        /// The plugin added second.
        second: String,
    },
    /// A link that would make the resource graph cyclic.
    #[error("resource graph: making `{child}` a child of `{parent}` closes a cycle")]
    Cycle {
        /// The would-be parent.
        parent: String,
        /// The would-be child.
        child: String,
    },
    /// A resource listed twice in a stored graph.
    #[error("resource graph: resource `{resource}` is listed twice")]
    DuplicateResource {
        /// The resource, `type:id`.
        resource: String,
    },
    /// No protectable handles a resource's type.
    #[error("no protectable handles resource `{resource}` of type `{kind}`; registered types: {}", if known.is_empty() { "none".to_owned() } else { known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ") })]
    NoProtectable {
        /// The type.
        kind: String,
        /// The resource, `type:id`.
        resource: String,
        /// The types protectables are registered for.
        known: Vec<String>,
    },
    /// Two protectables for one resource type.
    #[error("protectables: resource type `{kind}` is registered twice")]
    TwoProtectables {
        /// The type.
        kind: String,
    },
    /// A protectable that could not list a resource's dependencies.
    #[error("protectable for `{kind}`: cannot find the dependencies of `{resource}`: {message}")]
    Dependencies {
        /// The protectable's type.
        kind: String,
        /// The resource, `type:id`.
        resource: String,
        /// Its message.
        message: String,
    },
    /// An index that is not in the graph.
    #[error("resource graph: no resource at index {index} (the graph has {len})")]
    NoSuchResource {
        /// The index.
        index: usize,
        /// How many resources there are.
        len: usize,
    },
}
