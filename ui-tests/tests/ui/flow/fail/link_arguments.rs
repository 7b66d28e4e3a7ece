// A decider goes with `link_if`, not `link`.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    graph prepare(reservation: Reservation) {
        create_db_entry,
        notify_scheduler,
        link("create_db_entry", "notify_scheduler", |_| true),
    }
}

fn main() {}
