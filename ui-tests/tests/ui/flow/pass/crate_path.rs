//! A crate that uses taskwire through another crate's re-export says where it
//! is with `crate = path`, for `#[task]` and for `flow!`: the generated code
//! names `path::__private`, not `::taskwire`. `my_app` stands for the crate
//! that re-exports taskwire, under another name.

mod my_app {
    pub use taskwire as engine_room;
}

use my_app::engine_room::prelude::{flow, task, Engine, Failures, Outcome};
use my_app::engine_room::retry::Times;

#[task(crate = my_app::engine_room, provides = "spec")]
fn extract_request(size: u64) -> String {
    format!("{size} GiB")
}

#[task(crate = crate::my_app::engine_room, provides = "reservation", revert_with = release)]
fn reserve_quota(spec: String, attempt: Option<u32>) -> String {
    format!("quota for {spec}, attempt {}", attempt.unwrap_or(0))
}

fn release(_spec: String, _attempt: Option<u32>, _outcome: Outcome<String>, _failures: Failures) {}

flow! {
    crate = my_app::engine_room;
    linear create_volume(size: u64) {
        extract_request,
        graph reserve retry(Times::new(2)).provides("attempt") {
            reserve_quota.named("reserve_quota"),
        },
    }
}

fn main() {
    let done = Engine::new(create_volume())
        .input("size", 10u64)
        .run()
        .unwrap();
    assert_eq!(
        done.get::<String>("reservation").unwrap(),
        "quota for 10 GiB, attempt 1"
    );
}
