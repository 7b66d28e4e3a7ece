// Two tasks provide `reservation` in one graph flow: whatever their order.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        graph reserve {
            create_db_entry,
            reserve_quota_v2,
            reserve_quota,
        },
    }
}

fn main() {}
