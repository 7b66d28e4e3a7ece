use taskwire::prelude::*;

#[task(name = "")]
fn create(size: u64) -> u64 {
    size
}

fn main() {}
