//! Hygiene: names the expansion uses (`Result`, `Option`, `Box`, `String`,
//! `Ok`, `Err`, `Some`, `None`, `core`, `std`, built-in macros) are shadowed
//! here, and the expansion must not care.

#![allow(dead_code, non_camel_case_types, unused_macros)]

mod core {}
mod std {}
mod inventory {}
mod serde {}

struct Box;
struct String;
struct Vec;
enum Option {}
enum Result {}
struct Ok;
struct Err;
struct Some;
struct None;
struct Cow;
struct Invocation;
struct Task;
struct TaskDef;

macro_rules! concat {
    () => {};
}
macro_rules! stringify {
    () => {};
}
macro_rules! module_path {
    () => {};
}
macro_rules! file {
    () => {};
}
macro_rules! line {
    () => {};
}

#[taskwire::task(provides = "y", revert_with = undo, version = "2.0")]
fn shadowed(x: u64, note: ::std::option::Option<u64>) -> u64 {
    x + note.unwrap_or(0)
}

fn undo(
    x: u64,
    note: ::std::option::Option<u64>,
    outcome: taskwire::Outcome<u64>,
    failures: taskwire::Failures,
) {
    let _ = (x, note, outcome, failures);
}

#[taskwire::task]
async fn shadowed_async(x: u64) -> u64 {
    x
}

fn main() {
    assert_eq!(shadowed(1, ::std::option::Option::None), 1);
    let _ = shadowed_async(1);
    let _ = shadowed::task();
    let _ = shadowed_async::task();
}
