//! Flow compilation: scoping, edges, and every validation error with its message.

mod common;

use common::{step, Log};
use taskwire::flow::FlowKind;
use taskwire::flow::{ArgSource, Slot};
use taskwire::retry::{RetryAtom, Times};
use taskwire::{Engine, Flow, FlowError};

fn errors(flow: &Flow, inputs: &[&str]) -> Vec<String> {
    flow.compile(inputs)
        .unwrap_err()
        .errors()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn missing_requirement_names_flow_task_and_value() {
    let log = Log::default();
    let flow = Flow::linear("create_volume").add(step(
        &log,
        "reserve_quota",
        &["volume_spec"],
        "reservation",
    ));
    assert_eq!(
        errors(&flow, &["size"]),
        [
            "flow `create_volume`: task `reserve_quota` requires `volume_spec`, which no input or earlier task provides",
            // Too far from `volume_spec` for a suggestion.
            "flow `create_volume`: input `size` is given, but no task reads it; remove it, rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)",
        ]
    );
}

#[test]
fn missing_requirement_hints_at_a_later_provider() {
    let log = Log::default();
    let flow = Flow::linear("create_volume")
        .add(step(&log, "reserve_quota", &["volume_spec"], "reservation"))
        .add(step(&log, "extract_request", &["size"], "volume_spec"));
    assert_eq!(
        errors(&flow, &["size"]),
        ["flow `create_volume`: task `reserve_quota` requires `volume_spec`, which no input or earlier task provides (later task `extract_request` provides it: add it before `reserve_quota`)"]
    );
}

#[test]
fn unordered_siblings_do_not_see_each_other() {
    let log = Log::default();
    let flow = Flow::unordered("fanout")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "b", &["x"], "y"));
    let errs = errors(&flow, &[]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("flow `fanout`: task `b` requires `x`, which no input or earlier task provides (task `a` provides it, but `b` does not wait for it"), "{}", errs[0]);
}

#[test]
fn ambiguous_provider_in_graph_is_found_whatever_the_order() {
    let log = Log::default();
    let forward = Flow::graph("g")
        .add(step(&log, "consumer", &["x"], "y"))
        .add(step(&log, "p1", &[], "x"))
        .add(step(&log, "p2", &[], "x"));
    let backward = Flow::graph("g")
        .add(step(&log, "p1", &[], "x"))
        .add(step(&log, "p2", &[], "x"))
        .add(step(&log, "consumer", &["x"], "y"));
    for flow in [forward, backward] {
        let errs = flow.compile(&[]).unwrap_err();
        assert_eq!(errs.errors().len(), 1, "{errs}");
        assert!(matches!(
            &errs.errors()[0],
            FlowError::AmbiguousProvider { name, providers, kind: FlowKind::Graph, .. }
                if name == "x" && providers == &["p1".to_owned(), "p2".to_owned()]
        ));
        assert_eq!(
            errs.to_string(),
            "flow `g`: `x` is provided by `p1` and `p2` in graph flow `g`, which has no order to choose between them; rename one output or use `rebind`"
        );
    }
}

#[test]
fn ambiguous_provider_in_unordered_scope() {
    let log = Log::default();
    let flow = Flow::linear("outer")
        .add(
            Flow::unordered("par")
                .add(step(&log, "a", &[], "x"))
                .add(step(&log, "b", &[], "x")),
        )
        .add(step(&log, "c", &["x"], "y"));
    assert_eq!(
        errors(&flow, &[]),
        ["flow `outer`: `x` is provided by `a` and `b` in unordered flow `par`, which has no order to choose between them; rename one output or use `rebind`"]
    );
}

#[test]
fn engine_input_and_graph_task_providing_one_name_is_ambiguous() {
    let log = Log::default();
    let flow = Flow::graph("g")
        .add(step(&log, "make", &[], "size"))
        .add(step(&log, "use", &["size"], "y"));
    assert_eq!(
        errors(&flow, &["size"]),
        ["flow `g`: `size` is provided by `the engine input` and `make` in graph flow `g`, which has no order to choose between them; rename one output or use `rebind`"]
    );
}

#[test]
fn in_a_linear_flow_the_nearest_earlier_provider_wins_over_inputs() {
    let log = Log::default();
    // a: 1 + size(10) = 11 ; b: 1 + size(from a = 11) = 12 ; c provides size=13 after b.
    let flow = Flow::linear("l")
        .add(step(&log, "a", &["size"], "size"))
        .add(step(&log, "b", &["size"], "out"))
        .add(step(&log, "c", &["out"], "size"));
    let done = Engine::new(flow).input("size", 10).run().unwrap();
    assert_eq!(done.get::<i64>("out").unwrap(), 12);
    assert_eq!(
        done.get::<i64>("size").unwrap(),
        13,
        "the flow's end sees the last provider"
    );
}

#[test]
fn cycle_names_the_tasks_on_it() {
    let log = Log::default();
    let flow = Flow::graph("loop")
        .add(step(&log, "a", &["z"], "x"))
        .add(step(&log, "b", &["x"], "y"))
        .add(step(&log, "c", &["y"], "z"));
    assert_eq!(
        errors(&flow, &[]),
        ["flow `loop`: tasks `a` -> `b` -> `c` -> `a` form a cycle"]
    );
}

#[test]
fn explicit_link_orders_and_can_close_a_cycle() {
    let log = Log::default();
    let ordered = Flow::graph("g")
        .add(step(&log, "second", &[], "y"))
        .add(step(&log, "first", &[], "x"))
        .link("first", "second");
    Engine::new(ordered).run().unwrap();
    assert_eq!(log.entries(), ["exec:first", "exec:second"]);

    let cyclic = Flow::graph("g")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "b", &["x"], "y"))
        .link("b", "a");
    assert_eq!(
        errors(&cyclic, &[]),
        ["flow `g`: tasks `a` -> `b` -> `a` form a cycle"]
    );
}

#[test]
fn bad_links_are_reported() {
    let log = Log::default();
    let flow = Flow::linear("l")
        .add(step(&log, "a", &[], "x"))
        .link("a", "a")
        .add(
            Flow::graph("g")
                .add(step(&log, "b", &[], "y"))
                .link("b", "nope"),
        );
    assert_eq!(
        errors(&flow, &[]),
        [
            "flow `l`: linear flow `l` has a link `a` -> `a`, but only graph flows take links; make `l` a graph flow, or remove the link",
            "flow `l`: link `b` -> `nope` in graph flow `g` names `nope`, which is not a child of it; its children are `b`",
        ]
    );
}

#[test]
fn duplicate_atom_names_are_refused() {
    let log = Log::default();
    let flow = Flow::linear("l")
        .add(step(&log, "a", &[], "x"))
        .add(Flow::unordered("u").add(step(&log, "a", &[], "y")));
    assert_eq!(
        errors(&flow, &[]),
        ["flow `l`: two atoms are named `a`; give one another name with `.named(..)`"]
    );
    let renamed = Flow::linear("l")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "a", &[], "y").named("a2"));
    assert!(renamed.compile(&[]).is_ok());
}

#[test]
fn rebind_and_inject() {
    let log = Log::default();
    let flow = Flow::linear("l")
        .add(step(&log, "a", &["size"], "x"))
        // reads `x` under the argument name `n`
        .add(step(&log, "b", &["n"], "y").rebind("n", "x"))
        // inject beats the provider of `x`
        .add(step(&log, "c", &["x"], "z").inject("x", 100));
    let done = Engine::new(flow).input("size", 1).run().unwrap();
    assert_eq!(done.get::<i64>("x").unwrap(), 2);
    assert_eq!(done.get::<i64>("y").unwrap(), 3);
    assert_eq!(done.get::<i64>("z").unwrap(), 101);
}

#[test]
fn rebind_or_inject_of_an_unknown_argument_is_refused() {
    let log = Log::default();
    let flow = Flow::linear("l").add(
        step(&log, "a", &["size"], "x")
            .rebind("sise", "size")
            .inject("colour", "red"),
    );
    assert_eq!(
        errors(&flow, &["size"]),
        [
            "flow `l`: task `a` has no argument `sise` to rebind; its arguments are `size`",
            "flow `l`: task `a` has no argument `colour` to inject; its arguments are `size`",
        ]
    );
}

#[test]
fn every_problem_is_reported_in_one_go() {
    let log = Log::default();
    let flow = Flow::linear("many")
        .add(step(&log, "a", &["nope"], "x"))
        .add(
            Flow::graph("g")
                .add(step(&log, "b", &[], "y"))
                .add(step(&log, "c", &[], "y")),
        )
        .add(step(&log, "a", &[], "z"));
    let errs = flow.compile(&[]).unwrap_err();
    let kinds: Vec<&str> = errs
        .errors()
        .iter()
        .map(|e| match e {
            FlowError::MissingRequirement { .. } => "missing",
            FlowError::AmbiguousProvider { .. } => "ambiguous",
            FlowError::DuplicateAtom { .. } => "duplicate",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["missing", "ambiguous", "duplicate"]);
}

#[test]
fn nested_flows_see_what_enclosing_flows_provided_earlier() {
    let log = Log::default();
    let flow = Flow::linear("outer")
        .add(step(&log, "a", &["size"], "x"))
        .add(
            Flow::graph("g")
                .add(step(&log, "c", &["y", "x"], "z"))
                .add(step(&log, "b", &["x"], "y")),
        )
        .add(step(&log, "d", &["z"], "w"));
    let done = Engine::new(flow).input("size", 0).run().unwrap();
    // a = 1; b = 1 + 1 = 2; c = 1 + 2 + 1 = 4; d = 5. b runs before c although added after.
    assert_eq!(log.entries(), ["exec:a", "exec:b", "exec:c", "exec:d"]);
    assert_eq!(done.get::<i64>("w").unwrap(), 5);
}

#[test]
fn graph_subflows_are_ordered_as_wholes() {
    let log = Log::default();
    let flow = Flow::graph("g")
        .add(
            Flow::linear("late")
                .add(step(&log, "l1", &["x"], "l"))
                .add(step(&log, "l2", &[], "m")),
        )
        .add(
            Flow::linear("early")
                .add(step(&log, "e1", &[], "e"))
                .add(step(&log, "e2", &["e"], "x")),
        );
    Engine::new(flow).run().unwrap();
    assert_eq!(log.entries(), ["exec:e1", "exec:e2", "exec:l1", "exec:l2"]);
}

#[test]
fn optional_arguments_may_be_missing() {
    let flow = Flow::linear("l").add(
        taskwire::FnTask::new("greet")
            .optional(["greeting"])
            .provides("message")
            .run(|call| {
                let g: Option<String> = call.opt_arg(0)?;
                Ok(serde_json::json!(g.unwrap_or_else(|| "hello".into())))
            }),
    );
    let done = Engine::new(flow.clone()).run().unwrap();
    assert_eq!(done.get::<String>("message").unwrap(), "hello");
    let done = Engine::new(flow).input("greeting", "hi").run().unwrap();
    assert_eq!(done.get::<String>("message").unwrap(), "hi");
}

#[test]
fn an_input_that_cannot_be_encoded_is_a_flow_error() {
    let log = Log::default();
    let mut bad = std::collections::HashMap::new();
    bad.insert((1, 2), "tuple keys are not JSON object keys");
    let err = Engine::new(Flow::linear("l").add(step(&log, "a", &["size"], "x")))
        .input("size", bad)
        .run()
        .unwrap_err();
    assert_eq!(err.to_string(), "flow `l`: the value for `size` of the engine input cannot be encoded: key must be a string");
    assert!(log.entries().is_empty(), "nothing ran");
}

#[test]
fn one_task_used_twice_with_renamed_outputs() {
    let log = Log::default();
    let inc = |name: &'static str, from: &'static str, to: &'static str| {
        step(&log, "inc", &["v"], "v")
            .named(name)
            .rebind("v", from)
            .provides_as(to)
    };
    // The same task twice in a graph flow: distinct outputs, so no ambiguity.
    let flow = Flow::graph("g")
        .add(inc("second", "v1", "v2"))
        .add(inc("first", "v0", "v1"));
    let done = Engine::new(flow).input("v0", 0).run().unwrap();
    assert_eq!(done.get::<i64>("v2").unwrap(), 2);
    assert_eq!(log.entries(), ["exec:inc", "exec:inc"]);
}

#[test]
fn renaming_outputs_must_keep_their_number() {
    let pair = taskwire::FnTask::new("pair")
        .provides_each(["l", "r"])
        .run(|_| Ok(serde_json::json!([1, 2])))
        .into_spec();
    let flow = Flow::linear("l").add(pair.clone().provides_as("both"));
    assert_eq!(
        errors(&flow, &[]),
        ["flow `l`: atom `pair` renames its outputs to 1 name(s), but its task provides 2 (a tuple: use `provides_each_as` with one name per element)"]
    );
    let flow = Flow::linear("l").add(pair.provides_each_as(["a", "b"]));
    assert_eq!(Engine::new(flow).run().unwrap().get::<u8>("b").unwrap(), 2);
}

#[test]
fn an_injected_value_that_cannot_be_encoded_is_a_flow_error() {
    let log = Log::default();
    let mut bad = std::collections::HashMap::new();
    bad.insert((1, 2), 3);
    let flow = Flow::linear("l").add(step(&log, "a", &["size"], "x").inject("size", bad));
    assert_eq!(
        errors(&flow, &[]),
        ["flow `l`: the value for `size` of task `a` cannot be encoded: key must be a string"]
    );
}

#[test]
fn the_nearest_earlier_provider_wins_however_far_back_it_is() {
    use taskwire::flow::{ArgSource, Slot};
    let log = Log::default();
    // x is provided by a, shadowed by c two atoms later; d reads x (nearest: c,
    // not the atom just before it), e reads y from b, far back; the nested
    // linear flow's last provider of x (g) wins for h.
    let flow = Flow::linear("l")
        .add(step(&log, "a", &["size"], "x"))
        .add(step(&log, "b", &["x"], "y"))
        .add(step(&log, "c", &["y"], "x"))
        .add(step(&log, "n1", &["x"], "n"))
        .add(step(&log, "d", &["x", "y"], "z"))
        .add(
            Flow::linear("inner")
                .add(step(&log, "f", &["z"], "x"))
                .add(step(&log, "g", &["x"], "x")),
        )
        .add(step(&log, "h", &["x", "size"], "w"));
    let plan = flow.compile(&["size"]).unwrap();
    let from = |atom: &str| -> Vec<String> {
        let i = plan.atom_index(atom).unwrap();
        plan.arg_sources(i)
            .iter()
            .map(|s| match s {
                ArgSource::Atom(Slot { atom, .. }) => {
                    plan.atoms()[*atom as usize].atom_name().to_owned()
                }
                ArgSource::Input(_) => "input".to_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(from("b"), ["a"]);
    assert_eq!(from("n1"), ["c"]);
    assert_eq!(from("d"), ["c", "b"]);
    assert_eq!(from("f"), ["d"]);
    assert_eq!(from("g"), ["f"]);
    assert_eq!(from("h"), ["g", "input"]);
    let done = Engine::new(flow).input("size", 0).run().unwrap();
    // a=1, b=2, c=3, n1=4, d=3+2+1=6, f=7, g=8, h=8+0+1=9
    assert_eq!(done.get::<i64>("w").unwrap(), 9);
}

#[test]
fn a_long_chain_sharing_one_name_reads_each_atom_from_the_one_before() {
    // Every atom reads and provides `v`: the search for the nearest earlier
    // provider walks outwards from the reader, so this stays fast.
    let log = Log::default();
    let n = 30_000;
    let mut flow = Flow::linear("chain");
    for i in 0..n {
        flow.push(step(&log, "inc", &["v"], "v").named(format!("t{i}")));
    }
    let plan = flow.into_plan(&["v"]).unwrap();
    assert_eq!(plan.arg_sources(0), [ArgSource::Input(0)]);
    for i in 1..n {
        let from = Slot {
            atom: i as u32 - 1,
            elem: None,
        };
        assert_eq!(plan.arg_sources(i), [ArgSource::Atom(from)], "atom {i}");
    }
}

#[test]
fn a_retried_graph_flow_reads_what_its_retry_provides_and_orders_by_data() {
    let log = Log::default();
    let flow = Flow::graph("g")
        .add(step(&log, "late", &["x", "attempt"], "y"))
        .add(step(&log, "early", &["attempt"], "x"))
        .retry(RetryAtom::new("r", Times::new(2)).provides("attempt"));
    let plan = flow.compile(&[]).unwrap();
    let slot = |atom| ArgSource::Atom(Slot { atom, elem: None });
    // Atoms: r, late, early.
    assert_eq!(plan.arg_sources(1), [slot(2), slot(0)]);
    assert_eq!(plan.arg_sources(2), [slot(0)]);
    let edges: Vec<(usize, usize)> = plan
        .graph()
        .edge_indices()
        .map(|e| {
            let (a, b) = plan.graph().edge_endpoints(e).unwrap();
            (a.index(), b.index())
        })
        .collect();
    assert!(edges.contains(&(2, 1)), "early before late: {edges:?}");
    assert!(edges.contains(&(0, 2)), "the retry first: {edges:?}");
    assert!(
        !edges.contains(&(0, 1)),
        "late waits for early only: {edges:?}"
    );

    // Two children of the retried graph providing one name are ambiguous as
    // in any graph flow, named after the flow.
    let ambiguous = Flow::graph("g")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "b", &[], "x"))
        .add(step(&log, "c", &["x"], "y"))
        .retry(Times::new(2));
    assert_eq!(
        errors(&ambiguous, &[]),
        ["flow `g`: `x` is provided by `a` and `b` in graph flow `g`, which has no order to choose between them; rename one output or use `rebind`"]
    );
}

#[test]
fn many_readers_of_a_chain_in_a_graph_flow_read_its_last_output() {
    // The graph flow sees `v` from one child (the chain exports its last
    // `v`): no ambiguity, and finding that does not walk the chain per reader.
    let log = Log::default();
    let n = 3_000;
    let mut chain = Flow::linear("chain").add(step(&log, "first", &[], "v"));
    for i in 0..n {
        chain.push(step(&log, "inc", &["v"], "v").named(format!("t{i}")));
    }
    let mut readers = Flow::unordered("readers");
    for i in 0..n {
        readers.push(step(&log, "read", &["v"], "").named(format!("r{i}")));
    }
    let plan = Flow::graph("g")
        .add(chain)
        .add(readers)
        .into_plan(&[])
        .unwrap();
    let last = Slot {
        atom: n as u32,
        elem: None,
    };
    for i in n + 1..2 * n + 1 {
        assert_eq!(plan.arg_sources(i), [ArgSource::Atom(last)], "atom {i}");
    }
}

fn noop(_: &taskwire::task::Call<'_>) -> Result<serde_json::Value, taskwire::Failure> {
    Ok(serde_json::json!(null))
}

/// A task providing `count` values, `v0`, `v1`, ...
fn wide(name: &str, count: usize) -> taskwire::FnTask {
    taskwire::FnTask::new(name.to_owned()).provides_each((0..count).map(|k| format!("v{k}")))
}

#[test]
fn a_task_with_more_outputs_than_the_tables_hold_is_refused_by_name() {
    use taskwire::flow::check::MAX_OUTPUTS;
    // At the limit: every output is provided, the last one too.
    let flow = Flow::linear("wide")
        .add(wide("many", MAX_OUTPUTS).run(noop))
        .add(
            taskwire::FnTask::new("last")
                .requires([format!("v{}", MAX_OUTPUTS - 1)])
                .run(noop),
        );
    let plan = flow.compile(&[]).unwrap();
    assert_eq!(
        plan.arg_sources(1),
        [ArgSource::Atom(Slot {
            atom: 0,
            elem: Some(MAX_OUTPUTS as u32 - 1)
        })]
    );
    // One more: that task's error alone (not "missing" for the reader of
    // the output past the limit, nor a wrong element).
    let flow = Flow::linear("wide")
        .add(wide("many", MAX_OUTPUTS + 1).run(noop))
        .add(
            taskwire::FnTask::new("last")
                .requires([format!("v{MAX_OUTPUTS}")])
                .run(noop),
        );
    let errors = flow.compile(&[]).unwrap_err();
    assert_eq!(
        errors.errors(),
        [FlowError::TooManyOutputs {
            flow: "wide".into(),
            atom: "many".into(),
            count: 255
        }]
    );
    assert_eq!(
        errors.to_string(),
        "flow `wide`: task `many` provides 255 values; a task provides at most 254"
    );
    // Far past it, and renamed outputs count too.
    let flow = Flow::graph("g").add(
        taskwire::TaskSpec::from(wide("w", 2).run(noop))
            .provides_each_as((0..300).map(|k| format!("x{k}"))),
    );
    assert_eq!(
        errors_of(&flow),
        ["flow `g`: task `w` provides 300 values; a task provides at most 254"]
    );
}

fn errors_of(flow: &Flow) -> Vec<String> {
    errors(flow, &[])
}

#[test]
fn a_flow_with_more_inputs_than_the_tables_hold_is_refused_by_name() {
    use taskwire::flow::check::MAX_INPUTS;
    let flow = Flow::linear("many_inputs").add(step(&Log::default(), "a", &["x"], "y"));
    // At the limit it compiles (the last input is read; the others are
    // allowed to be unread).
    let mut inputs = vec!["unused"; MAX_INPUTS - 1];
    inputs.push("x");
    let plan = flow
        .clone()
        .into_plan_with(&inputs, taskwire::flow::UnusedInputs::Allow)
        .unwrap();
    assert_eq!(
        plan.arg_sources(0),
        [ArgSource::Input(MAX_INPUTS as u32 - 1)]
    );
    inputs.push("more");
    assert_eq!(
        errors(&flow, &inputs),
        ["flow `many_inputs`: it declares 16777215 inputs; a flow declares at most 16777214"]
    );
}

#[test]
fn a_flow_with_more_atoms_than_the_tables_hold_is_refused_by_name() {
    use taskwire::flow::check::MAX_ATOMS;
    // The same atom, over and over: past the limit, the flow's size is its
    // one error (no check runs on tables that could not hold it).
    let atom = taskwire::TaskSpec::from(taskwire::FnTask::new("same").run(noop));
    let mut flow = Flow::linear("huge");
    for _ in 0..=MAX_ATOMS {
        flow.push(atom.clone());
    }
    let errors = flow.into_plan(&[]).unwrap_err();
    assert_eq!(
        errors.errors(),
        [FlowError::TooLarge {
            flow: "huge".into(),
            limit: taskwire::flow::check::Limit::Atoms,
            count: MAX_ATOMS + 1
        }]
    );
    assert_eq!(
        errors.to_string(),
        "flow `huge`: it holds 16777217 atoms; a flow holds at most 16777216"
    );
}

#[test]
fn a_flow_exports_its_retrys_value_only_when_no_other_child_provides_the_name() {
    // Found by the reference resolver of the random-flow test: the retry and
    // a task of an unordered flow both provide `d`; after the flow, `d` is
    // the task's (it runs after the retry). The checks took the flow's
    // export for ambiguous, reported nothing, and left `reader` without a
    // value for its required `d`.
    let log = Log::default();
    let flow = Flow::linear("outer")
        .add(
            Flow::unordered("retried")
                .add(step(&log, "writer", &[], "d"))
                .retry(RetryAtom::from(Times::new(2)).provides("d")),
        )
        .add(step(&log, "reader", &["d"], "e"));
    let plan = flow.compile(&[]).unwrap();
    let reader = plan.atom_index("reader").unwrap();
    let writer = plan.atom_index("writer").unwrap() as u32;
    assert_eq!(
        plan.arg_sources(reader),
        [ArgSource::Atom(Slot {
            atom: writer,
            elem: None
        })]
    );
    // Without the task, the retry's value is the flow's.
    let flow = Flow::linear("outer")
        .add(
            Flow::unordered("retried")
                .add(step(&log, "writer", &[], "x"))
                .retry(RetryAtom::from(Times::new(2)).provides("d")),
        )
        .add(step(&log, "reader", &["d"], "e"));
    let plan = flow.compile(&[]).unwrap();
    assert_eq!(
        plan.arg_sources(plan.atom_index("reader").unwrap()),
        [ArgSource::Atom(Slot {
            atom: plan.atom_index("retried_retry").unwrap() as u32,
            elem: None
        })]
    );
}

#[test]
fn a_requirement_is_missing_even_where_its_own_branch_provides_the_name_twice() {
    // Found by the reference resolver: `second` needs `e`, which nothing it
    // can see provides (its unordered sibling does not count). The checks
    // counted the export of `second`'s own branch (ambiguous: both siblings
    // provide `e`) as an ambiguity around it and reported only that.
    let log = Log::default();
    let flow = Flow::graph("outer").add(
        Flow::linear("branch").add(
            Flow::unordered("siblings")
                .add(step(&log, "first", &[], "e"))
                .add(step(&log, "second", &["e"], "e")),
        ),
    );
    assert_eq!(
        errors(&flow, &[]),
        [
            "flow `outer`: task `second` requires `e`, which no input or earlier task provides (task `first` provides it, but `second` does not wait for it: they are independent in an unordered flow)",
            "flow `outer`: `e` is provided by `first` and `second` in unordered flow `siblings`, which has no order to choose between them; rename one output or use `rebind`",
        ]
    );
}
