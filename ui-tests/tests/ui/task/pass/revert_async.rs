//! An async task's revert function is async too.

use std::sync::atomic::{AtomicBool, Ordering};
use taskwire::prelude::*;

static RELEASED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
#[error("boom")]
struct Boom;

#[task(provides = "handle", revert_with = close)]
async fn open(path: String) -> Result<String, Boom> {
    Ok(format!("handle:{path}"))
}

async fn close(path: String, outcome: Outcome<String>, failures: Failures) {
    assert_eq!(
        outcome.ok().as_deref(),
        Some(format!("handle:{path}").as_str())
    );
    assert_eq!(failures.len(), 1);
    RELEASED.store(true, Ordering::SeqCst);
}

#[task]
async fn explode(handle: String) -> Result<(), Boom> {
    let _ = handle;
    Err(Boom)
}

fn main() {
    let flow = Flow::linear("async_revert")
        .add(open::task())
        .add(explode::task());
    let err = Engine::new(flow).input("path", "/tmp/x").run().unwrap_err();
    assert!(err.downcast_ref::<Boom>().is_some());
    assert!(RELEASED.load(Ordering::SeqCst));
}
