use taskwire::prelude::*;

#[task(provides = ["volume", "size"])]
fn create(size: u64) -> Vec<u64> {
    vec![size]
}

fn main() {}
