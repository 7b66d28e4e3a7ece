// `create_db_entry` is a child twice: a link cannot name it by its path.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    graph prepare(reservation: taskwire_ui_tests::volumes::Reservation) {
        create_db_entry.named("first_entry").provides_as("first_id"),
        create_db_entry.named("second_entry"),
        notify_scheduler,
        link(create_db_entry, notify_scheduler),
    }
}

fn main() {}
