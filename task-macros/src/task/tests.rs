//! Expansion tests on `proc_macro2` input.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Item, ItemConst, ItemMacro};

use super::expand;

/// The expansion, parsed as a file.
fn expand_file(args: TokenStream, item: TokenStream) -> syn::File {
    let output = expand(args, item);
    syn::parse2(output.clone()).unwrap_or_else(|e| panic!("{e}: {output}"))
}

/// The messages of the `compile_error!`s of an expansion.
fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
    expand_file(args, item)
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Macro(ItemMacro { mac, .. })
                if mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "compile_error") =>
            {
                Some(mac.parse_body::<syn::LitStr>().unwrap().value())
            }
            _ => None,
        })
        .collect()
}

/// The items inside the `const _` blocks.
fn const_items(file: &syn::File) -> Vec<&Item> {
    file.items
        .iter()
        .filter_map(|item| match item {
            Item::Const(ItemConst { expr, .. }) => match &**expr {
                syn::Expr::Block(block) => Some(block.block.stmts.iter().filter_map(|s| match s {
                    syn::Stmt::Item(item) => Some(item),
                    _ => None,
                })),
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .collect()
}

fn fn_named<'a>(items: &[&'a Item], name: &str) -> Option<&'a syn::ItemFn> {
    items.iter().find_map(|item| match item {
        Item::Fn(f) if f.sig.ident == name => Some(f),
        _ => None,
    })
}

fn squash(tokens: impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

#[test]
fn the_function_is_emitted_unchanged_first() {
    let item = quote! {
        /// Reserves.
        #[inline]
        pub async fn reserve_quota(spec: VolumeSpec, quota: Res<QuotaClient>, note: Option<String>) -> Result<Reservation, QuotaError> {
            #![allow(unused)]
            todo!()
        }
    };
    let file = expand_file(
        quote!(provides = "reservation", version = "1.1"),
        item.clone(),
    );
    assert_eq!(
        file.items[0].to_token_stream().to_string(),
        item.to_string()
    );
    match &file.items[1] {
        Item::Struct(s) => {
            assert_eq!(s.ident, "reserve_quota");
            assert!(matches!(s.fields, syn::Fields::Named(_)), "a braced struct");
            assert!(matches!(s.vis, syn::Visibility::Public(_)));
        }
        other => panic!(
            "expected the descriptor struct, got {}",
            other.to_token_stream()
        ),
    }
}

#[test]
fn a_valid_task_expands_to_descriptor_def_and_glue() {
    let file = expand_file(
        quote!(
            provides = ["a", "b"],
            revert_with = undo::it,
            version = "1.1",
            name = "custom"
        ),
        quote! {
            fn split(x: u64, db: Res<Db>, y: Option<u8>, ctx: TaskCtx, z: String) -> (u64, u8) { todo!() }
        },
    );
    let items = const_items(&file);
    let exec = fn_named(&items, "__task_exec").expect("__task_exec");
    let exec = squash(&exec.block);
    // Value parameters are numbered among value parameters.
    // (decoded through `TaskParam`, whose message names the trait to derive)
    assert!(exec.contains("TaskParam::arg(__task_call,0)"), "{exec}");
    assert!(exec.contains("TaskParam::opt_arg(__task_call,1)"), "{exec}");
    assert!(exec.contains("TaskParam::arg(__task_call,2)"), "{exec}");
    assert!(exec.contains("__task_call.resource()"), "{exec}");
    assert!(exec.contains("__task_call.ctx()"), "{exec}");
    assert!(
        exec.contains("split(__task_arg_0,__task_arg_1,__task_arg_2,__task_arg_3,__task_arg_4)")
    );
    // The return goes to the engine through `ReturnOf`, which tells a
    // `Result` from a plain value by its type.
    assert!(
        exec.contains("(&&::taskwire::__private::ReturnOf::new(split("),
        "{exec}"
    );
    assert!(exec.contains("Invocation::Ready"));

    let revert = fn_named(&items, "__task_revert").expect("__task_revert");
    let revert = squash(&revert.block);
    assert!(revert.contains("Outcome<(u64,u8)>"), "{revert}");
    // Through a function pointer of the expected type (rustc writes it out
    // when `undo::it` does not fit), then the task's own return check.
    assert!(
        revert.contains("let__task_revert_fn:fn(u64,Res<Db>,Option<u8>,TaskCtx,String,::taskwire::__private::Outcome<(u64,u8)>,::taskwire::__private::Failures)->_=undo::it;"),
        "{revert}"
    );
    assert!(
        revert.contains("split_revert_returns::finish(__task_revert_fn(__task_arg_0,"),
        "{revert}"
    );

    let all = squash(quote!(#(#items)*));
    assert!(all.contains("Version::new(1,1)"));
    assert!(all.contains("Cow::Borrowed(\"custom\")"));
    assert!(all.contains("Some(::taskwire::__private::Cow::Borrowed(\"undo::it\"))"));
    assert!(all.contains("Provides::Tuple(::taskwire::__private::Cow::Borrowed(__task_provides))"));
    assert!(all.contains("Param::typed(\"y\",::taskwire::__private::core::stringify!(Option<u8>),::taskwire::__private::ParamKind::Optional,__task_param_types_2)"), "{all}");
    // Each parameter's types, for the run-time checks: an `Option<T>` takes
    // `Option<T>` or `T`, a `Res<T>` is the resource `T`, the context has
    // none; the outputs are the tuple's elements.
    let v = "::taskwire::__private::ValueType::of::";
    for (i, types) in [
        format!("&[{v}<u64>(\"u64\")]"),
        format!("&[{v}<Db>(\"Db\")]"),
        format!("&[{v}<Option<u8>>(\"Option<u8>\"),{v}<u8>(\"u8\")]"),
        "&[]".to_owned(),
        format!("&[{v}<String>(\"String\")]"),
    ]
    .iter()
    .enumerate()
    {
        let expected =
            format!("const__task_param_types_{i}:&[::taskwire::__private::ValueType]={types};");
        assert!(all.contains(&expected), "{expected} in {all}");
    }
    assert!(all.contains(&format!("const__task_output_types:&[::taskwire::__private::ValueType]=&[{v}<u64>(\"u64\"),{v}<u8>(\"u8\")];")), "{all}");
    assert!(all.contains("output_types:__task_output_types"), "{all}");
    assert!(squash(&file).contains(
        "::taskwire::__private::inventory::submit!{::taskwire::__private::TaskRegistration::new(<splitas::taskwire::__private::Task>::DEF)}"
    ));
    assert!(all.contains("is_async:false"));
}

#[test]
fn async_tasks_box_a_future_and_have_async_reverts() {
    let file = expand_file(
        quote!(revert_with = undo),
        quote!(
            async fn f(x: u8) -> Result<u8, E> {
                Ok(x)
            }
        ),
    );
    let items = const_items(&file);
    let exec = squash(&fn_named(&items, "__task_exec").unwrap().block);
    assert!(exec.contains("let__task_future=f(__task_arg_0);"), "{exec}");
    assert!(exec.contains("Invocation::Pending(::taskwire::__private::Box::pin(asyncmove{::taskwire::__private::finish(&__task_atom,"), "{exec}");
    assert!(
        exec.contains("ReturnOf::new(__task_future.await)).to_result()"),
        "{exec}"
    );
    let revert = squash(&fn_named(&items, "__task_revert").unwrap().block);
    assert!(revert.contains("Outcome<u8>"), "{revert}");
    assert!(revert.contains("f_revert_returns::finish("), "{revert}");
    // An async task's revert must give a future: the return check's impl
    // awaits it.
    let all_items = squash(quote!(#(#items)*));
    assert!(
        all_items.contains("RevertReturn::into_result(self.await)"),
        "{all_items}"
    );
    let all = squash(quote!(#(#items)*));
    assert!(all.contains("is_async:true"));
    assert!(
        all.contains("priority:::taskwire::__private::core::option::Option::None"),
        "{all}"
    );
}

#[test]
fn a_priority_is_kept_in_the_metadata() {
    let file = expand_file(
        quote!(priority = 42),
        quote!(
            fn f() {}
        ),
    );
    let items = const_items(&file);
    let all = squash(quote!(#(#items)*));
    assert!(
        all.contains("priority:::taskwire::__private::core::option::Option::Some(42)"),
        "{all}"
    );
}

/// The recorded types of one parameter (`__task_param_types_0`) and of the
/// outputs, squashed.
fn recorded_types(args: TokenStream, item: TokenStream) -> (String, String) {
    let file = expand_file(args, item);
    let items = const_items(&file);
    let find = |name: &str| {
        items
            .iter()
            .find_map(|item| match item {
                Item::Const(c) if c.ident == name => Some(squash(&c.expr)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no `{name}`"))
    };
    (find("__task_param_types_0"), find("__task_output_types"))
}

#[test]
fn types_with_lifetimes_are_not_recorded() {
    let v = "::taskwire::__private::ValueType::of::";
    // `'static` is nameable: recorded.
    assert_eq!(
        recorded_types(
            quote!(provides = "s"),
            quote!(
                fn f(x: Cow<'static, str>) -> &'static str {
                    todo!()
                }
            )
        ),
        (
            // (squashed: the texts are `Cow<'static, str>`, `&'static str`)
            format!("&[{v}<Cow<'static,str>>(\"Cow<'static,str>\")]"),
            format!("&[{v}<&'staticstr>(\"&'staticstr\")]")
        )
    );
    // Another lifetime, or an elided one, is not (its `TypeId` cannot be
    // named): the check skips them.
    assert_eq!(
        recorded_types(
            quote!(provides = ["a", "b"]),
            quote!(
                fn f(x: Cow<'_, str>) -> (u8, &str) {
                    todo!()
                }
            )
        ),
        ("&[]".to_owned(), "&[]".to_owned())
    );
    // A task that provides nothing has no output types.
    assert_eq!(
        recorded_types(
            quote!(),
            quote!(
                fn f(x: u8) -> u8 {
                    x
                }
            )
        )
        .1,
        "&[]"
    );
}

#[test]
fn default_names_are_unraw() {
    let file = expand_file(
        quote!(),
        quote!(
            fn r#type(r#match: u64) {}
        ),
    );
    let all = squash(&file);
    assert!(all.contains("structr#type{}"), "{all}");
    let items = const_items(&file);
    let all = squash(quote!(#(#items)*));
    assert!(all.contains("module_path!(),\"::\",\"type\")"), "{all}");
    assert!(all.contains("Param::typed(\"match\","), "{all}");
    assert!(all.contains("r#type(__task_arg_0)"), "{all}");
}

#[test]
fn not_a_function() {
    assert_eq!(
        errors(
            quote!(),
            quote!(
                struct X;
            )
        ),
        ["`#[task]` applies to functions"]
    );
    let file = expand_file(
        quote!(),
        quote!(
            struct X;
        ),
    );
    assert_eq!(
        file.items[0].to_token_stream().to_string(),
        quote!(
            struct X;
        )
        .to_string()
    );
}

#[test]
fn errors_are_all_reported_and_the_stub_emitted() {
    let msgs = errors(
        quote!(retires = 3, version = "a.b", requires = ["k"]),
        quote!(
            const fn f<T>(x: &str, (a, b): (u8, u8)) {}
        ),
    );
    assert_eq!(
        msgs,
        [
            "unknown task option `retires`; expected one of `crate`, `name`, `priority`, `provides`, `requires`, `revert_requires`, `revert_with`, `version`",
            "`version` must be \"major.minor\" with decimal numbers, like \"1.0\"",
            "task parameters must be plain names, the names of the values they take: write `name: Type` and destructure inside the function",
            "`#[task]` does not support `const fn`: the engine calls tasks at run time; remove `const`",
            "`#[task]` does not support generic functions: values are decoded by type, so each parameter needs a concrete type",
            "task parameters are owned values decoded from serde data: write `String` instead of `&str`",
            "`requires = [..]` names values read through the task's context, but `f` has no `TaskCtx` parameter: add `ctx: TaskCtx` and read them with `ctx.get::<T>(\"name\")`",
        ]
    );
    let file = expand_file(
        quote!(retires = 3),
        quote!(
            pub fn f() {}
        ),
    );
    assert!(file
        .items
        .iter()
        .any(|i| matches!(i, Item::Struct(s) if s.ident == "f")));
    let items = const_items(&file);
    assert!(fn_named(&items, "__task_exec").is_some());
    assert!(!squash(quote!(#(#items)*)).contains("unreachable"));
}

#[test]
fn methods_get_no_stub() {
    let file = expand_file(
        quote!(),
        quote!(
            fn m(&self) {}
        ),
    );
    assert!(!file.items.iter().any(|i| matches!(i, Item::Struct(_))));
    assert_eq!(
        errors(
            quote!(),
            quote!(
                fn m(&self) {}
            )
        ),
        ["`#[task]` applies to free functions, not methods: a task cannot take `self`"]
    );
}

#[test]
fn provides_must_fit_the_return_type() {
    let msg = |args, item| errors(args, item).join("\n");
    assert_eq!(
        msg(
            quote!(provides = ["a", "b"]),
            quote!(
                fn create() -> (u8, u8, u8) {
                    todo!()
                }
            )
        ),
        "`provides` names 2 values, but `create` returns a tuple of 3 elements"
    );
    assert_eq!(
        msg(quote!(provides = ["a", "b"]), quote!(fn create() -> Result<u8, E> { todo!() })),
        "`provides = [..]` maps a tuple element by element, but `create` does not return a tuple: return `(A, B)` or use `provides = \"name\"`"
    );
    assert_eq!(
        msg(quote!(provides = "x"), quote!(fn create() {})),
        "`provides` names a value, but `create` returns nothing: return the value, or remove `provides`"
    );
    assert_eq!(
        msg(quote!(provides = "x"), quote!(fn create() -> Result<(), E> { todo!() })),
        "`provides` names a value, but `create` returns nothing: return the value, or remove `provides`"
    );
    assert_eq!(
        msg(
            quote!(provides = ["a"]),
            quote!(
                fn create() -> (u8,) {
                    todo!()
                }
            )
        ),
        ""
    );
    assert_eq!(
        msg(
            quote!(provides = ["a", "b"]),
            quote!(
                fn create() -> io::Result<(u8, u8)> {
                    todo!()
                }
            )
        ),
        ""
    );
}

#[test]
fn requires_checks() {
    assert_eq!(
        errors(
            quote!(requires = ["x", "y"]),
            quote!(
                fn f(x: u8, ctx: TaskCtx) {}
            )
        ),
        ["`x` is already a parameter of `f`: remove it from `requires`"]
    );
    assert!(errors(
        quote!(requires = ["y"]),
        quote!(
            fn f(x: u8, ctx: taskwire::TaskCtx) {}
        )
    )
    .is_empty());
}

#[test]
fn unsupported_signatures() {
    assert_eq!(
        errors(quote!(), quote!(unsafe extern "C" fn f(x: impl Into<u8>, ref y: u8, _: u8) {})),
        [
            "task parameters are owned values: remove `ref`",
            "task parameters must be plain names, the names of the values they take: give it a name (prefix it with `_` if it is unused, like `_size`)",
            "`#[task]` does not support `unsafe fn`: the engine calls tasks from safe code; remove `unsafe` and use an `unsafe` block inside the function",
            "`#[task]` does not support `extern` functions: remove the ABI and call the foreign function from the task",
            "task parameters are owned values decoded from serde data: `impl Into<u8>` cannot be decoded; write a concrete type",
        ]
    );
    assert_eq!(
        errors(quote!(), quote!(fn f(x: Option<&[u8]>, y: (u8, &'static std::path::Path)) {})),
        [
            "task parameters are owned values decoded from serde data: write `Vec<u8>` instead of `&[u8]`",
            "task parameters are owned values decoded from serde data: write `PathBuf` instead of `&'static std::path::Path`",
        ]
    );
}

#[test]
fn half_written_bodies_still_expand() {
    let output = expand(quote!(), quote!(fn f(x: u8) -> u8 { let y = ; }));
    let output = squash(output);
    assert!(output.starts_with("fnf(x:u8)->u8{lety=;}"), "{output}");
    assert!(output.contains("structf{}"), "{output}");
    assert!(!output.contains("compile_error"), "{output}");
}

#[test]
fn types_in_messages_read_as_written() {
    let text = |tokens: TokenStream| super::expand::type_text(&syn::parse2(tokens).unwrap());
    assert_eq!(text(quote!(Option<String>)), "Option<String>");
    assert_eq!(text(quote!(Vec<(u64, u8)>)), "Vec<(u64, u8)>");
    assert_eq!(
        text(quote!(::std::collections::HashMap<String, Vec<u8>>)),
        "::std::collections::HashMap<String, Vec<u8>>"
    );
    assert_eq!(text(quote!(u64)), "u64");
}

#[test]
fn crate_path_replaces_taskwire_everywhere() {
    let output = squash(expand(
        quote!(crate = my_app::tw, provides = "x", revert_with = undo),
        quote!(
            async fn make(a: u8, b: Option<String>) -> Result<u8, E> {
                todo!()
            }
        ),
    ));
    // Resolved once, inside the block, and by the descriptor's derives.
    assert!(
        output.contains("usemy_app::tw::__privateas__taskwire_private;"),
        "{output}"
    );
    assert!(
        output.contains("#[derive(my_app::tw::__private::core::fmt::Debug"),
        "{output}"
    );
    assert!(
        output.contains("__taskwire_private::inventory::submit!"),
        "{output}"
    );
    assert!(!output.contains("::taskwire"), "{output}");
}

#[test]
fn crate_values_that_are_not_paths_say_what_to_write() {
    let item = quote!(
        fn make() {}
    );
    assert_eq!(
        errors(quote!(crate = "my_app::tw"), item.clone()),
        ["`crate` takes a path, not a string: write `crate = my_app::tw`, without quotes"]
    );
    assert_eq!(
        errors(quote!(crate = 3), item.clone()),
        ["`crate` takes a path, like `crate = my_app::taskwire` (the path where the crate that depends on taskwire re-exports it)"]
    );
    assert_eq!(
        errors(quote!(crate = my_app::tw::<u8>), item.clone()),
        ["`crate` takes a path without generic arguments, like `crate = my_app::taskwire` (the path where the crate that depends on taskwire re-exports it)"]
    );
    assert_eq!(
        errors(quote!(crate), item.clone()),
        ["`crate` needs a value: write `crate = my_app::taskwire`"]
    );
    // No stub: its paths could not resolve.
    let output = squash(expand(quote!(crate = 3), item));
    assert!(!output.contains("structmake"), "{output}");
}
