//! Flow factories: registered by name, found again by name, errors named.

use serde_json::{json, Value};
use taskwire::factory::{self, FactoryError};
use taskwire::{Engine, Flow, FnTask};

fn chain(params: &Value) -> Result<Flow, String> {
    let n = params["length"]
        .as_u64()
        .ok_or_else(|| format!("`length` must be a number, not {}", params["length"]))?;
    let mut flow = Flow::linear("chain");
    for i in 0..n {
        flow.push(
            FnTask::new(format!("t{i}"))
                .requires(["v"])
                .provides("v")
                .run(|call| Ok(json!(call.arg::<u64>(0)? + 1))),
        );
    }
    Ok(flow)
}

fn twin(_: &Value) -> Result<Flow, String> {
    Ok(Flow::linear("twin"))
}

taskwire::flow_factory!("tests::chain", chain);
taskwire::flow_factory!("tests::twin", twin);
taskwire::flow_factory!("tests::twin", twin);

#[test]
fn a_registered_factory_builds_its_flow_by_name() {
    let flow = factory::build("tests::chain", &json!({"length": 4})).unwrap();
    let done = Engine::new(flow).input("v", 10).run().unwrap();
    assert_eq!(done.get::<u64>("v").unwrap(), 14);
    assert!(factory::factories().any(|f| f.name() == "tests::chain"));
}

#[test]
fn an_unknown_name_suggests_near_names() {
    let err = factory::build("tests::chian", &json!({})).unwrap_err();
    assert!(matches!(err, FactoryError::Unknown { .. }));
    assert_eq!(
        err.to_string(),
        "no flow factory is registered under the name `tests::chian` (did you mean `tests::chain`?)"
    );
}

#[test]
fn bad_parameters_are_the_factorys_error() {
    let err = factory::build("tests::chain", &json!({"length": "four"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow factory `tests::chain` could not build its flow: `length` must be a number, not \"four\""
    );
}

#[test]
fn two_factories_with_one_name_are_an_error() {
    let err = factory::find("tests::twin").unwrap_err();
    let FactoryError::Duplicate { first, second, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(first.starts_with("tests/test_factory.rs:"), "{first}");
    assert_ne!(first, second);
    assert_eq!(
        err.to_string(),
        format!("two flow factories are named `tests::twin`: one registered at {first}, the other at {second}")
    );
}
