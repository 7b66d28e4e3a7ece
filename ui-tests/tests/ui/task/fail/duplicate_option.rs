use taskwire::prelude::*;

#[task(name = "create", name = "make")]
fn create(size: u64) -> u64 {
    size
}

fn main() {}
