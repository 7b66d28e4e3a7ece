//! What an invalid task expands to: the function unchanged, the errors, and a
//! stub descriptor with a `Task` impl, so that code naming the task
//! (`bad::task()`) does not add a cascade of secondary errors (thiserror's
//! `fallback.rs`).

use proc_macro2::TokenStream;
use quote::quote;

use super::args::Version;
use super::expand::{default_name, descriptor, task_constructor, task_def, Meta};
use super::sig::ItemFn;
use crate::krate::Krate;

/// The function, the errors, and — unless the function takes `self`, when it
/// is probably inside an `impl` block where a struct cannot go, or `crate = ..`
/// is not a path, when the stub's paths could not resolve — the stub.
pub(crate) fn expand(item: &ItemFn, k: &Krate, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    if item.sig.receiver().is_some() || k.is_invalid() {
        return quote! {
            #item
            #errors
        };
    }
    let p = k.private();
    let ident = &item.sig.ident;
    let meta = Meta {
        name: default_name(k, ident),
        version: Version::default(),
        provides: quote!(#p::Provides::Nothing),
        output_types: quote!(&[]),
        revert: quote!(#p::core::option::Option::None),
        is_async: item.sig.asyncness.is_some(),
        priority: None,
    };
    let descriptor = descriptor(k, item);
    let constructor = task_constructor(k, item);
    let def = task_def(k, ident, &meta, quote!(#p::core::option::Option::None));
    let message = format!("task `{}` has errors in its `#[task]` attribute", ident);
    let callback = crate::callback::callback(&item.vis, ident, None);
    let import = k.import();
    quote! {
        #item
        #errors
        #descriptor
        #callback
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications)]
        const _: () = {
            #import
            #constructor
            const __task_params: &[#p::Param] = &[];
            const __task_requires: &[#p::Text] = &[];
            #def
            #[automatically_derived]
            impl #p::Typed for #ident {
                type Provides = ();
            }
            fn __task_exec(_: &#p::Call<'_>) -> #p::Invocation {
                #p::Invocation::Ready(#p::core::result::Result::Err(#p::Failure::from_error(
                    #p::io::Error::other(#message),
                )))
            }
        };
    }
}
