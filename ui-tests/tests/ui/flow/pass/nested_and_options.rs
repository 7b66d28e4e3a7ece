// Nesting of every kind, tasks by module path and from another crate, optional
// values, resources, values read through the context, and the builder's calls.
use taskwire::prelude::*;
use taskwire_ui_tests::volumes::{create_db_entry, notify_scheduler, Reservation};

mod quota {
    use taskwire::prelude::*;
    use taskwire_ui_tests::volumes::Reservation;

    pub struct Limits;

    #[task(provides = "reservation")]
    pub fn reserve(size: u64, zone: Option<String>, limits: Res<Limits>) -> Reservation {
        let _ = (zone, limits);
        Reservation { size }
    }

    #[task(provides = "audited", requires = ["volume_id"])]
    pub fn audit(reservation: Reservation, ctx: TaskCtx) -> Result<bool, taskwire::Failure> {
        let id: String = ctx.get("volume_id")?;
        Ok(reservation.size > 0 && !id.is_empty())
    }
}

#[task(provides = ["low", "high"])]
fn split(size: u64) -> (u64, u64) {
    (size / 2, size - size / 2)
}

taskwire::flow! {
    /// A flow with everything.
    pub linear create_volume(requested: u64) {
        split.rebind("size", "requested"),
        unordered halves {
            crate::quota::reserve.named("reserve_low").rebind("size", "low").provides_as("low_reservation"),
            quota::reserve.named("reserve_high").rebind("size", "high").inject("zone", "eu-1"),
        },
        graph {
            notify_scheduler,
            create_db_entry,
            quota::audit.rebind("reservation", "low_reservation"),
        },
    }
}

fn main() {
    fn local() -> u64 {
        #[task(provides = "x")]
        fn one() -> u64 {
            1
        }
        taskwire::flow! {
            graph just_one {
                one,
            }
        }
        Engine::new(just_one()).run().unwrap().get::<u64>("x").unwrap()
    }
    assert_eq!(local(), 1);
    let done = Engine::new(create_volume())
        .input("requested", 9u64)
        .resource(quota::Limits)
        .run()
        .unwrap();
    assert!(done.get::<bool>("audited").unwrap());
    assert_eq!(done.get::<String>("volume_id").unwrap(), "vol-5");
    let _: Reservation = done.get("low_reservation").unwrap();
}
