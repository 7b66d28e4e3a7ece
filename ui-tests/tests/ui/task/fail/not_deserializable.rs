use taskwire::prelude::*;

struct Spec;

#[task]
fn create(spec: Spec) -> u64 {
    let _ = spec;
    1
}

fn main() {}
