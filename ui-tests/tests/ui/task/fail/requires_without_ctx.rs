use taskwire::prelude::*;

#[task(requires = ["width", "height"])]
fn area(scale: u64) -> u64 {
    scale
}

fn main() {}
