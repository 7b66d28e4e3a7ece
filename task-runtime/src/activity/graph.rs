//! Resource graphs: resources with a type, an id and child resources.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ActivityError;

/// A resource to protect: a type (`OS::Nova::Server`), an id, and a name for
/// people.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// The resource's type; plugins are chosen by it.
    pub kind: String,
    /// Its id, unique within its type.
    pub id: String,
    /// A name for people (default: the id).
    pub name: String,
}

impl Resource {
    /// A resource of type `kind` with id `id`.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Resource {
        let id = id.into();
        Resource {
            kind: kind.into(),
            name: id.clone(),
            id,
        }
    }

    /// Names the resource.
    pub fn named(mut self, name: impl Into<String>) -> Resource {
        self.name = name.into();
        self
    }

    /// `kind:id`, unique in a graph.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// A resource graph as a checkpoint keeps it: the resources in the order added,
/// and the `(parent, child)` links by index, in the order made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GraphRecord {
    /// The resources.
    pub resources: Vec<Resource>,
    /// `(parent, child)` indexes into `resources`.
    pub links: Vec<(usize, usize)>,
}

/// A graph of resources: each may have children (a server's volumes); a
/// resource may have several parents (a volume shared by two servers), and
/// the graph has no cycles.
///
/// ```
/// # use taskwire_runtime::activity::{Resource, ResourceGraph};
/// let mut graph = ResourceGraph::new();
/// let server = graph.add(Resource::new("OS::Nova::Server", "vm1"));
/// let volume = graph.add(Resource::new("OS::Cinder::Volume", "vol1"));
/// graph.link(server, volume).unwrap();
/// assert_eq!(graph.roots(), [server]);
/// assert_eq!(graph.children(server), [volume]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResourceGraph {
    resources: Vec<Resource>,
    /// `(kind, id)` to index.
    index: HashMap<(String, String), usize>,
    children: Vec<Vec<usize>>,
    parents: Vec<Vec<usize>>,
}

impl ResourceGraph {
    /// An empty graph.
    pub fn new() -> ResourceGraph {
        ResourceGraph::default()
    }

    /// Adds a resource and returns its index; a resource already in the graph
    /// (same type and id) is not added twice: its index is returned.
    pub fn add(&mut self, resource: Resource) -> usize {
        if let Some(i) = self.find(&resource.kind, &resource.id) {
            return i;
        }
        self.index.insert(
            (resource.kind.clone(), resource.id.clone()),
            self.resources.len(),
        );
        self.resources.push(resource);
        self.children.push(Vec::new());
        self.parents.push(Vec::new());
        self.resources.len() - 1
    }

    /// The index of the resource of type `kind` and id `id`.
    pub fn find(&self, kind: &str, id: &str) -> Option<usize> {
        self.index.get(&(kind.to_owned(), id.to_owned())).copied()
    }

    /// Makes `child` a child of `parent`. Linking twice is harmless; a link
    /// that would close a cycle, or an index not in the graph, is an error.
    pub fn link(&mut self, parent: usize, child: usize) -> Result<(), ActivityError> {
        for i in [parent, child] {
            if i >= self.resources.len() {
                return Err(ActivityError::NoSuchResource {
                    index: i,
                    len: self.resources.len(),
                });
            }
        }
        if self.children[parent].contains(&child) {
            return Ok(());
        }
        if parent == child || self.reaches(child, parent) {
            return Err(ActivityError::Cycle {
                parent: self.resources[parent].key(),
                child: self.resources[child].key(),
            });
        }
        self.children[parent].push(child);
        self.parents[child].push(parent);
        Ok(())
    }

    fn reaches(&self, from: usize, to: usize) -> bool {
        let mut stack = vec![from];
        let mut seen = vec![false; self.resources.len()];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if !std::mem::replace(&mut seen[n], true) {
                stack.extend(&self.children[n]);
            }
        }
        false
    }

    /// The resource at `index`.
    pub fn resource(&self, index: usize) -> &Resource {
        &self.resources[index]
    }

    /// Every resource, in the order added.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The children of `index`, in the order linked.
    pub fn children(&self, index: usize) -> &[usize] {
        &self.children[index]
    }

    /// The parents of `index`, in the order linked.
    pub fn parents(&self, index: usize) -> &[usize] {
        &self.parents[index]
    }

    /// The resources without a parent, in the order added.
    pub fn roots(&self) -> Vec<usize> {
        (0..self.resources.len())
            .filter(|&i| self.parents[i].is_empty())
            .collect()
    }

    /// Every resource once, depth first from the roots: a parent before its
    /// children, children in the order linked; a shared resource where it is
    /// first met.
    pub fn walk(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.resources.len());
        let mut seen = vec![false; self.resources.len()];
        fn visit(g: &ResourceGraph, i: usize, seen: &mut [bool], order: &mut Vec<usize>) {
            if std::mem::replace(&mut seen[i], true) {
                return;
            }
            order.push(i);
            for &c in &g.children[i] {
                visit(g, c, seen, order);
            }
        }
        for root in self.roots() {
            visit(self, root, &mut seen, &mut order);
        }
        order
    }

    /// The graph as a checkpoint keeps it.
    pub fn record(&self) -> GraphRecord {
        let mut links = Vec::new();
        for (parent, children) in self.children.iter().enumerate() {
            links.extend(children.iter().map(|&child| (parent, child)));
        }
        GraphRecord {
            resources: self.resources.clone(),
            links,
        }
    }

    /// The graph a [`GraphRecord`] describes; a resource listed twice, a link
    /// to an index out of range or a cycle is an error.
    ///
    /// ```
    /// # use taskwire_runtime::activity::{Resource, ResourceGraph};
    /// let mut graph = ResourceGraph::new();
    /// let vm = graph.add(Resource::new("server", "vm1"));
    /// let vol = graph.add(Resource::new("volume", "vol1"));
    /// graph.link(vm, vol).unwrap();
    /// let again = ResourceGraph::from_record(&graph.record()).unwrap();
    /// assert_eq!(again.record(), graph.record());
    /// ```
    pub fn from_record(record: &GraphRecord) -> Result<ResourceGraph, ActivityError> {
        let mut graph = ResourceGraph::new();
        for (i, resource) in record.resources.iter().enumerate() {
            if graph.add(resource.clone()) != i {
                return Err(ActivityError::DuplicateResource {
                    resource: resource.key(),
                });
            }
        }
        for &(parent, child) in &record.links {
            graph.link(parent, child)?;
        }
        Ok(graph)
    }
}
