//! `flow!`: the flows it builds run like the builder's, and a mistake reads
//! the same whether the compiler finds it in a `flow!` or the builder finds it
//! at run time.
//!
//! The tasks below have the registry names and signatures of the tasks of
//! `ui-tests/src/lib.rs`, so the builder's messages here can be compared with
//! the compiler's messages pinned in `ui-tests/tests/ui/flow/fail/*.stderr`.

use serde::{Deserialize, Serialize};
use taskwire::decider::{Decider, Depth, LinkResults};
use taskwire::flow::check::{
    self, AtomDesc, FlowDesc, LinkDesc, Msg, NodeDesc, NodeKind, ProvidesAs, Tables,
};
use taskwire::flow::{FlowError, FlowKind};
use taskwire::prelude::*;
use taskwire::retry::{ParameterizedForEach, RetryAtom, Times};

#[path = "common/reference_resolver.rs"]
mod reference_resolver;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reservation {
    size: u64,
}

#[task(provides = "spec", name = "extract_request")]
fn extract_request(size: u64, volume_type: String) -> String {
    format!("{size} {volume_type}")
}

#[task(provides = "reservation", name = "reserve_quota")]
fn reserve_quota(size: u64, spec: String) -> Reservation {
    let _ = spec;
    Reservation { size }
}

#[task(provides = "reservation", name = "reserve_quota_v2")]
fn reserve_quota_v2(size: u64) -> Reservation {
    Reservation { size }
}

#[task(provides = "volume_id", name = "create_db_entry")]
fn create_db_entry(reservation: Reservation) -> String {
    format!("vol-{}", reservation.size)
}

#[task(provides = "notified", name = "notify_scheduler")]
fn notify_scheduler(volume_id: String) -> bool {
    !volume_id.is_empty()
}

#[task(provides = "committed", name = "commit_quota")]
fn commit_quota(reservation: Reservation, notified: bool) -> String {
    format!("{} GiB committed, notified: {notified}", reservation.size)
}

#[task(provides = "a", name = "make_a")]
fn make_a(c: u8) -> u8 {
    c
}

#[task(provides = "b", name = "make_b")]
fn make_b(a: u8) -> u8 {
    a
}

#[task(provides = "c", name = "make_c")]
fn make_c(b: u8) -> u8 {
    b
}

#[task(provides = "doubled", name = "double")]
fn double(n: u64) -> u64 {
    2 * n
}

taskwire::flow! {
    /// The volume creation of the issue, nested graph included.
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        graph { create_db_entry, notify_scheduler },
        commit_quota,
    }
}

taskwire::flow! {
    unordered doubles(size: u64, base: u64) {
        double.named("double_size").rebind("n", "size").provides_as("size_doubled"),
        double.named("double_base").rebind("n", "base").provides_as("base_doubled"),
        double.named("double_seven").inject("n", 7u64).provides_as("seven_doubled"),
    }
}

#[test]
fn a_macro_flow_runs_like_a_built_one() {
    let done = Engine::new(create_volume())
        .input("size", 10u64)
        .input("volume_type", "ssd")
        .run()
        .unwrap();
    assert_eq!(
        done.get::<String>("committed").unwrap(),
        "10 GiB committed, notified: true"
    );
    assert_eq!(done.get::<String>("volume_id").unwrap(), "vol-10");

    // The same pattern as the builder's.
    let flow = create_volume();
    let names: Vec<&str> = flow.children().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "extract_request",
            "reserve_quota",
            "create_volume.2",
            "commit_quota"
        ]
    );
    assert_eq!(flow.kind(), FlowKind::Linear);
    let Some(taskwire::flow::Child::Flow(inner)) = flow.children().nth(2) else {
        panic!("the third child is the nested graph");
    };
    assert_eq!(inner.kind(), FlowKind::Graph);
    let inner: Vec<&str> = inner.children().map(|c| c.name()).collect();
    assert_eq!(inner, ["create_db_entry", "notify_scheduler"]);
}

#[test]
fn named_rebind_inject_and_provides_as_are_the_builders() {
    let done = Engine::new(doubles())
        .input("size", 4u64)
        .input("base", 100u64)
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("size_doubled").unwrap(), 8);
    assert_eq!(done.get::<u64>("base_doubled").unwrap(), 200);
    assert_eq!(done.get::<u64>("seven_doubled").unwrap(), 14);
    let flow = doubles();
    let atoms: Vec<&str> = flow.atoms().iter().map(|a| a.atom_name()).collect();
    assert_eq!(atoms, ["double_size", "double_base", "double_seven"]);
}

/// The message the compiler printed for a `flow!` case (`evaluation panicked:
/// ..`), as pinned in its `.stderr`.
fn pinned(stderr: &str) -> &str {
    let line = stderr
        .lines()
        .find(|l| l.contains("evaluation panicked: "))
        .expect("the .stderr has an evaluation error");
    line.split_once("evaluation panicked: ").unwrap().1
}

/// The builder's message is `expected`, word for word, and so is the
/// compiler's, pinned in the ui case's `stderr`.
fn same_both_ways(built: &str, expected: &str, stderr: &str) {
    assert_eq!(built, expected);
    assert_eq!(built, pinned(stderr));
}

fn builder_error(flow: Flow, inputs: &[&str]) -> String {
    flow.compile(inputs).unwrap_err().to_string()
}

#[test]
fn a_missing_requirement_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("create_volume")
            .add(reserve_quota::task())
            .add(extract_request::task()),
        &["size", "volume_type"],
    );
    same_both_ways(&built, "flow `create_volume`: task `reserve_quota` requires `spec: String`, which no input or earlier task provides (later task `extract_request` provides it: add it before `reserve_quota`)", include_str!("../ui-tests/tests/ui/flow/fail/missing_later.stderr"));
}

#[test]
fn an_ambiguous_provider_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("create_volume")
            .add(extract_request::task())
            .add(
                Flow::graph("reserve")
                    .add(create_db_entry::task())
                    .add(reserve_quota_v2::task())
                    .add(reserve_quota::task()),
            ),
        &["size", "volume_type"],
    );
    same_both_ways(&built, "flow `create_volume`: `reservation` is provided by `reserve_quota_v2` and `reserve_quota` in graph flow `reserve`, which has no order to choose between them; rename one output or use `rebind`", include_str!("../ui-tests/tests/ui/flow/fail/ambiguous.stderr"));
}

#[test]
fn a_cycle_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::graph("letters")
            .add(make_c::task())
            .add(make_b::task())
            .add(make_a::task()),
        &[],
    );
    same_both_ways(
        &built,
        "flow `letters`: tasks `make_c` -> `make_a` -> `make_b` -> `make_c` form a cycle",
        include_str!("../ui-tests/tests/ui/flow/fail/cycle.stderr"),
    );
}

#[test]
fn a_cycle_through_a_nested_flow_reads_the_same_at_compile_and_run_time() {
    // The nested flow is on the cycle: both name it, not its tasks.
    let built = builder_error(
        Flow::graph("letters")
            .add(make_c::task())
            .add(Flow::linear("ab").add(make_a::task()).add(make_b::task())),
        &[],
    );
    same_both_ways(
        &built,
        "flow `letters`: `make_c` -> flow `ab` -> `make_c` form a cycle",
        include_str!("../ui-tests/tests/ui/flow/fail/nested_cycle.stderr"),
    );
}

#[test]
fn an_unknown_link_end_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("create_volume")
            .add(extract_request::task())
            .add(reserve_quota::task())
            .add(
                Flow::graph("prepare")
                    .add(create_db_entry::task())
                    .add(notify_scheduler::task())
                    .link("create_db_entry", "audit_volume"),
            ),
        &["size", "volume_type"],
    );
    same_both_ways(&built, "flow `create_volume`: link `create_db_entry` -> `audit_volume` in graph flow `prepare` names `audit_volume`, which is not a child of it; its children are `create_db_entry` and `notify_scheduler`", include_str!("../ui-tests/tests/ui/flow/fail/link_unknown_end.stderr"));
    // Both ends wrong: two mistakes, each reported.
    let errors = Flow::graph("g")
        .add(double::task())
        .link("dbl", "half")
        .compile(&["n"])
        .unwrap_err();
    let missing: Vec<&str> = errors
        .errors()
        .iter()
        .map(|e| match e {
            FlowError::UnknownLinkEnd { missing, .. } => missing.as_str(),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(missing, ["dbl", "half"]);
}

#[task(provides = "valid_order", name = "validate")]
fn validate(order_id: u64) -> u64 {
    order_id
}

#[task(provides = "shipped", name = "ship")]
fn ship(valid_ordr: u64) -> bool {
    valid_ordr > 0
}

#[task(provides = "price", name = "price_order")]
fn price_order(total: u64, discount_code: Option<String>) -> u64 {
    if discount_code.is_some() {
        total * 9 / 10
    } else {
        total
    }
}

#[test]
fn a_misspelled_name_is_suggested_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("fulfil")
            .add(validate::task())
            .add(ship::task()),
        &["order_id"],
    );
    same_both_ways(&built, "flow `fulfil`: task `ship` requires `valid_ordr: u64`, which no input or earlier task provides; did you mean `valid_order`?", include_str!("../ui-tests/tests/ui/flow/fail/misspelled_name.stderr"));
    // The error carries the name, for tools.
    let errors = Flow::linear("fulfil")
        .add(validate::task())
        .add(ship::task())
        .compile(&["order_id"])
        .unwrap_err();
    let FlowError::MissingRequirement { suggestion, .. } = errors.first() else {
        panic!("{errors}");
    };
    assert_eq!(suggestion.as_deref(), Some("valid_order"));
    // Only names available there are suggested: a later provider is a hint
    // of its own, and an input is a name like any other.
    let later = builder_error(
        Flow::linear("fulfil")
            .add(ship::task())
            .add(validate::task()),
        &["order_id"],
    );
    assert!(!later.contains("did you mean"), "{later}");
    let input = builder_error(Flow::linear("fulfil").add(ship::task()), &["valid_order"]);
    assert_eq!(input, "flow `fulfil`: task `ship` requires `valid_ordr: u64`, which no input or earlier task provides; did you mean `valid_order`?\nflow `fulfil`: input `valid_order` is given, but no task reads it; did you mean `valid_ordr`? Otherwise remove it, rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)");
    // Nothing near enough: no guess.
    let far = builder_error(Flow::linear("fulfil").add(ship::task()), &[]);
    assert_eq!(far, "flow `fulfil`: task `ship` requires `valid_ordr: u64`, which no input or earlier task provides");
}

#[test]
fn a_misspelled_link_end_is_suggested_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("create_volume")
            .add(extract_request::task())
            .add(reserve_quota::task())
            .add(
                Flow::graph("prepare")
                    .add(create_db_entry::task())
                    .add(notify_scheduler::task())
                    .link("create_db_entry", "notify_schedular"),
            ),
        &["size", "volume_type"],
    );
    same_both_ways(&built, "flow `create_volume`: link `create_db_entry` -> `notify_schedular` in graph flow `prepare` names `notify_schedular`, which is not a child of it; did you mean `notify_scheduler`? Its children are `create_db_entry` and `notify_scheduler`", include_str!("../ui-tests/tests/ui/flow/fail/misspelled_link_end.stderr"));
}

#[test]
fn an_unread_input_is_an_error_with_the_name_meant() {
    // `flow!` declares its inputs with their types; the engine's are given.
    let stderr = include_str!("../ui-tests/tests/ui/flow/fail/misspelled_optional_input.stderr");
    assert_eq!(pinned(stderr), "flow `checkout`: input `discont_code: String` is declared, but no task reads it; did you mean `discount_code`? Otherwise remove it, or rebind a task's argument to it");
    let flow = || Flow::linear("checkout").add(price_order::task());
    let err = Engine::new(flow())
        .input("total", 100u64)
        .input("discont_code", "SAVE10")
        .run()
        .unwrap_err();
    assert_eq!(err.to_string(), "flow `checkout`: input `discont_code` is given, but no task reads it; did you mean `discount_code`? Otherwise remove it, rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)");
    let RunError::Invalid(errors) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        errors.errors(),
        [FlowError::UnusedInput {
            flow: "checkout".into(),
            name: "discont_code".into(),
            ty: None,
            suggestion: Some("discount_code".into()),
        }]
    );
    // Spelled right, the discount applies.
    let done = Engine::new(flow())
        .input("total", 100u64)
        .input("discount_code", "SAVE10")
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("price").unwrap(), 90);
    // Allowed, the unread input is ignored (and the argument is `None`).
    let done = Engine::new(flow())
        .allow_unused_inputs()
        .input("total", 100u64)
        .input("discont_code", "SAVE10")
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("price").unwrap(), 100);
    // An input shadowed by a provider is not read either.
    let shadowed = builder_error(
        Flow::linear("fulfil")
            .add(validate::task())
            .add(ship::task().rebind("valid_ordr", "valid_order")),
        &["order_id", "valid_order"],
    );
    assert_eq!(shadowed, "flow `fulfil`: input `valid_order` is given, but no task reads it; remove it, rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)");
}

#[test]
fn a_link_outside_a_graph_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("create_volume")
            .add(extract_request::task())
            .add(reserve_quota::task())
            .link("extract_request", "reserve_quota"),
        &["size", "volume_type"],
    );
    same_both_ways(&built, "flow `create_volume`: linear flow `create_volume` has a link `extract_request` -> `reserve_quota`, but only graph flows take links; make `create_volume` a graph flow, or remove the link", include_str!("../ui-tests/tests/ui/flow/fail/link_outside_graph.stderr"));
}

#[test]
fn a_cycle_made_by_a_link_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::graph("prepare")
            .add(create_db_entry::task())
            .add(notify_scheduler::task())
            .link("notify_scheduler", "create_db_entry"),
        &["reservation"],
    );
    same_both_ways(&built, "flow `prepare`: tasks `create_db_entry` -> `notify_scheduler` -> `create_db_entry` form a cycle", include_str!("../ui-tests/tests/ui/flow/fail/link_cycle.stderr"));
}

#[test]
fn a_retry_requirement_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("attach").add(
            Flow::linear("attach_to_host").add(attach::task()).retry(
                RetryAtom::from(ParameterizedForEach::new("hosts"))
                    .requires(["hosts"])
                    .provides("host"),
            ),
        ),
        &["volume_id"],
    );
    same_both_ways(&built, "flow `attach`: retry `attach_to_host_retry` requires `hosts`, which no input or earlier task provides", include_str!("../ui-tests/tests/ui/flow/fail/retry_missing.stderr"));
}

#[task(provides = "hosts", name = "list_hosts")]
fn list_hosts() -> Vec<String> {
    vec!["busy".to_owned(), "free".to_owned()]
}

#[task(provides = "attached", name = "attach")]
fn attach(volume_id: String, host: String) -> Result<String, Failure> {
    if host == "busy" {
        return Err(Failure::new(
            taskwire::FailureKind::Task,
            format!("{host} is busy"),
        ));
    }
    Ok(format!("{volume_id}@{host}"))
}

#[task(provides = "audited", name = "audit")]
fn audit(volume_id: String, attempt: u32) -> String {
    format!("{volume_id} audited at attempt {attempt}")
}

#[task(provides = "resized", name = "resize")]
fn resize(volume_id: String) -> String {
    format!("{volume_id} resized")
}

/// Grows only volumes whose id ends in `-0` (none here: `resize` is skipped).
fn small_volumes_only() -> Decider {
    Decider::new(|r: &LinkResults<'_>| {
        r.get::<String>("create_db_entry")
            .is_ok_and(|id| id.ends_with("-0"))
    })
    .depth(Depth::Atom)
}

taskwire::flow! {
    linear provision(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        graph prepare retry(Times::new(2)).named("prepare_again").provides("attempt") {
            create_db_entry,
            notify_scheduler,
            audit,
            resize,
            link("notify_scheduler", "audit"),
            link_if("create_db_entry", "resize", small_volumes_only()),
        },
        list_hosts,
        linear attach_to_host retry(ParameterizedForEach::new("hosts")).requires(["hosts"]).provides("host") {
            attach,
        },
    }
}

/// What `provision!` declares, with the builder.
fn provision_built() -> Flow {
    Flow::linear("provision")
        .add(extract_request::task())
        .add(reserve_quota::task())
        .add(
            Flow::graph("prepare")
                .add(create_db_entry::task())
                .add(notify_scheduler::task())
                .add(audit::task())
                .add(resize::task())
                .link("notify_scheduler", "audit")
                .link_if("create_db_entry", "resize", small_volumes_only())
                .retry(RetryAtom::new("prepare_again", Times::new(2)).provides("attempt")),
        )
        .add(list_hosts::task())
        .add(
            Flow::linear("attach_to_host").add(attach::task()).retry(
                RetryAtom::from(ParameterizedForEach::new("hosts"))
                    .requires(["hosts"])
                    .provides("host"),
            ),
        )
}

/// Every atom state change, in order.
#[derive(Default, Clone)]
struct Record(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl taskwire::listener::Listener for Record {
    fn on_atom(&self, event: &taskwire::listener::AtomEvent<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", event.atom, event.state));
    }
}

fn run_recorded(flow: Flow) -> (Vec<String>, Done) {
    let record = Record::default();
    let done = Engine::new(flow)
        .input("size", 10u64)
        .input("volume_type", "ssd")
        .listener(record.clone())
        .run()
        .unwrap();
    let events = record.0.lock().unwrap().clone();
    (events, done)
}

#[test]
fn links_deciders_and_retries_run_as_the_builders_do() {
    let (by_macro, done) = run_recorded(provision());
    let (by_builder, _) = run_recorded(provision_built());
    assert_eq!(by_macro, by_builder);
    // The retry tried the busy host, then the free one; the decider skipped
    // `resize`; `audit` ran after `notify_scheduler`, at the first attempt.
    assert_eq!(done.get::<String>("attached").unwrap(), "vol-10@free");
    assert_eq!(done.atom_state("resize"), Some(AtomState::Ignore));
    assert_eq!(
        done.get::<String>("audited").unwrap(),
        "vol-10 audited at attempt 1"
    );
    let at = |what: &str| by_macro.iter().position(|e| e == what).unwrap();
    assert!(at("notify_scheduler SUCCESS") < at("audit RUNNING"));
    assert_eq!(
        by_macro.iter().filter(|e| *e == "attach FAILURE").count(),
        1
    );
    // The same pattern: children, retries and links.
    let (made, built) = (provision(), provision_built());
    let atoms =
        |f: &Flow| -> Vec<String> { f.atoms().iter().map(|a| a.atom_name().to_owned()).collect() };
    assert_eq!(atoms(&made), atoms(&built));
    let Some(taskwire::flow::Child::Flow(prepare)) = made.children().nth(2) else {
        panic!("the third child is `prepare`");
    };
    assert_eq!(
        prepare.links().collect::<Vec<_>>(),
        [("notify_scheduler", "audit"), ("create_db_entry", "resize")]
    );
    assert!(matches!(
        prepare.children().next(),
        Some(taskwire::flow::Child::Retry(r)) if r.atom_name() == "prepare_again"
    ));
}

// The checks `flow!` runs at compile time are ordinary `const fn`s: run here
// on the description the macro would build, they give the builder's message.

const fn atom(meta: &'static taskwire::TaskMeta, node: u32) -> AtomDesc<'static> {
    AtomDesc::new(meta, node)
}

const fn node(parent: u32, pos: u32, depth: u32, kind: NodeKind<'static>) -> NodeDesc<'static> {
    NodeDesc {
        parent,
        pos,
        depth,
        kind,
    }
}

/// `graph letters { make_c, make_b, make_a }` with `attach` unread input.
const LETTERS: FlowDesc<'static> = FlowDesc {
    inputs: &[("attach", "u8")],
    nodes: &[
        node(0, 0, 0, NodeKind::Flow(FlowKind::Graph, "letters")),
        node(0, 0, 1, NodeKind::Atom(0)),
        node(0, 1, 1, NodeKind::Atom(1)),
        node(0, 2, 1, NodeKind::Atom(2)),
    ],
    atoms: &[
        atom(&<make_c as Task>::DEF.meta, 1),
        atom(&<make_b as Task>::DEF.meta, 2),
        atom(&<make_a as Task>::DEF.meta, 3),
    ],
    links: &[],
    retries: &[],
};

/// The tables of the checks, built as `flow!` builds them.
macro_rules! tables {
    ($flow:expr) => {
        Tables {
            providers: &check::providers::<{ check::provider_count(&$flow) }>(&$flow),
            offsets: &check::offsets::<{ $flow.atoms.len() + 1 }>(&$flow),
            sources: &check::sources::<{ check::requirement_count(&$flow) }>(
                &$flow,
                &check::providers::<{ check::provider_count(&$flow) }>(&$flow),
            ),
            names: &check::names::<{ $flow.atoms.len() }>(&$flow),
        }
    };
}

const LETTERS_TABLES: Tables<'static> = tables!(LETTERS);

/// Whether the flow-wide check fails, evaluated by the compiler.
const LETTERS_FAIL: bool = {
    let mut scratch = [0u32; check::flow_scratch_len(&LETTERS)];
    let mut buf = [0u8; 1024];
    check::check_flow(
        &LETTERS,
        &LETTERS_TABLES,
        &mut scratch,
        &mut Msg::new(&mut buf),
    )
};

#[test]
fn the_compile_time_checks_run_at_run_time_with_the_same_words() {
    // Evaluated by the compiler, the check finds the cycle.
    const { assert!(LETTERS_FAIL) };
    let mut scratch = vec![0u32; check::flow_scratch_len(&LETTERS)];
    let message = check::render(|m| {
        check::check_flow(&LETTERS, &LETTERS_TABLES, &mut scratch.clone(), m);
    });
    scratch.clear();
    let built = builder_error(
        Flow::graph("letters")
            .add(make_c::task())
            .add(make_b::task())
            .add(make_a::task()),
        &[],
    );
    assert_eq!(
        message,
        format!("{built}\nflow `letters`: input `attach: u8` is declared, but no task reads it; remove it, or rebind a task's argument to it")
    );
}

#[test]
fn renamed_atoms_and_outputs_are_resolved_like_the_builder_does() {
    // `reserve_quota` reads `size` from `base` and `spec` from `extract`'s
    // renamed output; a second atom of `reserve_quota` needs a name of its own.
    const FLOW: FlowDesc<'static> = FlowDesc {
        inputs: &[("base", "u64"), ("size", "u64"), ("volume_type", "String")],
        nodes: &[
            node(0, 0, 0, NodeKind::Flow(FlowKind::Linear, "l")),
            node(0, 0, 1, NodeKind::Atom(0)),
            node(0, 1, 1, NodeKind::Atom(1)),
            node(0, 2, 1, NodeKind::Atom(2)),
        ],
        atoms: &[
            AtomDesc {
                provides: ProvidesAs::One("request"),
                ..atom(&<extract_request as Task>::DEF.meta, 1)
            },
            AtomDesc {
                rebind: &[("size", "base"), ("spec", "request")],
                ..atom(&<reserve_quota as Task>::DEF.meta, 2)
            },
            AtomDesc {
                rebind: &[("sise", "base")],
                ..atom(&<reserve_quota as Task>::DEF.meta, 3)
            },
        ],
        links: &[],
        retries: &[],
    };
    const TABLES: Tables<'static> = tables!(FLOW);
    let atom_errors = |i| {
        check::render(|m| {
            check::check_atom(&FLOW, &TABLES, i, m);
        })
    };
    assert_eq!(atom_errors(0), "");
    assert_eq!(atom_errors(1), "");
    assert_eq!(
        atom_errors(2),
        "flow `l`: task `reserve_quota` requires `spec: String`, which no input or earlier task provides\n\
         flow `l`: task `reserve_quota` has no argument `sise` to rebind; its arguments are `size` and `spec`"
    );
    let mut scratch = vec![0u32; check::flow_scratch_len(&FLOW)];
    let flow_errors = check::render(|m| {
        check::check_flow(&FLOW, &TABLES, &mut scratch.clone(), m);
    });
    scratch.clear();
    assert_eq!(
        flow_errors,
        "flow `l`: two atoms are named `reserve_quota`; give one another name with `.named(..)`"
    );

    let built = builder_error(
        Flow::linear("l")
            .add(extract_request::task().provides_as("request"))
            .add(
                reserve_quota::task()
                    .rebind("size", "base")
                    .rebind("spec", "request"),
            )
            .add(reserve_quota::task().rebind("sise", "base")),
        &["base", "size", "volume_type"],
    );
    assert_eq!(built, format!("{}\n{}", atom_errors(2), flow_errors));
}

/// A flow's description for the checks, read from a flow the builder made.
#[derive(Default)]
struct Described<'a> {
    nodes: Vec<NodeDesc<'a>>,
    atoms: Vec<AtomDesc<'a>>,
    links: Vec<LinkDesc<'a>>,
    retries: Vec<u32>,
}

fn describe<'a>(flow: &'a Flow, d: &mut Described<'a>) {
    fn walk<'a>(
        children: Vec<taskwire::flow::Child<'a>>,
        parent: u32,
        depth: u32,
        d: &mut Described<'a>,
    ) {
        for (pos, child) in children.into_iter().enumerate() {
            let node = d.nodes.len() as u32;
            match child {
                taskwire::flow::Child::Task(spec) | taskwire::flow::Child::Retry(spec) => {
                    if let taskwire::flow::Child::Retry(_) = child {
                        d.retries.push(node);
                    }
                    d.nodes.push(NodeDesc {
                        parent,
                        pos: pos as u32,
                        depth,
                        kind: NodeKind::Atom(d.atoms.len() as u32),
                    });
                    d.atoms.push(AtomDesc {
                        name: Some(spec.atom_name()),
                        ..AtomDesc::new(&spec.def().meta, node)
                    });
                }
                taskwire::flow::Child::Flow(sub) => {
                    d.nodes.push(NodeDesc {
                        parent,
                        pos: pos as u32,
                        depth,
                        kind: NodeKind::Flow(sub.kind(), sub.name()),
                    });
                    d.links.extend(sub.links().map(|(from, to)| LinkDesc {
                        flow: node,
                        from,
                        to,
                    }));
                    walk(sub.children().collect(), node, depth + 1, d);
                }
            }
        }
    }
    d.nodes.push(NodeDesc {
        parent: 0,
        pos: 0,
        depth: 0,
        kind: NodeKind::Flow(flow.kind(), flow.name()),
    });
    d.links.extend(
        flow.links()
            .map(|(from, to)| LinkDesc { flow: 0, from, to }),
    );
    walk(flow.children().collect(), 0, 1, d);
}

/// Every message of the compile-time checks, run at run time on `flow`.
fn const_checks(flow: &Flow, inputs: &[(&str, &str)]) -> Vec<String> {
    let mut described = Described::default();
    describe(flow, &mut described);
    let Described {
        nodes,
        atoms,
        links,
        retries,
    } = described;
    let checked = checks_of(inputs, &nodes, &atoms, &links, &retries);
    // `flow!` puts the retry atoms after the tasks (their nodes keep their
    // place): the checks find the same problems (in atom order, so sorted).
    let order: Vec<usize> = (0..atoms.len())
        .filter(|&i| !retries.contains(&atoms[i].node))
        .chain((0..atoms.len()).filter(|&i| retries.contains(&atoms[i].node)))
        .collect();
    let last_atoms: Vec<AtomDesc<'_>> = order.iter().map(|&i| atoms[i]).collect();
    let mut last_nodes = nodes.clone();
    for (new, &old) in order.iter().enumerate() {
        last_nodes[atoms[old].node as usize].kind = NodeKind::Atom(new as u32);
    }
    let mut retries_last = checks_of(inputs, &last_nodes, &last_atoms, &links, &retries);
    let mut sorted = checked.clone();
    sorted.sort();
    retries_last.sort();
    assert_eq!(sorted, retries_last, "retry atoms last");
    checked
}

/// [`const_checks`] on a description.
fn checks_of(
    inputs: &[(&str, &str)],
    nodes: &[NodeDesc<'_>],
    atoms: &[AtomDesc<'_>],
    links: &[LinkDesc<'_>],
    retries: &[u32],
) -> Vec<String> {
    let d = FlowDesc {
        inputs,
        nodes,
        atoms,
        links,
        retries,
    };
    let mut providers = vec![0; check::provider_count(&d)];
    check::fill_providers(&d, &mut providers);
    let mut offsets = vec![0; atoms.len() + 1];
    check::fill_offsets(&d, &mut offsets);
    let mut sources = vec![0; check::requirement_count(&d)];
    check::fill_sources(&d, &providers, &mut sources);
    let mut names = vec![0; atoms.len()];
    check::fill_names(&d, &mut names);
    let t = Tables {
        providers: &providers,
        offsets: &offsets,
        sources: &sources,
        names: &names,
    };
    let mut text = String::new();
    for i in 0..atoms.len() {
        text += &check::render(|m| {
            check::check_atom(&d, &t, i, m);
        });
        text.push('\n');
    }
    for k in 0..links.len() {
        text += &check::render(|m| {
            check::check_link(&d, k, m);
            for to in [false, true] {
                if check::check_link_end(&d, &t, k, to, &mut Msg::new(&mut [])) {
                    if !m.is_empty() {
                        m.push("\n");
                    }
                    check::check_link_end(&d, &t, k, to, m);
                }
            }
        });
        text.push('\n');
    }
    let mut scratch = vec![0; check::flow_scratch_len(&d)];
    text += &check::render(|m| {
        check::check_flow(&d, &t, &mut scratch.clone(), m);
    });
    scratch.clear();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A small deterministic generator (no dependency for a test).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn random_flow(rng: &mut Lcg, name: String, depth: u32, next: &mut u32) -> Flow {
    let kinds = [FlowKind::Linear, FlowKind::Unordered, FlowKind::Graph];
    let mut flow = Flow::new(name, kinds[rng.below(3) as usize]);
    for _ in 0..1 + rng.below(4) {
        if depth < 2 && rng.below(4) == 0 {
            let sub = format!("f{next}");
            *next += 1;
            flow.push(random_flow(rng, sub, depth + 1, next));
        } else {
            let names = ["a", "b", "c", "d", "e"];
            let requires: Vec<&str> = (0..rng.below(3))
                .map(|_| names[rng.below(5) as usize])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut task = FnTask::new(format!("t{next}")).requires(requires);
            *next += 1;
            if rng.below(3) > 0 {
                task = task.provides(names[rng.below(5) as usize]);
            }
            flow.push(task.run(|_| Ok(serde_json::json!(0))));
        }
    }
    // Links between children (or to a name no child has), in any kind of
    // flow; a retry, reading and providing names like a task.
    let children: Vec<String> = flow.children().map(|c| c.name().to_owned()).collect();
    for _ in 0..rng.below(3) {
        let mut end = || match rng.below(8) {
            0 => "nothing".to_owned(),
            _ => children[rng.below(children.len() as u64) as usize].clone(),
        };
        let (from, to) = (end(), end());
        flow = flow.link(from, to);
    }
    if rng.below(5) == 0 {
        let names = ["a", "b", "c", "d", "e"];
        let mut retry = RetryAtom::from(Times::new(2))
            .requires((0..rng.below(2)).map(|_| names[rng.below(5) as usize]));
        if rng.below(2) == 0 {
            retry = retry.provides(names[rng.below(5) as usize]);
        }
        flow = flow.retry(retry);
    }
    flow
}

#[test]
fn the_builder_and_the_compile_time_checks_agree_on_random_flows() {
    let mut rng = Lcg(7);
    let mut nested_cycles = 0;
    let (mut links, mut retries, mut valid) = (0, 0, 0);
    for case in 0..2000 {
        let mut next = 0;
        let flow = random_flow(&mut rng, format!("flow{case}"), 0, &mut next);
        let text = format!("{flow:?}");
        links += text.contains("links: [(") as u32;
        retries += text.contains("retry: Some") as u32;
        let input_names = ["a", "b", "c", "d", "e"];
        // Inputs mostly among the names the flow reads (an input nothing
        // reads is an error), now and then one it does not.
        let read: std::collections::BTreeSet<&str> = flow
            .atoms()
            .iter()
            .flat_map(|a| a.def().meta.value_args().map(|(n, _)| n))
            .collect();
        let names: Vec<&str> = input_names
            .iter()
            .copied()
            .filter(|n| rng.below(if read.contains(n) { 2 } else { 12 }) == 0)
            .collect();
        // A reference written apart from the checks: the same errors, and
        // for a flow that compiles, the same source for every argument.
        let reference = reference_resolver::reference(&flow, &names);
        let mut expected = reference.errors;
        expected.sort();
        let mut built: Vec<String> = match flow.compile(&names) {
            Ok(plan) => {
                for (i, sources) in reference.sources.iter().enumerate() {
                    assert_eq!(
                        plan.arg_sources(i),
                        sources,
                        "flow {case}, atom {i}: {flow:#?}"
                    );
                }
                valid += 1;
                Vec::new()
            }
            Err(errors) => errors.errors().iter().map(|e| e.to_string()).collect(),
        };
        // Typed inputs are `flow!`'s: untyped, the unused ones are worded
        // as the builder words the engine's.
        let untyped: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
        let mut checked = const_checks(&flow, &untyped);
        // A cycle through a nested flow is named by the nested flow (`f1`),
        // both ways.
        nested_cycles += checked
            .iter()
            .any(|e| e.contains("form a cycle") && e.contains("`f"))
            as u32;
        built.sort();
        checked.sort();
        assert_eq!(
            built, expected,
            "flow {case}, inputs {names:?}, the reference: {flow:#?}"
        );
        assert_eq!(checked, built, "flow {case}: {flow:#?}");
    }
    assert!(
        nested_cycles > 10,
        "{nested_cycles} with a cycle through a nested flow"
    );
    assert!(
        links > 500 && retries > 300 && valid > 50,
        "{links} with links, {retries} with retries, {valid} valid"
    );
}

#[test]
fn a_bad_rebind_reads_the_same_at_compile_and_run_time() {
    let built = builder_error(
        Flow::linear("create_volume").add(extract_request::task().rebind("sise", "volume_size")),
        &["size", "volume_type", "volume_size"],
    );
    let (rebind, unread) = built.split_once('\n').unwrap();
    assert_eq!(
        rebind,
        "flow `create_volume`: task `extract_request` has no argument `sise` to rebind; its arguments are `size` and `volume_type`"
    );
    // The engine's input is given, not declared: worded as such. No
    // suggestion: `volume_type` is too far.
    assert_eq!(unread, "flow `create_volume`: input `volume_size` is given, but no task reads it; remove it, rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)");
    // The case's first error is its unread input; the rebind's comes next.
    let stderr = include_str!("../ui-tests/tests/ui/flow/fail/bad_rebind.stderr");
    assert!(
        stderr.contains(&format!("evaluation panicked: {rebind}\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains("evaluation panicked: flow `create_volume`: input `volume_size: u64` is declared, but no task reads it; remove it, or rebind a task's argument to it\n"),
        "{stderr}"
    );
}

#[test]
fn every_problem_of_the_checks_reads_the_same_as_the_builders_error() {
    // One flow with a problem of each kind the builder takes from the checks,
    // described by hand as `flow!` describes it: the checks' text is the
    // builder's, error by error and in the same order.
    const FLOW: FlowDesc<'static> = FlowDesc {
        inputs: &[("size", "u64")],
        nodes: &[
            node(0, 0, 0, NodeKind::Flow(FlowKind::Linear, "all")),
            node(0, 0, 1, NodeKind::Atom(0)),
            node(0, 1, 1, NodeKind::Flow(FlowKind::Graph, "g")),
            node(2, 0, 2, NodeKind::Atom(1)),
            node(2, 1, 2, NodeKind::Atom(2)),
            node(0, 2, 1, NodeKind::Flow(FlowKind::Graph, "h")),
            node(5, 0, 2, NodeKind::Atom(3)),
            node(5, 1, 2, NodeKind::Atom(4)),
        ],
        atoms: &[
            AtomDesc {
                inject: &["m"],
                provides: ProvidesAs::Each(&["x", "y"]),
                ..atom(&<double as Task>::DEF.meta, 1)
            },
            AtomDesc {
                rebind: &[("c", "size")],
                ..atom(&<make_a as Task>::DEF.meta, 3)
            },
            AtomDesc {
                name: Some("again"),
                rebind: &[("c", "size")],
                ..atom(&<make_a as Task>::DEF.meta, 4)
            },
            AtomDesc {
                name: Some("twice"),
                provides: ProvidesAs::One("size"),
                ..atom(&<double as Task>::DEF.meta, 6)
            },
            AtomDesc {
                name: Some("reader"),
                rebind: &[("a", "size")],
                ..atom(&<make_b as Task>::DEF.meta, 7)
            },
        ],
        links: &[],
        retries: &[],
    };
    const TABLES: Tables<'static> = tables!(FLOW);
    let mut checked: Vec<String> = (0..FLOW.atoms.len())
        .map(|i| {
            check::render(|m| {
                check::check_atom(&FLOW, &TABLES, i, m);
            })
        })
        .collect();
    let mut scratch = vec![0u32; check::flow_scratch_len(&FLOW)];
    checked.push(check::render(|m| {
        check::check_flow(&FLOW, &TABLES, &mut scratch.clone(), m);
    }));
    scratch.clear();
    checked.retain(|c| !c.is_empty());

    let flow = Flow::linear("all")
        .add(double::task().inject("m", 1).provides_each_as(["x", "y"]))
        .add(
            Flow::graph("g")
                .add(make_a::task().rebind("c", "size"))
                .add(make_a::task().named("again").rebind("c", "size")),
        )
        .add(
            Flow::graph("h")
                .add(double::task().named("twice").provides_as("size"))
                .add(make_b::task().named("reader").rebind("a", "size")),
        );
    let built = builder_error(flow, &["size"]);
    // The builder checks types too, which `flow!` leaves to rustc (its
    // words are in `#[task]`'s diagnostics, tests/ui/flow/fail/type_mismatch*):
    // `reader`'s `a: u8` reads `twice`'s `u64`.
    let (typed, built): (Vec<&str>, Vec<&str>) =
        built.lines().partition(|l| l.contains("but its provider"));
    assert_eq!(
        typed,
        ["flow `all`: task `reader` requires `a: u8` (the value `size`), but its provider `twice` gives `u64`; change one of the two types, or `.rebind(\"a\", \"..\")` to give `a` another value"]
    );
    assert_eq!(built.join("\n"), checked.join("\n"));
    assert_eq!(
        built,
        [
            "flow `all`: task `double` requires `n: u64`, which no input or earlier task provides",
            "flow `all`: task `double` has no argument `m` to inject; its arguments are `n`",
            "flow `all`: atom `double` renames its outputs to 2 name(s), but its task provides 1",
            "flow `all`: task `twice` requires `n: u64`, which no input or earlier task provides",
            "flow `all`: `a` is provided by `make_a` and `again` in graph flow `g`, which has no order to choose between them; rename one output or use `rebind`",
            "flow `all`: `size` is provided by `the engine input` and `twice` in graph flow `h`, which has no order to choose between them; rename one output or use `rebind`",
        ]
    );
}

#[test]
fn a_task_past_the_output_limit_reads_the_same_at_compile_and_run_time() {
    use taskwire::flow::check::MAX_OUTPUTS;
    // The checks the flow macro runs, on a flow described as it describes
    // one: the task's error alone, worded as the builder words it.
    let flow = Flow::graph("wide")
        .add(
            FnTask::new("many")
                .provides_each((0..=MAX_OUTPUTS).map(|k| format!("v{k}")))
                .run(|_| Ok(serde_json::json!(null))),
        )
        .add(
            FnTask::new("reader")
                .requires([format!("v{MAX_OUTPUTS}")])
                .run(|_| Ok(serde_json::json!(null))),
        );
    let built = builder_error(flow.clone(), &[]);
    assert_eq!(
        built,
        "flow `wide`: task `many` provides 255 values; a task provides at most 254"
    );
    assert_eq!(const_checks(&flow, &[]), [built]);
}

/// Registered under its default name, `module::fn`: a link names it as
/// written in the flow all the same.
#[task(provides = "audited")]
fn audit_volume(volume_id: String, strict: bool) -> String {
    format!("{volume_id}, strict: {strict}")
}

taskwire::flow! {
    linear audited_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_quota.timeout(std::time::Duration::from_secs(30)),
        graph prepare {
            create_db_entry,
            notify_scheduler,
            audit_volume.inject { strict: true },
            link(notify_scheduler, audit_volume),
        },
    }
}

#[test]
fn links_by_path_timeout_and_inject_are_the_builders() {
    let flow = audited_volume();
    let Some(taskwire::flow::Child::Flow(prepare)) = flow.children().nth(2) else {
        panic!("the third child is the graph `prepare`");
    };
    let links: Vec<(&str, &str)> = prepare.links().collect();
    let registered = audit_volume::task().atom_name().to_owned();
    assert_eq!(registered, "test_flow_macro::audit_volume");
    assert_eq!(links, [("notify_scheduler", registered.as_str())]);
    let reserve = &flow.atoms()[1];
    assert_eq!(reserve.atom_name(), "reserve_quota");
    assert_eq!(
        reserve.timeout_after(),
        Some(std::time::Duration::from_secs(30))
    );

    // The typed inputs start it; the injected value reaches the task.
    let done = audited_volume {
        size: 10,
        volume_type: "ssd".to_owned(),
    }
    .engine()
    .run()
    .unwrap();
    assert_eq!(
        done.get::<String>("audited").unwrap(),
        "vol-10, strict: true"
    );
}

#[test]
fn a_misspelled_link_path_is_suggested_as_a_misspelled_link_end() {
    // The builder takes strings; the message for an end written as a path
    // is the same, with the children as written.
    let built = builder_error(
        Flow::linear("create_volume")
            .add(extract_request::task())
            .add(reserve_quota::task())
            .add(
                Flow::graph("prepare")
                    .add(create_db_entry::task())
                    .add(notify_scheduler::task())
                    .link("create_db_entry", "notify_schedular"),
            ),
        &["size", "volume_type"],
    );
    same_both_ways(&built, "flow `create_volume`: link `create_db_entry` -> `notify_schedular` in graph flow `prepare` names `notify_schedular`, which is not a child of it; did you mean `notify_scheduler`? Its children are `create_db_entry` and `notify_scheduler`", include_str!("../ui-tests/tests/ui/flow/fail/misspelled_link_path.stderr"));
}
