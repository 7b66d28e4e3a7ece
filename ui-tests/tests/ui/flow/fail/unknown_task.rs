// `reserve_qouta` is a typo: rustc's own error, and nothing else.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_qouta,
        create_db_entry,
    }
}

fn main() {}
