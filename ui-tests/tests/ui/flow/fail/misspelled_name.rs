// `ship` reads `valid_ordr`, a typo of `valid_order`, which `validate`
// provides before it: the message suggests the name. (The tasks are named as
// in `tests/test_flow_macro.rs`, which holds the builder to the same words.)
use taskwire::task;

#[task(provides = "valid_order", name = "validate")]
fn validate(order_id: u64) -> u64 {
    order_id
}

#[task(provides = "shipped", name = "ship")]
fn ship(valid_ordr: u64) -> bool {
    valid_ordr > 0
}

taskwire::flow! {
    linear fulfil(order_id: u64) {
        validate,
        ship,
    }
}

fn main() {}
