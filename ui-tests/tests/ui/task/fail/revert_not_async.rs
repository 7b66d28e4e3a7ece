use taskwire::prelude::*;

#[task(revert_with = release_quota)]
async fn reserve_quota(size: u64) -> u64 {
    size
}

fn release_quota(size: u64, outcome: Outcome<u64>, failures: Failures) {
    let _ = (size, outcome, failures);
}

fn main() {}
