// `reserve_quota` reverts with `release_quota(size, spec, ..)`: a revert gets
// the task's own arguments, so what it needs is what the task needs, and a
// flow that cannot give `spec` to the revert is refused like the task.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64) {
        reserve_quota,
    }
}

fn main() {}
