//! The syntax of `flow!`:
//!
//! ```text
//! flow! {
//!     #[doc = ".."] pub linear create_volume(size: u64, volume_type: String) {
//!         extract_request,
//!         volumes::reserve_quota.rebind("size", "volume_size"),
//!         graph prepare retry(Times::new(3)).provides("attempt") {
//!             create_db_entry,
//!             notify_scheduler.named("notify"),
//!             audit.timeout(Duration::from_secs(30)),
//!             link(create_db_entry, audit),
//!             link_if("notify", "audit", decider),
//!         },
//!         commit_quota.inject { force: false },
//!     }
//! }
//! ```
//!
//! `crate = path;` may come first, in a crate that uses taskwire through
//! another crate's re-export: the generated code then names
//! `path::__private` instead of `::taskwire::__private`.
//!
//! A flow is a kind (`linear`, `unordered`, `graph`), a name, the inputs with
//! their types (outermost flow only), a retry if any, and its body; the body
//! lists children and links, separated by commas, in any order. A child is a
//! nested flow (its name optional) or a task's path followed by the builder's
//! own calls: `.named("..")`, `.rebind("arg", "name")`, `.inject("arg", value)`,
//! `.timeout(duration)`, `.provides_as("..")`, `.provides_each_as(["..", ..])`;
//! `.inject { arg: value, .. }` injects arguments named as in the task's
//! signature (one `.inject("arg", value)` each).
//!
//! The builder's other calls on a flow:
//!
//! - `link(from, to)` is `Flow::link`, `link_if(from, to, decider)` is
//!   `Flow::link_if` (`decider` is any expression of a type that converts
//!   into a `Decider`). An end is a child as written in the flow — a task's
//!   path (`audit`, `volumes::audit`: one path ending the other matches),
//!   a nested flow's name — which the macro matches with the children
//!   ([`find_child`]), or a string, as for the builder: an atom's name (its
//!   task's registered name, or `.named(..)`) or a nested flow's name. A link
//!   names children of the flow whose body holds it, and only a graph flow
//!   takes links.
//! - `retry(controller)` after the name (and the inputs) is `Flow::retry`
//!   with a `RetryAtom` built from `controller` (anything that converts into
//!   one: a `Retry` controller such as `Times::new(3)`); the retry atom's
//!   options follow as its builder's calls: `.named("..")`,
//!   `.requires(["..", ..])`, `.provides("..")`, `.delay(delay)`. The macro
//!   reads names only from these calls: what the controller requires by itself
//!   (`Retry::requires`, e.g. `ParameterizedForEach`'s values) is a run-time
//!   value, checked when the engine compiles the flow; name it in
//!   `.requires([..])` too to have the compiler check it (it is read once).
//!
//! `link`, `link_if` and `retry` are words only where followed by `(`: a task
//! may still be called `link` or `retry`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    braced, bracketed, parenthesized, Attribute, Expr, Ident, LitStr, Path, Token, Type, Visibility,
};

use crate::ctxt::Ctxt;
use crate::krate::Krate;

mod kw {
    syn::custom_keyword!(linear);
    syn::custom_keyword!(unordered);
    syn::custom_keyword!(graph);
    syn::custom_keyword!(retry);
    syn::custom_keyword!(link);
    syn::custom_keyword!(link_if);
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
    /// `crate = path;` before the flow: where taskwire is.
    pub(crate) krate: Krate,
    /// The value of `crate = ..`, until [`parse`] checks it.
    krate_value: Option<Expr>,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) inputs: Vec<(Ident, Type)>,
    pub(crate) body: Group,
}

/// A flow pattern: its kind, name, retry, children and links.
pub(crate) struct Group {
    pub(crate) kind: Kind,
    /// The name as written, if any (the outermost flow always has one).
    pub(crate) name: Option<Ident>,
    pub(crate) retry: Option<Box<RetryUse>>,
    pub(crate) children: Vec<Child>,
    /// `link(..)` and `link_if(..)`, in the order written.
    pub(crate) links: Vec<LinkUse>,
}

/// `link(from, to)` or `link_if(from, to, decider)`.
pub(crate) struct LinkUse {
    /// `link` or `link_if`, where a link outside a graph flow is reported.
    pub(crate) keyword: Ident,
    pub(crate) from: LinkEnd,
    pub(crate) to: LinkEnd,
    pub(crate) decider: Option<Expr>,
}

/// A link's end: a child's name as a string (the builder's way), or a child
/// as written in the flow (a task's path, a nested flow's name).
pub(crate) enum LinkEnd {
    Name(LitStr),
    Path(Path),
}

impl LinkEnd {
    /// The end as written, for messages: the string's value, or the path.
    pub(crate) fn text(&self) -> String {
        match self {
            LinkEnd::Name(n) => n.value(),
            LinkEnd::Path(p) => path_text(p),
        }
    }

    pub(crate) fn span(&self) -> proc_macro2::Span {
        match self {
            LinkEnd::Name(n) => n.span(),
            LinkEnd::Path(p) => syn::spanned::Spanned::span(p),
        }
    }
}

/// A path as written (`volumes::audit`), for messages and for matching a
/// link's end with a child.
pub(crate) fn path_text(path: &Path) -> String {
    let segments = path.segments.iter().map(|s| s.ident.unraw().to_string());
    let joined = segments.collect::<Vec<_>>().join("::");
    if path.leading_colon.is_some() {
        format!("::{joined}")
    } else {
        joined
    }
}

/// `retry(controller)` and the retry atom's options (`RetryAtom`'s builder
/// calls).
pub(crate) struct RetryUse {
    /// `retry`, where the retry atom's own mistakes are reported.
    pub(crate) keyword: Ident,
    pub(crate) controller: Expr,
    pub(crate) named: Option<LitStr>,
    pub(crate) requires: Vec<LitStr>,
    pub(crate) provides: Option<LitStr>,
    pub(crate) delay: Option<Expr>,
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
    /// `.inject("arg", value)` and `.inject { arg: value, .. }`, in order.
    pub(crate) inject: Vec<(LitStr, Expr)>,
    pub(crate) provides: Provides,
    /// `.timeout(duration)`.
    pub(crate) timeout: Option<Box<Expr>>,
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
    let mut def =
        syn::parse::Parser::parse2(|input: ParseStream<'_>| FlowDef::parse(input), tokens)?;
    if let Some(value) = def.krate_value.take() {
        def.krate = crate::krate::parse_value(cx, &value);
    }
    // Inputs: one declaration per name.
    for (i, (name, _)) in def.inputs.iter().enumerate() {
        if def.inputs[..i].iter().any(|(n, _)| n == name) {
            cx.error_spanned_by(name, format!("input `{name}` is declared twice"));
        }
    }
    check_link_paths(cx, &def.body, &def.name.unraw().to_string());
    Ok(def)
}

/// Which child of `group` a link's end written as `path` names: a task
/// whose path as written ends with it, or that it ends with; else, for a
/// single name, a nested flow of that name. The first such child; [`parse`]
/// reports an end that names several.
pub(crate) fn find_child(group: &Group, path: &Path) -> Option<usize> {
    matching_children(group, path).next()
}

fn matching_children<'g>(group: &'g Group, path: &'g Path) -> impl Iterator<Item = usize> + 'g {
    let end = segments(path);
    let single = path.leading_colon.is_none() && path.segments.len() == 1;
    group
        .children
        .iter()
        .enumerate()
        .filter(move |(_, child)| match child {
            // One path ends the other: `create_db_entry` names
            // `volumes::create_db_entry`, and the other way round.
            Child::Task(task) => {
                let written = segments(&task.path);
                written.ends_with(&end) || end.ends_with(&written)
            }
            Child::Group(g) => single && g.name.as_ref().is_some_and(|n| n.unraw() == end[0]),
        })
        .map(|(i, _)| i)
}

fn segments(path: &Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect()
}

/// A link's end written as a path must name one child: the same task twice,
/// or two tasks of one name from two modules, need names of their own.
/// `name` is the group's name (as the expansion names it: a nested flow
/// without one is `parent.position`).
fn check_link_paths(cx: &Ctxt, group: &Group, name: &str) {
    for link in &group.links {
        for end in [&link.from, &link.to] {
            if let LinkEnd::Path(path) = end {
                if matching_children(group, path).nth(1).is_some() {
                    let text = path_text(path);
                    cx.error_spanned_by(
                        path,
                        format!(
                            "`{text}` names more than one child of {} flow `{name}`; give them names with `.named(\"..\")`, and link them by those names, as strings",
                            group.kind.word()
                        ),
                    );
                }
            }
        }
    }
    for (i, child) in group.children.iter().enumerate() {
        if let Child::Group(g) = child {
            let inner = match &g.name {
                Some(n) => n.unraw().to_string(),
                None => format!("{name}.{i}"),
            };
            check_link_paths(cx, g, &inner);
        }
    }
}

impl FlowDef {
    fn parse(input: ParseStream<'_>) -> syn::Result<FlowDef> {
        // `crate = path;`, for a crate that re-exports taskwire.
        let krate_value = if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            if !input.peek(Token![;]) {
                return Err(input.error(
                    "expected `;` after `crate = path`: `flow! { crate = my_app::taskwire; linear name { .. } }`",
                ));
            }
            input.parse::<Token![;]>()?;
            Some(value)
        } else {
            None
        };
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
        let retry = parse_retry(input)?;
        let (children, links) = parse_children(input)?;
        if !input.is_empty() {
            return Err(input.error("one flow per `flow!`: write another `flow!` for another flow"));
        }
        Ok(FlowDef {
            krate: Krate::default(),
            krate_value,
            attrs,
            vis,
            name: name.clone(),
            inputs,
            body: Group {
                kind,
                name: Some(name),
                retry,
                children,
                links,
            },
        })
    }
}

/// A flow's body: its children and its links, in any order.
fn parse_children(input: ParseStream<'_>) -> syn::Result<(Vec<Child>, Vec<LinkUse>)> {
    let content;
    braced!(content in input);
    let list = Punctuated::<Item, Token![,]>::parse_terminated(&content)?;
    let (mut children, mut links) = (Vec::new(), Vec::new());
    for item in list {
        match item {
            Item::Child(c) => children.push(c),
            Item::Link(l) => links.push(l),
        }
    }
    Ok((children, links))
}

/// What a flow's body lists.
enum Item {
    Child(Child),
    Link(LinkUse),
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Item> {
        // `link(..)`: a task named `link` is never followed by parentheses.
        if (input.peek(kw::link) || input.peek(kw::link_if)) && input.peek2(syn::token::Paren) {
            return Ok(Item::Link(input.parse()?));
        }
        Ok(Item::Child(input.parse()?))
    }
}

impl Parse for LinkUse {
    fn parse(input: ParseStream<'_>) -> syn::Result<LinkUse> {
        let keyword: Ident = input.call(Ident::parse_any)?;
        let with_decider = keyword == "link_if";
        let content;
        parenthesized!(content in input);
        let from = link_end(&content)?;
        content.parse::<Token![,]>()?;
        let to = link_end(&content)?;
        let decider = if with_decider {
            content.parse::<Token![,]>()?;
            Some(content.parse()?)
        } else {
            None
        };
        content.parse::<Option<Token![,]>>()?;
        if !content.is_empty() {
            return Err(content.error(if with_decider {
                "`link_if` takes the two ends and a decider: `link_if(from, to, decider)`"
            } else {
                "`link` takes the two ends: `link(from, to)` (`link_if(from, to, decider)` for a link with a decider)"
            }));
        }
        Ok(LinkUse {
            keyword,
            from,
            to,
            decider,
        })
    }
}

/// A link's end: a child's name as a string (an atom's registered or
/// `.named(..)` name, a nested flow's name), or the child as written in the
/// flow: a task's path, a nested flow's name.
fn link_end(input: ParseStream<'_>) -> syn::Result<LinkEnd> {
    if input.peek(LitStr) {
        return Ok(LinkEnd::Name(input.parse()?));
    }
    if input.peek(Ident::peek_any) || input.peek(Token![::]) {
        return Ok(LinkEnd::Path(Path::parse_mod_style(input)?));
    }
    Err(input.error(
        "expected a child of the graph flow: a task as written in the flow (`create_db_entry`), a nested flow's name, or an atom's name as a string (`\"notify\"`)",
    ))
}

/// `retry(controller)` and its options, if the flow has one.
fn parse_retry(input: ParseStream<'_>) -> syn::Result<Option<Box<RetryUse>>> {
    if !(input.peek(kw::retry) && input.peek2(syn::token::Paren)) {
        return Ok(None);
    }
    let keyword: Ident = input.call(Ident::parse_any)?;
    let content;
    parenthesized!(content in input);
    let controller: Expr = content.parse()?;
    if !content.is_empty() {
        return Err(content.error("`retry` takes one controller, e.g. `retry(Times::new(3))`; write the retry atom's options after it: `retry(..).provides(\"attempt\")`"));
    }
    let mut retry = RetryUse {
        keyword,
        controller,
        named: None,
        requires: Vec::new(),
        provides: None,
        delay: None,
    };
    while input.peek(Token![.]) {
        input.parse::<Token![.]>()?;
        let method: Ident = input.call(Ident::parse_any)?;
        let content;
        parenthesized!(content in input);
        match method.to_string().as_str() {
            "named" => retry.named = Some(content.parse()?),
            "provides" => retry.provides = Some(content.parse()?),
            "delay" => retry.delay = Some(content.parse()?),
            "requires" => {
                let list;
                bracketed!(list in content);
                let names = Punctuated::<LitStr, Token![,]>::parse_terminated(&list)?;
                retry.requires.extend(names);
            }
            other => {
                return Err(syn::Error::new(
                    method.span(),
                    format!(
                        "`{other}` is not an option of a retry in `flow!`; write `.named(\"..\")`, `.requires([\"..\", ..])`, `.provides(\"..\")` or `.delay(delay)`"
                    ),
                ))
            }
        }
        if !content.is_empty() {
            return Err(content.error("unexpected tokens after the arguments"));
        }
    }
    Ok(Some(Box::new(retry)))
}

impl Parse for Child {
    fn parse(input: ParseStream<'_>) -> syn::Result<Child> {
        // `graph { .. }`, `graph name { .. }`, either with `retry(..)` before
        // the braces; a task may be named `graph` only through a path
        // (`self::graph`).
        if is_group(input) {
            let kind = Kind::parse(input)?;
            let name = if input.peek(Ident)
                && !(input.peek(kw::retry) && input.peek2(syn::token::Paren))
            {
                Some(input.call(Ident::parse_any)?)
            } else {
                None
            };
            let retry = parse_retry(input)?;
            let (children, links) = parse_children(input)?;
            return Ok(Child::Group(Group {
                kind,
                name,
                retry,
                children,
                links,
            }));
        }
        Ok(Child::Task(input.parse()?))
    }
}

/// Whether a nested flow starts here: a kind, a name or not, then `retry(`
/// or `{`.
fn is_group(input: ParseStream<'_>) -> bool {
    if !Kind::peek(input) {
        return false;
    }
    let fork = input.fork();
    if Kind::parse(&fork).is_err() {
        return false;
    }
    let retry = |f: ParseStream<'_>| f.peek(kw::retry) && f.peek2(syn::token::Paren);
    if retry(&fork) || fork.peek(syn::token::Brace) {
        return true;
    }
    fork.call(Ident::parse_any).is_ok() && (fork.peek(syn::token::Brace) || retry(&fork))
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
            timeout: None,
        };
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let method: Ident = input.call(Ident::parse_any)?;
            if method == "inject" && input.peek(syn::token::Brace) {
                // `.inject { arg: value, .. }`: the arguments by name.
                let content;
                braced!(content in input);
                let fields = Punctuated::<(Ident, Expr), Token![,]>::parse_terminated_with(
                    &content,
                    |input| {
                        let arg: Ident = input.call(Ident::parse_any)?;
                        input.parse::<Token![:]>()?;
                        Ok((arg, input.parse()?))
                    },
                )?;
                for (arg, value) in fields {
                    let name = LitStr::new(&arg.unraw().to_string(), arg.span());
                    task.inject.push((name, value));
                }
                continue;
            }
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
                "timeout" => task.timeout = Some(Box::new(content.parse()?)),
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
                            "`{other}` is not an option of a task in `flow!`; write `.named(\"..\")`, `.rebind(\"arg\", \"name\")`, `.inject(\"arg\", value)`, `.inject {{ arg: value }}`, `.timeout(duration)`, `.provides_as(\"..\")` or `.provides_each_as([\"..\", ..])`"
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
