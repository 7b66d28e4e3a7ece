//! Parsing of the options of `#[task(...)]`.
//!
//! The options are parsed as a comma-separated list of [`syn::Meta`]; a syntax
//! error stops there, but every semantic mistake (unknown or duplicate option,
//! malformed value) is recorded in the [`Ctxt`] and parsing goes on, so that all
//! of them are reported together.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, Lit, LitStr, Meta, MetaNameValue, Path, Token};

use crate::ctxt::Ctxt;
use crate::krate::{parse_value as parse_krate, Krate};
use crate::kw::{self, Symbol};

/// The options of one `#[task(...)]`, as far as they are valid.
#[derive(Default)]
pub(crate) struct TaskArgs {
    /// `name = ".."`: the registry name (non-empty).
    pub(crate) name: Option<LitStr>,
    /// `version = "major.minor"`.
    pub(crate) version: Option<Version>,
    /// `provides = ..`.
    pub(crate) provides: Option<Provides>,
    /// `requires = [..]`.
    pub(crate) requires: Option<NameList>,
    /// `revert_requires = [..]`: values the revert reads (through its
    /// `TaskCtx`) that the execution does not.
    pub(crate) revert_requires: Option<NameList>,
    /// `revert_with = path`.
    pub(crate) revert_with: Option<Path>,
    /// `priority = N`, 1 to 99.
    pub(crate) priority: Option<u8>,
    /// `crate = path`: where the generated code finds taskwire.
    pub(crate) krate: Krate,
}

/// A task version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    /// Incompatible changes.
    pub(crate) major: u32,
    /// Compatible changes.
    pub(crate) minor: u32,
}

impl Default for Version {
    fn default() -> Version {
        Version { major: 1, minor: 0 }
    }
}

impl Version {
    /// Parses `"major.minor"`, both decimal numbers (as the runtime's
    /// `Version::parse`).
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.')?;
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse::<u32>().ok()
        };
        Some(Version {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

/// What a task provides.
pub(crate) enum Provides {
    /// `provides = "x"`: the whole result.
    One(LitStr),
    /// `provides = ["a", "b"]`: a tuple result, element by element.
    Tuple(NameList),
}

/// A list of names as written: `["a", "b"]`.
pub(crate) struct NameList {
    /// The whole list, for spans.
    pub(crate) list: ExprArray,
    /// The names, in order.
    pub(crate) names: Vec<LitStr>,
}

/// One option slot: remembers whether the option was seen, so that a second
/// occurrence is reported (serde_derive's `Attr<T>`).
struct Slot<T> {
    name: Symbol,
    seen: bool,
    value: Option<T>,
}

impl<T> Slot<T> {
    fn new(name: Symbol) -> Slot<T> {
        Slot {
            name,
            seen: false,
            value: None,
        }
    }

    /// Marks the option as seen; a second occurrence is an error at its key.
    fn claim(&mut self, cx: &Ctxt, key: &Path) -> bool {
        if self.seen {
            cx.error_spanned_by(key, format!("duplicate task option `{}`", self.name));
            false
        } else {
            self.seen = true;
            true
        }
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

impl TaskArgs {
    /// Parses the tokens inside `#[task(...)]`, recording every mistake in `cx`.
    pub(crate) fn from_tokens(cx: &Ctxt, tokens: TokenStream) -> TaskArgs {
        let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens) {
            Ok(metas) => metas,
            Err(err) => {
                cx.syn_error(err);
                return TaskArgs::default();
            }
        };

        let mut name = Slot::new(kw::NAME);
        let mut version = Slot::new(kw::VERSION);
        let mut provides = Slot::new(kw::PROVIDES);
        let mut requires = Slot::new(kw::REQUIRES);
        let mut revert_requires = Slot::new(kw::REVERT_REQUIRES);
        let mut revert_with = Slot::new(kw::REVERT_WITH);
        let mut priority = Slot::new(kw::PRIORITY);
        let mut root = Slot::new(kw::CRATE);

        for meta in &metas {
            let key = meta.path();
            if key == kw::NAME {
                let first = name.claim(cx, key);
                let value =
                    name_value(cx, meta, kw::NAME, "\"my_task\"").and_then(|v| parse_name(cx, v));
                if first {
                    name.value = value;
                }
            } else if key == kw::VERSION {
                let first = version.claim(cx, key);
                let value =
                    name_value(cx, meta, kw::VERSION, "\"1.0\"").and_then(|v| parse_version(cx, v));
                if first {
                    version.value = value;
                }
            } else if key == kw::PROVIDES {
                let first = provides.claim(cx, key);
                let value = name_value(cx, meta, kw::PROVIDES, "\"name\"")
                    .and_then(|v| parse_provides(cx, v));
                if first {
                    provides.value = value;
                }
            } else if key == kw::REQUIRES {
                let first = requires.claim(cx, key);
                let value = name_value(cx, meta, kw::REQUIRES, "[\"name\"]")
                    .and_then(|v| parse_requires(cx, kw::REQUIRES, v));
                if first {
                    requires.value = value;
                }
            } else if key == kw::REVERT_REQUIRES {
                let first = revert_requires.claim(cx, key);
                let value = name_value(cx, meta, kw::REVERT_REQUIRES, "[\"name\"]")
                    .and_then(|v| parse_requires(cx, kw::REVERT_REQUIRES, v));
                if first {
                    revert_requires.value = value;
                }
            } else if key == kw::REVERT_WITH {
                let first = revert_with.claim(cx, key);
                let value = name_value(cx, meta, kw::REVERT_WITH, "undo_my_task")
                    .and_then(|v| parse_revert_with(cx, v));
                if first {
                    revert_with.value = value;
                }
            } else if key == kw::PRIORITY {
                let first = priority.claim(cx, key);
                let value =
                    name_value(cx, meta, kw::PRIORITY, "50").and_then(|v| parse_priority(cx, v));
                if first {
                    priority.value = value;
                }
            } else if key == kw::CRATE {
                let first = root.claim(cx, key);
                let value = name_value(cx, meta, kw::CRATE, "my_app::taskwire")
                    .map_or(Krate::Invalid, |v| parse_krate(cx, v));
                if first {
                    root.value = Some(value);
                }
            } else {
                cx.error_spanned_by(
                    key,
                    format!(
                        "unknown task option `{}`; expected one of {}",
                        path_to_string(key),
                        kw::list(&kw::TASK_OPTIONS)
                    ),
                );
            }
        }

        TaskArgs {
            name: name.get(),
            version: version.get(),
            provides: provides.get(),
            requires: requires.get(),
            revert_requires: revert_requires.get(),
            revert_with: revert_with.get(),
            priority: priority.get(),
            krate: root.get().unwrap_or_default(),
        }
    }
}

/// The value of `key = value`; `key` alone or `key(..)` is an error.
fn name_value<'a>(cx: &Ctxt, meta: &'a Meta, key: Symbol, example: &str) -> Option<&'a Expr> {
    match meta {
        Meta::NameValue(MetaNameValue { value, .. }) => Some(value),
        Meta::Path(path) => {
            cx.error_spanned_by(
                path,
                format!("`{key}` needs a value: write `{key} = {example}`"),
            );
            None
        }
        Meta::List(list) => {
            cx.error_spanned_by(
                list,
                format!("expected `{key} = {example}`, not `{key}(..)`"),
            );
            None
        }
    }
}

/// `expr` without invisible groups (from `macro_rules!` fragments).
fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

/// A string literal, or `None` (no error recorded).
fn as_lit_str(expr: &Expr) -> Option<&LitStr> {
    match ungroup(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn parse_name(cx: &Ctxt, value: &Expr) -> Option<LitStr> {
    let Some(lit) = as_lit_str(value) else {
        cx.error_spanned_by(
            value,
            "`name` must be a string, like `name = \"create_volume\"`",
        );
        return None;
    };
    if lit.value().trim().is_empty() {
        cx.error_spanned_by(
            lit,
            "a task name cannot be empty: remove `name = \"\"` to use the default name, `module::function`",
        );
        return None;
    }
    Some(lit.clone())
}

const VERSION_FORMAT: &str = "`version` must be \"major.minor\" with decimal numbers, like \"1.0\"";

fn parse_version(cx: &Ctxt, value: &Expr) -> Option<Version> {
    if let Some(lit) = as_lit_str(value) {
        let version = Version::parse(&lit.value());
        if version.is_none() {
            cx.error_spanned_by(lit, VERSION_FORMAT);
        }
        return version;
    }
    match ungroup(value) {
        // `version = 1.2`: a float would lose `1.10` against `1.1`.
        Expr::Lit(lit) if matches!(lit.lit, Lit::Float(_) | Lit::Int(_)) => {
            let text = lit.lit.to_token_stream().to_string();
            cx.error_spanned_by(
                lit,
                format!("{VERSION_FORMAT}: write `version = \"{text}\"`"),
            );
        }
        _ => cx.error_spanned_by(value, VERSION_FORMAT),
    }
    None
}

const PRIORITY_FORMAT: &str =
    "`priority` must be a whole number from 1 (runs first) to 99 (runs last), like `priority = 50`";

fn parse_priority(cx: &Ctxt, value: &Expr) -> Option<u8> {
    if let Expr::Lit(lit) = ungroup(value) {
        match &lit.lit {
            Lit::Int(int) if int.suffix().is_empty() => match int.base10_parse::<u8>() {
                Ok(n @ 1..=99) => return Some(n),
                _ => {
                    cx.error_spanned_by(
                        int,
                        format!("{PRIORITY_FORMAT}, not {}", int.base10_digits()),
                    );
                    return None;
                }
            },
            Lit::Str(s) => {
                let text = s.value();
                if text.parse::<u8>().is_ok_and(|n| (1..=99).contains(&n)) {
                    cx.error_spanned_by(
                        s,
                        format!("{PRIORITY_FORMAT}: write `priority = {text}`, without quotes"),
                    );
                    return None;
                }
            }
            _ => {}
        }
    }
    cx.error_spanned_by(value, PRIORITY_FORMAT);
    None
}

/// A list of names: `["a", "b"]`, each a non-empty string, no name twice.
fn parse_name_list(cx: &Ctxt, key: Symbol, array: &ExprArray) -> Option<NameList> {
    let mut names = Vec::new();
    let mut seen = BTreeSet::new();
    let mut ok = true;
    for elem in &array.elems {
        let Some(lit) = as_lit_str(elem) else {
            cx.error_spanned_by(
                elem,
                format!("`{key}` takes names as strings, like `{key} = [\"a\", \"b\"]`"),
            );
            ok = false;
            continue;
        };
        let name = lit.value();
        if name.trim().is_empty() {
            cx.error_spanned_by(lit, format!("a name in `{key}` cannot be empty"));
            ok = false;
        } else if !seen.insert(name.clone()) {
            cx.error_spanned_by(lit, format!("duplicate name `{name}` in `{key}`"));
            ok = false;
        }
        names.push(lit.clone());
    }
    ok.then(|| NameList {
        list: array.clone(),
        names,
    })
}

fn parse_provides(cx: &Ctxt, value: &Expr) -> Option<Provides> {
    if let Some(lit) = as_lit_str(value) {
        if lit.value().trim().is_empty() {
            cx.error_spanned_by(
                lit,
                "a provided name cannot be empty: remove `provides = \"\"` if the task provides nothing",
            );
            return None;
        }
        return Some(Provides::One(lit.clone()));
    }
    match ungroup(value) {
        Expr::Array(array) if array.elems.is_empty() => {
            cx.error_spanned_by(
                array,
                "`provides = []` names nothing: remove it if the task provides nothing",
            );
            None
        }
        Expr::Array(array) => parse_name_list(cx, kw::PROVIDES, array).map(Provides::Tuple),
        _ => {
            cx.error_spanned_by(
                value,
                "`provides` takes a name or a list of names: `provides = \"name\"` or `provides = [\"a\", \"b\"]`",
            );
            None
        }
    }
}

fn parse_requires(cx: &Ctxt, key: Symbol, value: &Expr) -> Option<NameList> {
    if let Some(lit) = as_lit_str(value) {
        cx.error_spanned_by(
            lit,
            format!(
                "`{key}` takes a list of names: write `{key} = [\"{}\"]`",
                lit.value()
            ),
        );
        return None;
    }
    match ungroup(value) {
        Expr::Array(array) => parse_name_list(cx, key, array),
        _ => {
            cx.error_spanned_by(
                value,
                format!("`{key}` takes a list of names, like `{key} = [\"a\", \"b\"]`"),
            );
            None
        }
    }
}

fn parse_revert_with(cx: &Ctxt, value: &Expr) -> Option<Path> {
    match ungroup(value) {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            Some(path.path.clone())
        }
        Expr::Lit(lit) if matches!(lit.lit, Lit::Str(_)) => {
            let text = match &lit.lit {
                Lit::Str(s) => s.value(),
                _ => String::new(),
            };
            cx.error_spanned_by(
                lit,
                format!("`revert_with` takes the revert function's path, not a string: write `revert_with = {text}`"),
            );
            None
        }
        _ => {
            cx.error_spanned_by(
                value,
                "`revert_with` takes the revert function's path, like `revert_with = undo_my_task`",
            );
            None
        }
    }
}

/// `a::b::c` as written, without spaces; raw identifiers keep their `r#`.
pub(crate) fn path_to_string(path: &Path) -> String {
    let mut out = String::new();
    if path.leading_colon.is_some() {
        out.push_str("::");
    }
    for (i, segment) in path.segments.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        out.push_str(&segment.ident.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (TaskArgs, Vec<String>) {
        let cx = Ctxt::new();
        let args = TaskArgs::from_tokens(&cx, tokens);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, errors)
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("1.1"), Some(Version { major: 1, minor: 1 }));
        assert_eq!(
            Version::parse("10.02"),
            Some(Version {
                major: 10,
                minor: 2
            })
        );
        for bad in [
            "1",
            "a.b",
            "1.",
            ".1",
            "1.2.3",
            "-1.0",
            "+1.0",
            " 1.0",
            "99999999999.0",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn all_options() {
        let (args, errors) = parse(quote! {
            name = "n", version = "2.3", provides = ["a", "b"], requires = ["c"], revert_with = m::undo,
            priority = 7,
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.name.unwrap().value(), "n");
        assert_eq!(args.version, Some(Version { major: 2, minor: 3 }));
        match args.provides {
            Some(Provides::Tuple(list)) => assert_eq!(list.names.len(), 2),
            _ => panic!("expected a tuple"),
        }
        assert_eq!(args.requires.unwrap().names[0].value(), "c");
        assert_eq!(path_to_string(&args.revert_with.unwrap()), "m::undo");
        assert_eq!(args.priority, Some(7));
    }

    #[test]
    fn priorities_run_from_1_to_99() {
        let (args, errors) = parse(quote!(priority = 99));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.priority, Some(99));
        let (_, errors) = parse(quote!(priority = 0));
        assert_eq!(
            errors,
            ["`priority` must be a whole number from 1 (runs first) to 99 (runs last), like `priority = 50`, not 0"]
        );
        let (_, errors) = parse(quote!(priority = 300));
        assert_eq!(
            errors,
            ["`priority` must be a whole number from 1 (runs first) to 99 (runs last), like `priority = 50`, not 300"]
        );
        let (_, errors) = parse(quote!(priority = "5"));
        assert_eq!(
            errors,
            ["`priority` must be a whole number from 1 (runs first) to 99 (runs last), like `priority = 50`: write `priority = 5`, without quotes"]
        );
        let (_, errors) = parse(quote!(priority = 2.5));
        assert_eq!(
            errors,
            ["`priority` must be a whole number from 1 (runs first) to 99 (runs last), like `priority = 50`"]
        );
    }

    #[test]
    fn every_mistake_is_reported() {
        let (_, errors) = parse(quote! {
            retires = 3, name = "", name = "x", version = "1", provides = [], requires = "a",
            revert_with = "undo", version = 1.5, provides,
        });
        assert_eq!(
            errors,
            [
                "unknown task option `retires`; expected one of `crate`, `name`, `priority`, `provides`, `requires`, `revert_requires`, `revert_with`, `version`",
                "a task name cannot be empty: remove `name = \"\"` to use the default name, `module::function`",
                "duplicate task option `name`",
                "`version` must be \"major.minor\" with decimal numbers, like \"1.0\"",
                "`provides = []` names nothing: remove it if the task provides nothing",
                "`requires` takes a list of names: write `requires = [\"a\"]`",
                "`revert_with` takes the revert function's path, not a string: write `revert_with = undo`",
                "duplicate task option `version`",
                "`version` must be \"major.minor\" with decimal numbers, like \"1.0\": write `version = \"1.5\"`",
                "duplicate task option `provides`",
                "`provides` needs a value: write `provides = \"name\"`",
            ]
        );
    }

    #[test]
    fn duplicate_names_in_lists() {
        let (_, errors) = parse(quote!(provides = ["a", "a"], requires = ["b", "", 3]));
        assert_eq!(
            errors,
            [
                "duplicate name `a` in `provides`",
                "a name in `requires` cannot be empty",
                "`requires` takes names as strings, like `requires = [\"a\", \"b\"]`",
            ]
        );
    }

    #[test]
    fn syntax_errors_stop_parsing() {
        let (_, errors) = parse(quote!(name = ));
        assert_eq!(errors.len(), 1);
    }
}
