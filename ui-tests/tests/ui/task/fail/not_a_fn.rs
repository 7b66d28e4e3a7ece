use taskwire::prelude::*;

#[task]
struct Volume;

fn main() {}
