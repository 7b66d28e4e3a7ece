//! Semantic checks of a task: what the signature may be, and how the options
//! fit it. Every problem is recorded in the [`Ctxt`]; code generation only runs
//! when there is none.

use std::collections::BTreeSet;

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{GenericArgument, LitStr, PathArguments, Type};

use super::args::Provides;
use super::sig::{ungroup, ParamKind, TaskFn};
use crate::ctxt::Ctxt;

impl TaskFn<'_> {
    /// Checks the signature and the options against it.
    pub(crate) fn validate(&self, cx: &Ctxt) {
        self.check_signature(cx);
        self.check_param_types(cx);
        self.check_provides(cx);
        self.check_requires(cx);
        self.check_revert_requires(cx);
    }

    fn check_signature(&self, cx: &Ctxt) {
        let sig = &self.item.sig;
        if let Some(constness) = &sig.constness {
            cx.error_spanned_by(
                constness,
                "`#[task]` does not support `const fn`: the engine calls tasks at run time; remove `const`",
            );
        }
        if let Some(unsafety) = &sig.unsafety {
            cx.error_spanned_by(
                unsafety,
                "`#[task]` does not support `unsafe fn`: the engine calls tasks from safe code; remove `unsafe` and use an `unsafe` block inside the function",
            );
        }
        if let Some(abi) = &sig.abi {
            cx.error_spanned_by(
                abi,
                "`#[task]` does not support `extern` functions: remove the ABI and call the foreign function from the task",
            );
        }
        if let Some(variadic) = &sig.variadic {
            cx.error_spanned_by(
                variadic,
                "`#[task]` does not support variadic functions: every parameter is a named value",
            );
        }
        let generics = &sig.generics;
        if !generics.params.is_empty() {
            cx.error_spanned_by(
                generics,
                "`#[task]` does not support generic functions: values are decoded by type, so each parameter needs a concrete type",
            );
        } else if let Some(where_clause) = &generics.where_clause {
            cx.error_spanned_by(
                where_clause,
                "`#[task]` does not support `where` clauses: values are decoded by type, so each parameter needs a concrete type",
            );
        }
        if let Some(receiver) = self.receiver {
            cx.error_spanned_by(
                receiver,
                "`#[task]` applies to free functions, not methods: a task cannot take `self`",
            );
        }
    }

    fn check_param_types(&self, cx: &Ctxt) {
        for param in &self.params {
            let Some(bad) = find_borrowed(param.ty) else {
                continue;
            };
            let msg = match bad {
                Type::Reference(reference) => {
                    let owned = owned_version(&reference.elem);
                    format!(
                        "task parameters are owned values decoded from serde data: write `{owned}` instead of `{}`",
                        type_to_string(bad)
                    )
                }
                _ => format!(
                    "task parameters are owned values decoded from serde data: `{}` cannot be decoded; write a concrete type",
                    type_to_string(bad)
                ),
            };
            cx.error_spanned_by(bad, msg);
        }
    }

    fn check_provides(&self, cx: &Ctxt) {
        let Some(provides) = &self.args.provides else {
            return;
        };
        let ident = self.ident().unraw();
        let ok = self.output.ok_type();
        match provides {
            Provides::One(lit) => {
                if ok.is_none() {
                    cx.error_spanned_by(
                        lit,
                        format!("`provides` names a value, but `{ident}` returns nothing: return the value, or remove `provides`"),
                    );
                }
            }
            Provides::Tuple(list) => {
                let count = list.names.len();
                let Some(ok) = ok else {
                    cx.error_spanned_by(
                        &list.list,
                        format!("`provides` names {}, but `{ident}` returns nothing: return a tuple like `{}`, or remove `provides`", values(count), placeholder_tuple(count)),
                    );
                    return;
                };
                match ungroup(ok) {
                    Type::Tuple(tuple) if tuple.elems.len() == count => {}
                    Type::Tuple(tuple) => cx.error_spanned_by(
                        &list.list,
                        format!(
                            "`provides` names {}, but `{ident}` returns a tuple of {} element{}",
                            values(count),
                            tuple.elems.len(),
                            if tuple.elems.len() == 1 { "" } else { "s" }
                        ),
                    ),
                    _ => cx.error_spanned_by(
                        &list.list,
                        format!(
                            "`provides = [..]` maps a tuple element by element, but `{ident}` does not return a tuple: return `{}` or use `provides = \"name\"`",
                            placeholder_tuple(count)
                        ),
                    ),
                }
            }
        }
    }

    fn check_requires(&self, cx: &Ctxt) {
        let Some(requires) = &self.args.requires else {
            return;
        };
        let ident = self.ident().unraw();
        if !requires.names.is_empty() && !self.params.iter().any(|p| p.kind == ParamKind::Context) {
            cx.error_spanned_by(
                &requires.list,
                format!(
                    "`requires = [..]` names values read through the task's context, but `{ident}` has no `TaskCtx` parameter: add `ctx: TaskCtx` and read them with `ctx.get::<T>(\"name\")`"
                ),
            );
        }
        let params: BTreeSet<&str> = self
            .params
            .iter()
            .filter(|p| p.kind.is_value())
            .map(|p| p.name.as_str())
            .collect();
        for lit in &requires.names {
            let name = lit.value();
            if params.contains(name.as_str()) {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "`{name}` is already a parameter of `{ident}`: remove it from `requires`"
                    ),
                );
            }
        }
    }
}

impl TaskFn<'_> {
    fn check_revert_requires(&self, cx: &Ctxt) {
        let Some(revert_requires) = &self.args.revert_requires else {
            return;
        };
        if revert_requires.names.is_empty() {
            return;
        }
        let ident = self.ident().unraw();
        if self.args.revert_with.is_none() {
            cx.error_spanned_by(
                &revert_requires.list,
                format!(
                    "`revert_requires = [..]` names values the revert reads, but `{ident}` has no revert: add `revert_with = undo_{ident}`"
                ),
            );
        }
        if !self.params.iter().any(|p| p.kind == ParamKind::Context) {
            cx.error_spanned_by(
                &revert_requires.list,
                format!(
                    "`revert_requires = [..]` names values the revert reads through the task's context, but `{ident}` has no `TaskCtx` parameter: add `ctx: TaskCtx` (to the task and its revert) and read them with `ctx.get::<T>(\"name\")`"
                ),
            );
        }
        let params: BTreeSet<&str> = self
            .params
            .iter()
            .filter(|p| p.kind.is_value())
            .map(|p| p.name.as_str())
            .collect();
        let requires: BTreeSet<String> = self
            .args
            .requires
            .iter()
            .flat_map(|list| list.names.iter().map(LitStr::value))
            .collect();
        for lit in &revert_requires.names {
            let name = lit.value();
            let why = if params.contains(name.as_str()) {
                format!("`{name}` is already a parameter of `{ident}`, which its revert receives too: remove it from `revert_requires`")
            } else if requires.contains(&name) {
                format!("`{name}` is already in `requires`, which its revert reads too: remove it from `revert_requires`")
            } else {
                continue;
            };
            cx.error_spanned_by(lit, why);
        }
    }
}

/// "1 value", "2 values".
fn values(count: usize) -> String {
    if count == 1 {
        "1 value".to_owned()
    } else {
        format!("{count} values")
    }
}

/// `(A, B)` for 2, `(A,)` for 1.
fn placeholder_tuple(count: usize) -> String {
    let names: Vec<String> = (0..count)
        .map(|i| match u8::try_from(i) {
            Ok(i) if i < 26 => char::from(b'A' + i).to_string(),
            _ => format!("T{i}"),
        })
        .collect();
    if count == 1 {
        format!("({},)", names[0])
    } else {
        format!("({})", names.join(", "))
    }
}

/// The first reference or `impl Trait` in `ty`, looking through paths'
/// type arguments, tuples, arrays and slices.
fn find_borrowed(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(_) | Type::ImplTrait(_) => Some(ty),
        Type::Group(group) => find_borrowed(&group.elem),
        Type::Paren(paren) => find_borrowed(&paren.elem),
        Type::Array(array) => find_borrowed(&array.elem),
        Type::Slice(slice) => find_borrowed(&slice.elem),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(find_borrowed),
        Type::Path(path) => {
            path.path
                .segments
                .iter()
                .find_map(|segment| match &segment.arguments {
                    PathArguments::AngleBracketed(args) => {
                        args.args.iter().find_map(|arg| match arg {
                            GenericArgument::Type(ty) => find_borrowed(ty),
                            _ => None,
                        })
                    }
                    _ => None,
                })
        }
        _ => None,
    }
}

/// The owned type to suggest for `&elem`: `String` for `str`, `Vec<T>` for
/// `[T]`, `PathBuf` for `Path`, .., `T` otherwise.
fn owned_version(elem: &Type) -> String {
    const OWNED: [(&str, &str); 4] = [
        ("str", "String"),
        ("Path", "PathBuf"),
        ("OsStr", "OsString"),
        ("CStr", "CString"),
    ];
    match ungroup(elem) {
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last().map(|s| s.ident.to_string());
            match OWNED
                .iter()
                .find(|(borrowed, _)| last.as_deref() == Some(*borrowed))
            {
                Some((_, owned)) => (*owned).to_owned(),
                None => type_to_string(elem),
            }
        }
        Type::Slice(slice) => format!("Vec<{}>", type_to_string(&slice.elem)),
        other => type_to_string(other),
    }
}

/// A type as written, without the spaces token streams print between tokens:
/// `Vec<&'a str>`, `(u8, String)`.
pub(crate) fn type_to_string(ty: &Type) -> String {
    let spaced = ty.to_token_stream().to_string();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
    let chars: Vec<char> = spaced.chars().collect();
    let mut out = String::with_capacity(spaced.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = out.chars().last();
            let after = chars.get(i + 1).copied();
            let keep = matches!((before, after), (Some(b), Some(a)) if word(b) && word(a))
                || before == Some(',')
                || matches!((before, after), (Some('='), _) | (_, Some('=')));
            if !keep {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn types_print_compactly() {
        let ty: Type = syn::parse2(quote!(Vec<(&'a mut str, Option<u8>)>)).unwrap();
        assert_eq!(type_to_string(&ty), "Vec<(&'a mut str, Option<u8>)>");
        let ty: Type = syn::parse2(quote!(Box<dyn Iterator<Item = u8>>)).unwrap();
        assert_eq!(type_to_string(&ty), "Box<dyn Iterator<Item = u8>>");
    }

    #[test]
    fn placeholders() {
        assert_eq!(placeholder_tuple(1), "(A,)");
        assert_eq!(placeholder_tuple(3), "(A, B, C)");
    }
}
