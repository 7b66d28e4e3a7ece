//! Pictures of flows and of runs, as Graphviz DOT or Mermaid flowchart text.
//!
//! A [`Picture`] draws a compiled flow: one node per atom, labelled with its
//! name; one edge per "finishes before" of the execution graph (linear order,
//! data dependencies in graph flows, explicit links, nesting); nested flows as
//! clusters labelled with their name and kind. A picture of a run adds each
//! atom's state to its label and fills the node with the state's colour, and
//! puts the flow's state in the title.
//!
//! ```
//! # use taskwire_runtime::{Flow, FnTask};
//! # use serde_json::json;
//! let task = |name: &'static str, requires: &'static [&'static str], provides: &'static str| {
//!     FnTask::new(name).requires(requires.iter().copied()).provides(provides).run(|_| Ok(json!(1)))
//! };
//! let flow = Flow::linear("create_volume")
//!     .add(task("extract", &["size"], "spec"))
//!     .add(Flow::graph("prepare").add(task("db_entry", &["spec"], "volume_id")));
//! assert_eq!(
//!     flow.to_mermaid(&["size"]).unwrap(),
//!     r#"flowchart TB
//!   subgraph f0 ["create_volume (linear)"]
//!     a0["extract"]
//!     subgraph f1 ["prepare (graph)"]
//!       a1["db_entry"]
//!     end
//!   end
//!   a0 -->|"spec"| a1
//! "#
//! );
//! ```
//!
//! Where pictures come from:
//!
//! - a flow: [`Picture::of_flow`], or the shortcuts [`Flow::to_dot`] and
//!   [`Flow::to_mermaid`] (defined in this module). The flow is compiled
//!   first, against the names of the engine inputs it will get; a flow that
//!   cannot run gives its [`FlowErrors`], never a picture of something else;
//! - a run: [`Picture::of_run`] over an engine's [`Storage`]
//!   ([`Engine::storage`], [`Done::storage`](crate::Done::storage)), or
//!   [`Engine::picture`] (defined in this module). A run only keeps the
//!   compiled plan, not the flow's nesting: its picture is flat unless
//!   [`Picture::grouped_by`] is given the flow the engine was built from.
//!
//! What is drawn:
//!
//! - the title (flow name and kind, plus the flow's state for a run) is the
//!   graph's label in DOT, and in Mermaid the label of subgraph `f0`, which
//!   holds the whole flow;
//! - an edge `a -> b` is labelled with the values `b` reads from `a` (unless
//!   [`Picture::label_edges`] says no); an edge with no label only orders;
//!   a value read from an atom further back has no edge of its own.
//!
//! The text is deterministic: the same flow (and the same states) always gives
//! the same text. Nodes get generated ids (`a0`, `a1`, … in atom order;
//! clusters `cluster_1`… in DOT and `f1`… in Mermaid, depth first), so names
//! are free: every name is escaped for the format it is written in (DOT:
//! `\"`, `\\`, `&amp;`, `\n`; Mermaid: entity codes such as `#quot;` and
//! `#lt;`, `<br>`), and other control characters are shown as `\u{7}`.
//!
//! | state          | fill      |
//! |----------------|-----------|
//! | PENDING        | grey      |
//! | RUNNING        | blue      |
//! | SUCCESS        | green     |
//! | FAILURE        | red       |
//! | REVERTING      | orange    |
//! | REVERTED       | yellow    |
//! | REVERT_FAILURE | dark red  |
//! | IGNORE         | light grey|
//! | RETRYING       | purple    |

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::engine::{AtomState, Engine, RunError};
use crate::flow::{ArgSource, Child, ExecutionGraph, Flow, FlowErrors, FlowKind, UnusedInputs};
use crate::persistence::{AtomDetail, FlowDetail};
use crate::state::FlowState;
use crate::storage::Storage;
use crate::task::{Provides, TaskSpec};

/// A text format for pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (Markdown renderers, mermaid.live).
    Mermaid,
}

/// A picture of a flow or of a run, ready to be written as DOT or Mermaid.
///
/// ```
/// # use taskwire_runtime::{Engine, Flow, FnTask};
/// # use serde_json::json;
/// let flow = Flow::linear("add").add(
///     FnTask::new("sum").requires(["a", "b"]).provides("total")
///         .run(|call| Ok(json!(call.arg::<i64>(0)? + call.arg::<i64>(1)?))),
/// );
/// let mut engine = Engine::new(flow.clone()).input("a", 2).input("b", 40);
/// engine.run().unwrap();
/// let dot = engine.picture().unwrap().grouped_by(&flow).unwrap().to_dot();
/// assert!(dot.contains(r#"label="add (linear): SUCCESS""#));
/// assert!(dot.contains(r##"a0 [label="sum\nSUCCESS", fillcolor="#5cb85c", fontcolor="#000000"];"##));
/// ```
#[derive(Debug, Clone)]
pub struct Picture<'a> {
    plan: Cow<'a, ExecutionGraph>,
    flow: Option<&'a Flow>,
    storage: Option<&'a Storage>,
    /// States read from a logbook (`Picture::recorded`): the flow's, and
    /// each atom's in plan order.
    recorded: Option<(FlowState, Vec<AtomState>)>,
    provides: bool,
    edge_labels: bool,
    full_names: bool,
}

/// The last `::` segment of an atom's name: `create_db_entry` for a task
/// registered as `my_crate::volumes::create_db_entry` (a task without
/// `name = ".."` is registered under its module path).
pub fn short_name(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// The names to draw `names` with: each one's [`short_name`], but the full
/// name for those whose short names would be the same.
pub fn shown_names<'n>(names: &[&'n str]) -> Vec<&'n str> {
    let mut count = std::collections::HashMap::new();
    for n in names {
        *count.entry(short_name(n)).or_insert(0usize) += 1;
    }
    names
        .iter()
        .map(|n| {
            let short = short_name(n);
            if count[short] > 1 {
                n
            } else {
                short
            }
        })
        .collect()
}

/// The flow given to [`Picture::grouped_by`] is not the one the run was
/// compiled from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowMismatch {
    /// Another flow's name.
    #[error("flow `{flow}` is not the flow of this run, which is `{run}`")]
    Name {
        /// The flow given.
        flow: String,
        /// The run's flow.
        run: String,
    },
    /// Another number of atoms.
    #[error("flow `{flow}` has {flow_atoms} atoms, but its run has {run_atoms}")]
    Count {
        /// The flow.
        flow: String,
        /// The flow's atoms.
        flow_atoms: usize,
        /// The run's atoms.
        run_atoms: usize,
    },
    /// Another atom at one place.
    #[error("flow `{flow}`: atom {index} is `{flow_atom}`, but in its run it is `{run_atom}`")]
    Atom {
        /// The flow.
        flow: String,
        /// The atom's index (depth-first order).
        index: usize,
        /// Its name in the flow given.
        flow_atom: String,
        /// Its name in the run.
        run_atom: String,
    },
}

impl<'a> Picture<'a> {
    /// A picture of `flow`'s pattern, compiled against the names of the engine
    /// inputs it will be given.
    ///
    /// ```
    /// # use taskwire_runtime::{picture::Picture, Flow, FnTask};
    /// # use serde_json::json;
    /// let flow = Flow::linear("f")
    ///     .add(FnTask::new("t").requires(["size"]).run(|_| Ok(json!(null))));
    /// let errors = Picture::of_flow(&flow, &[]).unwrap_err();
    /// assert_eq!(
    ///     errors.to_string(),
    ///     "flow `f`: task `t` requires `size`, which no input or earlier task provides"
    /// );
    /// assert!(Picture::of_flow(&flow, &["size"]).is_ok());
    /// ```
    pub fn of_flow(flow: &'a Flow, inputs: &[&str]) -> Result<Picture<'a>, FlowErrors> {
        // A picture draws the flow's shape: an input it does not read (a
        // recorded run's, say) is no reason not to.
        let plan = flow.clone().into_plan_with(inputs, UnusedInputs::Allow)?;
        Ok(Picture {
            plan: Cow::Owned(plan),
            flow: Some(flow),
            storage: None,
            recorded: None,
            provides: false,
            edge_labels: true,
            full_names: false,
        })
    }

    /// A picture of a run: each atom with its recorded state, the flow's state
    /// in the title. Flat (no clusters) unless [`grouped_by`](Self::grouped_by)
    /// is given the flow.
    pub fn of_run(storage: &'a Storage) -> Picture<'a> {
        Picture {
            plan: Cow::Borrowed(storage.plan()),
            flow: None,
            storage: Some(storage),
            recorded: None,
            provides: false,
            edge_labels: true,
            full_names: false,
        }
    }

    /// Draws nested flows as clusters, taking the nesting from `flow`, which
    /// must be the flow the picture's plan was compiled from (same name, same
    /// atoms in the same order); otherwise says how it differs.
    pub fn grouped_by(mut self, flow: &'a Flow) -> Result<Picture<'a>, FlowMismatch> {
        let plan = &*self.plan;
        if flow.name() != plan.flow_name() {
            return Err(FlowMismatch::Name {
                flow: flow.name().to_owned(),
                run: plan.flow_name().to_owned(),
            });
        }
        if flow.atoms().len() != plan.atoms().len() {
            return Err(FlowMismatch::Count {
                flow: flow.name().to_owned(),
                flow_atoms: flow.atoms().len(),
                run_atoms: plan.atoms().len(),
            });
        }
        let differs = flow
            .atoms()
            .iter()
            .zip(plan.atoms())
            .position(|(a, b)| a.atom_name() != b.atom_name());
        if let Some(index) = differs {
            return Err(FlowMismatch::Atom {
                flow: flow.name().to_owned(),
                index,
                flow_atom: flow.atoms()[index].atom_name().to_owned(),
                run_atom: plan.atoms()[index].atom_name().to_owned(),
            });
        }
        self.flow = Some(flow);
        Ok(self)
    }

    /// Colours the picture with a run recorded in a logbook, read without
    /// an engine (no lease taken): the flow detail's state in the title, and
    /// each atom's recorded state, matched by name (an atom the logbook does
    /// not hold yet is PENDING). The picture should be of the flow the run
    /// was built from ([`Picture::of_flow`] of the flow its factory builds).
    ///
    /// ```
    /// # use taskwire_runtime::{picture::Picture, Flow, FnTask, AtomState, FlowState};
    /// # use taskwire_runtime::persistence::{AtomDetail, FlowDetail, Uuid};
    /// # use serde_json::json;
    /// let flow = Flow::linear("f")
    ///     .add(FnTask::new("a").run(|_| Ok(json!(1))))
    ///     .add(FnTask::new("b").run(|_| Ok(json!(2))));
    /// let mut detail = FlowDetail::new(Uuid::nil(), "f");
    /// detail.state = FlowState::Failure;
    /// let mut a = AtomDetail::new(detail.uuid, "a", 0);
    /// a.state = AtomState::Failure;
    /// let dot = Picture::of_flow(&flow, &[]).unwrap().recorded(&detail, &[a]).to_dot();
    /// assert!(dot.contains("f (linear): FAILURE"), "{dot}");
    /// assert!(dot.contains(r#"a0 [label="a\nFAILURE""#), "{dot}");
    /// assert!(dot.contains(r#"a1 [label="b\nPENDING""#), "{dot}");
    /// ```
    pub fn recorded(mut self, detail: &FlowDetail, atoms: &[AtomDetail]) -> Picture<'a> {
        let states = self
            .plan
            .atoms()
            .iter()
            .map(|spec| {
                atoms
                    .iter()
                    .find(|a| a.name == spec.atom_name())
                    .map_or(AtomState::Pending, |a| a.state)
            })
            .collect();
        self.recorded = Some((detail.state, states));
        self.storage = None;
        self
    }

    /// Adds what each atom provides to its label (default: no).
    pub fn show_provides(mut self, show: bool) -> Picture<'a> {
        self.provides = show;
        self
    }

    /// Labels atoms with their full names (default: no, the short name,
    /// [`short_name`], unless two atoms would then read the same:
    /// [`shown_names`]).
    pub fn full_names(mut self, full: bool) -> Picture<'a> {
        self.full_names = full;
        self
    }

    /// Labels each edge with the names of the values its target reads from
    /// its source (default: yes). Ordering-only edges have no label.
    pub fn label_edges(mut self, label: bool) -> Picture<'a> {
        self.edge_labels = label;
        self
    }

    /// The picture as Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.render(Format::Dot)
    }

    /// The picture as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        self.render(Format::Mermaid)
    }

    /// The picture in `format`.
    pub fn render(&self, format: Format) -> String {
        let model = self.model();
        match format {
            Format::Dot => dot(&model),
            Format::Mermaid => mermaid(&model),
        }
    }

    /// What both formats draw, with names still unescaped.
    fn model(&self) -> Model {
        let plan = &*self.plan;
        let states: Option<Vec<AtomState>> = match &self.recorded {
            Some((_, states)) => Some(states.clone()),
            None => self
                .storage
                .map(|s| (0..plan.atoms().len()).map(|i| s.atom_state(i)).collect()),
        };
        let mut title = match self.flow {
            Some(flow) => kind_title(flow.name(), flow.kind()),
            None => plan.flow_name().to_owned(),
        };
        if let Some(storage) = self.storage {
            let _ = write!(title, ": {}", storage.flow_state());
        }
        if let Some((state, _)) = &self.recorded {
            let _ = write!(title, ": {state}");
        }
        let names: Vec<&str> = plan.atoms().iter().map(TaskSpec::atom_name).collect();
        let shown = if self.full_names {
            names
        } else {
            shown_names(&names)
        };
        let label = |i: usize| {
            let atom = &plan.atoms()[i];
            let mut lines = vec![shown[i].to_owned()];
            if plan.is_retry(i) {
                lines.push("(retry)".to_owned());
            }
            if self.provides {
                if let Some(p) = provides_line(atom) {
                    lines.push(p);
                }
            }
            if let Some(states) = &states {
                lines.push(states[i].to_string());
            }
            lines
        };
        let mut members = Vec::new();
        match self.flow {
            Some(flow) => {
                let mut next_atom = 0;
                let mut next_group = 1;
                fill(
                    &mut members,
                    flow.children(),
                    &mut next_atom,
                    &mut next_group,
                    plan,
                    &label,
                );
            }
            None => {
                members = (0..plan.atoms().len())
                    .map(|i| Member::Node(i, label(i)))
                    .collect();
            }
        }
        let mut pairs: Vec<(usize, usize)> = plan
            .graph()
            .raw_edges()
            .iter()
            .map(|e| (e.source().index(), e.target().index()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let edges = pairs
            .into_iter()
            .map(|(a, b)| {
                let mut label = if self.edge_labels {
                    values_read(plan, a, b).join(", ")
                } else {
                    String::new()
                };
                // A link with a decider is drawn as a condition.
                if let Some(depth) = decider_on(plan, a, b) {
                    label = match label.is_empty() {
                        true => format!("if ({depth})"),
                        false => format!("if ({depth}): {label}"),
                    };
                }
                Edge {
                    from: a,
                    to: b,
                    label,
                }
            })
            .collect();
        Model {
            title,
            members,
            edges,
            states,
        }
    }
}

impl Flow {
    /// This flow's pattern as Graphviz DOT, compiled against the names of the
    /// engine inputs it will be given (see [`picture`](crate::picture)).
    pub fn to_dot(&self, inputs: &[&str]) -> Result<String, FlowErrors> {
        Ok(Picture::of_flow(self, inputs)?.to_dot())
    }

    /// This flow's pattern as a Mermaid flowchart, compiled against the names
    /// of the engine inputs it will be given (see [`picture`](crate::picture)).
    pub fn to_mermaid(&self, inputs: &[&str]) -> Result<String, FlowErrors> {
        Ok(Picture::of_flow(self, inputs)?.to_mermaid())
    }
}

impl Engine {
    /// A picture of this engine's run so far (every atom PENDING before it
    /// runs), compiling the flow first if needed, as [`Engine::compile`] does.
    /// Flat unless [`Picture::grouped_by`] is given the flow (see
    /// [`picture`](crate::picture)).
    #[allow(clippy::result_large_err)] // the run's own error type; see engine
    pub fn picture(&mut self) -> Result<Picture<'_>, RunError> {
        self.compile()?;
        let storage = self
            .storage()
            .expect("a compiled engine has storage (Engine::compile)");
        Ok(Picture::of_run(storage))
    }
}

/// A flow's nesting, resolved to atom indices.
struct Group {
    title: String,
    members: Vec<Member>,
}

enum Member {
    /// Atom index and label lines.
    Node(usize, Vec<String>),
    /// Nested flow and its id number (depth first, from 1).
    Group(Group, usize),
}

struct Edge {
    from: usize,
    to: usize,
    label: String,
}

struct Model {
    title: String,
    /// The outermost flow's children.
    members: Vec<Member>,
    edges: Vec<Edge>,
    states: Option<Vec<AtomState>>,
}

/// Walks a flow's children depth first; atoms come in plan order.
fn fill<'f>(
    members: &mut Vec<Member>,
    children: impl Iterator<Item = Child<'f>>,
    next_atom: &mut usize,
    next_group: &mut usize,
    plan: &ExecutionGraph,
    label: &dyn Fn(usize) -> Vec<String>,
) {
    for child in children {
        match child {
            Child::Task(spec) | Child::Retry(spec) => {
                let i = *next_atom;
                *next_atom += 1;
                debug_assert_eq!(spec.atom_name(), plan.atoms()[i].atom_name());
                members.push(Member::Node(i, label(i)));
            }
            Child::Flow(sub) => {
                let id = *next_group;
                *next_group += 1;
                let mut inner = Group {
                    title: kind_title(sub.name(), sub.kind()),
                    members: Vec::new(),
                };
                fill(
                    &mut inner.members,
                    sub.children(),
                    next_atom,
                    next_group,
                    plan,
                    label,
                );
                members.push(Member::Group(inner, id));
            }
        }
    }
}

fn kind_title(name: &str, kind: FlowKind) -> String {
    format!("{name} ({kind})")
}

fn provides_line(atom: &TaskSpec) -> Option<String> {
    let names = atom.provides().names();
    if names.is_empty() {
        return None;
    }
    let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
    Some(format!("provides: {}", names.join(", ")))
}

/// The depth of the decider on the edge `from -> to`, if it carries one.
fn decider_on(plan: &ExecutionGraph, from: usize, to: usize) -> Option<crate::decider::Depth> {
    plan.guards_of(to)
        .map(|k| &plan.deciders[k])
        .find(|link| link.from.contains(&(from as u32)))
        .map(|link| link.decider.depth)
}

/// The names of the values atom `to` reads from atom `from`, in argument order.
fn values_read(plan: &ExecutionGraph, from: usize, to: usize) -> Vec<&str> {
    let provides = plan.atoms()[from].provides();
    let mut names: Vec<&str> = Vec::new();
    for source in plan.arg_sources(to) {
        let ArgSource::Atom(slot) = source else {
            continue;
        };
        if slot.atom as usize != from {
            continue;
        }
        let name = match (slot.elem, provides) {
            (Some(e), p) => p.names().get(e as usize).map(|n| n.as_ref()),
            (None, Provides::One(n)) => Some(n.as_ref()),
            (None, _) => None,
        };
        if let Some(name) = name {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Class name, fill and text colour of a state.
fn colours(state: AtomState) -> (&'static str, &'static str, &'static str) {
    const BLACK: &str = "#000000";
    const WHITE: &str = "#ffffff";
    match state {
        AtomState::Pending => ("pending", "#bdbdbd", BLACK),
        AtomState::Running => ("running", "#1f77b4", WHITE),
        AtomState::Success => ("success", "#5cb85c", BLACK),
        AtomState::Failure => ("failure", "#d62728", WHITE),
        AtomState::Reverting => ("reverting", "#ff9f1a", BLACK),
        AtomState::Reverted => ("reverted", "#ffe14d", BLACK),
        AtomState::RevertFailure => ("revert_failure", "#8b0000", WHITE),
        AtomState::Ignore => ("ignore", "#eeeeee", BLACK),
        AtomState::Retrying => ("retrying", "#8e44ad", WHITE),
    }
}

/// Every state, in the order Mermaid class statements are written.
const STATES: [AtomState; 9] = [
    AtomState::Pending,
    AtomState::Running,
    AtomState::Success,
    AtomState::Failure,
    AtomState::Reverting,
    AtomState::Reverted,
    AtomState::RevertFailure,
    AtomState::Ignore,
    AtomState::Retrying,
];

/// How a control character other than a newline is shown: `\u{7}`.
fn control(c: char) -> String {
    format!("\\u{{{:x}}}", c as u32)
}

// ---------------------------------------------------------------- DOT

/// A DOT double-quoted string. Inside, `\"` is a quote; labels then treat
/// backslash sequences as escapes (`\n`, `\l`, `\N`, ...) and `&...;` as HTML
/// entities, so backslashes and ampersands are escaped too.
fn dot_quoted<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out = String::from("\"");
    for (k, line) in lines.iter().enumerate() {
        if k > 0 {
            out.push_str("\\n");
        }
        for c in line.as_ref().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '&' => out.push_str("&amp;"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() => out.push_str(&control(c).replace('\\', "\\\\")),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

fn dot(model: &Model) -> String {
    let mut out = String::new();
    out.push_str("digraph flow {\n");
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t];",
        dot_quoted(&[model.title.as_str()])
    );
    let style = if model.states.is_some() {
        "\"rounded,filled\""
    } else {
        "rounded"
    };
    let _ = writeln!(out, "  node [shape=box, style={style}];");
    dot_members(&mut out, model, &model.members, 1);
    for edge in &model.edges {
        let _ = write!(out, "  a{} -> a{}", edge.from, edge.to);
        if !edge.label.is_empty() {
            let _ = write!(out, " [label={}]", dot_quoted(&[edge.label.as_str()]));
        }
        out.push_str(";\n");
    }
    out.push_str("}\n");
    out
}

fn dot_members(out: &mut String, model: &Model, members: &[Member], depth: usize) {
    let pad = "  ".repeat(depth);
    for member in members {
        match member {
            Member::Node(i, lines) => {
                let _ = write!(out, "{pad}a{i} [label={}", dot_quoted(lines));
                if let Some(states) = &model.states {
                    let (_, fill, font) = colours(states[*i]);
                    let _ = write!(out, ", fillcolor=\"{fill}\", fontcolor=\"{font}\"");
                }
                out.push_str("];\n");
            }
            Member::Group(group, id) => {
                let _ = writeln!(out, "{pad}subgraph cluster_{id} {{");
                let _ = writeln!(out, "{pad}  label={};", dot_quoted(&[group.title.as_str()]));
                dot_members(out, model, &group.members, depth + 1);
                let _ = writeln!(out, "{pad}}}");
            }
        }
    }
}

// ---------------------------------------------------------------- Mermaid

/// A Mermaid double-quoted string. Characters that could end the string,
/// start a Markdown string, a comment or a directive, or be read as HTML are
/// written as Mermaid entity codes (`#quot;`, `#35;`, ...); line breaks as
/// `<br>`. Mermaid also breaks a label of several lines at a literal `\n`
/// (backslash, n), even written with entity codes, so a word joiner (U+2060,
/// invisible) always goes between the two.
fn mermaid_quoted<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out = String::from("\"");
    for (k, line) in lines.iter().enumerate() {
        if k > 0 {
            out.push_str("<br>");
        }
        let mut chars = line.as_ref().chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'n') => out.push_str("\\#8288;"),
                '"' => out.push_str("#quot;"),
                '#' => out.push_str("#35;"),
                '&' => out.push_str("#amp;"),
                '<' => out.push_str("#lt;"),
                '>' => out.push_str("#gt;"),
                '%' => out.push_str("#37;"),
                '`' => out.push_str("#96;"),
                '\n' => out.push_str("<br>"),
                c if c.is_control() => out.push_str(&control(c)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

fn mermaid(model: &Model) -> String {
    let mut out = String::new();
    out.push_str("flowchart TB\n");
    // The whole flow is a subgraph too: its label is the picture's title,
    // escaped like every other label (front matter titles are not).
    mermaid_group(&mut out, &model.title, 0, &model.members, 1);
    for edge in &model.edges {
        if edge.label.is_empty() {
            let _ = writeln!(out, "  a{} --> a{}", edge.from, edge.to);
        } else {
            let _ = writeln!(
                out,
                "  a{} -->|{}| a{}",
                edge.from,
                mermaid_quoted(&[edge.label.as_str()]),
                edge.to
            );
        }
    }
    if let Some(states) = &model.states {
        for state in STATES {
            let nodes: Vec<String> = (0..states.len())
                .filter(|&i| states[i] == state)
                .map(|i| format!("a{i}"))
                .collect();
            if nodes.is_empty() {
                continue;
            }
            let (class, fill, font) = colours(state);
            // No `;` after a colour: Mermaid would read `#…;` as an entity.
            let _ = writeln!(out, "  classDef {class} fill:{fill},color:{font}");
            let _ = writeln!(out, "  class {} {class}", nodes.join(","));
        }
    }
    out
}

fn mermaid_group(out: &mut String, title: &str, id: usize, members: &[Member], depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(out, "{pad}subgraph f{id} [{}]", mermaid_quoted(&[title]));
    for member in members {
        match member {
            Member::Node(i, lines) => {
                let _ = writeln!(out, "{pad}  a{i}[{}]", mermaid_quoted(lines));
            }
            Member::Group(group, id) => {
                mermaid_group(out, &group.title, *id, &group.members, depth + 1);
            }
        }
    }
    let _ = writeln!(out, "{pad}end");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_escapes_quotes_backslashes_entities_and_controls() {
        let s = dot_quoted(&["a\"b\\c&lt;\nd\u{7}<>{}|é".to_owned()]);
        assert_eq!(s, r#""a\"b\\c&amp;lt;\nd\\u{7}<>{}|é""#);
    }

    #[test]
    fn mermaid_escapes_what_its_grammar_reads() {
        let s = mermaid_quoted(&["end\"#&<>%`[]{}()|\\\nx\u{1b}".to_owned()]);
        assert_eq!(
            s,
            r#""end#quot;#35;#amp;#lt;#gt;#37;#96;[]{}()|\<br>x\u{1b}""#
        );
        assert_eq!(
            mermaid_quoted(&["a\\nb\\".to_owned(), "c".to_owned()]),
            r#""a\#8288;nb\<br>c""#
        );
    }

    /// A run with one atom in each state (set by hand: no run passes
    /// through all of them).
    #[test]
    fn every_state_has_its_colour_in_both_formats() {
        use crate::{FlowState, FnTask};
        let mut flow = Flow::unordered("states");
        for state in STATES {
            flow.push(FnTask::new(state.as_str()).run(|_| Ok(serde_json::Value::Null)));
        }
        let plan = flow.compile(&[]).unwrap();
        let mut storage = Storage::new(std::sync::Arc::new(plan), Vec::new());
        storage.states = STATES.to_vec();
        storage.flow_state = FlowState::Reverting;
        let picture = Picture::of_run(&storage);
        assert_eq!(
            picture.to_dot(),
            r##"digraph flow {
  graph [label="states: REVERTING", labelloc=t];
  node [shape=box, style="rounded,filled"];
  a0 [label="PENDING\nPENDING", fillcolor="#bdbdbd", fontcolor="#000000"];
  a1 [label="RUNNING\nRUNNING", fillcolor="#1f77b4", fontcolor="#ffffff"];
  a2 [label="SUCCESS\nSUCCESS", fillcolor="#5cb85c", fontcolor="#000000"];
  a3 [label="FAILURE\nFAILURE", fillcolor="#d62728", fontcolor="#ffffff"];
  a4 [label="REVERTING\nREVERTING", fillcolor="#ff9f1a", fontcolor="#000000"];
  a5 [label="REVERTED\nREVERTED", fillcolor="#ffe14d", fontcolor="#000000"];
  a6 [label="REVERT_FAILURE\nREVERT_FAILURE", fillcolor="#8b0000", fontcolor="#ffffff"];
  a7 [label="IGNORE\nIGNORE", fillcolor="#eeeeee", fontcolor="#000000"];
  a8 [label="RETRYING\nRETRYING", fillcolor="#8e44ad", fontcolor="#ffffff"];
}
"##
        );
        let mermaid = picture.to_mermaid();
        assert!(
            mermaid.ends_with(
                "  classDef pending fill:#bdbdbd,color:#000000
  class a0 pending
  classDef running fill:#1f77b4,color:#ffffff
  class a1 running
  classDef success fill:#5cb85c,color:#000000
  class a2 success
  classDef failure fill:#d62728,color:#ffffff
  class a3 failure
  classDef reverting fill:#ff9f1a,color:#000000
  class a4 reverting
  classDef reverted fill:#ffe14d,color:#000000
  class a5 reverted
  classDef revert_failure fill:#8b0000,color:#ffffff
  class a6 revert_failure
  classDef ignore fill:#eeeeee,color:#000000
  class a7 ignore
  classDef retrying fill:#8e44ad,color:#ffffff
  class a8 retrying
"
            ),
            "{mermaid}"
        );
    }

    #[test]
    fn every_state_has_its_own_class() {
        let mut classes: Vec<&str> = STATES.iter().map(|s| colours(*s).0).collect();
        classes.sort_unstable();
        classes.dedup();
        assert_eq!(classes.len(), STATES.len());
    }
}
