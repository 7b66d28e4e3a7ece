use taskwire::prelude::*;

#[task(provides = "volume")]
fn create(size: u64) {
    let _ = size;
}

fn main() {}
