//! `Result<T, E>` is passed as it is; a plain `T` is wrapped in `Ok`; no
//! return type is `()`.

use taskwire::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("negative")]
struct Negative;

#[task(provides = "checked")]
fn check(value: i64) -> Result<i64, Negative> {
    if value < 0 {
        Err(Negative)
    } else {
        Ok(value)
    }
}

#[task(provides = "text")]
fn render(checked: i64) -> String {
    checked.to_string()
}

#[task]
fn log(text: String) {
    let _ = text;
}

#[task]
fn nothing() -> () {}

#[task(provides = "parsed")]
fn parse(text: String) -> std::result::Result<u8, std::num::ParseIntError> {
    text.parse()
}

fn main() {
    assert_eq!(check(3).unwrap(), 3);
    assert_eq!(render(3), "3");
    log(String::new());
    nothing();
    let flow = Flow::linear("returns")
        .add(check::task())
        .add(render::task())
        .add(log::task())
        .add(nothing::task())
        .add(parse::task());
    let done = Engine::new(flow).input("value", 42).run().unwrap();
    assert_eq!(done.get::<String>("text").unwrap(), "42");
    assert_eq!(done.get::<u8>("parsed").unwrap(), 42);

    let err = Engine::new(Flow::linear("negative").add(check::task()))
        .input("value", -1)
        .run()
        .unwrap_err();
    assert!(err.downcast_ref::<Negative>().is_some());
}
