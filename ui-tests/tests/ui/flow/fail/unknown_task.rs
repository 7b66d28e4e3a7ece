// `reserve_qouta` is a typo: rustc's own error (with the name meant), and
// `flow!`'s at the path, which offers both ways out; nothing else.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_qouta,
        create_db_entry,
    }
}

fn main() {}
