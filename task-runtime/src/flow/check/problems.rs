//! The problems the checks find, as data ([`Problem`]), and where they go
//! ([`Report`]): worded into a message (the flow macro) or kept in a list
//! (the builder, which turns each into a [`FlowError`](crate::flow::FlowError)).

use super::*;

/// One problem the checks found, as data: [`write_problem`] words it (what
/// the flow macro shows), and the builder turns it into a
/// [`FlowError`](crate::flow::FlowError) whose message the same writers word, so
/// the two read the same. Atoms and nodes are indices into the [`FlowDesc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem<'a> {
    /// A requirement of `atom` that nothing visible provides.
    Missing {
        /// The atom that requires it.
        atom: u32,
        /// The name it reads (after rebinding).
        name: &'a str,
        /// The parameter's type for messages, `""` when not known.
        ty: &'a str,
        /// Where a provider exists that the atom does not see.
        hint: Hint<'a>,
        /// The nearest name available there (when no hint is), if near
        /// enough: a misspelling's correction.
        suggestion: Option<&'a str>,
    },
    /// `rebind` or `inject` names an argument the atom's task does not have.
    UnknownArgument {
        /// The atom.
        atom: u32,
        /// `"rebind"` or `"inject"`.
        what: &'static str,
        /// The argument named.
        arg: &'a str,
    },
    /// `provides_as` does not fit what the task provides.
    ProvidesMismatch {
        /// The atom.
        atom: u32,
        /// How many values the task provides.
        task: usize,
        /// How many names the atom gives them.
        given: usize,
    },
    /// Two children of the graph or unordered flow `scope` export `name`
    /// (the providers: [`exporters`]).
    Ambiguous {
        /// The name.
        name: &'a str,
        /// The flow's node.
        scope: u32,
    },
    /// A declared input and `atom`, a child's provider in graph flow `scope`,
    /// both provide `name`.
    AmbiguousInput {
        /// The name.
        name: &'a str,
        /// The graph flow's node.
        scope: u32,
        /// The atom providing it.
        atom: u32,
    },
    /// A second atom named like `atom`.
    Duplicate {
        /// One of the atoms of that name.
        atom: u32,
    },
    /// A declared input that no task reads.
    UnusedInput {
        /// Its index in [`FlowDesc::inputs`].
        input: u32,
        /// The nearest name a task reads, if near enough.
        suggestion: Option<&'a str>,
    },
    /// `atom` provides more values than the tables hold ([`MAX_OUTPUTS`]).
    TooManyOutputs {
        /// The atom.
        atom: u32,
        /// How many values it provides.
        count: usize,
    },
    /// The flow has more atoms or inputs than the tables hold.
    TooLarge {
        /// Which limit.
        limit: Limit,
        /// How many it has.
        count: usize,
    },
}

/// Where the checks put the problems they find: as text (the flow macro, one
/// line each), or as [`Problem`]s in a caller's slice (the builder). A list
/// counts what does not fit, so a first pass may measure.
#[derive(Debug)]
pub enum Report<'r, 'b, 'a> {
    /// Words each problem into a message, one line each.
    Text(&'r mut Msg<'b>),
    /// Keeps each problem; `len` counts them all, stored or not.
    List {
        /// Where the problems go.
        out: &'r mut [Problem<'a>],
        /// How many were found.
        len: usize,
    },
}

impl<'a> Report<'_, '_, 'a> {
    /// How many problems were reported (text: how many bytes were written).
    pub const fn len(&self) -> usize {
        match self {
            Report::Text(m) => m.len(),
            Report::List { len, .. } => *len,
        }
    }

    /// Whether nothing was reported.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) const fn add(&mut self, d: &FlowDesc<'a>, p: Problem<'a>) {
        match self {
            Report::Text(m) => {
                write_sep(m);
                write_problem(m, d, p);
            }
            Report::List { out, len } => {
                if *len < out.len() {
                    out[*len] = p;
                }
                *len += 1;
            }
        }
    }
}

/// Words problem `p` of flow `d`.
pub const fn write_problem(m: &mut Msg<'_>, d: &FlowDesc<'_>, p: Problem<'_>) {
    let flow = flow_name(d);
    match p {
        Problem::Missing {
            atom,
            name,
            ty,
            hint,
            suggestion,
        } => {
            let retry = is_retry(d, d.atoms[atom as usize].node);
            let atom = atom_name(&d.atoms[atom as usize]);
            let mut buf = [0u8; 512];
            let mut h = Msg::new(&mut buf);
            write_hint(&mut h, hint, atom);
            write_missing(m, flow, atom, retry, name, ty, h.as_str(), suggestion);
        }
        Problem::UnknownArgument { atom, what, arg } => {
            let a = &d.atoms[atom as usize];
            write_unknown_argument(m, flow, atom_name(a), what, arg, Names::Args(a.meta));
        }
        Problem::ProvidesMismatch { atom, task, given } => {
            write_provides_mismatch(m, flow, atom_name(&d.atoms[atom as usize]), task, given);
        }
        Problem::Ambiguous { name, scope } => {
            let mut list = [0u32; 16];
            let len = exporters(d, scope, name, &mut list);
            let shown = if len < list.len() { len } else { list.len() };
            let (listed, _) = list.split_at(shown);
            write_ambiguous(
                m,
                flow,
                name,
                Names::Nodes(d, listed),
                flow_kind(d, scope),
                node_name(d, scope),
            );
        }
        Problem::AmbiguousInput { name, scope, atom } => write_ambiguous(
            m,
            flow,
            name,
            Names::InputAnd(atom_name(&d.atoms[atom as usize])),
            FlowKind::Graph,
            node_name(d, scope),
        ),
        Problem::Duplicate { atom } => write_duplicate(m, flow, atom_name(&d.atoms[atom as usize])),
        Problem::UnusedInput { input, suggestion } => {
            let (name, ty) = d.inputs[input as usize];
            write_unused_input(m, flow, name, ty, suggestion);
        }
        Problem::TooManyOutputs { atom, count } => {
            write_too_many_outputs(m, flow, atom_name(&d.atoms[atom as usize]), count);
        }
        Problem::TooLarge { limit, count } => write_too_large(m, flow, limit, count),
    }
}
