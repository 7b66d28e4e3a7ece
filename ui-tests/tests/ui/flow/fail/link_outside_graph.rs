// A linear flow orders its children by position: only graph flows take links.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        link("extract_request", "reserve_quota"),
    }
}

fn main() {}
