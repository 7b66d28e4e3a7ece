use taskwire::prelude::*;

#[task]
fn store<T: serde::Serialize>(value: T) -> T {
    value
}

fn main() {}
