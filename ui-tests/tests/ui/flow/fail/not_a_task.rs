// `audit` is a plain function, without `#[task]`: rustc cannot find the
// callback `#[task]` leaves, and says so in its words (a missing macro);
// `flow!` says what it means, at the path: not a task, add `#[task]`.
use taskwire_ui_tests::volumes::*;

fn audit(size: u64) -> bool {
    size > 0
}

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        audit,
    }
}

fn main() {
    let _ = audit(1);
}
