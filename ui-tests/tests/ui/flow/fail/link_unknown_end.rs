// `audit_volume` is no child of `prepare`: the link names it by mistake.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        graph prepare {
            create_db_entry,
            notify_scheduler,
            link("create_db_entry", "audit_volume"),
        },
    }
}

fn main() {}
