use taskwire::prelude::*;

#[task(provides = ["volume", "size"])]
fn create(size: u64) -> (String, u64, bool) {
    (String::new(), size, true)
}

fn main() {}
