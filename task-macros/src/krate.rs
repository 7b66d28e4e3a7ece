//! Where generated code finds taskwire: `::taskwire`, or the path a user
//! gives with `crate = path` (`#[task(crate = ..)]`, `flow! { crate = ..; .. }`)
//! when taskwire is re-exported by another crate (serde's `#[serde(crate)]`).
//!
//! Every path the macros emit goes through the facade's
//! `#[doc(hidden)] pub mod __private`: [`Krate::private`] is `::taskwire::__private`
//! or `path::__private`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Lit, Path};

use crate::ctxt::Ctxt;

/// The root of the generated paths.
#[derive(Clone, Default)]
pub(crate) enum Krate {
    /// `::taskwire`.
    #[default]
    Taskwire,
    /// `crate = path`.
    Path(Path),
    /// `crate = ..` with a value that is not a path (reported): the caller
    /// emits no code that names taskwire, whose paths could not resolve.
    Invalid,
}

impl Krate {
    /// Whether a `crate = ..` was given but is not a path.
    pub(crate) fn is_invalid(&self) -> bool {
        matches!(self, Krate::Invalid)
    }

    /// `::taskwire::__private` at the call site; with `crate = path`, the
    /// alias [`Krate::import`] declares. For code inside the block that holds
    /// that import.
    pub(crate) fn private(&self) -> TokenStream {
        self.private_at(Span::call_site())
    }

    /// `::taskwire::__private::core`, at the call site (or through the alias).
    pub(crate) fn core(&self) -> TokenStream {
        self.core_at(Span::call_site())
    }

    /// `::taskwire::__private` (or the alias), every token spanned at `span`:
    /// an expression that starts with it is then reported at `span`.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        match self {
            Krate::Taskwire | Krate::Invalid => quote_spanned!(span=> ::taskwire::__private),
            Krate::Path(_) => {
                let alias = Ident::new(ALIAS, Span::call_site().located_at(span));
                quote!(#alias)
            }
        }
    }

    /// `::taskwire::__private::core` (or through the alias), spanned at `span`.
    pub(crate) fn core_at(&self, span: Span) -> TokenStream {
        let p = self.private_at(span);
        quote_spanned!(span=> #p::core)
    }

    /// With `crate = path`, `use path::__private as <alias>;`, spanned at the
    /// user's path: the one place the path is resolved, so that a path that
    /// names nothing is reported there, once. Nothing for `::taskwire`.
    pub(crate) fn import(&self) -> TokenStream {
        match self {
            Krate::Path(path) => {
                let alias = Ident::new(ALIAS, Span::call_site());
                quote! {
                    #[allow(unused_imports)]
                    use #path::__private as #alias;
                }
            }
            _ => TokenStream::new(),
        }
    }

    /// `::taskwire::__private`, or `path::__private` with the path's own
    /// spans: for code outside the block that holds [`Krate::import`] (a
    /// descriptor's derives, a flow function's return type).
    pub(crate) fn outer(&self) -> TokenStream {
        match self {
            Krate::Path(path) => quote!(#path::__private),
            _ => self.private(),
        }
    }

    /// [`Krate::outer`] as written in a module nested in the invoking
    /// module's scope (`self::` becomes `super::`, `super::` becomes
    /// `super::super::`), and whether that module must glob-import its
    /// parent (`use super::*;`) for a path such as `my_app::taskwire` to name
    /// the parent's `my_app`.
    pub(crate) fn outer_in_child(&self) -> (TokenStream, bool) {
        let Krate::Path(path) = self else {
            return (self.outer(), false);
        };
        let first = path.segments.first().map(|s| s.ident.to_string());
        match first.as_deref() {
            _ if path.leading_colon.is_some() => (self.outer(), false),
            Some("crate") => (self.outer(), false),
            Some("self") => {
                let rest = path.segments.iter().skip(1);
                (quote!(super #(::#rest)*::__private), false)
            }
            Some("super") => (quote!(super::#path::__private), false),
            _ => (self.outer(), true),
        }
    }
}

/// The alias of `path::__private` inside the generated code's block.
const ALIAS: &str = "__taskwire_private";

/// What every message about `crate = ..` shows.
const EXAMPLE: &str =
    "`crate = my_app::taskwire` (the path where the crate that depends on taskwire re-exports it)";

/// The value of `crate = value`: a plain path (no generic arguments); a
/// string or anything else is an error at the value that says what to write.
pub(crate) fn parse_value(cx: &Ctxt, value: &Expr) -> Krate {
    let mut value = value;
    while let Expr::Group(group) = value {
        value = &group.expr;
    }
    match value {
        Expr::Path(expr) if expr.qself.is_none() && expr.attrs.is_empty() => {
            let generic = expr.path.segments.iter().find(|s| !s.arguments.is_none());
            if let Some(segment) = generic {
                cx.error_spanned_by(
                    &segment.arguments,
                    format!("`crate` takes a path without generic arguments, like {EXAMPLE}"),
                );
                return Krate::Invalid;
            }
            Krate::Path(expr.path.clone())
        }
        Expr::Lit(lit) => {
            let hint = match &lit.lit {
                Lit::Str(s) => match s.parse::<Path>() {
                    Ok(path) => format!(
                        "`crate` takes a path, not a string: write `crate = {}`, without quotes",
                        quote!(#path).to_string().replace(' ', "")
                    ),
                    Err(_) => format!("`crate` takes a path, not a string, like {EXAMPLE}"),
                },
                _ => format!("`crate` takes a path, like {EXAMPLE}"),
            };
            cx.error_spanned_by(lit, hint);
            Krate::Invalid
        }
        _ => {
            cx.error_spanned_by(value, format!("`crate` takes a path, like {EXAMPLE}"));
            Krate::Invalid
        }
    }
}
