//! `provides = ["a", "b"]` provides a tuple result element by element.

use taskwire::prelude::*;

#[task(provides = ["quotient", "remainder"])]
fn divide(dividend: u64, divisor: u64) -> (u64, u64) {
    (dividend / divisor, dividend % divisor)
}

#[derive(Debug, thiserror::Error)]
#[error("empty")]
struct Empty;

#[task(provides = ["first"])]
fn first(items: Vec<String>) -> Result<(String,), Empty> {
    items.into_iter().next().map(|s| (s,)).ok_or(Empty)
}

fn main() {
    assert_eq!(divide(7, 2), (3, 1));
    let done = Engine::new(
        Flow::linear("divide")
            .add(divide::task())
            .add(first::task()),
    )
    .input("dividend", 17)
    .input("divisor", 5)
    .input("items", vec!["a", "b"])
    .run()
    .unwrap();
    assert_eq!(done.get::<u64>("quotient").unwrap(), 3);
    assert_eq!(done.get::<u64>("remainder").unwrap(), 2);
    assert_eq!(done.get::<String>("first").unwrap(), "a");
}
