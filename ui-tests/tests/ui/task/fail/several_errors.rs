use taskwire::prelude::*;

#[task(retires = 3, version = "a.b")]
fn create(size: u64) -> u64 {
    size
}

fn main() {}
