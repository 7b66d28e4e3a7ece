//! Code generation for a valid task. Nothing here can fail: every check lives
//! in `valid.rs`.
//!
//! Every path is absolute (`::taskwire::__private::..`, or `path::__private::..`
//! with `crate = path`; `core` through it),
//! every generated name starts with `__task_`, and everything but the
//! descriptor struct lives inside `const _: () = { .. };`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, Path};

use super::args::{path_to_string, Provides, Version};
use super::sig::{ItemFn, Output, ParamKind, TaskFn};
use crate::krate::Krate;

/// A span located at `location` (a user's token) that resolves at the call
/// site: errors point at the user's token, but rustc knows the code is
/// generated and suggests no edits of it.
fn at(location: Span) -> Span {
    Span::call_site().located_at(location)
}

/// The whole expansion of a valid task.
pub(crate) fn task(task: &TaskFn<'_>) -> TokenStream {
    let item = task.item;
    let k = &task.args.krate;
    let p = k.private();
    let core = k.core();
    let ident = task.ident();

    let mut param_types = Vec::new();
    let params: Vec<TokenStream> = task
        .params
        .iter()
        .enumerate()
        .map(|(i, param)| {
            let name = &param.name;
            let ty = param.ty;
            let kind = match param.kind {
                ParamKind::Required => quote!(Required),
                ParamKind::Optional => quote!(Optional),
                ParamKind::Resource => quote!(Resource),
                ParamKind::Context => quote!(Context),
            };
            let types = format_ident!("__task_param_types_{}", i);
            let list = value_types(k, &param_types_of(param.ty, param.kind));
            param_types.push(quote!(const #types: &[#p::ValueType] = #list;));
            quote! {
                #p::Param::typed(#name, #core::stringify!(#ty), #p::ParamKind::#kind, #types)
            }
        })
        .collect();
    // `revert_requires` names are read through the context as `requires`
    // names are, after them: required of the flow (as TaskFlow requires a
    // revert's values), read by the revert.
    let requires: Vec<String> = task
        .args
        .requires
        .iter()
        .chain(&task.args.revert_requires)
        .flat_map(|list| list.names.iter().map(|lit| lit.value()))
        .collect();
    let (provides_const, provides) = match &task.args.provides {
        None => (None, quote!(#p::Provides::Nothing)),
        Some(Provides::One(name)) => (None, quote!(#p::Provides::One(#p::Cow::Borrowed(#name)))),
        Some(Provides::Tuple(list)) => {
            let names = &list.names;
            (
                Some(quote! {
                    const __task_provides: &[#p::Text] = &[#(#p::Cow::Borrowed(#names)),*];
                }),
                quote!(#p::Provides::Tuple(#p::Cow::Borrowed(__task_provides))),
            )
        }
    };
    let revert_name = match &task.args.revert_with {
        Some(path) => {
            let text = path_to_string(path);
            quote!(#core::option::Option::Some(#p::Cow::Borrowed(#text)))
        }
        None => quote!(#core::option::Option::None),
    };
    let (revert_fn, revert_exec) = match &task.args.revert_with {
        Some(path) => (
            Some(revert_fn(task, path)),
            quote!(#core::option::Option::Some(#p::Exec::Fn(__task_revert))),
        ),
        None => (None, quote!(#core::option::Option::None)),
    };
    let name = match &task.args.name {
        Some(name) => name.to_token_stream(),
        None => default_name(k, ident),
    };
    let output_types = value_types(k, &output_types(task));
    let meta = Meta {
        name,
        version: task.args.version.unwrap_or_default(),
        provides,
        output_types: quote!(__task_output_types),
        revert: revert_name,
        is_async: task.is_async(),
        priority: task.args.priority,
    };
    let def = task_def(k, ident, &meta, revert_exec);
    let exec_fn = exec_fn(task);
    let typed = typed_impl(task);
    let descriptor = descriptor(k, item);
    let constructor = task_constructor(k, item);
    let values = task.params.iter().filter(|param| param.kind.is_value());
    let callback = crate::callback::callback(&item.vis, ident, Some(values.count()));
    let import = k.import();

    quote! {
        #item
        #descriptor
        #callback
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications)]
        const _: () = {
            #import
            #constructor
            #(#param_types)*
            const __task_params: &[#p::Param] = &[#(#params),*];
            const __task_output_types: &[#p::ValueType] = #output_types;
            const __task_requires: &[#p::Text] = &[#(#p::Cow::Borrowed(#requires)),*];
            #provides_const
            #def
            #typed
            #p::inventory::submit! {
                #p::TaskRegistration::new(<#ident as #p::Task>::DEF)
            }
            #exec_fn
            #revert_fn
        };
    }
}

/// The types a parameter takes, for its `Param::types` (see the runtime's
/// doc there): none for the context, or when a type holds a lifetime other
/// than `'static` (its `TypeId` cannot be named).
fn param_types_of(ty: &syn::Type, kind: ParamKind) -> Vec<syn::Type> {
    let types = match kind {
        ParamKind::Required => vec![ty],
        ParamKind::Optional => {
            let mut types = vec![ty];
            types.extend(super::sig::option_inner(ty));
            types
        }
        ParamKind::Resource => super::sig::res_inner(ty).into_iter().collect(),
        ParamKind::Context => Vec::new(),
    };
    all_static(types)
}

/// The types of the task's outputs, in the order of its provided names: the
/// success type for one name, its elements for a tuple (`valid.rs` rejects
/// a task that provides names and returns nothing); none if any holds a
/// lifetime other than `'static`.
fn output_types(task: &TaskFn<'_>) -> Vec<syn::Type> {
    let ok = task.output.ok_type();
    let types = match (&task.args.provides, ok) {
        (None, _) => Vec::new(),
        (Some(Provides::One(_)), Some(ty)) => vec![ty],
        (Some(Provides::Tuple(_)), Some(ty)) => match super::sig::ungroup(ty) {
            syn::Type::Tuple(tuple) => tuple.elems.iter().collect(),
            _ => Vec::new(),
        },
        (Some(_), None) => Vec::new(),
    };
    all_static(types)
}

/// `types`, or none if one of them holds a lifetime other than `'static`.
fn all_static(types: Vec<&syn::Type>) -> Vec<syn::Type> {
    if types
        .iter()
        .all(|ty| only_static_lifetimes(ty.to_token_stream()))
    {
        types.into_iter().cloned().collect()
    } else {
        Vec::new()
    }
}

/// Whether the tokens hold no lifetime but `'static`, and no `&` without
/// one (an elided lifetime).
fn only_static_lifetimes(tokens: TokenStream) -> bool {
    use proc_macro2::TokenTree;
    let mut tokens = tokens.into_iter().peekable();
    while let Some(tree) = tokens.next() {
        match tree {
            TokenTree::Group(group) if !only_static_lifetimes(group.stream()) => return false,
            TokenTree::Punct(punct) if punct.as_char() == '\'' => match tokens.peek() {
                Some(TokenTree::Ident(ident)) if ident == "static" => {}
                _ => return false,
            },
            TokenTree::Punct(punct) if punct.as_char() == '&' => match tokens.peek() {
                Some(TokenTree::Punct(next)) if next.as_char() == '\'' => {}
                _ => return false,
            },
            _ => {}
        }
    }
    true
}

/// `&[ValueType::of::<T>("T"), ..]`, each type with its text as written.
fn value_types(k: &Krate, types: &[syn::Type]) -> TokenStream {
    let p = k.private();
    let types = types.iter().map(|ty| {
        let written = type_text(ty);
        quote!(#p::ValueType::of::<#ty>(#written))
    });
    quote!(&[#(#types),*])
}

/// How many outputs of a tuple the type checks cover (the arity of the
/// runtime's `NthTy` impls).
const OUT_MAX: usize = 8;

/// `impl Typed for #ident` (the types of the outputs) and the function
/// `flow!` calls (through the task's callback) to check its required
/// and optional parameters: for each, a trait implemented only by the
/// parameter's type (for `Option<T>`, by `T` and `Option<T>`: the value is
/// read if present) and by `Nothing`, what an unchecked slot holds, whose
/// message names the task, the parameter and both types, and a bound asking
/// it of the value the flow gives. The bounds are spanned at the parameter,
/// where rustc's "required by this bound" note then points.
fn typed_impl(task: &TaskFn<'_>) -> TokenStream {
    let p = task.args.krate.private();
    let ident = task.ident();
    let task_name = match &task.args.name {
        Some(name) => name.value(),
        None => ident.unraw().to_string(),
    };
    let values: Vec<_> = task
        .params
        .iter()
        .filter(|param| param.kind.is_value())
        .collect();
    let mut traits = Vec::new();
    let mut bounds = Vec::new();
    for (j, param) in values.iter().enumerate() {
        let ty = param.ty;
        let name = &param.name;
        let written = type_text(ty);
        let message = format!(
            "task `{task_name}` requires `{name}: {written}`, but its provider `{{P}}` gives `{{Self}}`"
        );
        let label = format!("`{name}` must be `{written}` here, `{{P}}` gives `{{Self}}`");
        let note = format!(
            "change one of the two types, or `.rebind(\"{name}\", \"..\")` to give `{name}` another value"
        );
        // Named to read well where rustc names it ("the trait
        // `reserve_quota_takes_size<measure_size>` is not implemented for
        // `u32`"); inside the `const _` block, it clashes with nothing.
        let check = format_ident!("{}_takes_{}", ident.unraw(), name, span = ty.span());
        let span = ty.span();
        let inner = super::sig::option_inner(ty)
            .map(|inner| quote_spanned!(span=> impl<P> #check<P> for #inner {}));
        traits.push(quote_spanned! {span=>
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            #[allow(non_camel_case_types, dead_code)]
            trait #check<P> {}
            impl<P> #check<P> for #ty {}
            #inner
            impl<P> #check<P> for #p::Nothing {}
        });
        let (k, m) = (format_ident!("K{}", j), format_ident!("M{}", j));
        bounds.push(quote_spanned! {span=>
            S: #p::Slot<#k>,
            <S as #p::Slot<#k>>::Types: #p::NthTy<#m>,
            <<S as #p::Slot<#k>>::Types as #p::NthTy<#m>>::Ty: #check<<S as #p::Slot<#k>>::Who>,
        });
    }
    let ks = (0..values.len()).map(|j| format_ident!("K{}", j));
    let ms = (0..values.len()).map(|j| format_ident!("M{}", j));
    let ok = task.output.ok_type();
    let provides = match (&task.args.provides, ok) {
        (None, _) => quote!(()),
        (Some(Provides::One(_)), Some(ty)) => quote!((#ty,)),
        (Some(Provides::One(_)), None) => quote!(((),)),
        (Some(Provides::Tuple(_)), ty) => match ty.map(super::sig::ungroup) {
            Some(syn::Type::Tuple(tuple)) => {
                let elems = tuple.elems.iter().take(OUT_MAX);
                quote!((#(#elems,)*))
            }
            // Rejected by `valid.rs`; nothing to check.
            _ => quote!(()),
        },
    };
    quote! {
        #[automatically_derived]
        impl #p::Typed for #ident {
            type Provides = #provides;
        }
        #(#traits)*
        #[automatically_derived]
        impl #ident {
            /// `flow!`'s type check of this task's parameters against the
            /// values of the flow's slots `S`.
            #[doc(hidden)]
            #[allow(private_bounds, clippy::type_complexity)]
            pub const fn check_value_types<S, #(const #ks: usize, const #ms: usize),*>()
            where
                #(#bounds)*
            {
            }
        }
    }
}

/// A type as a message shows it: `Option<String>`, not the token stream's
/// `Option < String >`.
pub(crate) fn type_text(ty: &syn::Type) -> String {
    let text = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // Drop a space before `<`, `>`, `::` and `,`, and after `<`, `::`
        // and `&`.
        let before = matches!(chars.peek(), Some('<' | '>' | ':' | ','));
        if c == ' ' && (before || out.ends_with(['<', ':', '&'])) {
            continue;
        }
        out.push(c);
    }
    out
}

/// The static parts of `TaskMeta` besides the parameter lists (which are the
/// consts `__task_params` and `__task_requires`, and maybe `__task_provides`).
pub(crate) struct Meta {
    /// The task's name: a `&'static str` expression.
    pub(crate) name: TokenStream,
    /// The task's version.
    pub(crate) version: Version,
    /// A `Provides` expression.
    pub(crate) provides: TokenStream,
    /// The types of the outputs: a `&'static [ValueType]` expression.
    pub(crate) output_types: TokenStream,
    /// The revert function's name: an `Option<Text>` expression.
    pub(crate) revert: TokenStream,
    /// Whether the function is `async`.
    pub(crate) is_async: bool,
    /// The default priority in plan maps.
    pub(crate) priority: Option<u8>,
}

/// `module::fn`, from `module_path!()` and the unraw'd name.
pub(crate) fn default_name(k: &Krate, ident: &Ident) -> TokenStream {
    let core = k.core();
    let name = ident.unraw().to_string();
    quote!(#core::concat!(#core::module_path!(), "::", #name))
}

/// `impl Task for #ident` with its `DEF`, executed by `__task_exec`.
pub(crate) fn task_def(
    k: &Krate,
    ident: &Ident,
    meta: &Meta,
    revert_exec: TokenStream,
) -> TokenStream {
    let p = k.private();
    let core = k.core();
    let Meta {
        name,
        version,
        provides,
        output_types,
        revert,
        is_async,
        priority,
    } = meta;
    let priority = match priority {
        Some(n) => {
            let n = Literal::u8_unsuffixed(*n);
            quote!(#core::option::Option::Some(#n))
        }
        None => quote!(#core::option::Option::None),
    };
    let major = Literal::u32_unsuffixed(version.major);
    let minor = Literal::u32_unsuffixed(version.minor);
    // `line!()` gives the line of the `#[task]` attribute (built-in macros
    // report the outermost expansion site).
    let location = quote! {
        #p::Location {
            module: #p::Cow::Borrowed(#core::module_path!()),
            file: #p::Cow::Borrowed(#core::file!()),
            line: #core::line!(),
        }
    };
    quote! {
        #[automatically_derived]
        impl #p::Task for #ident {
            const DEF: &'static #p::TaskDef = &#p::TaskDef {
                meta: #p::TaskMeta {
                    name: #p::Cow::Borrowed(#name),
                    version: #p::Version::new(#major, #minor),
                    params: #p::Cow::Borrowed(__task_params),
                    extra_requires: #p::Cow::Borrowed(__task_requires),
                    provides: #provides,
                    output_types: #output_types,
                    revert: #revert,
                    is_async: #is_async,
                    priority: #priority,
                    location: #location,
                },
                exec: #p::Exec::Fn(__task_exec),
                revert: #revert_exec,
            };
        }
    }
}

/// The descriptor struct named after the function: a braced struct, so it
/// lives in the type namespace only and the function stays callable.
pub(crate) fn descriptor(k: &Krate, item: &ItemFn) -> TokenStream {
    // Outside the `const _` block: the full path.
    let outer = k.outer();
    let core = quote!(#outer::core);
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let name = ident.unraw().to_string();
    // `[`f`](fn@f)` links to the function, not to this struct of the same name.
    let link = if ident.to_string().starts_with("r#") {
        format!("`{name}`")
    } else {
        format!("[`{name}`](fn@{name})")
    };
    let doc = format!(
        "The task descriptor of the function {link}, generated by `#[task]`: add the task to a flow with `{name}::task()`."
    );
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types, dead_code)]
        #[derive(#core::fmt::Debug, #core::clone::Clone, #core::marker::Copy)]
        #vis struct #ident {}
    }
}

/// `impl #ident { fn task() }`, for inside the `const _` block.
pub(crate) fn task_constructor(k: &Krate, item: &ItemFn) -> TokenStream {
    let p = k.private();
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let doc = format!("The task `{}`, as an atom to add to a flow.", ident.unraw());
    quote! {
        #[automatically_derived]
        impl #ident {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn task() -> #p::TaskSpec {
                #p::TaskSpec::from_static(<Self as #p::Task>::DEF)
            }
        }
    }
}

/// Local variable holding parameter `i`.
fn arg_local(i: usize, span: Span) -> Ident {
    Ident::new(&format!("__task_arg_{i}"), span)
}

/// `let __task_arg_i: Ty = ..;` for each parameter, with early returns of
/// decoding failures. Value parameters are numbered among value parameters.
fn decode_params(task: &TaskFn<'_>) -> (Vec<TokenStream>, Vec<Ident>) {
    let k = &task.args.krate;
    let mut value_index = 0usize;
    let mut decode = Vec::new();
    let mut locals = Vec::new();
    for (i, param) in task.params.iter().enumerate() {
        let ty = param.ty;
        // Spanned at the type: "`X` does not implement `Deserialize`" points
        // there (at `X` in `Option<X>`).
        let shown = match param.kind {
            ParamKind::Optional => super::sig::option_inner(ty).unwrap_or(ty),
            _ => ty,
        };
        let span = at(shown.span());
        let (p, core) = (k.private_at(span), k.core_at(span));
        let local = arg_local(i, span);
        let fetch = match param.kind {
            ParamKind::Required | ParamKind::Optional => {
                let index = Literal::usize_unsuffixed(value_index);
                value_index += 1;
                let method = if param.kind == ParamKind::Required {
                    quote_spanned!(span=> arg)
                } else {
                    quote_spanned!(span=> opt_arg)
                };
                // Through `TaskParam`, whose message says what to derive.
                quote_spanned!(span=> #p::TaskParam::#method(__task_call, #index))
            }
            ParamKind::Resource => quote_spanned!(span=> __task_call.resource()),
            ParamKind::Context => {
                decode.push(quote_spanned!(span=> let #local: #ty = __task_call.ctx();));
                locals.push(local);
                continue;
            }
        };
        decode.push(quote_spanned! {span=>
            let #local: #ty = match #fetch {
                #core::result::Result::Ok(__task_value) => __task_value,
                #core::result::Result::Err(__task_failure) => {
                    return #p::Invocation::Ready(#core::result::Result::Err(__task_failure));
                }
            };
        });
        locals.push(local);
    }
    (decode, locals)
}

/// `fn __task_exec(..)`: decodes the arguments, calls the function and
/// finishes its result.
fn exec_fn(task: &TaskFn<'_>) -> TokenStream {
    let k = &task.args.krate;
    let p = k.private();
    let ident = task.ident();
    let (decode, locals) = decode_params(task);
    // Errors about the return type ("not a task result", "does not implement
    // `Serialize`") point at the return type.
    let ret_span = match &task.output {
        Output::Result { ty, .. } | Output::Plain(ty) => at(ty.span()),
        Output::Unit => at(ident.span()),
    };
    // The return, a `Result` (of any error type a task may have) or a
    // plain value, is told apart by its type (see
    // `taskwire_runtime::task::ReturnOf`): a `Result` under an alias of any
    // name is one.
    let finish = |atom: TokenStream, value: TokenStream| {
        let p = k.private_at(ret_span);
        quote_spanned! {ret_span=>
            #p::finish(#atom, {
                #[allow(unused_imports)]
                use #p::{ViaError as _, TaskError as _, ViaValue as _};
                (&&#p::ReturnOf::new(#value)).to_result()
            })
        }
    };
    let body = if task.is_async() {
        let finish = finish(quote!(&__task_atom), quote!(__task_future.await));
        // The future must be `Send`: rustc says so at the function's name.
        let ident_span = at(ident.span());
        let at_ident = k.private_at(ident_span);
        let pending = quote_spanned! {ident_span=>
            #at_ident::Box::pin(async move { #finish })
        };
        quote! {
            let __task_atom = #p::String::from(__task_call.atom());
            let __task_future = #ident(#(#locals),*);
            #p::Invocation::Pending(#pending)
        }
    } else {
        let finish = finish(quote!(__task_call.atom()), quote!(#ident(#(#locals),*)));
        quote!(#p::Invocation::Ready(#finish))
    };
    quote! {
        fn __task_exec(__task_call: &#p::Call<'_>) -> #p::Invocation {
            #(#decode)*
            #body
        }
    }
}

/// `fn __task_revert(..)`: decodes the task's arguments, its outcome and the
/// flow's failures, and calls the revert function with them.
///
/// A revert function that does not fit is reported at `revert_with = path`:
/// its parameters by rustc, which writes out the expected function pointer
/// type it is assigned to; its return by a trait of the task's own,
/// `<task>_revert_returns`, whose message writes the whole signature out
/// (`()` or `Result<(), E>` for a sync task, an `async fn` for an async
/// one: a sync revert of an async task, or the reverse, is named as that).
fn revert_fn(task: &TaskFn<'_>, path: &Path) -> TokenStream {
    let k = &task.args.krate;
    let p = k.private();
    let (decode, locals) = decode_params(task);
    // Everything about the call points at the user's `revert_with = path`
    // (without suggesting edits of it, like removing arguments).
    let span = at(path
        .segments
        .last()
        .map_or_else(|| path.span(), |segment| segment.ident.span()));
    let (ps, cs) = (k.private_at(span), k.core_at(span));
    let ok_type = match task.output.ok_type() {
        Some(ty) => ty.to_token_stream(),
        None => quote!(()),
    };
    let ok_text = task
        .output
        .ok_type()
        .map_or_else(|| "()".to_owned(), type_text);
    let outcome = quote_spanned! {span=>
        let __task_outcome: #ps::Outcome<#ok_type> = match __task_call.outcome() {
            #cs::result::Result::Ok(__task_value) => __task_value,
            #cs::result::Result::Err(__task_failure) => {
                return #ps::Invocation::Ready(#cs::result::Result::Err(__task_failure));
            }
        };
        let __task_failures: #ps::Failures = match __task_call.failures() {
            #cs::result::Result::Ok(__task_value) => __task_value,
            #cs::result::Result::Err(__task_failure) => {
                return #ps::Invocation::Ready(#cs::result::Result::Err(__task_failure));
            }
        };
    };
    let task_ident = task.ident().unraw();
    let revert_name = path
        .segments
        .last()
        .map(|s| s.ident.unraw().to_string())
        .unwrap_or_default();
    let asyncness = if task.is_async() { "async " } else { "" };
    let mut written: Vec<String> = task
        .params
        .iter()
        .map(|param| format!("{}: {}", param.name, type_text(param.ty)))
        .collect();
    written.push(format!("outcome: Outcome<{ok_text}>"));
    written.push("failures: Failures".to_owned());
    let signature = format!("{asyncness}fn {revert_name}({})", written.join(", "));
    let returns = format_ident!("{}_revert_returns", task_ident, span = span);
    let types: Vec<_> = task.params.iter().map(|param| param.ty).collect();
    let returns_trait = if task.is_async() {
        let message = format!(
            "`{revert_name}` is not `async`, but task `{task_ident}` is: write `{signature}`"
        );
        let label =
            format!("`{revert_name}` must be an `async fn`, returning `()` or `Result<(), E>`");
        quote_spanned! {span=>
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = "an `async` task reverts with an `async fn`")]
            #[allow(non_camel_case_types)]
            trait #returns {
                fn finish(self) -> #ps::Invocation<#ps::Value>;
            }
            impl<T> #returns for T
            where
                T: #cs::future::Future + #cs::marker::Send + 'static,
                T::Output: #ps::RevertReturn,
            {
                fn finish(self) -> #ps::Invocation<#ps::Value> {
                    #ps::Invocation::Pending(#ps::Box::pin(async move { #ps::RevertReturn::into_result(self.await) }))
                }
            }
        }
    } else {
        let message = format!(
            "`{revert_name}` must return `()` or `Result<(), E>` to revert task `{task_ident}`, not `{{Self}}`"
        );
        let label = format!("`{revert_name}` returns `{{Self}}`");
        let note = format!(
            "task `{task_ident}` is not `async`: if `{revert_name}` is an `async fn`, write `{signature}`"
        );
        quote_spanned! {span=>
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            #[allow(non_camel_case_types)]
            trait #returns {
                fn finish(self) -> #ps::Invocation<#ps::Value>;
            }
            impl<T: #ps::RevertReturn> #returns for T {
                fn finish(self) -> #ps::Invocation<#ps::Value> {
                    #ps::Invocation::Ready(#ps::RevertReturn::into_result(self))
                }
            }
        }
    };
    let locals = locals.iter().map(|l| Ident::new(&l.to_string(), span));
    // The parameters through a function pointer of the expected type:
    // rustc writes it out when the function does not fit ("expected fn
    // pointer `fn(u64, Outcome<u64>, Failures) -> _`"); Fn-trait bounds
    // would only count arguments.
    let call = quote_spanned! {span=>
        let __task_revert_fn: fn(#(#types,)* #ps::Outcome<#ok_type>, #ps::Failures) -> _ = #path;
        #returns::finish(__task_revert_fn(#(#locals,)* __task_outcome, __task_failures))
    };
    quote! {
        #returns_trait
        fn __task_revert(__task_call: &#p::Call<'_>) -> #p::Invocation<#p::Value> {
            #(#decode)*
            #outcome
            #call
        }
    }
}
