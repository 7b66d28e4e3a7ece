// A sync task reverted by an `async fn`: named as that, at the revert
// function, with the signature to write.
use taskwire::prelude::*;

#[task(revert_with = release_quota)]
fn reserve_quota(size: u64) -> u64 {
    size
}

async fn release_quota(size: u64, outcome: Outcome<u64>, failures: Failures) {
    let _ = (size, outcome, failures);
}

fn main() {}
