//! Protectables: what kinds of resources there are, and what each depends on.
//!
//! Karbor derives a plan's resource graph from its protectable plugins: each
//! declares the resource type it handles and lists a resource's dependent
//! resources (a server's volumes and image). [`Protectables::graph`] does the
//! same from the resources a plan names.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{ActivityError, Resource, ResourceGraph};

/// Knows one resource type: how to find a resource's dependencies.
pub trait Protectable: Send + Sync + fmt::Debug {
    /// The resource type it handles (`OS::Nova::Server`).
    fn resource_type(&self) -> String;

    /// The resources `resource` depends on, which become its children in the
    /// graph (protected inside it); a message saying why when they cannot be
    /// found.
    fn dependents(&self, resource: &Resource) -> Result<Vec<Resource>, String>;
}

/// Protectables by resource type.
///
/// ```
/// # use std::sync::Arc;
/// # use taskwire_runtime::activity::{Protectable, Protectables, Resource};
/// #[derive(Debug)]
/// struct Servers;
/// impl Protectable for Servers {
///     fn resource_type(&self) -> String { "server".into() }
///     fn dependents(&self, r: &Resource) -> Result<Vec<Resource>, String> {
///         Ok(vec![Resource::new("volume", format!("{}-root", r.id))])
///     }
/// }
/// #[derive(Debug)]
/// struct Volumes;
/// impl Protectable for Volumes {
///     fn resource_type(&self) -> String { "volume".into() }
///     fn dependents(&self, _: &Resource) -> Result<Vec<Resource>, String> { Ok(vec![]) }
/// }
/// let mut protectables = Protectables::new();
/// protectables.register(Arc::new(Servers)).unwrap();
/// protectables.register(Arc::new(Volumes)).unwrap();
/// let graph = protectables.graph(&[Resource::new("server", "vm1")]).unwrap();
/// let keys: Vec<String> = graph.resources().iter().map(Resource::key).collect();
/// assert_eq!(keys, ["server:vm1", "volume:vm1-root"]);
/// assert_eq!(graph.children(0), [1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Protectables {
    by_type: BTreeMap<String, Arc<dyn Protectable>>,
}

impl Protectables {
    /// No protectables yet.
    pub fn new() -> Protectables {
        Protectables::default()
    }

    /// Registers `protectable`; a second one for the same type is an error.
    pub fn register(
        &mut self,
        protectable: Arc<dyn Protectable>,
    ) -> Result<&mut Protectables, ActivityError> {
        let kind = protectable.resource_type();
        if self.by_type.contains_key(&kind) {
            return Err(ActivityError::TwoProtectables { kind });
        }
        self.by_type.insert(kind, protectable);
        Ok(self)
    }

    /// The resource types registered, sorted.
    pub fn resource_types(&self) -> Vec<&str> {
        self.by_type.keys().map(String::as_str).collect()
    }

    /// The resource graph of `resources` (a plan's): each resource with its
    /// dependencies as children, theirs in turn, each resource once. A
    /// resource whose type no protectable handles, a protectable that fails,
    /// or dependencies that form a cycle are errors naming the resource.
    pub fn graph(&self, resources: &[Resource]) -> Result<ResourceGraph, ActivityError> {
        let mut graph = ResourceGraph::new();
        let mut expanded = Vec::new();
        let mut stack: Vec<usize> = resources
            .iter()
            .rev()
            .map(|r| graph.add(r.clone()))
            .collect();
        while let Some(i) = stack.pop() {
            if expanded.len() < graph.resources().len() {
                expanded.resize(graph.resources().len(), false);
            }
            if std::mem::replace(&mut expanded[i], true) {
                continue;
            }
            let resource = graph.resource(i).clone();
            let Some(protectable) = self.by_type.get(&resource.kind) else {
                return Err(ActivityError::NoProtectable {
                    kind: resource.kind.clone(),
                    resource: resource.key(),
                    known: self.by_type.keys().cloned().collect(),
                });
            };
            let dependents = protectable.dependents(&resource).map_err(|message| {
                ActivityError::Dependencies {
                    kind: resource.kind.clone(),
                    resource: resource.key(),
                    message,
                }
            })?;
            let mut children = Vec::with_capacity(dependents.len());
            for dependent in dependents {
                let child = graph.add(dependent);
                graph.link(i, child)?;
                children.push(child);
            }
            stack.extend(children.into_iter().rev());
        }
        Ok(graph)
    }
}
