use taskwire::prelude::*;

#[task]
fn create(size: u64) -> Result<u64, String> {
    Ok(size)
}

fn main() {}
