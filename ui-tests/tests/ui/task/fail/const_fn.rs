use taskwire::prelude::*;

#[task]
const fn answer() -> u64 {
    42
}

fn main() {}
