// `audit` is a plain function, without `#[task]`: rustc cannot find the
// callback `#[task]` leaves, and says so at the path, alone.
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
