use taskwire::prelude::*;

#[task(revert_with = release_quota)]
fn reserve_quota(size: u64) -> u64 {
    size
}

fn release_quota(size: u64) {
    let _ = size;
}

fn main() {}
