// Typed inputs (the struct named after the flow), and everything the builder
// says per atom: `.timeout(..)`, `.inject { arg: value }`, and links that name
// children as written in the flow (a task's path, a nested flow's name).
use std::time::Duration;

use taskwire::decider::{Decider, LinkResults};
use taskwire::prelude::*;
use taskwire_ui_tests::volumes;
use taskwire_ui_tests::volumes::*;

#[task(provides = "audited")]
fn audit(volume_id: String, strict: bool, reason: String) -> String {
    format!("{volume_id} strict={strict} ({reason})")
}

#[task(provides = "slow")]
fn slow() -> u64 {
    std::thread::sleep(Duration::from_millis(200));
    1
}

taskwire::flow! {
    pub linear create_volume(size: u64, volume_type: String) {
        extract_request,
        volumes::reserve_quota.timeout(Duration::from_secs(5)),
        graph prepare {
            create_db_entry,
            notify_scheduler,
            audit.inject { strict: true, reason: "manual".to_owned() },
            linear later { volumes::commit_quota },
            link(notify_scheduler, audit),
            link_if(volumes::create_db_entry, later, Decider::new(|r: &LinkResults<'_>| {
                r.get::<String>("create_db_entry").is_ok()
            })),
        },
    }
}

taskwire::flow! {
    linear too_slow {
        slow.timeout(Duration::from_millis(20)),
    }
}

fn main() {
    // The flow's function is unchanged; its inputs have a type of their own.
    let flow = create_volume();
    let reserve = flow.atoms().iter().find(|a| a.atom_name() == "reserve_quota").unwrap();
    assert_eq!(reserve.timeout_after(), Some(Duration::from_secs(5)));
    let done = create_volume {
        size: 10,
        volume_type: "ssd".to_owned(),
    }
    .engine()
    .run()
    .unwrap();
    assert_eq!(done.get::<String>("audited").unwrap(), "vol-10 strict=true (manual)");
    assert_eq!(done.atom_state("commit_quota"), Some(AtomState::Success));

    // A flow without inputs has an empty struct; the timeout fails the atom.
    let err = too_slow {}.engine().run().unwrap_err();
    assert!(err.to_string().contains("slow"), "{err}");
}
