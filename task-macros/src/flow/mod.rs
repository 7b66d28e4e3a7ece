//! `flow!`: a flow checked by the compiler. Parse ([`parse`]), then expand to a
//! function returning an ordinary `Flow`, whose body holds the checks as
//! `const` items:
//!
//! ```text
//! pub fn create_volume() -> ::taskwire::Flow {
//!     type __flow_task_0 = extract_request;          // the user's path, named once
//!     struct __FlowSlots;                            // type check slots
//!     impl Slot<0> for __FlowSlots { type Types = (u64,); .. }   // input `size`
//!     impl Slot<2> for __FlowSlots { type Types = <__flow_task_0 as Typed>::Provides; .. }
//!     impl Slot<OWN> for __FlowSlots { type Types = (); .. }       // unresolved: `Nothing`
//!     const __FLOW: FlowDesc<'static> = FlowDesc { inputs, nodes, atoms: &[AtomDesc { meta: &<__flow_task_0 as Task>::DEF.meta, .. }] };
//!     const __FLOW_TABLES: Tables<'static> = Tables { providers, offsets, sources, names }; // built once
//!     const _: () = /* check_flow, panics with its message */;     // at the flow's name
//!     const _: () = /* check_atom(.., 0), panics with its message */; // at `extract_request`
//!     const _: () = <__flow_task_0>::__flow_check::<__FlowSlots, { __flow_slot(0) }, { __flow_elem(0) }, ..>();
//!     ::taskwire::Flow::linear("create_volume").add(<__flow_task_0>::task()).add(..)
//! }
//! ```
//!
//! One `const` per atom gives one error per faulty atom, so every mistake of a
//! flow is reported in one build; a path that names no task is written once
//! (the type alias), so rustc's "cannot find" error comes alone.

mod parse;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use parse::{Child, FlowDef, Group, Kind, Provides, TaskUse};

/// How many required parameters of a task are type-checked (the runtime's
/// `flow::check::TY_MAX`, and the arity of `#[task]`'s `__flow_check`).
const TY_MAX: usize = 4;

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
    let output = Expander::default().flow(&def);
    if std::env::var_os("TASK_MACROS_DEBUG").is_some_and(|v| v == "1") {
        eprintln!("flow! expansion:\n{output}\n");
    }
    output
}

/// `::taskwire::__private`.
fn private() -> TokenStream {
    quote!(::taskwire::__private)
}

/// A span at `location` that resolves at the call site.
fn at(location: Span) -> Span {
    Span::call_site().located_at(location)
}

#[derive(Default)]
struct Expander<'a> {
    /// `NodeDesc` expressions, depth first.
    nodes: Vec<TokenStream>,
    /// The atoms: their use in the invocation and their node.
    atoms: Vec<(&'a TaskUse, usize)>,
}

impl<'a> Expander<'a> {
    fn flow(mut self, def: &'a FlowDef) -> TokenStream {
        let p = private();
        let name = def.name.unraw().to_string();
        self.group(&def.body, &name, 0, 0, 0);
        let build = self.build(&def.body, &name, &mut 0);
        let inputs = def.inputs.iter().map(|(n, ty)| {
            let n = n.unraw().to_string();
            quote!((#n, #p::core::stringify!(#ty)))
        });
        let input_count = def.inputs.len();
        let ty_max = Literal::usize_unsuffixed(TY_MAX);
        let atom_count = self.atoms.len();
        let nodes = &self.nodes;

        // Each path written once, at the user's token.
        let aliases = self.atoms.iter().enumerate().map(|(i, (task, _))| {
            let alias = format_ident!("__flow_task_{}", i);
            let path = &task.path;
            quote_spanned!(at(path.span())=> #[allow(non_camel_case_types)] type #alias = #path;)
        });
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

        // The whole-flow check, at the flow's name.
        let name_span = at(def.name.span());
        let core = quote_spanned!(name_span=> ::taskwire::__private::core);
        let input_markers = def
            .inputs
            .iter()
            .map(|(input, _)| quote!(#[allow(non_camel_case_types, dead_code)] pub enum #input {}));
        let flow_check = quote_spanned! {name_span=>
            const _: () = {
                let mut scratch = [0u32; #p::flow_scratch_len(&__FLOW)];
                let mut buf = [0u8; 8192];
                let mut msg = #p::Msg::new(&mut buf);
                if #p::check_flow(&__FLOW, &__FLOW_TABLES, &mut scratch, &mut msg) {
                    #core::panic!("{}", msg.as_str());
                }
            };
        };
        // Per atom: its requirements, then its types, at its path.
        let atom_checks = self.atoms.iter().enumerate().map(|(i, (task, _))| {
            let span = at(task.path.span());
            let core = quote_spanned!(span=> ::taskwire::__private::core);
            let alias = format_ident!("__flow_task_{}", i);
            let index = Literal::usize_unsuffixed(i);
            let args = (0..TY_MAX).map(|j| {
                let at = Literal::usize_unsuffixed(i * TY_MAX + j);
                quote_spanned!(span=> { __flow_slot(#at) }, { __flow_elem(#at) })
            });
            quote_spanned! {span=>
                const _: () = if __FLOW_BAD[#index] {
                    let mut buf = [0u8; 4096];
                    let mut msg = #p::Msg::new(&mut buf);
                    #p::check_atom(&__FLOW, &__FLOW_TABLES, #index, &mut msg);
                    #core::panic!("{}", msg.as_str());
                };
                const _: () = <#alias>::__flow_check::<__FlowSlots, #(#args),*>();
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
        quote! {
            #(#attrs)*
            #doc
            #vis fn #ident() -> ::taskwire::Flow {
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
                const __FLOW: #p::FlowDesc<'static> = #p::FlowDesc {
                    inputs: &[#(#inputs),*],
                    nodes: &[#(#nodes),*],
                    atoms: &[#(#atoms),*],
                };
                // The tables every check reads, built once, shared by reference.
                const __FLOW_PROVIDERS: &[u64] =
                    &#p::providers::<{ #p::provider_count(&__FLOW) }>(&__FLOW);
                const __FLOW_TABLES: #p::Tables<'static> = #p::Tables {
                    providers: __FLOW_PROVIDERS,
                    offsets: &#p::offsets::<{ #atom_count + 1 }>(&__FLOW),
                    sources: &#p::sources::<{ #p::requirement_count(&__FLOW) }>(&__FLOW, __FLOW_PROVIDERS),
                    names: &#p::names::<#atom_count>(&__FLOW),
                };
                // Which atoms have problems, and the providers of each required
                // parameter, computed once for all atoms.
                const __FLOW_BAD: &[bool] = &#p::atom_flags::<#atom_count>(&__FLOW, &__FLOW_TABLES);
                const __FLOW_PLANS: &[[usize; 2]] =
                    &#p::type_plans::<{ #atom_count * #ty_max }>(&__FLOW, &__FLOW_TABLES);
                // Read through functions: an array constant indexed in a const
                // argument costs about three times as much to compile.
                const fn __flow_slot(at: usize) -> usize { __FLOW_PLANS[at][0] }
                const fn __flow_elem(at: usize) -> usize { __FLOW_PLANS[at][1] }
                #flow_check
                #(#atom_checks)*
                #build
                __flow
            }
        }
    }

    /// Records `group` (node `node`, child `pos` of `parent`) and its subtree.
    fn group(&mut self, group: &'a Group, name: &str, parent: usize, pos: usize, depth: u32) {
        let p = private();
        let node = self.nodes.len();
        let kind = kind_tokens(group.kind);
        let (parent_lit, pos_lit, depth_lit) = (
            Literal::u32_unsuffixed(parent as u32),
            Literal::u32_unsuffixed(pos as u32),
            Literal::u32_unsuffixed(depth),
        );
        self.nodes.push(quote! {
            #p::NodeDesc { parent: #parent_lit, pos: #pos_lit, depth: #depth_lit, kind: #p::NodeKind::Flow(#kind, #name) }
        });
        for (i, child) in group.children.iter().enumerate() {
            match child {
                Child::Task(task) => {
                    let atom = Literal::u32_unsuffixed(self.atoms.len() as u32);
                    let (node_lit, i_lit, d_lit) = (
                        Literal::u32_unsuffixed(node as u32),
                        Literal::u32_unsuffixed(i as u32),
                        Literal::u32_unsuffixed(depth + 1),
                    );
                    self.atoms.push((task, self.nodes.len()));
                    self.nodes.push(quote! {
                        #p::NodeDesc { parent: #node_lit, pos: #i_lit, depth: #d_lit, kind: #p::NodeKind::Atom(#atom) }
                    });
                }
                Child::Group(inner) => {
                    let inner_name = group_name(inner, name, i);
                    self.group(inner, &inner_name, node, i, depth + 1);
                }
            }
        }
    }

    /// Statements building `group` into `__flow`; `atom` counts atoms depth
    /// first. The children go through one array and one loop: a statement
    /// (or a chained call) per child is slower to compile.
    fn build(&self, group: &Group, name: &str, atom: &mut usize) -> TokenStream {
        let flow = self.build_expr(group, name, atom);
        quote!(let __flow = #flow;)
    }

    fn build_expr(&self, group: &Group, name: &str, atom: &mut usize) -> TokenStream {
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
                    match &task.provides {
                        Provides::Task => {}
                        Provides::One(n) => spec = quote!(#spec.provides_as(#n)),
                        Provides::Each(ns) => spec = quote!(#spec.provides_each_as([#(#ns),*])),
                    }
                    quote!(::taskwire::Node::Task(#spec))
                }
                Child::Group(inner) => {
                    let inner = self.build_expr(inner, &group_name(inner, name, i), atom);
                    quote!(::taskwire::Node::Flow(#inner))
                }
            })
            .collect();
        quote! {
            {
                let mut __flow = ::taskwire::Flow::#ctor(#name);
                for __node in [#(#children),*] {
                    __flow.push(__node);
                }
                __flow
            }
        }
    }
}

/// A nested flow's name: as written, or `parent.position`.
fn group_name(group: &Group, parent: &str, pos: usize) -> String {
    match &group.name {
        Some(n) => n.unraw().to_string(),
        None => format!("{parent}.{pos}"),
    }
}

fn kind_tokens(kind: Kind) -> TokenStream {
    let p = private();
    let word = match kind {
        Kind::Linear => quote!(Linear),
        Kind::Unordered => quote!(Unordered),
        Kind::Graph => quote!(Graph),
    };
    let _ = kind.word();
    quote!(#p::FlowKind::#word)
}
