//! `flow!`: a flow checked by the compiler. Parse ([`parse`]), then expand to a
//! function returning an ordinary `Flow`, whose body holds the checks as
//! `const` items:
//!
//! ```text
//! pub struct create_volume { pub size: u64, .. }      // the inputs, typed (type namespace)
//! impl create_volume { pub fn engine(self) -> Engine { Engine::new(create_volume()).input("size", self.size).. } }
//! pub fn create_volume() -> ::taskwire::__private::Flow {
//!     mod __flow_stand_ins { pub type __flow_task_0 = UnknownTask; .. }
//!     use __flow_stand_ins::*;                       // shadowed by each alias below
//!     extract_request!{@alias __flow_task_0 extract_request}  // the task's callback:
//!                                                    // `type __flow_task_0 = extract_request;`
//!     struct __FlowSlots;                            // type check slots
//!     impl Slot<0> for __FlowSlots { type Types = (u64,); .. }   // input `size`
//!     impl Slot<2> for __FlowSlots { type Types = <__flow_task_0 as Typed>::Provides; .. }
//!     impl Slot<OWN> for __FlowSlots { type Types = (); .. }       // unresolved: `Nothing`
//!     const __FLOW: FlowDesc<'static> = FlowDesc { inputs, nodes, atoms: &[AtomDesc { meta: &<__flow_task_0 as Task>::DEF.meta, .. }] };
//!     const __FLOW_TABLES: Tables<'static> = Tables { providers, offsets, sources, names }; // built once
//!     const _: () = /* check_flow, panics with its message */;     // at the flow's name
//!     const _: () = /* check_atom(.., 0), panics with its message */; // at `extract_request`
//!     extract_request!{@check [const _: () = <__flow_task_0>::check_value_types::<__FlowSlots] [>();] __flow_slot __flow_elem 0}
//!     // the callback adds `, { __flow_slot(0, k) }, { __flow_elem(0, k) }` per value parameter
//!     ::taskwire::__private::Flow::linear("create_volume").add(<__flow_task_0>::task()).add(..)
//! }
//! ```
//!
//! A flow with links or retries adds, and only then: a `LinkDesc` per link and
//! three checks (`check_link` at `link`, `check_link_end` at each end written
//! as a string; an end written as a path is matched with a child here, its
//! name in the description being the atom's (`text(&<alias as Task>::DEF.meta.name)`
//! or `.named(..)`), and one that matches none is reported at it by
//! `write_unknown_link_path`, with the children as written); per
//! retry, a `const` `TaskMeta` (`retry_meta`: the names written in its
//! `.requires`/`.provides`), an atom after the tasks' (its node is its flow's
//! first child) and a `check_atom` at `retry`; the builder's own
//! `.link`/`.link_if`/`.retry` calls build the `Flow`.
//!
//! One `const` per atom gives one error per faulty atom, so every mistake of a
//! flow is reported in one build. A path is named only through its task's
//! callback (`crate::callback`): one that names no task gets rustc's "cannot
//! find macro" error (rustc reports the two invocations' identical errors
//! once), its alias stays the glob-imported `UnknownTask`, and the flow's own
//! checks keep quiet (`has_unknown`): one more check at the path
//! (`is_unknown_task`) says in the flow's words that it is not a task and to
//! add `#[task]`, since rustc's error speaks of a missing macro. A task named
//! like a prelude macro has no callback: its path is written in a plain type
//! alias, and its requirements are checked by name, not by type.

mod parse;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use parse::{
    path_text, Child, FlowDef, Group, Kind, LinkEnd, LinkUse, Provides, RetryUse, TaskUse,
};

use crate::callback::has_callback;
use crate::krate::Krate;

/// Expands `flow! { .. }`.
pub(crate) fn expand(tokens: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let def = match parse::parse(&cx, tokens) {
        Ok(def) => def,
        Err(err) => {
            cx.syn_error(err);
            return cx.check().unwrap_err().into_compile_error();
        }
    };
    if let Err(err) = cx.check() {
        return err.into_compile_error();
    }
    let output = Expander {
        krate: def.krate.clone(),
        ..Expander::default()
    }
    .flow(&def);
    if std::env::var_os("TASK_MACROS_DEBUG").is_some_and(|v| v == "1") {
        eprintln!("flow! expansion:\n{output}\n");
    }
    output
}

/// A span at `location` that resolves at the call site.
fn at(location: Span) -> Span {
    Span::call_site().located_at(location)
}

#[derive(Default)]
struct Expander<'a> {
    /// Where taskwire is: `::taskwire`, or `crate = path`.
    krate: Krate,
    /// `NodeDesc` expressions, depth first.
    nodes: Vec<TokenStream>,
    /// The atoms: their use in the invocation and their node.
    atoms: Vec<(&'a TaskUse, usize)>,
    /// How many tasks the flow has: the retry atoms come after them in the
    /// description's atoms.
    tasks: usize,
    /// The retries: their use, their atom's node and name.
    retries: Vec<(&'a RetryUse, usize, String)>,
    /// The links: their use, their flow's node, and where their ends are.
    links: Vec<LinkAt<'a>>,
}

/// A link as the expansion sees it.
struct LinkAt<'a> {
    link: &'a LinkUse,
    /// The node of the flow whose body holds it.
    node: usize,
    /// That flow's name, and whether it is a graph flow.
    scope: String,
    graph: bool,
    /// Its ends: source, then target.
    ends: [End; 2],
    /// The children as written, which a path end may name.
    written: Vec<String>,
}

/// Where a link's end is.
enum End {
    /// A name as a string: the builder's way, checked by `check_link_end`.
    Name(syn::LitStr),
    /// An atom, by index: its `.named(..)` name or its task's.
    Atom(usize),
    /// A nested flow, by name.
    Flow(String),
    /// A path that names no child (reported by `write_unknown_link_path`).
    Unknown(String),
}

/// How many tasks `group` holds, nested flows included.
fn task_count(group: &Group) -> usize {
    group
        .children
        .iter()
        .map(|c| match c {
            Child::Task(_) => 1,
            Child::Group(g) => task_count(g),
        })
        .sum()
}

impl<'a> Expander<'a> {
    fn flow(mut self, def: &'a FlowDef) -> TokenStream {
        let p = self.krate.private();
        let name = def.name.unraw().to_string();
        self.tasks = task_count(&def.body);
        self.group(&def.body, &name, 0, 0, 0);
        let build = self.build(&def.body, &name, &mut 0);
        let inputs = def.inputs.iter().map(|(n, ty)| {
            let n = n.unraw().to_string();
            quote!((#n, #p::core::stringify!(#ty)))
        });
        let input_count = def.inputs.len();
        // The retry atoms come after the tasks.
        let all_atoms = self.atoms.len() + self.retries.len();
        let nodes = &self.nodes;
        let (links, retries) = self.links_and_retries();

        // Each path named through its callback (or, for a task named like a
        // prelude macro, written once), at the user's token. A path that names
        // no task leaves the stand-in of the glob import in place.
        let aliases = self.atoms.iter().enumerate().map(|(i, (task, _))| {
            let alias = format_ident!("__flow_task_{}", i);
            let path = &task.path;
            if callback_of(path) {
                quote_spanned!(at(path.span())=> #path!{@alias #alias #path})
            } else {
                quote_spanned!(at(path.span())=> #[allow(non_camel_case_types)] type #alias = #path;)
            }
        });
        // The stand-ins' module is nested: it names taskwire by the full path.
        let (child_p, glob_parent) = self.krate.outer_in_child();
        let stand_ins = (0..self.atoms.len()).map(|i| {
            let alias = format_ident!("__flow_task_{}", i);
            quote!(pub type #alias = #child_p::UnknownTask;)
        });
        let parent = glob_parent.then(|| {
            quote!(
                #[allow(unused_imports)]
                use super::*;
            )
        });
        let import = self.krate.import();
        let outer = self.krate.outer();
        let slots = def
            .inputs
            .iter()
            .enumerate()
            .map(|(k, (input, ty))| {
                let k = Literal::usize_unsuffixed(k);
                quote! {
                    impl #p::Slot<#k> for __FlowSlots { type Types = (#ty,); type Who = input::#input; }
                }
            })
            .chain(self.atoms.iter().enumerate().map(|(i, _)| {
                let alias = format_ident!("__flow_task_{}", i);
                let out = Literal::usize_unsuffixed(input_count + i);
                quote! {
                    impl #p::Slot<#out> for __FlowSlots {
                        type Types = <#alias as #p::Typed>::Provides;
                        type Who = #alias;
                    }
                }
            }));
        let atoms = self.atoms.iter().enumerate().map(|(i, (task, node))| {
            let alias = format_ident!("__flow_task_{}", i);
            let node = Literal::u32_unsuffixed(*node as u32);
            let plain = task.named.is_none()
                && task.rebind.is_empty()
                && task.inject.is_empty()
                && matches!(task.provides, Provides::Task);
            if plain {
                // The common case, in fewer tokens to type-check.
                return quote!(#p::AtomDesc::new(&<#alias as #p::Task>::DEF.meta, #node));
            }
            let name = match &task.named {
                Some(n) => quote!(#p::core::option::Option::Some(#n)),
                None => quote!(#p::core::option::Option::None),
            };
            let rebind = task.rebind.iter().map(|(a, b)| quote!((#a, #b)));
            let inject = task.inject.iter().map(|(a, _)| a);
            let provides = match &task.provides {
                Provides::Task => quote!(#p::ProvidesAs::Task),
                Provides::One(n) => quote!(#p::ProvidesAs::One(#n)),
                Provides::Each(ns) => quote!(#p::ProvidesAs::Each(&[#(#ns),*])),
            };
            quote! {
                #p::AtomDesc {
                    meta: &<#alias as #p::Task>::DEF.meta,
                    node: #node,
                    name: #name,
                    rebind: &[#(#rebind),*],
                    inject: &[#(#inject),*],
                    provides: #provides,
                }
            }
        });

        let atoms = atoms.chain(self.retries.iter().enumerate().map(|(k, (_, node, name))| {
            let meta = format_ident!("__FLOW_RETRY_{}", k);
            let node = Literal::u32_unsuffixed(*node as u32);
            quote! {
                #p::AtomDesc { name: #p::core::option::Option::Some(#name), ..#p::AtomDesc::new(#meta, #node) }
            }
        }));
        let retry_nodes = self
            .retries
            .iter()
            .map(|(_, node, _)| Literal::u32_unsuffixed(*node as u32));
        let link_checks = self.link_checks(&name);
        let retry_checks = self.retry_checks();

        // The whole-flow check, at the flow's name.
        let name_span = at(def.name.span());
        let core = self.krate.core_at(name_span);
        let input_markers = def
            .inputs
            .iter()
            .map(|(input, _)| quote!(#[allow(non_camel_case_types, dead_code)] pub enum #input {}));
        let flow_check = quote_spanned! {name_span=>
            const _: () = {
                let mut scratch = [0u32; #p::flow_scratch_len(&__FLOW)];
                let mut buf = [0u8; 8192];
                let mut msg = #p::Msg::new(&mut buf);
                if !__FLOW_QUIET && #p::check_flow(&__FLOW, &__FLOW_TABLES, &mut scratch, &mut msg) {
                    #core::panic!("{}", msg.as_str());
                }
            };
        };
        // Per atom: its requirements, then its types (the task's callback
        // writes one const argument pair per value parameter), at its path.
        let atom_checks = self.atoms.iter().enumerate().map(|(i, (task, _))| {
            let span = at(task.path.span());
            let core = self.krate.core_at(span);
            let alias = format_ident!("__flow_task_{}", i);
            let index = Literal::usize_unsuffixed(i);
            let path = &task.path;
            let types = callback_of(path).then(|| {
                // A path without a callback names no task (rustc reports
                // the missing macro in its own words, about a macro): say
                // what it means here, at the path.
                let last = path
                    .segments
                    .last()
                    .map(|s| s.ident.unraw().to_string())
                    .unwrap_or_default();
                let written = path_text(path);
                let not_a_task = format!(
                    "`{written}` is not a task: add `#[task]` above `fn {last}` (or, if you meant another task, correct the name)"
                );
                quote_spanned! {span=>
                    const _: () = if #p::is_unknown_task(&<#alias as #p::Task>::DEF.meta) {
                        #core::panic!(#not_a_task);
                    };
                    #path!{@check [const _: () = <#alias>::check_value_types::<__FlowSlots] [>();] __flow_slot __flow_elem #index}
                }
            });
            quote_spanned! {span=>
                const _: () = if __FLOW_BAD[#index] {
                    #core::panic!("{}", __flow_atom_message(#index).as_str());
                };
                #types
            }
        });

        let attrs = &def.attrs;
        let vis = &def.vis;
        let ident = &def.name;
        let doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
            None
        } else {
            let text = format!("The flow `{name}`, checked at compile time by `taskwire::flow!`.");
            Some(quote!(#[doc = #text]))
        };
        let inputs_struct = self.inputs_struct(def, &name);
        quote! {
            #inputs_struct
            #(#attrs)*
            #doc
            #vis fn #ident() -> #outer::Flow {
                #import
                /// What stands for a path that names no task (shadowed by
                /// the alias each task's callback gives).
                #[allow(non_camel_case_types, dead_code, unreachable_pub)]
                mod __flow_stand_ins {
                    #parent
                    #(#stand_ins)*
                }
                #[allow(unused_imports)]
                use __flow_stand_ins::*;
                #(#aliases)*
                #[allow(dead_code)]
                struct __FlowSlots;
                impl #p::Slot<{ #p::OWN }> for __FlowSlots {
                    type Types = ();
                    type Who = ();
                }
                /// The declared inputs, as providers in type mismatch messages.
                mod input {
                    #(#input_markers)*
                }
                #(#slots)*
                #(#retries)*
                // An atom's node: one call instead of a struct literal per
                // atom (cheaper to type-check).
                const fn __flow_node(parent: u32, pos: u32, depth: u32, atom: u32) -> #p::NodeDesc<'static> {
                    #p::NodeDesc { parent, pos, depth, kind: #p::NodeKind::Atom(atom) }
                }
                const __FLOW: #p::FlowDesc<'static> = #p::FlowDesc {
                    inputs: &[#(#inputs),*],
                    nodes: &[#(#nodes),*],
                    atoms: &[#(#atoms),*],
                    links: &[#(#links),*],
                    retries: &[#(#retry_nodes),*],
                };
                // The tables every check reads, built once, shared by reference.
                const __FLOW_PROVIDERS: &[u64] =
                    &#p::providers::<{ #p::provider_count(&__FLOW) }>(&__FLOW);
                const __FLOW_TABLES: #p::Tables<'static> = #p::Tables {
                    providers: __FLOW_PROVIDERS,
                    offsets: &#p::offsets::<{ #all_atoms + 1 }>(&__FLOW),
                    sources: &#p::sources::<{ #p::requirement_count(&__FLOW) }>(&__FLOW, __FLOW_PROVIDERS),
                    names: &#p::names::<#all_atoms>(&__FLOW),
                };
                // Which atoms have problems, and the providers of each required
                // parameter, computed once for all atoms.
                // Quiet when a path named no task: rustc has reported it.
                const __FLOW_QUIET: bool = #p::has_unknown(&__FLOW);
                const __FLOW_BAD: &[bool] = &if __FLOW_QUIET {
                    [false; #all_atoms]
                } else {
                    #p::atom_flags::<#all_atoms>(&__FLOW, &__FLOW_TABLES)
                };
                const __FLOW_PLANS: &[[usize; 2]] =
                    &#p::type_plans::<{ #p::requirement_count(&__FLOW) }>(&__FLOW, &__FLOW_TABLES);
                // An atom's problems, written by a function: each atom's
                // `const` is then small (and cheaper to compile); the panic
                // stays in that `const`, spanned at the atom.
                struct __FlowMessage {
                    buf: [u8; 4096],
                    len: usize,
                }
                impl __FlowMessage {
                    const fn as_str(&self) -> &str {
                        match #p::core::str::from_utf8(self.buf.split_at(self.len).0) {
                            #p::core::result::Result::Ok(text) => text,
                            #p::core::result::Result::Err(_) => "",
                        }
                    }
                }
                const fn __flow_atom_message(atom: usize) -> __FlowMessage {
                    let mut buf = [0u8; 4096];
                    let len = {
                        let mut msg = #p::Msg::new(&mut buf);
                        #p::check_atom(&__FLOW, &__FLOW_TABLES, atom, &mut msg);
                        msg.as_str().len()
                    };
                    __FlowMessage { buf, len }
                }
                // Read through functions: an array constant indexed in a const
                // argument costs about three times as much to compile.
                const fn __flow_slot(atom: usize, k: usize) -> usize {
                    __FLOW_PLANS[__FLOW_TABLES.offsets[atom] as usize + k][0]
                }
                const fn __flow_elem(atom: usize, k: usize) -> usize {
                    __FLOW_PLANS[__FLOW_TABLES.offsets[atom] as usize + k][1]
                }
                #flow_check
                #(#atom_checks)*
                #(#link_checks)*
                #(#retry_checks)*
                #build
                __flow
            }
        }
    }

    /// The flow's inputs as a struct named after the flow (in the type
    /// namespace, next to the function, as `#[task]`'s descriptor is), one
    /// field per input with its declared type: `create_volume { size: 10,
    /// volume_type: "ssd".into() }.engine()` gives every input, each of its
    /// type, or does not compile.
    fn inputs_struct(&self, def: &FlowDef, name: &str) -> TokenStream {
        let outer = self.krate.outer();
        let (vis, ident) = (&def.vis, &def.name);
        let fields = def.inputs.iter().map(|(input, ty)| {
            let doc = format!("The input `{}` of the flow.", input.unraw());
            quote!(#[doc = #doc] #vis #input: #ty,)
        });
        let given = def.inputs.iter().map(|(input, _)| {
            let text = input.unraw().to_string();
            quote!(.input(#text, self.#input))
        });
        let doc = format!(
            "The inputs of the flow `{name}` (declared by `taskwire::flow!`), each of its declared type: `{name} {{ .. }}.engine()` is an engine for the flow with them."
        );
        let engine_doc = format!(
            "An engine for the flow `{name}` (`Engine::new({name}())`), given these inputs."
        );
        quote! {
            #[doc = #doc]
            #[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
            #vis struct #ident {
                #(#fields)*
            }
            impl #ident {
                #[doc = #engine_doc]
                #[allow(dead_code)]
                #[must_use]
                #vis fn engine(self) -> #outer::Engine {
                    #outer::Engine::new(#ident())#(#given)*
                }
            }
        }
    }

    /// Records `group` (node `node`, child `pos` of `parent`) and its subtree.
    fn group(&mut self, group: &'a Group, name: &str, parent: usize, pos: usize, depth: u32) {
        let p = self.krate.private();
        let node = self.nodes.len();
        let kind = kind_tokens(&p, group.kind);
        let (parent_lit, pos_lit, depth_lit) = (
            Literal::u32_unsuffixed(parent as u32),
            Literal::u32_unsuffixed(pos as u32),
            Literal::u32_unsuffixed(depth),
        );
        self.nodes.push(quote! {
            #p::NodeDesc { parent: #parent_lit, pos: #pos_lit, depth: #depth_lit, kind: #p::NodeKind::Flow(#kind, #name) }
        });
        let node_lit = Literal::u32_unsuffixed(node as u32);
        let d_lit = Literal::u32_unsuffixed(depth + 1);
        // A retry is its flow's first child, as `Flow::retry` makes it.
        let first = if let Some(retry) = &group.retry {
            let atom = Literal::u32_unsuffixed((self.tasks + self.retries.len()) as u32);
            let atom_name = match &retry.named {
                Some(n) => n.value(),
                None => format!("{name}_retry"),
            };
            self.retries.push((retry, self.nodes.len(), atom_name));
            self.nodes.push(quote! {
                __flow_node(#node_lit, 0, #d_lit, #atom)
            });
            1
        } else {
            0
        };
        // What each child is, for the links' ends written as paths.
        let mut targets = Vec::with_capacity(group.children.len());
        for (i, child) in group.children.iter().enumerate() {
            match child {
                Child::Task(task) => {
                    targets.push(End::Atom(self.atoms.len()));
                    let atom = Literal::u32_unsuffixed(self.atoms.len() as u32);
                    let i_lit = Literal::u32_unsuffixed((first + i) as u32);
                    self.atoms.push((task, self.nodes.len()));
                    self.nodes.push(quote! {
                        __flow_node(#node_lit, #i_lit, #d_lit, #atom)
                    });
                }
                Child::Group(inner) => {
                    let inner_name = group_name(inner, name, i);
                    targets.push(End::Flow(inner_name.clone()));
                    self.group(inner, &inner_name, node, first + i, depth + 1);
                }
            }
        }
        let written: Vec<String> = group.children.iter().filter_map(written_name).collect();
        for link in &group.links {
            let end = |end: &LinkEnd| match end {
                LinkEnd::Name(n) => End::Name(n.clone()),
                LinkEnd::Path(path) => match parse::find_child(group, path) {
                    Some(i) => match &targets[i] {
                        End::Atom(a) => End::Atom(*a),
                        End::Flow(n) => End::Flow(n.clone()),
                        _ => End::Unknown(path_text(path)),
                    },
                    None => End::Unknown(path_text(path)),
                },
            };
            self.links.push(LinkAt {
                link,
                node,
                scope: name.to_owned(),
                graph: group.kind == Kind::Graph,
                ends: [end(&link.from), end(&link.to)],
                written: written.clone(),
            });
        }
    }

    /// A link end's name, as a `&'static str` expression: in the flow's
    /// description and in the builder's `.link(..)` call alike.
    fn end_name(&self, end: &End) -> TokenStream {
        let p = self.krate.private();
        match end {
            End::Name(n) => quote!(#n),
            End::Atom(a) => match &self.atoms[*a].0.named {
                Some(n) => quote!(#n),
                None => {
                    let alias = format_ident!("__flow_task_{}", *a);
                    quote!(#p::text(&<#alias as #p::Task>::DEF.meta.name))
                }
            },
            End::Flow(n) | End::Unknown(n) => quote!(#n),
        }
    }

    fn link_at(&self, link: &LinkUse) -> Option<&LinkAt<'a>> {
        self.links.iter().find(|l| std::ptr::eq(l.link, link))
    }

    /// Statements building `group` into `__flow`; `atom` counts atoms depth
    /// first. The children go through one array and one loop: a statement
    /// (or a chained call) per child is slower to compile.
    fn build(&self, group: &Group, name: &str, atom: &mut usize) -> TokenStream {
        let flow = self.build_expr(group, name, atom);
        quote!(let __flow = #flow;)
    }

    fn build_expr(&self, group: &Group, name: &str, atom: &mut usize) -> TokenStream {
        let p = self.krate.private();
        let ctor = match group.kind {
            Kind::Linear => quote!(linear),
            Kind::Unordered => quote!(unordered),
            Kind::Graph => quote!(graph),
        };
        let children: Vec<TokenStream> = group
            .children
            .iter()
            .enumerate()
            .map(|(i, child)| match child {
                Child::Task(task) => {
                    let alias = format_ident!("__flow_task_{}", *atom);
                    *atom += 1;
                    let mut spec = quote!(<#alias>::task());
                    if let Some(n) = &task.named {
                        spec = quote!(#spec.named(#n));
                    }
                    for (a, b) in &task.rebind {
                        spec = quote!(#spec.rebind(#a, #b));
                    }
                    for (a, value) in &task.inject {
                        spec = quote!(#spec.inject(#a, #value));
                    }
                    if let Some(timeout) = &task.timeout {
                        spec = quote!(#spec.timeout(#timeout));
                    }
                    match &task.provides {
                        Provides::Task => {}
                        Provides::One(n) => spec = quote!(#spec.provides_as(#n)),
                        Provides::Each(ns) => spec = quote!(#spec.provides_each_as([#(#ns),*])),
                    }
                    quote!(#p::Node::Task(#spec))
                }
                Child::Group(inner) => {
                    let inner = self.build_expr(inner, &group_name(inner, name, i), atom);
                    quote!(#p::Node::Flow(#inner))
                }
            })
            .collect();
        let links = group.links.iter().map(|l| {
            let (from, to) = match self.link_at(l) {
                Some(at) => (self.end_name(&at.ends[0]), self.end_name(&at.ends[1])),
                None => (quote!(""), quote!("")),
            };
            match &l.decider {
                None => quote!(.link(#from, #to)),
                Some(decider) => quote!(.link_if(#from, #to, #decider)),
            }
        });
        let retry = group.retry.as_ref().map(|r| {
            let controller = &r.controller;
            let mut atom = match &r.named {
                Some(n) => quote!(#p::RetryAtom::new(#n, #controller)),
                None => quote!(<#p::RetryAtom as #p::core::convert::From<_>>::from(#controller)),
            };
            if !r.requires.is_empty() {
                let names = &r.requires;
                atom = quote!(#atom.requires([#(#names),*]));
            }
            if let Some(n) = &r.provides {
                atom = quote!(#atom.provides(#n));
            }
            if let Some(delay) = &r.delay {
                atom = quote!(#atom.delay(#delay));
            }
            quote!(.retry(#atom))
        });
        let tail = if group.links.is_empty() && group.retry.is_none() {
            quote!(__flow)
        } else {
            quote!(__flow #(#links)* #retry)
        };
        quote! {
            {
                let mut __flow = #p::Flow::#ctor(#name);
                for __node in [#(#children),*] {
                    __flow.push(__node);
                }
                #tail
            }
        }
    }

    /// The links' descriptions, and the retry atoms' metadata (a `const`
    /// each).
    fn links_and_retries(&self) -> (Vec<TokenStream>, Vec<TokenStream>) {
        let p = self.krate.private();
        let links = self
            .links
            .iter()
            .map(|l| {
                let node = Literal::u32_unsuffixed(l.node as u32);
                let (from, to) = (self.end_name(&l.ends[0]), self.end_name(&l.ends[1]));
                quote!(#p::LinkDesc { flow: #node, from: #from, to: #to })
            })
            .collect();
        let retries = self
            .retries
            .iter()
            .enumerate()
            .map(|(k, (r, _, name))| {
                let meta = format_ident!("__FLOW_RETRY_{}", k);
                let requires = &r.requires;
                let provides = match &r.provides {
                    Some(n) => quote!(#p::core::option::Option::Some(#n)),
                    None => quote!(#p::core::option::Option::None),
                };
                quote! {
                    const #meta: &#p::TaskMeta =
                        &#p::retry_meta(#name, &[#(#p::Cow::Borrowed(#requires)),*], #provides);
                }
            })
            .collect();
        (links, retries)
    }

    /// Per link: that its flow is a graph, at `link`; that each end names a
    /// child, at the end (a string end by `check_link_end`; a path end is
    /// matched here, and one that names no child of a graph flow reported
    /// by `write_unknown_link_path`).
    fn link_checks(&self, flow: &str) -> Vec<TokenStream> {
        let p = self.krate.private();
        self.links
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let k = Literal::usize_unsuffixed(k);
                let at_link = at(l.link.keyword.span());
                let core = self.krate.core_at(at_link);
                let mut checks = quote_spanned! {at_link=>
                    const _: () = {
                        let mut buf = [0u8; 1024];
                        let mut msg = #p::Msg::new(&mut buf);
                        if #p::check_link(&__FLOW, #k, &mut msg) {
                            #core::panic!("{}", msg.as_str());
                        }
                    };
                };
                let (from, to) = (l.link.from.text(), l.link.to.text());
                for (end, written, to_end) in [
                    (&l.ends[0], &l.link.from, false),
                    (&l.ends[1], &l.link.to, true),
                ] {
                    let span = at(written.span());
                    let core = self.krate.core_at(span);
                    match end {
                        End::Name(_) => checks.extend(quote_spanned! {span=>
                            const _: () = {
                                let mut buf = [0u8; 4096];
                                let mut msg = #p::Msg::new(&mut buf);
                                if !__FLOW_QUIET && #p::check_link_end(&__FLOW, &__FLOW_TABLES, #k, #to_end, &mut msg) {
                                    #core::panic!("{}", msg.as_str());
                                }
                            };
                        }),
                        // Outside a graph flow, `check_link` has said it.
                        End::Unknown(missing) if l.graph => {
                            let (scope, children) = (&l.scope, &l.written);
                            checks.extend(quote_spanned! {span=>
                                const _: () = {
                                    let mut buf = [0u8; 4096];
                                    let mut msg = #p::Msg::new(&mut buf);
                                    #p::write_unknown_link_path(&mut msg, #flow, #scope, #from, #to, #missing, &[#(#children),*]);
                                    #core::panic!("{}", msg.as_str());
                                };
                            });
                        }
                        _ => {}
                    }
                }
                checks
            })
            .collect()
    }

    /// Per retry: its requirements, at `retry`.
    fn retry_checks(&self) -> Vec<TokenStream> {
        (0..self.retries.len())
            .map(|k| {
                let span = at(self.retries[k].0.keyword.span());
                let core = self.krate.core_at(span);
                let index = Literal::usize_unsuffixed(self.tasks + k);
                quote_spanned! {span=>
                    const _: () = if __FLOW_BAD[#index] {
                        #core::panic!("{}", __flow_atom_message(#index).as_str());
                    };
                }
            })
            .collect()
    }
}

/// A child as a link's end may name it: a task's path as written, a nested
/// flow's name (none for a nested flow without one).
fn written_name(child: &Child) -> Option<String> {
    match child {
        Child::Task(task) => Some(path_text(&task.path)),
        Child::Group(g) => g.name.as_ref().map(|n| n.unraw().to_string()),
    }
}

/// A nested flow's name: as written, or `parent.position`.
fn group_name(group: &Group, parent: &str, pos: usize) -> String {
    match &group.name {
        Some(n) => n.unraw().to_string(),
        None => format!("{parent}.{pos}"),
    }
}

fn kind_tokens(p: &TokenStream, kind: Kind) -> TokenStream {
    let word = match kind {
        Kind::Linear => quote!(Linear),
        Kind::Unordered => quote!(Unordered),
        Kind::Graph => quote!(Graph),
    };
    let _ = kind.word();
    quote!(#p::FlowKind::#word)
}

/// Whether `flow!` names the task at `path` through its callback: unless the
/// task is named like a prelude macro (and has none).
fn callback_of(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| has_callback(&s.ident))
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn squash(tokens: proc_macro2::TokenStream) -> String {
        tokens.to_string().replace(' ', "")
    }

    #[test]
    fn crate_path_replaces_taskwire_everywhere() {
        let output = squash(super::expand(quote! {
            crate = my_app::tw;
            linear f(size: u64) retry(Times::new(2)) { a, graph g { b } }
        }));
        assert!(
            output.contains("fnf()->my_app::tw::__private::Flow{"),
            "{output}"
        );
        assert!(
            output.contains("usemy_app::tw::__privateas__taskwire_private;"),
            "{output}"
        );
        // The stand-ins' module sees the invoking module's `my_app`.
        assert!(
            output.contains("use super::*;".replace(' ', "").as_str()),
            "{output}"
        );
        assert!(output.contains("__taskwire_private::RetryAtom"), "{output}");
        assert!(!output.contains("::taskwire"), "{output}");
    }

    #[test]
    fn crate_paths_from_a_nested_module() {
        let output = squash(super::expand(quote! {
            crate = self::tw;
            linear f { a }
        }));
        assert!(
            output.contains("pubtype__flow_task_0=super::tw::__private::UnknownTask;"),
            "{output}"
        );
        assert!(!output.contains("usesuper::*;"), "{output}");
    }

    #[test]
    fn crate_value_that_is_not_a_path() {
        let output = super::expand(quote! {
            crate = "my_app::tw";
            linear f { a }
        });
        assert_eq!(
            output.to_string(),
            quote!(::core::compile_error! {
                "`crate` takes a path, not a string: write `crate = my_app::tw`, without quotes"
            })
            .to_string()
        );
    }
}
