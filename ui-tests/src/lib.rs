//! Compile-pass and compile-fail cases for taskwire's macros, run with
//! trybuild by `tests/ui.rs`. The only code here is [`volumes`], tasks the
//! `flow!` cases share (so they also show flows of tasks from another crate).
//!
//! Regenerate the expected compiler output after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p taskwire-ui-tests`, then review every
//! changed `.stderr` file: errors must point at the user's tokens and say what
//! to write instead.

pub mod volumes {
    //! Tasks of a volume service, for the `flow!` cases.
    #![allow(missing_docs)]

    use taskwire::prelude::*;

    /// A quota reservation.
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    pub struct Reservation {
        pub size: u64,
    }

    #[task(provides = "spec", name = "extract_request")]
    pub fn extract_request(size: u64, volume_type: String) -> String {
        format!("{size} {volume_type}")
    }

    #[task(provides = "size", name = "measure_size")]
    pub fn measure_size(spec: String) -> u32 {
        spec.len() as u32
    }

    #[task(provides = "reservation", name = "reserve_quota", revert_with = release_quota)]
    pub fn reserve_quota(size: u64, spec: String) -> Reservation {
        let _ = spec;
        Reservation { size }
    }

    pub fn release_quota(
        size: u64,
        spec: String,
        outcome: Outcome<Reservation>,
        failures: Failures,
    ) {
        let _ = (size, spec, outcome, failures);
    }

    #[task(provides = "reservation", name = "reserve_quota_v2")]
    pub fn reserve_quota_v2(size: u64) -> Reservation {
        Reservation { size }
    }

    #[task(provides = "volume_id", name = "create_db_entry")]
    pub fn create_db_entry(reservation: Reservation) -> String {
        format!("vol-{}", reservation.size)
    }

    #[task(provides = "notified", name = "notify_scheduler")]
    pub fn notify_scheduler(volume_id: String) -> bool {
        !volume_id.is_empty()
    }

    #[task(name = "commit_quota")]
    pub fn commit_quota(reservation: Reservation, notified: bool) {
        let _ = (reservation, notified);
    }

    #[task(provides = "host", name = "attach_volume")]
    pub fn attach_volume(volume_id: String, host_hint: String) -> String {
        format!("{volume_id}@{host_hint}")
    }
}

pub mod letters {
    //! Three tasks that need one another in a ring, for the cycle case.
    #![allow(missing_docs)]

    use taskwire::prelude::*;

    #[task(provides = "a", name = "make_a")]
    pub fn make_a(c: u8) -> u8 {
        c
    }

    #[task(provides = "b", name = "make_b")]
    pub fn make_b(a: u8) -> u8 {
        a
    }

    #[task(provides = "c", name = "make_c")]
    pub fn make_c(b: u8) -> u8 {
        b
    }
}
