// `notify_scheduler` needs `create_db_entry`'s `volume_id`, and the link asks
// for the opposite order.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    graph prepare(reservation: Reservation) {
        create_db_entry,
        notify_scheduler,
        link("notify_scheduler", "create_db_entry"),
    }
}

fn main() {}
