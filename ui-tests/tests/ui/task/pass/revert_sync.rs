//! `revert_with`: a sync task's revert takes the task's parameters, its
//! `Outcome<T>` and the flow's `Failures`, and returns `()` or `Result<(), E>`.

use std::sync::atomic::{AtomicU64, Ordering};
use taskwire::prelude::*;

static RELEASED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, thiserror::Error)]
#[error("no space")]
struct NoSpace;

#[task(provides = "reservation", revert_with = release)]
fn reserve(size: u64) -> Result<u64, NoSpace> {
    Ok(size)
}

fn release(size: u64, outcome: Outcome<u64>, failures: Failures) -> Result<(), NoSpace> {
    assert_eq!(outcome.ok(), Some(size));
    assert!(failures.get("fail").is_some());
    RELEASED.fetch_add(size, Ordering::SeqCst);
    Ok(())
}

mod cleanup {
    use taskwire::prelude::*;
    pub fn forget(_size: u64, _outcome: Outcome<()>, _failures: Failures) {}
}

#[task(revert_with = cleanup::forget)]
fn touch(size: u64) {
    let _ = size;
}

#[task(name = "fail")]
fn fail() -> Result<(), NoSpace> {
    Err(NoSpace)
}

fn main() {
    assert_eq!(
        <reserve as Task>::DEF.meta.revert.as_deref(),
        Some("release")
    );
    assert_eq!(
        <touch as Task>::DEF.meta.revert.as_deref(),
        Some("cleanup::forget")
    );
    let flow = Flow::linear("reverts")
        .add(reserve::task())
        .add(touch::task())
        .add(fail::task());
    let err = Engine::new(flow).input("size", 7).run().unwrap_err();
    assert!(err.downcast_ref::<NoSpace>().is_some());
    assert_eq!(RELEASED.load(Ordering::SeqCst), 7);
}
