// `.attempts(..)` is not a call of a retry atom: the controller counts them.
use taskwire::retry::Times;
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) retry(Times::new(3)).attempts(3) {
        extract_request,
    }
}

fn main() {}
