//! Flows: patterns of atoms, nested in any combination, compiled into an
//! execution graph.
//!
//! - A **linear** flow runs its children one after the other.
//! - An **unordered** flow's children are independent of one another: none
//!   sees what a sibling provides.
//! - A **graph** flow orders its children by data: a child that requires a name
//!   a sibling provides runs after it; [`Flow::link`] adds explicit edges.
//!
//! Scoping follows TaskFlow: an atom sees what earlier atoms of its enclosing
//! flows provide; in a linear flow the nearest earlier provider wins; engine
//! inputs are the outermost provider; an injected value (`TaskSpec::inject`)
//! beats everything. Compilation ([`Flow::compile`]) checks the flow before anything
//! runs — missing requirement, ambiguous provider, cycle, duplicate atom name,
//! bad links and rebinds — whatever the order atoms were added, and reports
//! every problem it finds.

#[doc(hidden)]
pub mod check;
mod compile;
mod error;

pub use compile::{ArgSource, ExecutionGraph, Slot};
pub use error::{FlowError, FlowErrors};

use std::sync::Arc;

use crate::decider::Decider;
use crate::retry::{Delay, Retry, RetryAtom};
use crate::task::{FnTask, TaskSpec, Text};

/// How a flow orders its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowKind {
    /// One after the other, in the order added.
    Linear,
    /// Independently of one another.
    Unordered,
    /// By data dependencies and explicit links.
    Graph,
}

impl std::fmt::Display for FlowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FlowKind::Linear => "linear",
            FlowKind::Unordered => "unordered",
            FlowKind::Graph => "graph",
        })
    }
}

/// What can be added to a flow: a task or a nested flow.
#[derive(Debug, Clone)]
pub enum Node {
    /// An atom running a task.
    Task(TaskSpec),
    /// A nested flow.
    Flow(Flow),
}

impl Node {
    /// The atom's or flow's name.
    pub fn name(&self) -> &str {
        match self {
            Node::Task(t) => t.atom_name(),
            Node::Flow(f) => f.name(),
        }
    }
}

impl From<TaskSpec> for Node {
    fn from(spec: TaskSpec) -> Node {
        Node::Task(spec)
    }
}

impl From<Flow> for Node {
    fn from(flow: Flow) -> Node {
        Node::Flow(flow)
    }
}

impl From<FnTask> for Node {
    fn from(task: FnTask) -> Node {
        Node::Task(task.into_spec())
    }
}

/// A flow: a named pattern of tasks and nested flows.
///
/// ```
/// # use taskwire_runtime::{flow::Child, Flow, FnTask};
/// # use serde_json::json;
/// let make = |name: &'static str, requires: &'static [&'static str], provides: &'static str| {
///     FnTask::new(name).requires(requires.iter().copied()).provides(provides).run(|_| Ok(json!(1)))
/// };
/// let flow = Flow::linear("create_volume")
///     .add(make("extract", &["size"], "spec"))
///     .add(
///         Flow::graph("prepare")
///             .add(make("db_entry", &["spec"], "volume_id"))
///             .add(make("notify", &["volume_id"], "notified")),
///     );
/// let names: Vec<&str> = flow.children().map(|c| c.name()).collect();
/// assert_eq!(names, ["extract", "prepare"]);
/// let Some(Child::Flow(prepare)) = flow.children().nth(1) else { panic!() };
/// assert_eq!(prepare.children().count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Flow {
    pub(crate) shape: Shape,
    /// Every atom of the flow and of its nested flows, in the order a
    /// depth-first walk of the pattern meets them: compiling moves this list
    /// into the plan as it is, so an atom is never copied.
    pub(crate) atoms: Vec<TaskSpec>,
}

/// A flow's pattern, its atoms referred to by their index in [`Flow::atoms`].
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) name: Text,
    pub(crate) kind: FlowKind,
    pub(crate) children: Vec<ShapeNode>,
    pub(crate) links: Vec<(Text, Text)>,
    /// The retry controlling this flow; its atom is `children[0]`.
    pub(crate) retry: Option<ShapeRetry>,
    /// Deciders on links, by index in `links`.
    pub(crate) deciders: Vec<(u32, Decider)>,
}

/// A flow's retry controller (its atom is the flow's first child).
#[derive(Clone)]
pub(crate) struct ShapeRetry {
    pub(crate) controller: Arc<dyn Retry>,
    pub(crate) delay: Delay,
}

impl std::fmt::Debug for ShapeRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShapeRetry")
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ShapeNode {
    Atom(u32),
    Flow(Box<Shape>),
}

impl Shape {
    fn shift(&mut self, by: u32) {
        for child in &mut self.children {
            match child {
                ShapeNode::Atom(i) => *i += by,
                ShapeNode::Flow(inner) => inner.shift(by),
            }
        }
    }
}

/// A view of one child of a flow, as [`Flow::children`] gives it.
#[derive(Debug, Clone, Copy)]
pub enum Child<'a> {
    /// An atom running a task.
    Task(&'a TaskSpec),
    /// The flow's retry controller, always its first child when it has one.
    Retry(&'a TaskSpec),
    /// A nested flow.
    Flow(SubFlow<'a>),
}

impl<'a> Child<'a> {
    /// The atom's or nested flow's name.
    pub fn name(&self) -> &'a str {
        match self {
            Child::Task(t) | Child::Retry(t) => t.atom_name(),
            Child::Flow(f) => f.name(),
        }
    }
}

/// A view of a nested flow.
#[derive(Debug, Clone, Copy)]
pub struct SubFlow<'a> {
    shape: &'a Shape,
    atoms: &'a [TaskSpec],
}

impl<'a> SubFlow<'a> {
    /// The flow's name.
    pub fn name(&self) -> &'a str {
        &self.shape.name
    }

    /// The flow's kind.
    pub fn kind(&self) -> FlowKind {
        self.shape.kind
    }

    /// The flow's links (`from`, `to`), in the order added.
    pub fn links(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        self.shape
            .links
            .iter()
            .map(|(a, b)| (a.as_ref(), b.as_ref()))
    }

    /// The flow's children, in the order added.
    pub fn children(&self) -> impl ExactSizeIterator<Item = Child<'a>> + 'a {
        let atoms = self.atoms;
        let retry = self.shape.retry.is_some();
        self.shape
            .children
            .iter()
            .enumerate()
            .map(move |(n, c)| match c {
                ShapeNode::Atom(i) if n == 0 && retry => Child::Retry(&atoms[*i as usize]),
                ShapeNode::Atom(i) => Child::Task(&atoms[*i as usize]),
                ShapeNode::Flow(shape) => Child::Flow(SubFlow { shape, atoms }),
            })
    }
}

impl Flow {
    /// A flow of the given kind.
    pub fn new(name: impl Into<Text>, kind: FlowKind) -> Flow {
        Flow {
            shape: Shape {
                name: name.into(),
                kind,
                children: Vec::new(),
                links: Vec::new(),
                retry: None,
                deciders: Vec::new(),
            },
            atoms: Vec::new(),
        }
    }

    /// A linear flow: children run one after the other.
    pub fn linear(name: impl Into<Text>) -> Flow {
        Flow::new(name, FlowKind::Linear)
    }

    /// An unordered flow: children are independent.
    pub fn unordered(name: impl Into<Text>) -> Flow {
        Flow::new(name, FlowKind::Unordered)
    }

    /// A graph flow: children ordered by what they require and provide.
    pub fn graph(name: impl Into<Text>) -> Flow {
        Flow::new(name, FlowKind::Graph)
    }

    /// Adds a task or a nested flow.
    #[allow(clippy::should_implement_trait)] // a builder verb, as in TaskFlow's `flow.add(..)`
    pub fn add(mut self, node: impl Into<Node>) -> Flow {
        self.push(node);
        self
    }

    /// Adds a task or a nested flow, in place.
    pub fn push(&mut self, node: impl Into<Node>) -> &mut Flow {
        match node.into() {
            Node::Task(spec) => {
                self.shape
                    .children
                    .push(ShapeNode::Atom(self.atoms.len() as u32));
                self.atoms.push(spec);
            }
            Node::Flow(mut inner) => {
                inner.shape.shift(self.atoms.len() as u32);
                self.atoms.append(&mut inner.atoms);
                self.shape
                    .children
                    .push(ShapeNode::Flow(Box::new(inner.shape)));
            }
        }
        self
    }

    /// In a graph flow: the child named `from` runs before the child named `to`
    /// (children are named by atom name or nested flow name).
    pub fn link(mut self, from: impl Into<Text>, to: impl Into<Text>) -> Flow {
        self.shape.links.push((from.into(), to.into()));
        self
    }

    /// In a graph flow: a link from `from` to `to` that `decider` may switch
    /// off at run time, skipping `to` (and, by the decider's
    /// [`Depth`](crate::decider::Depth), what follows it); see
    /// [`decider`](crate::decider).
    pub fn link_if(
        mut self,
        from: impl Into<Text>,
        to: impl Into<Text>,
        decider: impl Into<Decider>,
    ) -> Flow {
        let index = self.shape.links.len() as u32;
        self.shape.links.push((from.into(), to.into()));
        self.shape.deciders.push((index, decider.into()));
        self
    }

    /// Puts this flow under the control of a retry (see [`retry`](crate::retry)):
    /// when one of its atoms fails, the retry decides whether to run the flow
    /// again, revert it, or revert everything. The retry becomes the flow's
    /// first atom, named `<flow>_retry` unless [`RetryAtom::new`] names it; a
    /// second call replaces the first retry.
    ///
    /// ```
    /// # use taskwire_runtime::{Flow, FnTask, flow::Child, retry::Times};
    /// # use serde_json::json;
    /// let flow = Flow::linear("upload")
    ///     .add(FnTask::new("send").run(|_| Ok(json!(null))))
    ///     .retry(Times::new(3));
    /// let names: Vec<&str> = flow.children().map(|c| c.name()).collect();
    /// assert_eq!(names, ["upload_retry", "send"]);
    /// assert!(matches!(flow.children().next(), Some(Child::Retry(_))));
    /// ```
    pub fn retry(mut self, retry: impl Into<RetryAtom>) -> Flow {
        let default_name = format!("{}_retry", self.shape.name);
        let (spec, controller, delay) = retry.into().into_spec(&default_name);
        if self.shape.retry.is_some() {
            self.atoms[0] = spec;
        } else {
            self.shape.shift(1);
            self.shape.children.insert(0, ShapeNode::Atom(0));
            self.atoms.insert(0, spec);
        }
        self.shape.retry = Some(ShapeRetry { controller, delay });
        self
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.shape.name
    }

    /// The flow's kind.
    pub fn kind(&self) -> FlowKind {
        self.shape.kind
    }

    /// The flow's links (`from`, `to`; [`Flow::link`], [`Flow::link_if`]),
    /// in the order added.
    ///
    /// ```
    /// # use taskwire_runtime::{Flow, FnTask};
    /// # use serde_json::json;
    /// let flow = Flow::graph("g")
    ///     .add(FnTask::new("a").run(|_| Ok(json!(null))))
    ///     .add(FnTask::new("b").run(|_| Ok(json!(null))))
    ///     .link("a", "b");
    /// assert_eq!(flow.links().collect::<Vec<_>>(), [("a", "b")]);
    /// ```
    pub fn links(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.shape
            .links
            .iter()
            .map(|(a, b)| (a.as_ref(), b.as_ref()))
    }

    /// The flow's children, in the order added (its retry first, if any).
    pub fn children(&self) -> impl ExactSizeIterator<Item = Child<'_>> + '_ {
        SubFlow {
            shape: &self.shape,
            atoms: &self.atoms,
        }
        .children()
    }

    /// Every atom of the flow, nested flows included, in the order a
    /// depth-first walk meets them (the order of the compiled plan).
    pub fn atoms(&self) -> &[TaskSpec] {
        &self.atoms
    }

    /// Compiles and validates the flow, given the names of the engine's inputs.
    ///
    /// ```
    /// # use taskwire_runtime::{Flow, FnTask};
    /// # use serde_json::json;
    /// let flow = Flow::linear("create_volume")
    ///     .add(FnTask::new("reserve_quota").requires(["volume_spec"]).run(|_| Ok(json!(null))));
    /// let errors = flow.compile(&[]).unwrap_err();
    /// assert_eq!(
    ///     errors.to_string(),
    ///     "flow `create_volume`: task `reserve_quota` requires `volume_spec`, which no input or earlier task provides"
    /// );
    /// ```
    pub fn compile(&self, inputs: &[&str]) -> Result<ExecutionGraph, FlowErrors> {
        compile::compile(self.clone(), inputs, UnusedInputs::Deny)
    }

    /// Compiles and validates the flow, consuming it (no copy of its atoms).
    /// An input that no atom reads is an error ([`FlowError::UnusedInput`]).
    pub fn into_plan(self, inputs: &[&str]) -> Result<ExecutionGraph, FlowErrors> {
        compile::compile(self, inputs, UnusedInputs::Deny)
    }

    /// [`Flow::into_plan`], with inputs that no atom reads denied or
    /// allowed.
    ///
    /// ```
    /// # use taskwire_runtime::{flow::UnusedInputs, Flow, FnTask};
    /// # use serde_json::json;
    /// let flow = || Flow::linear("price")
    ///     .add(FnTask::new("price_order").requires(["order_id"]).optional(["discount_code"]).run(|_| Ok(json!(1))));
    /// let errors = flow().into_plan_with(&["order_id", "discont_code"], UnusedInputs::Deny).unwrap_err();
    /// assert_eq!(
    ///     errors.to_string(),
    ///     "flow `price`: input `discont_code` is given, but no task reads it; did you mean `discount_code`? \
    ///      Otherwise remove it, rebind a task's argument to it, or allow unused inputs \
    ///      (`Engine::allow_unused_inputs`)"
    /// );
    /// assert!(flow().into_plan_with(&["order_id", "discont_code"], UnusedInputs::Allow).is_ok());
    /// ```
    pub fn into_plan_with(
        self,
        inputs: &[&str],
        unused: UnusedInputs,
    ) -> Result<ExecutionGraph, FlowErrors> {
        compile::compile(self, inputs, unused)
    }
}

/// Whether an input that no atom reads is an error
/// ([`FlowError::UnusedInput`]): by default it is, since it is most often a
/// misspelling that would otherwise leave an optional argument silently at
/// its default. An engine that resumes a recorded run allows them (the
/// recorded inputs may be those of an older version of the flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnusedInputs {
    /// An unread input is an error.
    #[default]
    Deny,
    /// Unread inputs are ignored.
    Allow,
}
