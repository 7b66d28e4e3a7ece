//! A task's error may be any error type Rust code writes: a
//! `std::error::Error`, `String`, `&'static str`, `Box<dyn Error + Send +
//! Sync>`, `anyhow::Error` (feature `anyhow`), or a type of the user's that
//! implements `IntoFailure`. The run's failure carries the message, and the
//! original error where it has a type of its own.

use taskwire::prelude::*;
use taskwire::{IntoFailure, RunError};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("no room for {0} GiB")]
struct NoRoom(u64);

#[task(provides = "a")]
fn fails_with_string(size: u64) -> Result<u64, String> {
    Err(format!("no room for {size} GiB"))
}

#[task(provides = "a")]
fn fails_with_str(size: u64) -> Result<u64, &'static str> {
    let _ = size;
    Err("no room at all")
}

#[task(provides = "a")]
fn fails_boxed(size: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(NoRoom(size)))
}

#[task(provides = "a")]
async fn fails_boxed_async(size: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Err(NoRoom(size).into())
}

#[task(provides = "a")]
fn succeeds_with_string_error(size: u64) -> Result<u64, String> {
    Ok(size + 1)
}

/// An error type of the user's that is not a `std::error::Error`.
#[derive(Debug)]
struct Refusal {
    code: u16,
}

impl IntoFailure for Refusal {
    fn into_failure(self) -> taskwire::Failure {
        format!("refused with code {}", self.code).into_failure()
    }
}

#[task(provides = "a")]
fn fails_with_own_type(size: u64) -> Result<u64, Refusal> {
    let _ = size;
    Err(Refusal { code: 503 })
}

type Answer<T> = Result<T, String>;

#[task(provides = "a")]
fn fails_through_an_alias(size: u64) -> Answer<u64> {
    let _ = size;
    Err("through an alias".to_owned())
}

fn failure_of(task: TaskSpec) -> (String, taskwire::Failure) {
    let mut flow = Flow::linear("errors");
    flow.push(task);
    match Engine::new(flow).input("size", 7u64).run() {
        Err(RunError::Failed { atom, failure, .. }) => (atom, failure),
        other => panic!("expected a failed run, got {other:?}"),
    }
}

#[test]
fn a_string_error_is_the_failure_message() {
    let (atom, failure) = failure_of(fails_with_string::task());
    assert!(atom.ends_with("fails_with_string"), "{atom}");
    assert_eq!(failure.to_string(), "no room for 7 GiB");
    assert_eq!(failure.type_name(), "String");
}

#[test]
fn a_str_error_is_the_failure_message() {
    let (_, failure) = failure_of(fails_with_str::task());
    assert_eq!(failure.to_string(), "no room at all");
    assert_eq!(failure.type_name(), "&str");
}

#[test]
fn a_boxed_error_keeps_the_original_for_downcasting() {
    let (_, failure) = failure_of(fails_boxed::task());
    assert_eq!(failure.to_string(), "no room for 7 GiB");
    assert_eq!(failure.downcast_ref::<NoRoom>(), Some(&NoRoom(7)));
    let (_, failure) = failure_of(fails_boxed_async::task());
    assert_eq!(failure.downcast_ref::<NoRoom>(), Some(&NoRoom(7)));
}

#[test]
fn a_task_with_a_string_error_type_succeeds_as_any_other() {
    let mut flow = Flow::linear("ok");
    flow.push(succeeds_with_string_error::task());
    let done = Engine::new(flow).input("size", 7u64).run().unwrap();
    assert_eq!(done.get::<u64>("a").unwrap(), 8);
}

#[test]
fn an_error_type_of_ones_own_implements_into_failure() {
    let (_, failure) = failure_of(fails_with_own_type::task());
    assert_eq!(failure.to_string(), "refused with code 503");
}

#[test]
fn a_result_alias_with_a_string_error_works() {
    let (_, failure) = failure_of(fails_through_an_alias::task());
    assert_eq!(failure.to_string(), "through an alias");
}

#[cfg(feature = "anyhow")]
mod with_anyhow {
    use super::*;
    use anyhow::Context as _;

    #[task(provides = "a")]
    fn fails_with_anyhow(size: u64) -> anyhow::Result<u64> {
        Err(NoRoom(size).into())
    }

    #[task(provides = "a")]
    fn fails_with_anyhow_context(size: u64) -> anyhow::Result<u64> {
        Err(NoRoom(size)).context("reserving quota")
    }

    #[task(provides = "a")]
    fn fails_with_anyhow_message(size: u64) -> anyhow::Result<u64> {
        anyhow::bail!("quota service said no to {size} GiB")
    }

    #[test]
    fn an_anyhow_error_keeps_the_original_for_downcasting() {
        let (_, failure) = failure_of(fails_with_anyhow::task());
        assert_eq!(failure.to_string(), "no room for 7 GiB");
        assert_eq!(failure.downcast_ref::<NoRoom>(), Some(&NoRoom(7)));
    }

    #[test]
    fn an_anyhow_context_is_the_message_and_its_cause_is_kept() {
        let (_, failure) = failure_of(fails_with_anyhow_context::task());
        assert_eq!(failure.to_string(), "reserving quota");
        assert_eq!(failure.causes(), ["no room for 7 GiB"]);
        // As anyhow's own `downcast_ref`: through the context to the error.
        assert_eq!(failure.downcast_ref::<NoRoom>(), Some(&NoRoom(7)));
    }

    #[test]
    fn an_anyhow_message_is_the_failure_message() {
        let (_, failure) = failure_of(fails_with_anyhow_message::task());
        assert_eq!(failure.to_string(), "quota service said no to 7 GiB");
    }
}
