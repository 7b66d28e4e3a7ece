use taskwire::prelude::*;

#[task(revert_with = release_quota)]
fn reserve_quota(size: u64) -> u64 {
    size
}

fn release_quota(size: u64, outcome: Outcome<String>, failures: Failures) {
    let _ = (size, outcome, failures);
}

fn main() {}
