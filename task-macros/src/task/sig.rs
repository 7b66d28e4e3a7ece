//! The function `#[task]` is applied to, and the task's AST built from it.
//!
//! The body is never parsed: [`ItemFn`] keeps it as raw tokens inside the
//! original braces (tracing's `MaybeItemFn`), so a half-written body still
//! expands and rustc reports the real syntax error.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{
    braced, token, Attribute, FnArg, GenericArgument, Ident, Pat, PathArguments, Receiver,
    ReturnType, Signature, Type, Visibility,
};

use super::args::TaskArgs;
use crate::ctxt::Ctxt;

/// A function item whose body is kept as raw tokens.
pub(crate) struct ItemFn {
    /// Outer attributes (doc comments included).
    pub(crate) attrs: Vec<Attribute>,
    /// Visibility.
    pub(crate) vis: Visibility,
    /// Signature.
    pub(crate) sig: Signature,
    /// The body's braces.
    pub(crate) brace: token::Brace,
    /// The body, inner attributes included, unparsed.
    pub(crate) body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<ItemFn> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let body = content.parse()?;
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            brace,
            body,
        })
    }
}

impl ToTokens for ItemFn {
    /// The function exactly as written.
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.brace
            .surround(tokens, |tokens| self.body.to_tokens(tokens));
    }
}

/// How the engine fills a parameter (mirrors the runtime's `ParamKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// A value required by name.
    Required,
    /// `Option<T>`: a value read if present.
    Optional,
    /// `Res<T>`: a resource, by type.
    Resource,
    /// `TaskCtx`.
    Context,
}

impl ParamKind {
    /// Whether the parameter is a value (required or optional).
    pub(crate) fn is_value(self) -> bool {
        matches!(self, ParamKind::Required | ParamKind::Optional)
    }
}

/// One parameter of the task's function.
pub(crate) struct Param<'a> {
    /// The value's name: the binding without `r#`.
    pub(crate) name: String,
    /// The type as written.
    pub(crate) ty: &'a Type,
    /// How it is filled.
    pub(crate) kind: ParamKind,
}

/// What the function returns.
pub(crate) enum Output<'a> {
    /// No return type.
    Unit,
    /// `Result<T, ..>` (last path segment `Result`, with generic arguments):
    /// passed to the runtime as it is.
    Result {
        /// The whole return type.
        ty: &'a Type,
        /// `T`.
        ok: &'a Type,
    },
    /// Any other type `T`: wrapped in `Ok`.
    Plain(&'a Type),
}

impl Output<'_> {
    /// The success type, `None` when it is `()`.
    pub(crate) fn ok_type(&self) -> Option<&Type> {
        let ty = match self {
            Output::Unit => return None,
            Output::Result { ok, .. } => *ok,
            Output::Plain(ty) => *ty,
        };
        match ungroup(ty) {
            Type::Tuple(tuple) if tuple.elems.is_empty() => None,
            _ => Some(ty),
        }
    }
}

/// A task: the function, its parameters and return, and the options.
pub(crate) struct TaskFn<'a> {
    /// The function, to re-emit unchanged.
    pub(crate) item: &'a ItemFn,
    /// The options of `#[task(...)]`.
    pub(crate) args: TaskArgs,
    /// `self`, if the function has one (an error).
    pub(crate) receiver: Option<&'a Receiver>,
    /// The parameters whose pattern is an identifier, in order.
    pub(crate) params: Vec<Param<'a>>,
    /// The return.
    pub(crate) output: Output<'a>,
}

impl<'a> TaskFn<'a> {
    /// Builds the task's AST; parameters that are not plain identifiers are
    /// recorded as errors and left out.
    pub(crate) fn from_syn(cx: &Ctxt, item: &'a ItemFn, args: TaskArgs) -> TaskFn<'a> {
        let mut receiver = None;
        let mut params = Vec::new();
        for input in &item.sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        params.push(Param {
                            name: pat.ident.unraw().to_string(),
                            ty: &typed.ty,
                            kind: param_kind(&typed.ty),
                        });
                    }
                    Pat::Ident(pat) if pat.by_ref.is_some() => cx.error_spanned_by(
                        pat.by_ref,
                        "task parameters are owned values: remove `ref`",
                    ),
                    Pat::Ident(pat) => cx.error_spanned_by(
                        typed.pat.as_ref(),
                        format!(
                            "task parameters must be plain names, the names of the values they take: write `{}: ..` and match inside the function",
                            pat.ident.unraw()
                        ),
                    ),
                    Pat::Wild(_) => cx.error_spanned_by(
                        typed.pat.as_ref(),
                        "task parameters must be plain names, the names of the values they take: give it a name (prefix it with `_` if it is unused, like `_size`)",
                    ),
                    pat => cx.error_spanned_by(
                        pat,
                        "task parameters must be plain names, the names of the values they take: write `name: Type` and destructure inside the function",
                    ),
                },
            }
        }
        TaskFn {
            item,
            args,
            receiver,
            params,
            output: output(&item.sig.output),
        }
    }

    /// The function's name.
    pub(crate) fn ident(&self) -> &'a Ident {
        &self.item.sig.ident
    }

    /// Whether the function is `async`.
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }
}

/// `ty` without invisible groups and parentheses.
pub(crate) fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

/// The last segment's name and its type arguments, for a path type.
fn last_segment(ty: &Type) -> Option<(&Ident, Vec<&Type>, bool)> {
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    match &segment.arguments {
        PathArguments::None => Some((&segment.ident, Vec::new(), false)),
        PathArguments::AngleBracketed(args) => {
            let types = args
                .args
                .iter()
                .filter_map(|arg| match arg {
                    GenericArgument::Type(ty) => Some(ty),
                    _ => None,
                })
                .collect();
            Some((&segment.ident, types, true))
        }
        PathArguments::Parenthesized(_) => None,
    }
}

/// `T` of an `Option<T>` parameter (see [`param_kind`]).
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    match last_segment(ty) {
        Some((ident, types, true)) if types.len() == 1 && ident == "Option" => Some(types[0]),
        _ => None,
    }
}

/// `T` of a `Res<T>` parameter (see [`param_kind`]).
pub(crate) fn res_inner(ty: &Type) -> Option<&Type> {
    match last_segment(ty) {
        Some((ident, types, true)) if types.len() == 1 && ident == "Res" => Some(types[0]),
        _ => None,
    }
}

/// The kind of a parameter, from its type as written: the last path segment
/// `Option<T>`, `Res<T>` or `TaskCtx`; anything else is a required value.
pub(crate) fn param_kind(ty: &Type) -> ParamKind {
    match last_segment(ty) {
        Some((ident, types, true)) if types.len() == 1 && ident == "Option" => ParamKind::Optional,
        Some((ident, types, true)) if types.len() == 1 && ident == "Res" => ParamKind::Resource,
        Some((ident, _, false)) if ident == "TaskCtx" => ParamKind::Context,
        _ => ParamKind::Required,
    }
}

fn output(output: &ReturnType) -> Output<'_> {
    let ReturnType::Type(_, ty) = output else {
        return Output::Unit;
    };
    match last_segment(ty) {
        Some((ident, types, true)) if ident == "Result" && !types.is_empty() => {
            Output::Result { ty, ok: types[0] }
        }
        _ => Output::Plain(ty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn kind(ty: TokenStream) -> ParamKind {
        param_kind(&syn::parse2(ty).unwrap())
    }

    #[test]
    fn kinds_by_last_segment() {
        assert_eq!(kind(quote!(u64)), ParamKind::Required);
        assert_eq!(kind(quote!(Option<String>)), ParamKind::Optional);
        assert_eq!(
            kind(quote!(::core::option::Option<String>)),
            ParamKind::Optional
        );
        assert_eq!(kind(quote!(Res<Db>)), ParamKind::Resource);
        assert_eq!(kind(quote!(taskwire::Res<Db>)), ParamKind::Resource);
        assert_eq!(kind(quote!(TaskCtx)), ParamKind::Context);
        assert_eq!(kind(quote!(Option)), ParamKind::Required);
        assert_eq!(kind(quote!(Vec<Option<u8>>)), ParamKind::Required);
        assert_eq!(kind(quote!(<T as X>::Option<u8>)), ParamKind::Required);
    }

    fn ok_type(ret: TokenStream) -> Option<String> {
        let ret: ReturnType = syn::parse2(ret).unwrap();
        let out = output(&ret);
        out.ok_type().map(|t| t.to_token_stream().to_string())
    }

    #[test]
    fn outputs() {
        assert_eq!(ok_type(quote!()), None);
        assert_eq!(ok_type(quote!(-> ())), None);
        assert_eq!(ok_type(quote!(-> Result<(), E>)), None);
        assert_eq!(ok_type(quote!(-> u8)).as_deref(), Some("u8"));
        assert_eq!(
            ok_type(quote!(-> std::io::Result<u8>)).as_deref(),
            Some("u8")
        );
        assert_eq!(
            ok_type(quote!(-> Result<(u8, u16), E>)).as_deref(),
            Some("(u8 , u16)")
        );
        // A `Result` alias without arguments is a plain value.
        assert_eq!(ok_type(quote!(-> Result)).as_deref(), Some("Result"));
    }

    #[test]
    fn body_is_not_parsed() {
        let item: ItemFn = syn::parse2(quote! {
            /// doc
            pub async fn f(x: u8) -> u8 { #![allow(unused)] let = ; }
        })
        .unwrap();
        assert_eq!(
            item.body.to_string(),
            quote!(#![allow(unused)] let = ;).to_string()
        );
    }
}
