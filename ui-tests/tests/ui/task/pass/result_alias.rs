//! A crate-local `Result` alias as the return type: passed as it is.

use taskwire::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("my error")]
struct MyErr;

type Result<T> = core::result::Result<T, MyErr>;

#[task(provides = "checked")]
fn check(value: u64) -> Result<u64> {
    if value == 0 {
        Err(MyErr)
    } else {
        Ok(value)
    }
}

fn main() {
    assert!(check(0).is_err());
    let err = Engine::new(Flow::linear("alias").add(check::task()))
        .input("value", 0)
        .run()
        .unwrap_err();
    assert!(err.downcast_ref::<MyErr>().is_some());
}
