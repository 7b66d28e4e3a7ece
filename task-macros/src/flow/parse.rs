//! The syntax of `flow!`:
//!
//! ```text
//! flow! {
//!     #[doc = ".."] pub linear create_volume(size: u64, volume_type: String) {
//!         extract_request,
//!         volumes::reserve_quota.rebind("size", "volume_size"),
//!         graph prepare { create_db_entry, notify_scheduler.named("notify") },
//!         commit_quota.inject("force", false),
//!     }
//! }
//! ```
//!
//! A flow is a kind (`linear`, `unordered`, `graph`), a name, the inputs with
//! their types (outermost flow only) and its children; a child is a nested
//! flow (its name optional) or a task's path followed by the builder's own
//! calls: `.named("..")`, `.rebind("arg", "name")`, `.inject("arg", value)`,
//! `.provides_as("..")`, `.provides_each_as(["..", ..])`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    braced, bracketed, parenthesized, Attribute, Expr, Ident, LitStr, Path, Token, Type, Visibility,
};

use crate::ctxt::Ctxt;

mod kw {
    syn::custom_keyword!(linear);
    syn::custom_keyword!(unordered);
    syn::custom_keyword!(graph);
}

/// How a flow orders its children (mirrors the runtime's `FlowKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Linear,
    Unordered,
    Graph,
}

impl Kind {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Kind::Linear => "linear",
            Kind::Unordered => "unordered",
            Kind::Graph => "graph",
        }
    }

    fn peek(input: ParseStream<'_>) -> bool {
        input.peek(kw::linear) || input.peek(kw::unordered) || input.peek(kw::graph)
    }

    fn parse(input: ParseStream<'_>) -> syn::Result<Kind> {
        let look = input.lookahead1();
        if look.peek(kw::linear) {
            input.parse::<kw::linear>()?;
            Ok(Kind::Linear)
        } else if look.peek(kw::unordered) {
            input.parse::<kw::unordered>()?;
            Ok(Kind::Unordered)
        } else if look.peek(kw::graph) {
            input.parse::<kw::graph>()?;
            Ok(Kind::Graph)
        } else {
            Err(look.error())
        }
    }
}

/// The whole invocation.
pub(crate) struct FlowDef {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) inputs: Vec<(Ident, Type)>,
    pub(crate) body: Group,
}

/// A flow pattern: its kind, name and children.
pub(crate) struct Group {
    pub(crate) kind: Kind,
    /// The name as written, if any (the outermost flow always has one).
    pub(crate) name: Option<Ident>,
    pub(crate) children: Vec<Child>,
}

/// A child of a flow.
pub(crate) enum Child {
    Task(TaskUse),
    Group(Group),
}

/// A task added to a flow, with the builder calls that follow it.
pub(crate) struct TaskUse {
    pub(crate) path: Path,
    pub(crate) named: Option<LitStr>,
    pub(crate) rebind: Vec<(LitStr, LitStr)>,
    pub(crate) inject: Vec<(LitStr, Expr)>,
    pub(crate) provides: Provides,
}

/// `provides_as` / `provides_each_as`.
pub(crate) enum Provides {
    Task,
    One(LitStr),
    Each(Vec<LitStr>),
}

/// Parses the invocation, recording semantic mistakes in `cx` (syntax errors
/// are returned).
pub(crate) fn parse(cx: &Ctxt, tokens: TokenStream) -> syn::Result<FlowDef> {
    let def = syn::parse::Parser::parse2(|input: ParseStream<'_>| FlowDef::parse(input), tokens)?;
    // Inputs: one declaration per name.
    for (i, (name, _)) in def.inputs.iter().enumerate() {
        if def.inputs[..i].iter().any(|(n, _)| n == name) {
            cx.error_spanned_by(name, format!("input `{name}` is declared twice"));
        }
    }
    Ok(def)
}

impl FlowDef {
    fn parse(input: ParseStream<'_>) -> syn::Result<FlowDef> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let kind = Kind::parse(input)?;
        let name: Ident = input.call(Ident::parse_any)?;
        let mut inputs = Vec::new();
        if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            let list =
                Punctuated::<(Ident, Type), Token![,]>::parse_terminated_with(&content, |input| {
                    let name: Ident = input.call(Ident::parse_any)?;
                    input.parse::<Token![:]>()?;
                    let ty: Type = input.parse()?;
                    Ok((name, ty))
                })?;
            inputs = list.into_iter().collect();
        }
        let children = parse_children(input)?;
        if !input.is_empty() {
            return Err(input.error("one flow per `flow!`: write another `flow!` for another flow"));
        }
        Ok(FlowDef {
            attrs,
            vis,
            name: name.clone(),
            inputs,
            body: Group {
                kind,
                name: Some(name),
                children,
            },
        })
    }
}

fn parse_children(input: ParseStream<'_>) -> syn::Result<Vec<Child>> {
    let content;
    braced!(content in input);
    let list = Punctuated::<Child, Token![,]>::parse_terminated(&content)?;
    Ok(list.into_iter().collect())
}

impl Parse for Child {
    fn parse(input: ParseStream<'_>) -> syn::Result<Child> {
        // `graph { .. }` or `graph name { .. }`; a task may be named `graph`
        // only through a path (`self::graph`).
        if Kind::peek(input)
            && (input.peek2(syn::token::Brace)
                || input.peek2(Ident) && input.peek3(syn::token::Brace))
        {
            let kind = Kind::parse(input)?;
            let name = if input.peek(Ident) {
                Some(input.call(Ident::parse_any)?)
            } else {
                None
            };
            let children = parse_children(input)?;
            return Ok(Child::Group(Group {
                kind,
                name,
                children,
            }));
        }
        Ok(Child::Task(input.parse()?))
    }
}

impl Parse for TaskUse {
    fn parse(input: ParseStream<'_>) -> syn::Result<TaskUse> {
        let path = Path::parse_mod_style(input)?;
        let mut task = TaskUse {
            path,
            named: None,
            rebind: Vec::new(),
            inject: Vec::new(),
            provides: Provides::Task,
        };
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let method: Ident = input.call(Ident::parse_any)?;
            let content;
            parenthesized!(content in input);
            match method.to_string().as_str() {
                "named" => task.named = Some(content.parse()?),
                "rebind" => {
                    let arg: LitStr = content.parse()?;
                    content.parse::<Token![,]>()?;
                    let from: LitStr = content.parse()?;
                    task.rebind.push((arg, from));
                }
                "inject" => {
                    let arg: LitStr = content.parse()?;
                    content.parse::<Token![,]>()?;
                    let value: Expr = content.parse()?;
                    task.inject.push((arg, value));
                }
                "provides_as" => task.provides = Provides::One(content.parse()?),
                "provides_each_as" => {
                    let list;
                    bracketed!(list in content);
                    let names = Punctuated::<LitStr, Token![,]>::parse_terminated(&list)?;
                    task.provides = Provides::Each(names.into_iter().collect());
                }
                other => {
                    return Err(syn::Error::new(
                        method.span(),
                        format!(
                            "`{other}` is not an option of a task in `flow!`; write `.named(\"..\")`, `.rebind(\"arg\", \"name\")`, `.inject(\"arg\", value)`, `.provides_as(\"..\")` or `.provides_each_as([\"..\", ..])`"
                        ),
                    ))
                }
            }
            if !content.is_empty() {
                return Err(content.error("unexpected tokens after the arguments"));
            }
        }
        Ok(task)
    }
}
