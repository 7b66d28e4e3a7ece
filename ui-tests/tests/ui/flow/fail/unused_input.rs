// `zone` is declared, but no task reads it.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String, zone: String) {
        extract_request,
    }
}

fn main() {}
