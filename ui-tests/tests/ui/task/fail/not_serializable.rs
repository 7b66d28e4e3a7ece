use taskwire::prelude::*;

struct Volume;

#[task]
fn create(size: u64) -> Volume {
    let _ = size;
    Volume
}

fn main() {}
