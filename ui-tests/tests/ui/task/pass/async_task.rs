//! An async task: the engine awaits the future of the untouched `async fn`.

use taskwire::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("too big: {0}")]
struct TooBig(u64);

#[task(provides = "half")]
async fn halve(size: u64) -> Result<u64, TooBig> {
    if size > 1000 {
        return Err(TooBig(size));
    }
    Ok(size / 2)
}

#[task(provides = "greeting")]
pub async fn greet(who: String) -> String {
    format!("hello, {who}")
}

fn main() {
    let _future = halve(10); // still a plain async fn
    assert!(<halve as Task>::DEF.meta.is_async);
    let flow = Flow::linear("async").add(halve::task()).add(greet::task());
    let done = Engine::new(flow)
        .input("size", 84)
        .input("who", "ann")
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("half").unwrap(), 42);
    assert_eq!(done.get::<String>("greeting").unwrap(), "hello, ann");

    let err = Engine::new(Flow::linear("too_big").add(halve::task()))
        .input("size", 5000)
        .run()
        .unwrap_err();
    assert_eq!(err.downcast_ref::<TooBig>().unwrap().0, 5000);
}
