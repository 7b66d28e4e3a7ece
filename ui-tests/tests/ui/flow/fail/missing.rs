// Nothing provides `host_hint`.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    graph attach(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        create_db_entry,
        attach_volume,
    }
}

fn main() {}
