use taskwire::prelude::*;

#[task(version = "1")]
fn create(size: u64) -> u64 {
    size
}

fn main() {}
