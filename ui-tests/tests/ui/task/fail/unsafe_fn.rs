use taskwire::prelude::*;

#[task]
unsafe fn poke(address: u64) -> u64 {
    address
}

fn main() {}
