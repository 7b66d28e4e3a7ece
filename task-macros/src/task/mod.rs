//! `#[task]`: parse ([`args`], [`sig`]), validate ([`valid`]), expand
//! ([`expand`](mod@expand), or [`fallback`] when there are errors).

mod args;
mod expand;

mod fallback;
mod sig;
mod valid;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::Item;

use crate::ctxt::Ctxt;
use args::TaskArgs;
use sig::{ItemFn, TaskFn};

/// Expands `#[task(args)] item`.
///
/// Set `TASK_MACROS_DEBUG=1` in the environment of the compiler to print every
/// expansion to stderr.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let output = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item_fn) => expand_fn(args, &item_fn),
        Err(err) => not_a_function(item, err),
    };
    if std::env::var_os("TASK_MACROS_DEBUG").is_some_and(|v| v == "1") {
        eprintln!("#[task] expansion:\n{output}\n");
    }
    output
}

fn expand_fn(args: TokenStream, item: &ItemFn) -> TokenStream {
    let cx = Ctxt::new();
    let args = TaskArgs::from_tokens(&cx, args);
    let krate = args.krate.clone();
    let task = TaskFn::from_syn(&cx, item, args);
    task.validate(&cx);
    match cx.check() {
        Ok(()) => expand::task(&task),
        Err(err) => fallback::expand(item, &krate, err),
    }
}

/// The item unchanged, plus an error at its keyword (`struct`, `impl`, ..);
/// if it is not even an item, the parse error.
fn not_a_function(item: TokenStream, err: syn::Error) -> TokenStream {
    let err = match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => syn::Error::new(keyword_span(&parsed), "`#[task]` applies to functions"),
        Err(_) => err,
    };
    let err = err.into_compile_error();
    quote! {
        #item
        #err
    }
}

/// The span of the keyword that says what kind of item this is.
fn keyword_span(item: &Item) -> proc_macro2::Span {
    match item {
        Item::Const(i) => i.const_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::ExternCrate(i) => i.extern_token.span,
        Item::Fn(i) => i.sig.fn_token.span,
        Item::ForeignMod(i) => i.abi.extern_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Macro(i) => i.mac.path.span(),
        Item::Mod(i) => i.mod_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Struct(i) => i.struct_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::TraitAlias(i) => i.trait_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Union(i) => i.union_token.span,
        Item::Use(i) => i.use_token.span,
        other => other.span(),
    }
}

#[cfg(test)]
mod tests;
