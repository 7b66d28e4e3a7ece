//! Validation errors. Their wording is shared by every place that validates a
//! flow, so a user sees the same message for the same mistake: the messages of
//! the mistakes the flow macro finds at compile time are written by the same
//! `const fn`s ([`check`]'s writers) the macro uses.

use std::fmt;

use super::{check, FlowKind};

/// Something that makes a flow unable to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// A requirement nothing provides.
    #[error("{}", check::render(|m| check::write_missing(m, flow, atom, *retry, name, ty.as_deref().unwrap_or(""), hint.as_deref().unwrap_or(""), suggestion.as_deref())))]
    MissingRequirement {
        /// The outermost flow.
        flow: String,
        /// The atom that requires it.
        atom: String,
        /// Whether that atom is a retry controller (`.requires([..])` of a
        /// retry).
        retry: bool,
        /// The value's name (after rebinding).
        name: String,
        /// The type the atom's parameter has, when known (tasks built at run
        /// time take untyped JSON values).
        ty: Option<String>,
        /// What might help, e.g. a later task that provides it.
        hint: Option<String>,
        /// The nearest name available to the atom (an input, or what an
        /// earlier task provides), when no hint applies and one is near
        /// enough: "did you mean `valid_order`?".
        suggestion: Option<String>,
    },
    /// An input that no atom reads: a misspelling, or a leftover. The
    /// engine's inputs may be allowed to be a superset of what its flow
    /// reads ([`Engine::allow_unused_inputs`](crate::Engine::allow_unused_inputs)).
    #[error("{}", check::render(|m| check::write_unused_input(m, flow, name, ty.as_deref().unwrap_or(""), suggestion.as_deref())))]
    UnusedInput {
        /// The outermost flow.
        flow: String,
        /// The input's name.
        name: String,
        /// Its declared type (`flow!`); `None` for an engine's input.
        ty: Option<String>,
        /// The nearest name an atom reads, if near enough.
        suggestion: Option<String>,
    },
    /// Two providers of one name where no order decides between them.
    #[error("{}", check::render(|m| check::write_ambiguous(m, flow, name, check::Names::Strings(providers), *kind, scope)))]
    AmbiguousProvider {
        /// The outermost flow.
        flow: String,
        /// The graph or unordered flow where both are visible.
        scope: String,
        /// Its kind.
        kind: FlowKind,
        /// The value's name.
        name: String,
        /// The providers (atoms, or "the engine input").
        providers: Vec<String>,
    },
    /// A dependency cycle in a graph flow.
    #[error("{}", check::render(|m| check::write_cycle(m, flow, check::Names::Marked(cycle, flows))))]
    Cycle {
        /// The outermost flow.
        flow: String,
        /// The children of graph flows on the cycle, in order: atoms, or
        /// nested flows.
        cycle: Vec<String>,
        /// Which of them are nested flows.
        flows: Vec<bool>,
    },
    /// Two atoms with one name.
    #[error("{}", check::render(|m| check::write_duplicate(m, flow, atom)))]
    DuplicateAtom {
        /// The outermost flow.
        flow: String,
        /// The shared name.
        atom: String,
    },
    /// A link naming something that is not a child of the graph flow.
    #[error("{}", check::render(|m| check::write_unknown_link_end(m, flow, scope, from, to, missing, check::Names::Strings(children), suggestion.as_deref())))]
    UnknownLinkEnd {
        /// The outermost flow.
        flow: String,
        /// The graph flow with the link.
        scope: String,
        /// The link's start.
        from: String,
        /// The link's end.
        to: String,
        /// The end that is not a child.
        missing: String,
        /// The children of the graph flow (atoms and nested flows), in order.
        children: Vec<String>,
        /// The child named nearest to `missing`, if near enough.
        suggestion: Option<String>,
    },
    /// A link in a flow that is not a graph.
    #[error("{}", check::render(|m| check::write_link_outside_graph(m, flow, *kind, scope, from, to)))]
    LinkOutsideGraph {
        /// The outermost flow.
        flow: String,
        /// The flow with the link.
        scope: String,
        /// Its kind.
        kind: FlowKind,
        /// The link's start.
        from: String,
        /// The link's end.
        to: String,
    },
    /// `rebind` or `inject` names an argument the task does not have.
    #[error("{}", check::render(|m| check::write_unknown_argument(m, flow, atom, what, arg, check::Names::Strings(args))))]
    UnknownArgument {
        /// The outermost flow.
        flow: String,
        /// The atom.
        atom: String,
        /// `rebind` or `inject`.
        what: &'static str,
        /// The argument named.
        arg: String,
        /// The arguments it has.
        args: Vec<String>,
    },
    /// `provides_as` names a different number of values than the task provides.
    #[error("{}", check::render(|m| check::write_provides_mismatch(m, flow, atom, *task, *given)))]
    ProvidesMismatch {
        /// The outermost flow.
        flow: String,
        /// The atom.
        atom: String,
        /// How many values the task provides.
        task: usize,
        /// How many names were given.
        given: usize,
    },
    /// A value whose provider gives another type than the parameter that
    /// reads it takes (both types known: tasks of `#[task]`); `flow!` reports
    /// the same at compile time, in the same words.
    #[error("{}", check::render(|m| check::write_type_mismatch(m, flow, atom, arg, name, expected, provider, found)))]
    TypeMismatch {
        /// The outermost flow.
        flow: String,
        /// The atom whose parameter reads the value.
        atom: String,
        /// The parameter.
        arg: String,
        /// The value's name (the parameter's, unless rebound).
        name: String,
        /// The parameter's type, as written in its task.
        expected: String,
        /// The atom providing the value.
        provider: String,
        /// The provided value's type, as written in the provider's task.
        found: String,
    },
    /// Tasks that take a resource (`Res<T>`) of a type the engine was not
    /// given ([`Engine::resource`](crate::Engine::resource)), found before
    /// anything runs. Atoms that an executor runs elsewhere (remote
    /// workers, which hold their own resources) are not checked.
    #[error("{}", check::render(|m| check::write_missing_resource(m, flow, ty, check::Names::Strings(atoms))))]
    MissingResource {
        /// The outermost flow.
        flow: String,
        /// The resource's type, as written in the first task that takes it.
        ty: String,
        /// The atoms that take it, in the order of the flow.
        atoms: Vec<String>,
    },
    /// A task providing more values than a flow can hold apart
    /// ([`check::MAX_OUTPUTS`]).
    #[error("{}", check::render(|m| check::write_too_many_outputs(m, flow, atom, *count)))]
    TooManyOutputs {
        /// The outermost flow.
        flow: String,
        /// The atom.
        atom: String,
        /// How many values it provides.
        count: usize,
    },
    /// A flow with more atoms ([`check::MAX_ATOMS`]) or declared inputs
    /// ([`check::MAX_INPUTS`]) than its checks can index.
    #[error("{}", check::render(|m| check::write_too_large(m, flow, *limit, *count)))]
    TooLarge {
        /// The outermost flow.
        flow: String,
        /// Which limit it is past.
        limit: check::Limit,
        /// How many atoms or inputs it has.
        count: usize,
    },
    /// A value (injected or input) that cannot be encoded as serde data.
    #[error("flow `{flow}`: the value for `{name}` of {owner} cannot be encoded: {message}")]
    BadValue {
        /// The outermost flow.
        flow: String,
        /// `task `x`` or `the engine`.
        owner: String,
        /// The value's name.
        name: String,
        /// The encoder's message.
        message: String,
    },
}

/// Every problem found in a flow (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowErrors {
    errors: Vec<FlowError>,
}

impl FlowErrors {
    pub(crate) fn new(errors: Vec<FlowError>) -> FlowErrors {
        debug_assert!(!errors.is_empty());
        FlowErrors { errors }
    }

    /// The problems, in a deterministic order.
    pub fn errors(&self) -> &[FlowError] {
        &self.errors
    }

    /// The first problem.
    pub fn first(&self) -> &FlowError {
        &self.errors[0]
    }
}

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FlowErrors {}

impl From<FlowError> for FlowErrors {
    fn from(e: FlowError) -> FlowErrors {
        FlowErrors::new(vec![e])
    }
}
