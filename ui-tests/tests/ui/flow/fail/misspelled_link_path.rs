// `notify_schedular` is a typo of the child `notify_scheduler`, named as
// written in the flow.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        graph prepare {
            create_db_entry,
            notify_scheduler,
            link(create_db_entry, notify_schedular),
        },
    }
}

fn main() {}
