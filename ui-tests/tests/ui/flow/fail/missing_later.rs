// `reserve_quota` requires `spec`, which only the later `extract_request` provides.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        reserve_quota,
        extract_request,
    }
}

fn main() {}
