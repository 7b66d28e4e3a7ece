// A link names atoms by name, as strings, as the builder does.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    graph prepare(reservation: Reservation) {
        create_db_entry,
        notify_scheduler,
        link(create_db_entry, notify_scheduler),
    }
}

fn main() {}
